//! `ws-echo`: plain WebSocket messages to an echo server, closed loop or paced; each echo is
//! matched to its request by the sequence number stamped in the payload.

use std::sync::Arc;

use crate::clock::Now;
use crate::event_loop::{Behavior, Cx, Scenario};
use crate::failure::Failure;
use crate::scenario::requests::{Pacer, Requests};
use crate::scenario::{read_stamp, stamp, Outbuf, Settings};
use crate::ws_client::{WsClient, WsEvent};

/// Largest echo accepted, beyond the payload size: anything bigger is not our message.
const MAX_MESSAGE: usize = 16 << 20;

/// The `ws-echo` scenario.
pub struct WsEcho(pub Arc<Settings>);

impl Scenario for WsEcho {
    type Conn = WsEchoConn;

    fn conn(&self, index: u64, now: Now) -> WsEchoConn {
        let s = &self.0;
        let pacer = s.rate.map(|r| Pacer::for_share(r, s.connections, index));
        WsEchoConn {
            settings: Arc::clone(s),
            ws: WsClient::new(index ^ now.ns, MAX_MESSAGE.max(s.payload), s.deflate),
            out: Outbuf::default(),
            requests: Requests::new(s.in_flight, pacer, s.request_timeout_ns),
            next_seq: 0,
            upgraded: false,
            scratch: Vec::with_capacity(s.payload),
        }
    }
}

/// One `ws-echo` connection.
pub struct WsEchoConn {
    settings: Arc<Settings>,
    ws: WsClient,
    out: Outbuf,
    requests: Requests,
    next_seq: u64,
    upgraded: bool,
    scratch: Vec<u8>,
}

impl WsEchoConn {
    fn send(&mut self, cx: &mut Cx<'_>) {
        let Self {
            settings,
            ws,
            out,
            requests,
            next_seq,
            scratch,
            ..
        } = self;
        requests.send_due(cx, |_| {
            let seq = *next_seq;
            *next_seq += 1;
            scratch.clear();
            stamp(scratch, &[seq], settings.payload, settings.words);
            ws.writer(out.buf()).text(scratch);
            Some(seq)
        });
    }
}

impl Behavior for WsEchoConn {
    fn on_connected(&mut self, _cx: &mut Cx<'_>) -> Result<(), Failure> {
        let target = &self.settings.target;
        self.ws.start(self.out.buf(), &target.host, &target.path);
        Ok(())
    }

    fn on_input(&mut self, input: &mut Vec<u8>, cx: &mut Cx<'_>) -> Result<(), Failure> {
        let Self {
            settings,
            ws,
            out,
            requests,
            upgraded,
            ..
        } = self;
        let expected_len = settings.payload.max(16);
        ws.handle_input(input, out.buf(), |event, _| match event {
            WsEvent::Upgraded => {
                *upgraded = true;
                Ok(())
            }
            WsEvent::Text(m) | WsEvent::Binary(m) => {
                let [seq] = read_stamp::<1>(m)
                    .filter(|_| m.len() == expected_len)
                    .ok_or_else(|| {
                        Failure::Protocol("echo differs from the message sent".into())
                    })?;
                requests.complete(seq, cx);
                Ok(())
            }
        })?;
        self.send(cx);
        Ok(())
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.requests.expire(cx);
        if self.upgraded {
            self.send(cx);
        }
        Ok(())
    }

    fn deadline_ns(&self) -> Option<u64> {
        self.requests.deadline_ns()
    }

    fn is_established(&self) -> bool {
        self.upgraded
    }

    fn transmit(&self) -> Option<&[u8]> {
        self.out.pending()
    }

    fn advance_transmit(&mut self, n: usize) {
        self.out.advance(n);
    }
}
