//! `connect` and `idle`: Socket.IO connections that complete the handshake (WebSocket upgrade,
//! Engine.IO open, namespace CONNECT) and then only answer heartbeats.

use std::sync::Arc;
use volley::client::Lane;

use crate::clock::Now;
use crate::event_loop::{Behavior, Cx, Scenario};
use crate::failure::Failure;
use crate::scenario::sio_conn::{Heard, SioConn};
use crate::scenario::Settings;

/// The `connect` and `idle` scenarios.
pub struct Hold(pub Arc<Settings>);

impl Scenario for Hold {
    type Conn = HoldConn;

    fn conn(&self, index: u64, now: Now) -> HoldConn {
        HoldConn {
            sio: SioConn::new(&self.0, index, now),
            connected: false,
            last_now: now,
        }
    }
}

/// One held connection.
pub struct HoldConn {
    sio: SioConn,
    connected: bool,
    last_now: Now,
}

impl HoldConn {
    fn pump(&mut self, now: Now) -> Result<(), Failure> {
        self.last_now = now;
        while let Some(heard) = self.sio.next()? {
            if heard == Heard::Connected {
                self.connected = true;
            }
        }
        Ok(())
    }
}

impl Behavior for HoldConn {
    fn on_connected(&mut self, _cx: &mut Cx<'_>) -> Result<(), Failure> {
        Ok(())
    }

    fn on_input(&mut self, input: &mut Vec<u8>, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.sio.feed(input, cx.now)?;
        self.pump(cx.now)
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure> {
        self.sio.on_timer(cx.now);
        self.pump(cx.now)
    }

    fn deadline_ns(&self) -> Option<u64> {
        self.sio.deadline_ns(self.last_now)
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
