//! Connection state recovery, the reference's `connectionStateRecovery` on one server, in
//! memory: the packets a socket could miss are kept with an offset for a while, a socket that
//! leaves for a recoverable reason keeps its id, rooms and data under a private session id
//! (`pid`), and a client that comes back in time with that `pid` and the offset it reached
//! gets them all back, with the packets it missed. [`SessionStore`] is what a cluster adapter
//! would implement to keep the same across servers; [`MemoryStore`] is the one server's.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::proto::eio::{Sid, SidMap};
use crate::server::broadcast_msg::Shared;
use crate::server::reason::DisconnectReason;
use crate::server::rooms::Target;

use super::errors::EmitError;
use super::socket_data::SocketData;

/// Encodes a packet with an offset when it is kept, without one otherwise.
pub(crate) type EncodeMaybeAt<'e> = dyn FnMut(Option<&str>) -> Result<Vec<Shared>, EmitError> + 'e;

/// A socket's state kept after it left for a recoverable reason.
pub(crate) struct Session {
    pub pid: Box<str>,
    pub sid: Sid,
    pub nsp: String,
    /// Its rooms, its own id's room included (as the reference's `socket.rooms`).
    pub rooms: Vec<String>,
    pub data: Option<Box<dyn SocketData + Send>>,
}

/// What a reconnecting socket gets back.
pub(crate) struct Restored {
    pub sid: Sid,
    pub rooms: Vec<String>,
    pub data: Option<Box<dyn SocketData + Send>>,
    /// The packets sent to it since its offset, in the order kept.
    pub missed: Vec<Vec<Shared>>,
}

/// A packet [`SessionStore::keep`] is asked to keep: where it goes.
pub(crate) struct ToKeep<'a> {
    /// Its namespace.
    pub nsp: &'a str,
    /// Who gets it.
    pub target: &'a Target,
    /// Whether it may go compressed (what the cluster is told).
    pub compress: bool,
    /// Sent on this server only (`io.local`): a cluster store gives it no offset, as the
    /// reference's cluster adapter publishes nothing for it.
    pub local: bool,
}

/// What [`SessionStore::keep`] made of a packet.
pub(crate) enum Keeping {
    /// The packet to send now (kept with its offset, or as it is).
    Send(Vec<Shared>),
    /// Handed to the cluster, which gives it its offset (the stream entry id) and then
    /// delivers it to this server's workers itself: the caller sends nothing.
    Published,
}

/// Carries a store's late answer to the worker holding the CONNECT (`None`: a fresh session).
pub(crate) type RestoreAnswer = Box<dyn FnOnce(Option<Restored>) + Send>;

/// A store's late answer, as the worker holding the CONNECT gets it.
pub(crate) struct RestoreReply {
    /// Which waiting CONNECT of the session it answers.
    pub token: u32,
    /// The session back, or `None` for a fresh one.
    pub restored: Option<Restored>,
}

/// What [`SessionStore::restore`] answered.
pub(crate) enum Restoring {
    /// The answer, at once (`None`: a fresh session).
    Now(Option<Restored>),
    /// The answer comes later, through the [`RestoreAnswer`] given.
    Later,
}

/// Where kept packets and sessions live: in memory here ([`MemoryStore`]), or in the Redis
/// stream of the streams adapter, where every server of the cluster reads them (as the
/// reference's `@socket.io/redis-streams-adapter`).
pub(crate) trait SessionStore: Send + Sync {
    /// Gives `packet` its offset and keeps it: `encode` builds it with the offset it is
    /// given (none: as it is).
    fn keep(
        &self,
        packet: ToKeep<'_>,
        now: Instant,
        encode: &mut EncodeMaybeAt<'_>,
    ) -> Result<Keeping, EmitError>;

    /// Keeps the state of a socket that left at `now`.
    fn persist(&self, session: Session, now: Instant);

