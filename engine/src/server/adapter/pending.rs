//! Requests this server sent to the others and is waiting on, by request id: filled by the
//! subscriber thread as responses come, completed when every server answered or, by the
//! publisher thread's sweep, when their time is up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::Sender;
use serde_json::Value as Json;

use super::wire::kind;
use crate::server::broadcast_msg::AckCollector;
use crate::server::socket_info::SocketInfo;

/// What a request waits for.
pub(crate) enum Waiting {
    /// `fetchSockets`: each server's sockets.
    Fetch {
        sockets: Vec<SocketInfo>,
        reply: Sender<Vec<SocketInfo>>,
    },
    /// A server-side emit with acks: each server's answer.
    Emit {
        answers: Vec<Json>,
        reply: Sender<Vec<Json>>,
    },
    /// A broadcast with acks: each server's receiver count, then each receiver's ack.
    Acks {
        collector: Arc<AckCollector>,
        expected: usize,
        got: usize,
    },
}

struct Entry {
    nsp: String,
    /// Servers that have not answered (for acks: not sent their count).
    servers_left: usize,
    deadline: Instant,
    waiting: Waiting,
}

/// The open requests.
#[derive(Default)]
pub(crate) struct Pending {
    map: Mutex<HashMap<String, Entry>>,
}

impl Pending {
    /// Waits for `servers` answers until `deadline`.
    pub fn insert(
        &self,
        id: String,
        nsp: &str,
        servers: usize,
        deadline: Instant,
        waiting: Waiting,
    ) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(
                id,
                Entry {
                    nsp: nsp.to_string(),
                    servers_left: servers,
                    deadline,
                    waiting,
                },
            );
        }
    }

    /// Applies a response (already parsed) to its request; completes it when nothing is left.
    /// Collectors are called after the table is unlocked: they may run user callbacks.
    pub fn respond(&self, response: &Json) {
        let Some(id) = response.get("requestId").and_then(Json::as_str) else {
            return;
        };
        let ty = response.get("type").and_then(Json::as_u64);
        let (effect, finished) = {
            let Ok(mut m) = self.map.lock() else { return };
            let Some(e) = m.get_mut(id) else { return };
            let Some(effect) = e.apply(ty, response) else {
                return;
            };
            let done = match &e.waiting {
                Waiting::Acks { expected, got, .. } => e.servers_left == 0 && got >= expected,
                _ => e.servers_left == 0,
            };
            (effect, if done { m.remove(id) } else { None })
        };
        if let Some((collector, ack)) = effect {
            match ack {
                AckEffect::Count(n) => collector.worker_done(n),
                AckEffect::Reply(json) => collector.reply(String::new(), json),
            }
        }
        if let Some(e) = finished {
            e.finish();
        }
    }

    /// Completes every request whose time is up with what it has.
    pub fn sweep(&self, now: Instant) {
        let expired: Vec<Entry> = {
            let Ok(mut m) = self.map.lock() else { return };
            let ids: Vec<String> = m
                .iter()
                .filter(|(_, e)| e.deadline <= now)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| m.remove(id)).collect()
        };
        expired.into_iter().for_each(Entry::finish);
    }

    /// Completes every request (the adapter is stopping).
    pub fn clear(&self) {
        let all: Vec<Entry> = match self.map.lock() {
            Ok(mut m) => m.drain().map(|(_, e)| e).collect(),
            Err(_) => return,
        };
        all.into_iter().for_each(Entry::finish);
    }
}

/// What a response does to a broadcast's collector.
enum AckEffect {
    Count(usize),
    Reply(Vec<u8>),
}

