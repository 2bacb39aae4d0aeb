//! What each worker keeps for the sessions it runs: session ids, rooms, the sockets by id, the
//! parked polling requests, statistics and where broadcasts for other servers go.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::proto::eio::{Sid, SidMap, SidRng};
use crate::runtime::ConnId;

use super::adapter::Adapter;
use super::rooms::Rooms;
use super::session_key::SessionKey;
use super::sio::Recovery;
use super::stats::Stats;

/// Each worker's tables the sessions share (its sessions themselves are kept by the service,
/// above the session layers: see [`super::sessions::Sessions`]).
pub(crate) struct WorkerState {
    pub rng: SidRng,
    pub next_key: u32,
    /// Socket.IO sockets of this worker, for emits addressed by socket id.
    pub sockets: SidMap<SessionKey>,
    pub rooms: Rooms,
    /// Reused by every broadcast to list its receivers.
    pub scratch_sids: Vec<Sid>,
    pub stats: Arc<Stats>,
    /// Where broadcasts for the other servers of a cluster go.
    pub adapter: Arc<dyn Adapter>,
    /// Connection state recovery, when on.
    pub recovery: Option<Arc<Recovery>>,
    /// Parked polling GETs and the session each waits for, so a GET whose connection closes
    /// before its answer ends its session (`transport error`, as the reference's "poll
    /// connection closed prematurely"); an entry leaves when the GET is answered.
    pub parked: HashMap<ConnId, SessionKey>,
    /// The server's settings (the runtime sees only its own part of them).
    pub config: Arc<Config>,
}