    /// Takes back session `pid` of namespace `nsp` and the packets for it after `offset`, or
    /// every packet kept for it when the client shows no offset (it never got a kept packet,
    /// as the reference's `restoreSession` without one); `None` (a fresh session) when the
    /// session is unknown or expired, or the offset is not among the packets kept (forged, or
    /// already dropped, so what was missed is unknown), or without an offset when a packet kept
    /// since the session left was already dropped. A store that must ask elsewhere answers
    /// [`Restoring::Later`] and calls `later` once.
    fn restore(
        &self,
        nsp: &str,
        pid: &str,
        offset: Option<&str>,
        now: Instant,
        later: RestoreAnswer,
    ) -> Restoring;
}

/// Connection state recovery as the server runs it.
pub(crate) struct Recovery {
    /// A recovered socket skips the connect middleware (`on_connect` still runs).
    pub skip_middlewares: bool,
    pub store: Box<dyn SessionStore>,
    /// Recovered sockets living on another worker than the one their id names, so what is
    /// addressed to the id (handle emits, deferred acks) is forwarded there.
    moved: Mutex<SidMap<u16>>,
}

impl Recovery {
    /// Recovery within `window`, keeping at most `max_bytes` of packets in memory.
    pub fn new(window: Duration, skip_middlewares: bool, max_bytes: usize) -> Self {
        Self::with_store(
            skip_middlewares,
            Box::new(MemoryStore::new(window, max_bytes)),
        )
    }

    /// Recovery keeping packets and sessions in `store` (a cluster adapter's).
    pub fn with_store(skip_middlewares: bool, store: Box<dyn SessionStore>) -> Self {
        Recovery {
            skip_middlewares,
            store,
            moved: Mutex::default(),
        }
    }

    /// Socket `sid` now lives on `worker` (or back on its own worker).
    pub fn moved_to(&self, sid: Sid, worker: u16) {
        let mut moved = self.moved.lock().unwrap_or_else(|e| e.into_inner());
        if sid.worker() == worker {
            moved.remove(&sid);
        } else {
            moved.insert(sid, worker);
        }
    }

    /// Socket `sid` is gone: nothing for it is forwarded any more.
    pub fn gone(&self, sid: &Sid) {
        self.moved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(sid);
    }

    /// The worker that holds socket `sid` if it was recovered elsewhere.
    pub fn worker_of(&self, sid: &Sid) -> Option<u16> {
        self.moved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sid)
            .copied()
    }
}

/// Encodes `packet` (`encode` gets its offset, if any): kept with an offset when recovery is
/// on and the packet is one the reference keeps (`keep`: an event without an ack, not
/// volatile), as it is otherwise.
pub(crate) fn encode_for(
    recovery: Option<&Recovery>,
    keep: bool,
    packet: ToKeep<'_>,
    now: Instant,
    encode: &mut EncodeMaybeAt<'_>,
) -> Result<Keeping, EmitError> {
    match recovery.filter(|_| keep) {
        Some(r) => r.store.keep(packet, now, encode),
        None => encode(None).map(Keeping::Send),
    }
}

/// The reasons after which the reference keeps a socket's state: the connection failed or the
/// server went away, not a deliberate leave.
pub(crate) fn recoverable(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TransportError
            | DisconnectReason::TransportClose
            | DisconnectReason::ForcedClose
            | DisconnectReason::PingTimeout
            | DisconnectReason::ServerShuttingDown
            | DisconnectReason::ForcedServerClose
    )
}

/// The `(pid, offset)` a reconnecting client puts in its CONNECT payload: a string `pid`, with
/// a string `offset` or none (the stock client sends none until it has got a kept packet).
/// `None` for anything else, as the reference tries recovery only then: a malformed offset
/// (`null` included) fails closed, into a fresh session.
pub(crate) fn resume_of(auth: Option<&str>) -> Option<(String, Option<String>)> {
    let Value::Object(mut auth) = serde_json::from_str(auth?).ok()? else {
        return None;
    };
    let Value::String(pid) = auth.remove("pid")? else {
        return None;
    };
    match auth.remove("offset") {
        None => Some((pid, None)),
        Some(Value::String(offset)) => Some((pid, Some(offset))),
        Some(_) => None,
    }
}

/// One kept packet and who it was for.
struct Kept {
    offset: u64,
    at: Instant,
    nsp: String,
    target: Target,
    packets: Vec<Shared>,
    bytes: usize,
}

