//! Heartbeat timing as plain state machines; the runtime's timer wheel supplies the clock.
//!
//! A deadline that does not fit in an [`Instant`] (e.g. a `Duration::MAX` interval) is `None`,
//! which means "never".

use std::time::{Duration, Instant};

/// What the runtime must do when a server heartbeat deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Send a ping packet (`2`) now; the heartbeat then waits for the pong.
    SendPing,
    /// No pong came within the ping timeout: close the session.
    Timeout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Next ping due at the instant.
    Idle { ping_at: Option<Instant> },
    /// Ping sent at `sent`; a pong must come before `deadline`.
    AwaitingPong {
        sent: Instant,
        deadline: Option<Instant>,
    },
    /// Engine.IO v3: the client pings; it must ping again before `deadline`.
    ClientPings { deadline: Option<Instant> },
    /// Reported [`HeartbeatAction::Timeout`]; nothing more happens.
    TimedOut,
}

/// The server side of the Engine.IO v4 heartbeat.
///
/// The server pings one `ping_interval` after open and times the session out when no pong
/// arrives within `ping_timeout` of a ping. The next ping is due one interval after the pong, as
/// the reference's is (its pong refreshes the interval timer): the server then gives up on a
/// silent client `ping_interval + ping_timeout` after the last pong, never before the client
/// gives up on the server (the same window after the ping that pong answered), so a client that
/// stops hearing the server reports its own `ping timeout` rather than the server's close.
/// Copy-sized; nothing allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    state: State,
}

impl Heartbeat {
    /// Starts the heartbeat for a session opened at `now` (reference defaults: interval 25 s,
    /// timeout 20 s).
    pub fn new(now: Instant, ping_interval: Duration, ping_timeout: Duration) -> Self {
        Self {
            interval: ping_interval,
            timeout: ping_timeout,
            state: State::Idle {
                ping_at: now.checked_add(ping_interval),
            },
        }
    }

    /// Starts the Engine.IO v3 heartbeat for a session opened at `now`: the client pings, and
    /// the session times out when `ping_interval + ping_timeout` passes without a ping (from
    /// open, then from each ping), as the reference's v3 `resetPingTimeout` and its refresh on
    /// each ping time it. It never asks for a ping to be sent.
    pub fn new_v3(now: Instant, ping_interval: Duration, ping_timeout: Duration) -> Self {
        Self {
            interval: ping_interval,
            timeout: ping_timeout,
            state: State::ClientPings {
                deadline: Self::v3_deadline(now, ping_interval, ping_timeout),
            },
        }
    }

    fn v3_deadline(now: Instant, interval: Duration, timeout: Duration) -> Option<Instant> {
        now.checked_add(interval.checked_add(timeout)?)
    }

    /// Records a v3 client ping received at `now` (the caller answers it with a pong): the
    /// timeout starts over. Ignored by a v4 heartbeat, and at or after the deadline, as
    /// [`Heartbeat::on_pong`] is.
    pub fn on_ping(&mut self, now: Instant) {
        if let State::ClientPings { deadline } = self.state {
            if deadline.map_or(true, |d| now < d) {
                self.state = State::ClientPings {
                    deadline: Self::v3_deadline(now, self.interval, self.timeout),
                };
            }
        }
    }

    /// When [`Heartbeat::on_deadline`] must be called next; `None` after a timeout, or when the deadline is too far to represent.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Idle { ping_at } => ping_at,
            State::AwaitingPong { deadline, .. } | State::ClientPings { deadline } => deadline,
            State::TimedOut => None,
        }
    }

    /// Advances to `now`: returns the action due, or `None` if nothing is due yet (an early or
    /// repeated wake-up is harmless).
    pub fn on_deadline(&mut self, now: Instant) -> Option<HeartbeatAction> {
        match self.state {
            State::Idle { ping_at: Some(at) } if now >= at => {
                self.state = State::AwaitingPong {
                    sent: now,
                    deadline: now.checked_add(self.timeout),
                };
                Some(HeartbeatAction::SendPing)
            }
            State::AwaitingPong {
                deadline: Some(deadline),
                ..
            }
            | State::ClientPings {
                deadline: Some(deadline),
            } if now >= deadline => {
                self.state = State::TimedOut;
                Some(HeartbeatAction::Timeout)
            }
            _ => None,
        }
    }

    /// Records a pong received at `now` and schedules the next ping one interval after it. A
    /// pong with no ping outstanding is ignored, and so is one at or after the timeout deadline:
    /// the outcome then depends only on the times, not on whether the runtime handled the read
    /// or the timer first.
    pub fn on_pong(&mut self, now: Instant) {
        if let State::AwaitingPong { deadline, .. } = self.state {
            if deadline.map_or(true, |d| now < d) {
                self.state = State::Idle {
                    ping_at: now.checked_add(self.interval),
                };
            }
        }
    }

    /// When the session times out if no pong ever comes from now on: the deadline of the
    /// outstanding ping, or the next ping's due time plus the timeout. `None` after a timeout
    /// (or when too far to represent).
    pub fn gives_up_at(&self) -> Option<Instant> {
        match self.state {
            State::Idle { ping_at } => ping_at.and_then(|at| at.checked_add(self.timeout)),
            State::AwaitingPong { deadline, .. } | State::ClientPings { deadline } => deadline,
            State::TimedOut => None,
        }
    }

    /// Whether the heartbeat has reported [`HeartbeatAction::Timeout`].
    pub fn is_timed_out(&self) -> bool {
        self.state == State::TimedOut
    }
}