impl Entry {
    /// Records a response; `None` when it does not belong to this request, else the effect on a
    /// collector to apply once unlocked.
    #[allow(clippy::type_complexity)]
    fn apply(
        &mut self,
        ty: Option<u64>,
        response: &Json,
    ) -> Option<Option<(Arc<AckCollector>, AckEffect)>> {
        match &mut self.waiting {
            Waiting::Fetch { sockets, .. } => {
                let list = response.get("sockets").and_then(Json::as_array)?;
                let nsp = &self.nsp;
                sockets.extend(
                    list.iter()
                        .filter_map(|s| super::sockets::from_json(nsp, s)),
                );
                self.servers_left = self.servers_left.saturating_sub(1);
                Some(None)
            }
            Waiting::Emit { answers, .. } => {
                if ty != Some(kind::SERVER_SIDE_EMIT) {
                    return None;
                }
                answers.push(response.get("data").cloned().unwrap_or(Json::Null));
                self.servers_left = self.servers_left.saturating_sub(1);
                Some(None)
            }
            Waiting::Acks {
                collector,
                expected,
                got,
            } => match ty {
                Some(kind::BROADCAST_CLIENT_COUNT) => {
                    let n = response
                        .get("clientCount")
                        .and_then(Json::as_u64)
                        .and_then(|n| usize::try_from(n).ok())
                        .unwrap_or(0);
                    self.servers_left = self.servers_left.saturating_sub(1);
                    *expected += n;
                    Some(Some((collector.clone(), AckEffect::Count(n))))
                }
                Some(kind::BROADCAST_ACK) => {
                    *got += 1;
                    let arg = response.get("packet").cloned().unwrap_or(Json::Null);
                    let json = serde_json::to_vec(&[arg]).unwrap_or_else(|_| b"[]".to_vec());
                    Some(Some((collector.clone(), AckEffect::Reply(json))))
                }
                _ => None,
            },
        }
    }

    fn finish(self) {
        match self.waiting {
            Waiting::Fetch { sockets, reply } => {
                let _ = reply.send(sockets);
            }
            Waiting::Emit { answers, reply } => {
                let _ = reply.send(answers);
            }
            Waiting::Acks {
                collector,
                expected,
                got,
            } => collector.give_up(self.servers_left, expected.saturating_sub(got)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn fetch_completes_when_every_server_answered() {
        let p = Pending::default();
        let (tx, rx) = crossbeam_channel::unbounded();
        let later = Instant::now() + Duration::from_secs(60);
        let waiting = Waiting::Fetch {
            sockets: Vec::new(),
            reply: tx,
        };
        p.insert("r1".into(), "/", 2, later, waiting);
        p.respond(&json!({"requestId": "r1", "sockets": [{"id": "a"}]}));
        assert!(rx.try_recv().is_err(), "one server left");
        p.respond(&json!({"requestId": "other", "sockets": [{"id": "x"}]}));
        p.respond(&json!({"requestId": "r1", "sockets": [{"id": "b"}, {"no": "id"}]}));
        let ids: Vec<String> = rx.try_recv().unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn sweep_completes_late_requests_with_what_came() {
        let p = Pending::default();
        let (tx, rx) = crossbeam_channel::unbounded();
        let now = Instant::now();
        let waiting = Waiting::Emit {
            answers: Vec::new(),
            reply: tx,
        };
        p.insert("e".into(), "/", 3, now, waiting);
        p.respond(&json!({"type": 6, "requestId": "e", "data": 5}));
        p.sweep(now);
        assert_eq!(rx.try_recv().unwrap(), vec![json!(5)]);
    }

    #[test]
    fn acks_count_then_reply_or_give_up() {
        let p = Pending::default();
        let (tx, rx) = crossbeam_channel::unbounded();
        let collector = AckCollector::new(1, Box::new(move |a| tx.send(a).unwrap()));
        let now = Instant::now();
        let waiting = Waiting::Acks {
            collector,
            expected: 0,
            got: 0,
        };
        p.insert("b".into(), "/", 1, now + Duration::from_secs(60), waiting);
        p.respond(&json!({"type": 8, "requestId": "b", "clientCount": 2}));
        p.respond(&json!({"type": 9, "requestId": "b", "packet": "hi"}));
        assert!(rx.try_recv().is_err(), "one ack left");
        p.sweep(now + Duration::from_secs(61));
        let acks = rx.try_recv().unwrap();
        assert_eq!(acks.replies, [(String::new(), br#"["hi"]"#.to_vec())]);
        assert_eq!(acks.no_reply, 1);
    }
}