impl Kept {
    /// Whether a socket of `nsp` in `rooms` (its own id's room among them) was to get it: the
    /// reference's `shouldIncludePacket`.
    fn for_session(&self, nsp: &str, sid: &Sid, rooms: &[String]) -> bool {
        let t = &self.target;
        let included = t.rooms.is_empty() || rooms.iter().any(|r| t.rooms.contains(r));
        let excluded = rooms.iter().any(|r| t.except.contains(r)) || t.except_sid == Some(*sid);
        self.nsp == nsp && included && !excluded
    }
}

impl Inner {
    /// Takes session `pid` out, with when it was kept.
    fn take(&mut self, pid: &str) -> Option<(Instant, Session)> {
        let (at, session, bytes) = self.sessions.remove(pid)?;
        self.session_bytes -= bytes;
        Some((at, session))
    }
}

struct Inner {
    next: u64,
    packets: VecDeque<Kept>,
    bytes: usize,
    /// Sessions by pid, with when they were kept and what they cost.
    sessions: HashMap<Box<str>, (Instant, Session, usize)>,
    /// Bytes held for sessions, their data aside (its size is the application's).
    session_bytes: usize,
    /// Sessions by the time they were kept, to drop the expired ones in order.
    expiry: VecDeque<(Instant, Box<str>)>,
    /// When the newest packet dropped (past the window or over the cap) was kept: a session
    /// restored without an offset would miss it if it was kept after the session left.
    dropped_at: Option<Instant>,
}

/// Kept packets and sessions of this server, in memory. Both are dropped once older than the
/// window (as the reference), and while together they hold more than `max_bytes` (sessions'
/// data aside), the oldest packets first, then the oldest sessions. Expired entries go when
/// the store is next used.
pub(crate) struct MemoryStore {
    window: Duration,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new(window: Duration, max_bytes: usize) -> Self {
        MemoryStore {
            window,
            max_bytes,
            inner: Mutex::new(Inner {
                next: 1,
                packets: VecDeque::new(),
                bytes: 0,
                sessions: HashMap::new(),
                session_bytes: 0,
                expiry: VecDeque::new(),
                dropped_at: None,
            }),
        }
    }

    /// Bytes held for kept packets and how many packets that is.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.bytes, inner.packets.len())
    }

    /// Bytes held for sessions (their data aside) and how many sessions that is.
    #[cfg(test)]
    fn session_usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.session_bytes, inner.sessions.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, at: Instant, now: Instant) -> bool {
        at + self.window < now
    }

    /// Drops what is past the window; then, while over the byte cap, the oldest packets, and
    /// once none is left the oldest sessions.
    fn sweep(&self, inner: &mut Inner, now: Instant) {
        let over = |inner: &Inner| inner.bytes + inner.session_bytes > self.max_bytes;
        while let Some(k) = inner.packets.front() {
            if !self.expired(k.at, now) && !over(inner) {
                break;
            }
            inner.bytes -= k.bytes;
            inner.dropped_at = Some(k.at);
            inner.packets.pop_front();
        }
        while let Some((at, _)) = inner.expiry.front() {
            if !self.expired(*at, now) && !over(inner) {
                break;
            }
            if let Some((at, pid)) = inner.expiry.pop_front() {
                // A pid kept again later has a newer entry; this one is stale.
                if inner.sessions.get(&pid).is_some_and(|(t, _, _)| *t == at) {
                    inner.take(&pid);
                }
            }
        }
    }
}

impl SessionStore for MemoryStore {
    fn keep(
        &self,
        packet: ToKeep<'_>,
        now: Instant,
        encode: &mut EncodeMaybeAt<'_>,
    ) -> Result<Keeping, EmitError> {
        let ToKeep { nsp, target, .. } = packet;
        // Offsets are given and packets kept under one lock, so the kept order is the offset
        // order and a client's offset says exactly which of them it has.
        let mut inner = self.lock();
        let offset = inner.next;
        let packets = encode(Some(&offset.to_string()))?;
        inner.next += 1;
        let bytes = std::mem::size_of::<Kept>()
            + nsp.len()
            + target
                .rooms
                .iter()
                .chain(&target.except)
                .map(|r| r.len() + 24)
                .sum::<usize>()
            + packets
                .iter()
                .map(|p| p.frame().len() + std::mem::size_of::<Shared>())
                .sum::<usize>();
        inner.bytes += bytes;
        inner.packets.push_back(Kept {
            offset,
            at: now,
            nsp: nsp.to_string(),
            target: target.clone(),
            packets: packets.clone(),
            bytes,
        });
        self.sweep(&mut inner, now);
        Ok(Keeping::Send(packets))
    }