/// The client side of the heartbeat: the client answers every ping with a pong and considers the
/// server gone if no ping arrives within `ping_interval + ping_timeout` of the last one (or of
/// the open packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHeartbeat {
    window: Option<Duration>,
    deadline: Option<Instant>,
}

impl ClientHeartbeat {
    /// Starts watching at `now`, with the interval and timeout from the server's open packet.
    pub fn new(now: Instant, ping_interval: Duration, ping_timeout: Duration) -> Self {
        let window = ping_interval.checked_add(ping_timeout);
        Self {
            window,
            deadline: window.and_then(|w| now.checked_add(w)),
        }
    }

    /// Records a ping received at `now`; the caller answers it with a pong (`3`, same data).
    pub fn on_ping(&mut self, now: Instant) {
        self.deadline = self.window.and_then(|w| now.checked_add(w));
    }

    /// The instant after which the server counts as gone; `None` means never.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the server counts as gone at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(25_000);
    const TIMEOUT: Duration = Duration::from_millis(20_000);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn v3_client_pings_reset_the_window_and_the_server_never_pings() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new_v3(t0, INTERVAL, TIMEOUT);
        let window = INTERVAL + TIMEOUT;
        assert_eq!(hb.next_deadline(), Some(t0 + window));
        assert_eq!(hb.gives_up_at(), Some(t0 + window));
        assert_eq!(hb.on_deadline(t0 + INTERVAL), None);
        let ping = t0 + INTERVAL + ms(5);
        hb.on_ping(ping);
        assert_eq!(hb.next_deadline(), Some(ping + window));
        assert_eq!(hb.on_deadline(t0 + window), None);
        hb.on_pong(ping + ms(1));
        assert_eq!(hb.next_deadline(), Some(ping + window));
        assert_eq!(
            hb.on_deadline(ping + window),
            Some(HeartbeatAction::Timeout)
        );
        assert!(hb.is_timed_out());
        hb.on_ping(ping + window + ms(1));
        assert_eq!(hb.next_deadline(), None);
    }

    #[test]
    fn v3_ping_at_the_deadline_is_too_late_and_v4_ignores_pings() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new_v3(t0, INTERVAL, TIMEOUT);
        hb.on_ping(t0 + INTERVAL + TIMEOUT);
        assert_eq!(hb.next_deadline(), Some(t0 + INTERVAL + TIMEOUT));
        let mut v4 = Heartbeat::new(t0, INTERVAL, TIMEOUT);
        v4.on_ping(t0 + ms(1));
        assert_eq!(v4.next_deadline(), Some(t0 + INTERVAL));
        let never = Heartbeat::new_v3(t0, Duration::MAX, TIMEOUT);
        assert_eq!(never.next_deadline(), None);
    }

    #[test]
    fn first_ping_one_interval_after_open() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, INTERVAL, TIMEOUT);
        assert_eq!(hb.next_deadline(), Some(t0 + INTERVAL));
        assert_eq!(hb.on_deadline(t0), None);
        assert_eq!(hb.on_deadline(t0 + INTERVAL - ms(1)), None);
        assert_eq!(
            hb.on_deadline(t0 + INTERVAL),
            Some(HeartbeatAction::SendPing)
        );
        assert_eq!(hb.next_deadline(), Some(t0 + INTERVAL + TIMEOUT));
        assert_eq!(hb.on_deadline(t0 + INTERVAL), None);
    }

    #[test]
    fn gives_up_one_timeout_after_the_next_or_outstanding_ping() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, INTERVAL, TIMEOUT);
        assert_eq!(hb.gives_up_at(), Some(t0 + INTERVAL + TIMEOUT));
        hb.on_deadline(t0 + INTERVAL + ms(3));
        assert_eq!(hb.gives_up_at(), Some(t0 + INTERVAL + ms(3) + TIMEOUT));
        hb.on_deadline(t0 + INTERVAL + ms(3) + TIMEOUT);
        assert_eq!(hb.gives_up_at(), None);
    }

    #[test]
    fn pong_schedules_next_ping_from_the_pong() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, INTERVAL, TIMEOUT);
        let ping = t0 + INTERVAL + ms(7); // the timer fired late
        assert_eq!(hb.on_deadline(ping), Some(HeartbeatAction::SendPing));
        let pong = ping + ms(300);
        hb.on_pong(pong);
        assert_eq!(hb.next_deadline(), Some(pong + INTERVAL));
        assert_eq!(
            hb.on_deadline(ping + TIMEOUT),
            None,
            "no timeout after a pong"
        );
        assert_eq!(hb.on_deadline(pong + INTERVAL - ms(1)), None);
        assert_eq!(
            hb.on_deadline(pong + INTERVAL),
            Some(HeartbeatAction::SendPing)
        );
        hb.on_pong(pong + INTERVAL + ms(1));
        assert_eq!(hb.next_deadline(), Some(pong + INTERVAL + ms(1) + INTERVAL));
        assert!(!hb.is_timed_out());
    }

    #[test]
    fn server_gives_up_no_sooner_than_the_client() {
        // The client answers a ping it got at `ping` and then hears nothing more: it gives up
        // `interval + timeout` after that ping; the server, which got the pong later, not
        // before then (the reference's order: the client reports its own `ping timeout`).
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, INTERVAL, TIMEOUT);
        let ping = t0 + INTERVAL;
        hb.on_deadline(ping);
        let mut client = ClientHeartbeat::new(t0, INTERVAL, TIMEOUT);
        client.on_ping(ping + ms(1));
        hb.on_pong(ping + ms(2));
        let next = hb.next_deadline().unwrap();
        assert_eq!(hb.on_deadline(next), Some(HeartbeatAction::SendPing));
        let server_gives_up = hb.gives_up_at().unwrap();
        assert!(server_gives_up > client.next_deadline().unwrap());
        assert_eq!(server_gives_up, ping + ms(2) + INTERVAL + TIMEOUT);
    }

    #[test]
    fn no_pong_times_out_at_ping_plus_timeout() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, INTERVAL, TIMEOUT);
        let ping = t0 + INTERVAL;
        assert_eq!(hb.on_deadline(ping), Some(HeartbeatAction::SendPing));
        assert_eq!(hb.on_deadline(ping + TIMEOUT - ms(1)), None);
        assert_eq!(
            hb.on_deadline(ping + TIMEOUT),
            Some(HeartbeatAction::Timeout)
        );
        assert!(hb.is_timed_out());
        assert_eq!(hb.next_deadline(), None);
        assert_eq!(hb.on_deadline(ping + TIMEOUT + INTERVAL), None);
        hb.on_pong(ping + TIMEOUT + ms(1));
        assert!(hb.is_timed_out());
    }

    #[test]
    fn late_or_unsolicited_pongs_are_ignored() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, INTERVAL, TIMEOUT);
        hb.on_pong(t0 + ms(5));
        assert_eq!(hb.next_deadline(), Some(t0 + INTERVAL));
        let ping = t0 + INTERVAL;
        hb.on_deadline(ping);
        hb.on_pong(ping + TIMEOUT);
        assert_eq!(
            hb.on_deadline(ping + TIMEOUT),
            Some(HeartbeatAction::Timeout)
        );
    }

    #[test]
    fn unrepresentable_deadlines_mean_never() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, Duration::MAX, TIMEOUT);
        assert_eq!(hb.next_deadline(), None);
        assert_eq!(hb.on_deadline(t0 + INTERVAL), None);
        let client = ClientHeartbeat::new(t0, Duration::MAX, ms(1));
        assert_eq!(client.next_deadline(), None);
        assert!(!client.is_expired(t0 + INTERVAL));
    }

    #[test]
    fn client_expires_without_pings() {
        let t0 = Instant::now();
        let mut c = ClientHeartbeat::new(t0, INTERVAL, TIMEOUT);
        assert_eq!(c.next_deadline(), Some(t0 + INTERVAL + TIMEOUT));
        assert!(!c.is_expired(t0 + INTERVAL + TIMEOUT - ms(1)));
        let ping = t0 + INTERVAL;
        c.on_ping(ping);
        assert!(!c.is_expired(t0 + INTERVAL + TIMEOUT));
        assert_eq!(c.next_deadline(), Some(ping + INTERVAL + TIMEOUT));
        assert!(c.is_expired(ping + INTERVAL + TIMEOUT));
    }
}
