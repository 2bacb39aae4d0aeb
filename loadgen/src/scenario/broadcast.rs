//! `broadcast`: every client joins a room (`join` event with the room name, acked); the first
//! `senders` clients emit `broadcast` with `[room, payload]` at a paced rate, the payload stamped
//! with sender, sequence number and send time. The server is expected to emit `broadcast` with
//! the payload to every member, senders included. Each member counts first copies, duplicates
//! and delivery latency; the ledger settles losses once every process has reported.

use std::sync::Arc;
use volley::client::Lane;

use crate::clock::{micros_between, Now};
use crate::event_loop::{Behavior, Cx, Scenario};
use crate::failure::Failure;
use crate::ledger::SeenWindow;
use crate::scenario::requests::Pacer;
use crate::scenario::sio_conn::{Heard, SioConn};
use crate::scenario::{earliest, first_string, read_stamp, stamp, Settings};

/// Broadcasts per second over the whole run when `--rate` is not given, per sender.
pub const DEFAULT_RATE_PER_SENDER: f64 = 10.0;

/// The `broadcast` scenario.
pub struct Broadcast {
    settings: Arc<Settings>,
    /// `"room"` as a JSON string, built once.
    room_json: Arc<[u8]>,
}

impl Broadcast {
    /// The scenario for `settings`.
    pub fn new(settings: Arc<Settings>) -> Self {
        let room_json = serde_json::to_vec(&settings.room).unwrap_or_default();
        Self {
            settings,
            room_json: room_json.into(),
        }
    }
}

impl Scenario for Broadcast {
    type Conn = BroadcastConn;

    fn conn(&self, index: u64, now: Now) -> BroadcastConn {
        let s = &self.settings;
        let senders = s.senders.min(s.connections).max(1);
        let rate = s.rate.unwrap_or(DEFAULT_RATE_PER_SENDER * senders as f64);
        let pacer = (index < s.senders).then(|| Pacer::for_share(rate, senders, index));
        BroadcastConn {
            settings: Arc::clone(s),
            room_json: Arc::clone(&self.room_json),
            sio: SioConn::new(s, index, now),
            index,
            join_id: None,
            joined: false,
            seen: SeenWindow::default(),
            pacer,
            seq: 0,
            scratch: Vec::new(),
            last_now: now,
        }
    }
}

/// One room member (and maybe sender).
pub struct BroadcastConn {
    settings: Arc<Settings>,
    room_json: Arc<[u8]>,
    sio: SioConn,
    index: u64,
    join_id: Option<u64>,
    joined: bool,
    seen: SeenWindow,
    pacer: Option<Pacer>,
    seq: u64,
    scratch: Vec<u8>,
    last_now: Now,
}

impl BroadcastConn {
    fn pump(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.last_now = cx.now;
        while let Some(heard) = self.sio.next()? {
            match heard {
                Heard::Connected => {
                    let mut args = b"[".to_vec();
                    args.extend_from_slice(&self.room_json);
                    args.push(b']');
                    self.join_id = self.sio.conn.emit(&self.sio.nsp, "join", &args, &[], true);
                }
                Heard::Ack { id, .. } if Some(id) == self.join_id && !self.joined => {
                    self.joined = true;
                    cx.stats.ledger.members += 1;
                }
                Heard::Ack { .. } => {}
                Heard::Event { name, args_json } if name == "broadcast" => {
                    self.on_delivery(&args_json, cx);
                }
                Heard::Event { .. } => {}
            }
        }
        self.send_due(cx);
        Ok(())
    }

    fn on_delivery(&mut self, args_json: &[u8], cx: &mut Cx<'_>) {
        let Some([sender, seq, sent_ns]) = first_string(args_json).and_then(read_stamp::<3>) else {
            cx.stats.counters.protocol_errors += 1;
            cx.stats
                .note_error("protocol: broadcast payload is not one we sent");
            return;
        };
        if !self.seen.first_time(sender, seq) {
            cx.stats.counters.duplicated += 1;
            cx.stats
                .note_error("broadcast delivered twice to one member");
            return;
        }
        let us = micros_between(sent_ns, cx.now.ns);
        let measured = cx.run.in_window(sent_ns);
        cx.stats.ledger.note_delivered(sender, seq, us, measured);
        if cx.measuring() {
            cx.stats.latency.record(us);
            cx.stats.counters.completed += 1;
        }
    }

    fn send_due(&mut self, cx: &mut Cx<'_>) {
        if !cx.sending() {
            // A stopped schedule has no deadline, so members do not keep waking while draining.
            if let Some(p) = &mut self.pacer {
                p.stop();
            }
            return;
        }
        if !self.joined {
            return;
        }
        let Self {
            settings,
            room_json,
            sio,
            index,
            pacer,
            seq,
            scratch,
            ..
        } = self;
        let Some(pacer) = pacer else { return };
        let now = cx.now.ns;
        pacer.due(now, |_| {
            scratch.clear();
            scratch.push(b'[');
            scratch.extend_from_slice(room_json);
            scratch.extend_from_slice(b",\"");
            stamp(
                scratch,
                &[*index, *seq, now],
                settings.payload,
                settings.words,
            );
            scratch.extend_from_slice(b"\"]");
            sio.conn.emit(&sio.nsp, "broadcast", scratch, &[], false);
            cx.stats.ledger.note_sent(*index, *seq);
            cx.stats.counters.sent += 1;
            *seq += 1;
            true
        });
    }
}

impl Behavior for BroadcastConn {
    fn on_connected(&mut self, _cx: &mut Cx<'_>) -> Result<(), Failure> {
        Ok(())
    }

    fn on_input(&mut self, input: &mut Vec<u8>, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.sio.feed(input, cx.now)?;
        self.pump(cx)
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.sio.on_timer(cx.now);
        self.pump(cx)
    }

    fn deadline_ns(&self) -> Option<u64> {
        let send = if self.joined {
            self.pacer.as_ref().and_then(Pacer::next_ns)
        } else {
            None
        };
        earliest(self.sio.deadline_ns(self.last_now), send)
    }

    fn is_established(&self) -> bool {
        self.joined
    }

    fn transmit(&self) -> Option<&[u8]> {
        self.sio.conn.transmit(Lane::WebSocket)
    }

    fn advance_transmit(&mut self, n: usize) {
        self.sio.conn.advance_transmit(Lane::WebSocket, n);
    }
}
