//! `echo`: Socket.IO emits with an ack (`--event`, default `echo`, one string argument of the
//! payload size), closed loop or paced; the ack round trip is the latency.

use std::sync::Arc;
use volley::client::Lane;

use crate::clock::Now;
use crate::event_loop::{Behavior, Cx, Scenario};
use crate::failure::Failure;
use crate::scenario::requests::{Pacer, Requests};
use crate::scenario::sio_conn::{Heard, SioConn};
use crate::scenario::{earliest, Settings};

/// The `echo` scenario.
pub struct Echo {
    settings: Arc<Settings>,
    /// `["xxxx..."]`: the argument array every emit carries, built once.
    args: Arc<[u8]>,
}

impl Echo {
    /// The scenario for `settings`.
    pub fn new(settings: Arc<Settings>) -> Self {
        let mut args = b"[\"".to_vec();
        if settings.words {
            super::pad_with_words(&mut args, 2 + settings.payload, 7);
        } else {
            args.resize(2 + settings.payload, b'x');
        }
        args.extend_from_slice(b"\"]");
        Self {
            settings,
            args: args.into(),
        }
    }
}

impl Scenario for Echo {
    type Conn = EchoConn;

    fn conn(&self, index: u64, now: Now) -> EchoConn {
        let s = &self.settings;
        let pacer = s.rate.map(|r| Pacer::for_share(r, s.connections, index));
        EchoConn {
            sio: SioConn::new(s, index, now),
            settings: Arc::clone(s),
            args: Arc::clone(&self.args),
            requests: Requests::new(s.in_flight, pacer, s.request_timeout_ns),
            connected: false,
            last_now: now,
        }
    }
}

/// One `echo` connection.
pub struct EchoConn {
    sio: SioConn,
    settings: Arc<Settings>,
    args: Arc<[u8]>,
    requests: Requests,
    connected: bool,
    /// The latest wake-up, to express the client's `Instant` deadline in ns.
    last_now: Now,
}

impl EchoConn {
    fn pump(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.last_now = cx.now;
        while let Some(heard) = self.sio.next()? {
            match heard {
                Heard::Connected => self.connected = true,
                Heard::Ack { id, args_json } => {
                    if args_json != *self.args {
                        cx.stats.counters.protocol_errors += 1;
                        cx.stats
                            .note_error("protocol: ack arguments differ from the emit's");
                    }
                    self.requests.complete(id, cx);
                }
                Heard::Event { .. } => {}
            }
        }
        if self.connected {
            let Self {
                sio,
                settings,
                args,
                requests,
                ..
            } = self;
            let nsp = &sio.nsp;
            requests.send_due(cx, |_| sio.conn.emit(nsp, &settings.event, args, &[], true));
        }
        Ok(())
    }
}

impl Behavior for EchoConn {
    fn on_connected(&mut self, _cx: &mut Cx<'_>) -> Result<(), Failure> {
        Ok(())
    }

    fn on_input(&mut self, input: &mut Vec<u8>, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.sio.feed(input, cx.now)?;
        self.pump(cx)
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.sio.on_timer(cx.now);
        self.requests.expire(cx);
        self.pump(cx)
    }

    fn deadline_ns(&self) -> Option<u64> {
        earliest(
            self.sio.deadline_ns(self.last_now),
            self.requests.deadline_ns(),
        )
    }

    fn is_established(&self) -> bool {
        self.connected
    }

    fn transmit(&self) -> Option<&[u8]> {
        self.sio.conn.transmit(Lane::WebSocket)
    }

    fn advance_transmit(&mut self, n: usize) {
        self.sio.conn.advance_transmit(Lane::WebSocket, n);
    }
}