    fn persist(&self, session: Session, now: Instant) {
        let mut inner = self.lock();
        inner.take(&session.pid);
        let bytes = std::mem::size_of::<(Instant, Session, usize)>()
            + std::mem::size_of::<(Instant, Box<str>)>()
            + 3 * session.pid.len()
            + session.nsp.len()
            + session
                .rooms
                .iter()
                .map(|r| r.len() + std::mem::size_of::<String>())
                .sum::<usize>()
            + session.data.as_ref().map_or(0, |_| 16);
        inner.session_bytes += bytes;
        inner.expiry.push_back((now, session.pid.clone()));
        inner
            .sessions
            .insert(session.pid.clone(), (now, session, bytes));
        self.sweep(&mut inner, now);
    }

    fn restore(
        &self,
        nsp: &str,
        pid: &str,
        offset: Option<&str>,
        now: Instant,
        _later: RestoreAnswer,
    ) -> Restoring {
        Restoring::Now(self.restore_now(nsp, pid, offset, now))
    }
}

impl MemoryStore {
    fn restore_now(
        &self,
        nsp: &str,
        pid: &str,
        offset: Option<&str>,
        now: Instant,
    ) -> Option<Restored> {
        let mut inner = self.lock();
        self.sweep(&mut inner, now);
        // Taken, not read: one session comes back once, so two clients showing the same pid
        // never share a socket id.
        let (at, session) = inner.take(pid)?;
        if session.nsp != nsp || self.expired(at, now) {
            return None;
        }
        let from = match offset {
            Some(offset) => {
                let offset: u64 = offset.parse().ok()?;
                inner
                    .packets
                    .binary_search_by_key(&offset, |k| k.offset)
                    .ok()?
                    + 1
            }
            // What it missed is every packet kept since it left; if one of those is gone
            // already (over the cap), a fresh session rather than one with a gap.
            None if inner.dropped_at.is_some_and(|d| d >= at) => return None,
            None => 0,
        };
        let missed = inner
            .packets
            .range(from..)
            .filter(|k| k.for_session(nsp, &session.sid, &session.rooms))
            .map(|k| k.packets.clone())
            .collect();
        Some(Restored {
            sid: session.sid,
            rooms: session.rooms,
            data: session.data,
            missed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Parser;
    use crate::proto::eio::SidRng;
    use crate::server::broadcast_msg::encode_event_at;

    fn room(name: &str) -> Target {
        Target {
            rooms: vec![name.to_string()],
            ..Target::default()
        }
    }

    fn keep(store: &MemoryStore, target: &Target, now: Instant, n: u32) -> String {
        let mut offset = String::new();
        let packet = ToKeep {
            nsp: "/",
            target,
            compress: true,
            local: false,
        };
        store
            .keep(packet, now, &mut |o| {
                offset = o.unwrap_or_default().to_string();
                encode_event_at(
                    Parser::Json,
                    "/",
                    None,
                    "news",
                    &(n, "x".repeat(100)),
                    &[],
                    o,
                )
            })
            .unwrap();
        offset
    }

    fn session(pid: &str, sid: Sid, rooms: &[&str]) -> Session {
        Session {
            pid: pid.into(),
            sid,
            nsp: "/".to_string(),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            data: Some(Box::new(7u32)),
        }
    }

    /// What one kept packet (a 100-byte argument, a one-room target) and one kept session cost,
    /// printed; both go once past the window; the byte cap holds however many packets are
    /// kept, the oldest going first.
    #[test]
    fn kept_packets_cost_what_is_counted_and_stay_under_the_cap() {
        let now = Instant::now();
        let store = MemoryStore::new(Duration::from_secs(120), 1 << 20);
        for n in 0..1_000 {
            keep(&store, &room("r"), now, n);
        }
        let (bytes, packets) = store.usage();
        let frame = encode_event_at(
            Parser::Json,
            "/",
            None,
            "news",
            &(0, "x".repeat(100)),
            &[],
            Some("1"),
        )
        .unwrap()[0]
            .frame()
            .len();
        println!(
            "recovery: {} bytes per kept packet ({frame}-byte frame), {packets} packets in {bytes} bytes",
            bytes / packets
        );
        assert_eq!(packets, 1_000);
        assert!(bytes / packets < frame + 256, "{bytes} for {packets}");

        let mut rng = SidRng::new().unwrap();
        for n in 0..1_000 {
            let sid = Sid::generate(0, &mut rng);
            let pid = Sid::generate(0, &mut rng);
            store.persist(session(pid.as_str(), sid, &[sid.as_str(), "r"]), now);
            assert_eq!(store.session_usage().1, n + 1);
        }
        let (bytes, sessions) = store.session_usage();
        println!(
            "recovery: {} bytes per kept session (two rooms, its data aside)",
            bytes / sessions
        );
        let later = now + Duration::from_secs(121);
        keep(&store, &room("r"), later, 0);
        assert_eq!(store.usage().1, 1, "the expired packets went");
        store.persist(session("last", Sid::generate(0, &mut rng), &["r"]), later);
        assert_eq!(store.session_usage().1, 1, "the expired sessions went");

        let capped = MemoryStore::new(Duration::from_secs(120), 10_000);
        let first = keep(&capped, &room("r"), now, 0);
        for n in 1..1_000 {
            keep(&capped, &room("r"), now, n);
        }
        let (bytes, packets) = capped.usage();
        assert!(bytes <= 10_000 && packets > 10, "{bytes} in {packets}");
        let crowded = MemoryStore::new(Duration::from_secs(120), 10_000);
        for _ in 0..1_000 {
            let sid = Sid::generate(0, &mut rng);
            let pid = Sid::generate(0, &mut rng);
            crowded.persist(session(pid.as_str(), sid, &[sid.as_str()]), now);
        }
        let (bytes, sessions) = crowded.session_usage();
        assert!(bytes <= 10_000 && sessions > 10, "{bytes} in {sessions}");
        let sid = Sid::generate(0, &mut rng);
        capped.persist(session("p", sid, &[sid.as_str(), "r"]), now);
        assert!(
            capped.restore_now("/", "p", Some(&first), now).is_none(),
            "its offset was dropped: what it missed is unknown"
        );
    }

    /// What a CONNECT payload asks for: a string `pid` with a string `offset` or none; an
    /// offset of another type (`null` included) or a pid that is not a string asks for nothing.
    #[test]
    fn resume_takes_a_string_pid_with_a_string_offset_or_none() {
        let of = |auth: &str| resume_of(Some(auth));
        assert_eq!(
            of(r#"{"pid":"p","offset":"7"}"#),
            Some(("p".into(), Some("7".into())))
        );
        assert_eq!(of(r#"{"pid":"p"}"#), Some(("p".into(), None)));
        assert_eq!(of(r#"{"pid":"p","token":1}"#), Some(("p".into(), None)));
        for refused in [
            r#"{"pid":"p","offset":123}"#,
            r#"{"pid":"p","offset":null}"#,
            r#"{"pid":"p","offset":["7"]}"#,
            r#"{"pid":1,"offset":"7"}"#,
            r#"{"offset":"7"}"#,
            r#"["p","7"]"#,
            "{",
        ] {
            assert_eq!(of(refused), None, "{refused}");
        }
        assert_eq!(resume_of(None), None);
    }

    /// Without an offset (the client never got a kept packet) a session gets every packet
    /// still kept for its rooms, from the oldest, as the reference replays from the start of
    /// its buffer; with none kept it comes back with nothing to replay.
    #[test]
    fn without_an_offset_a_session_gets_every_packet_kept_for_it() {
        let now = Instant::now();
        let store = MemoryStore::new(Duration::from_secs(10), 1 << 20);
        let mut rng = SidRng::new().unwrap();
        let sid = Sid::generate(0, &mut rng);
        store.persist(session("p", sid, &[sid.as_str(), "r"]), now);
        let r = store.restore_now("/", "p", None, now).expect("restored");
        assert!(r.missed.is_empty());
        assert_eq!(r.sid, sid);

        store.persist(session("p", sid, &[sid.as_str(), "r"]), now);
        keep(&store, &room("r"), now, 1);
        keep(&store, &room("other"), now, 2);
        keep(&store, &Target::default(), now, 3);
        let r = store.restore_now("/", "p", None, now).expect("restored");
        let ns: Vec<String> = r
            .missed
            .iter()
            .map(|p| String::from_utf8_lossy(&p[0].eio_payload()[10..11]).into_owned())
            .collect();
        assert_eq!(ns, ["1", "3"]);
        assert!(
            store.restore_now("/", "p", None, now).is_none(),
            "taken once"
        );
    }

    /// Without an offset, a session whose packets kept since it left went over the cap gets a
    /// fresh session (what it missed is not all there); packets dropped from before it left do
    /// not stop it.
    #[test]
    fn without_an_offset_a_gap_since_the_session_left_gets_a_fresh_session() {
        let now = Instant::now();
        let later = now + Duration::from_millis(10);
        let store = MemoryStore::new(Duration::from_secs(10), 4_000);
        let mut rng = SidRng::new().unwrap();
        let sid = Sid::generate(0, &mut rng);
        for n in 0..100 {
            keep(&store, &room("r"), now, n);
        }
        assert!(store.usage().1 < 100, "some went over the cap");
        store.persist(session("p", sid, &[sid.as_str(), "r"]), later);
        keep(&store, &room("r"), later, 100);
        let r = store.restore_now("/", "p", None, later).expect("restored");
        assert!(!r.missed.is_empty());

        store.persist(session("p", sid, &[sid.as_str(), "r"]), later);
        for n in 0..100 {
            keep(&store, &room("r"), later, n);
        }
        assert!(store.restore_now("/", "p", None, later).is_none());
    }

    /// A session gets the packets for its rooms or for everyone, not those for other rooms
    /// or excluding it, in order; packets past the window are dropped with it.
    #[test]
    fn a_session_gets_what_its_rooms_would_have_got() {
        let now = Instant::now();
        let window = Duration::from_secs(10);
        let store = MemoryStore::new(window, 1 << 20);
        let mut rng = SidRng::new().unwrap();
        let sid = Sid::generate(0, &mut rng);
        let from = keep(&store, &room("r"), now, 0);
        store.persist(session("p", sid, &[sid.as_str(), "r"]), now);
        keep(&store, &room("r"), now, 1);
        keep(&store, &room("other"), now, 2);
        keep(&store, &Target::default(), now, 3);
        let except_r = Target {
            except: vec!["r".to_string()],
            ..Target::default()
        };
        keep(&store, &except_r, now, 4);
        let except_self = Target {
            except_sid: Some(sid),
            ..Target::default()
        };
        keep(&store, &except_self, now, 5);
        keep(&store, &room(sid.as_str()), now, 6);
        let r = store
            .restore_now("/", "p", Some(&from), now)
            .expect("restored");
        let got: Vec<String> = r
            .missed
            .iter()
            .map(|p| String::from_utf8_lossy(p[0].eio_payload()).into_owned())
            .collect();
        let ns: Vec<&str> = got.iter().map(|t| &t[10..11]).collect();
        assert_eq!(ns, ["1", "3", "6"], "{got:?}");
        assert_eq!(r.sid, sid);
        assert_eq!(r.data.map(|d| d.to_json()), Some(serde_json::json!(7)));

        store.persist(session("q", sid, &["r"]), now);
        assert!(
            store.restore_now("/other", "q", Some(&from), now).is_none(),
            "another namespace"
        );
        store.persist(session("q", sid, &["r"]), now);
        let later = now + window + Duration::from_millis(1);
        assert!(
            store.restore_now("/", "q", Some(&from), later).is_none(),
            "expired"
        );
    }
}
