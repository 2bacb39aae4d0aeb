//! Requests this server sent to the others and is waiting on, by request id: filled by the
//! subscriber thread as responses come, completed when every server answered or, by the
//! publisher thread's sweep, when their time is up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::Sender;
use serde_json::Value as Json;

use super::health::{Fault, Health};
use super::nodes::Nodes;
use super::wire::kind;
use crate::server::broadcast_msg::AckCollector;
use crate::server::cluster::{Answers, RequestError};
use crate::server::socket_info::SocketInfo;

/// What a request waits for.
pub(crate) enum Waiting {
    /// `fetchSockets`: each server's sockets.
    Fetch {
        sockets: Vec<SocketInfo>,
        reply: Sender<Answers<Vec<SocketInfo>>>,
    },
    /// A server-side emit with acks: each server's answer.
    Emit {
        answers: Vec<Json>,
        reply: Sender<Answers<Vec<Json>>>,
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
    /// The uids of the servers that answered and said who they are.
    answered: Vec<String>,
    /// Whether a server answered without its uid (Node's adapter does): then the known
    /// servers missing from `answered` may include it, so none is named.
    anonymous: bool,
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
                    answered: Vec::new(),
                    anonymous: false,
                    deadline,
                    waiting,
                },
            );
        }
    }

    /// Applies a response (already parsed) to its request; completes it when nothing is left.
    /// Collectors are called after the table is unlocked: they may run user callbacks.
    pub fn respond(&self, response: &Json, nodes: &Nodes, health: &Health) {
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
            e.finish(nodes, health);
        }
    }

    /// Completes every request whose time is up with what it has.
    pub fn sweep(&self, now: Instant, nodes: &Nodes, health: &Health) {
        let expired: Vec<Entry> = {
            let Ok(mut m) = self.map.lock() else { return };
            let ids: Vec<String> = m
                .iter()
                .filter(|(_, e)| e.deadline <= now)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| m.remove(id)).collect()
        };
        expired.into_iter().for_each(|e| e.finish(nodes, health));
    }

    /// Completes every request (the adapter is stopping).
    pub fn clear(&self, nodes: &Nodes, health: &Health) {
        let all: Vec<Entry> = match self.map.lock() {
            Ok(mut m) => m.drain().map(|(_, e)| e).collect(),
            Err(_) => return,
        };
        all.into_iter().for_each(|e| e.finish(nodes, health));
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
        let uid = response.get("uid").and_then(Json::as_str);
        let effect = self.apply_to_waiting(ty, response)?;
        if effect.is_none() {
            match uid {
                Some(uid) => self.answered.push(uid.to_string()),
                None => self.anonymous = true,
            }
        }
        Some(effect)
    }

    #[allow(clippy::type_complexity)]
    fn apply_to_waiting(
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

    fn finish(self, nodes: &Nodes, health: &Health) {
        let missing = (self.servers_left > 0).then(|| {
            let n = health.count(Fault::RequestTimeout);
            let missing_nodes = if self.anonymous {
                Vec::new()
            } else {
                nodes.missing(&self.answered)
            };
            // A count, not a line per request: a dead server fails every request alike.
            if n.is_power_of_two() {
                tracing::warn!(
                    missing = self.servers_left,
                    ?missing_nodes,
                    total = n,
                    "redis adapter: a cluster request timed out without every server's answer"
                );
            }
            missing_nodes
        });
        let left = self.servers_left;
        match self.waiting {
            Waiting::Fetch { sockets, reply } => {
                let _ = reply.send(outcome(sockets, left, missing));
            }
            Waiting::Emit { answers, reply } => {
                let _ = reply.send(outcome(answers, left, missing));
            }
            Waiting::Acks {
                collector,
                expected,
                got,
            } => collector.give_up(left, expected.saturating_sub(got)),
        }
    }
}

/// Everything, or what came with who did not answer.
fn outcome<T>(got: T, missing: usize, missing_nodes: Option<Vec<String>>) -> Answers<T> {
    match missing_nodes {
        None => Ok(got),
        Some(missing_nodes) => Err(RequestError::Timeout {
            got,
            missing,
            missing_nodes,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn ids(sockets: &[SocketInfo]) -> Vec<&str> {
        sockets.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn fetch_completes_when_every_server_answered() {
        let (p, nodes, health) = (Pending::default(), Nodes::default(), Health::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let later = Instant::now() + Duration::from_secs(60);
        let waiting = Waiting::Fetch {
            sockets: Vec::new(),
            reply: tx,
        };
        p.insert("r1".into(), "/", 2, later, waiting);
        p.respond(
            &json!({"requestId": "r1", "sockets": [{"id": "a"}]}),
            &nodes,
            &health,
        );
        assert!(rx.try_recv().is_err(), "one server left");
        let other = json!({"requestId": "other", "sockets": [{"id": "x"}]});
        p.respond(&other, &nodes, &health);
        let last = json!({"requestId": "r1", "sockets": [{"id": "b"}, {"no": "id"}]});
        p.respond(&last, &nodes, &health);
        assert_eq!(ids(&rx.try_recv().unwrap().unwrap()), ["a", "b"]);
    }

    #[test]
    fn late_fetch_names_the_known_servers_that_did_not_answer() {
        let (p, nodes, health) = (Pending::default(), Nodes::default(), Health::default());
        for uid in ["n2", "n1", "n3"] {
            nodes.seen(uid);
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let now = Instant::now();
        let waiting = Waiting::Fetch {
            sockets: Vec::new(),
            reply: tx,
        };
        p.insert("f".into(), "/", 4, now, waiting);
        let answer = json!({"requestId": "f", "uid": "n2", "sockets": [{"id": "s"}]});
        p.respond(&answer, &nodes, &health);
        let (tx2, rx2) = crossbeam_channel::unbounded();
        let waiting = Waiting::Fetch {
            sockets: Vec::new(),
            reply: tx2,
        };
        p.insert("g".into(), "/", 2, now, waiting);
        p.respond(&json!({"requestId": "g", "sockets": []}), &nodes, &health);
        p.sweep(now, &nodes, &health);
        match rx2.try_recv().unwrap() {
            Err(RequestError::Timeout {
                missing: 1,
                missing_nodes,
                ..
            }) => {
                assert!(
                    missing_nodes.is_empty(),
                    "an anonymous answer makes names guesses"
                );
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        match rx.try_recv().unwrap() {
            Err(RequestError::Timeout {
                got,
                missing,
                missing_nodes,
            }) => {
                assert_eq!(ids(&got), ["s"]);
                assert_eq!(missing, 3, "one of them never spoke: counted, not named");
                assert_eq!(missing_nodes, ["n1", "n3"]);
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        let mut text = String::new();
        health.prometheus(&mut text);
        assert!(text.contains("kind=\"request_timeout\"} 2"), "{text}");
    }

    #[test]
    fn sweep_completes_late_requests_with_what_came() {
        let (p, nodes, health) = (Pending::default(), Nodes::default(), Health::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let now = Instant::now();
        let waiting = Waiting::Emit {
            answers: Vec::new(),
            reply: tx,
        };
        p.insert("e".into(), "/", 3, now, waiting);
        p.respond(
            &json!({"type": 6, "requestId": "e", "data": 5}),
            &nodes,
            &health,
        );
        p.sweep(now, &nodes, &health);
        let e = rx.try_recv().unwrap().unwrap_err();
        assert!(
            matches!(e, RequestError::Timeout { missing: 2, .. }),
            "{e:?}"
        );
        assert_eq!(e.got(), vec![json!(5)]);
    }

    #[test]
    fn acks_count_then_reply_or_give_up() {
        let (p, nodes, health) = (Pending::default(), Nodes::default(), Health::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let collector = AckCollector::new(1, Box::new(move |a| tx.send(a).unwrap()));
        let now = Instant::now();
        let waiting = Waiting::Acks {
            collector,
            expected: 0,
            got: 0,
        };
        p.insert("b".into(), "/", 1, now + Duration::from_secs(60), waiting);
        let count = json!({"type": 8, "requestId": "b", "clientCount": 2});
        p.respond(&count, &nodes, &health);
        p.respond(
            &json!({"type": 9, "requestId": "b", "packet": "hi"}),
            &nodes,
            &health,
        );
        assert!(rx.try_recv().is_err(), "one ack left");
        p.sweep(now + Duration::from_secs(61), &nodes, &health);
        let acks = rx.try_recv().unwrap();
        assert_eq!(acks.replies, [(String::new(), br#"["hi"]"#.to_vec())]);
        assert_eq!(acks.no_reply, 1);
    }
}
