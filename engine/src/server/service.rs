//! The service the runtime drives: routes each request head to an endpoint by path (plain
//! WebSocket, Engine.IO, Socket.IO) and hands connections, timers and cross-thread messages to
//! the session they belong to.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::proto::eio::{SidMap, SidRng};
use crate::proto::http::{self, HttpError, Request};
use crate::proto::ws::{CloseCode, Message};
use crate::runtime::{Action, CloseReason, ConnId, Cx, Detached, Service};

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

use super::adapter::{Adapter, RoomsOf};
use super::broadcast::{deliver_local, DeliverFrom};
use super::conn_session::Session;
use super::eio_http::EioEndpoint;
use super::fallback::{self, HttpFallback, HttpHandoff};
use super::link::Tx;
use super::port::Port;
use super::post::{Post, SelectOp};
use super::rooms::{Rooms, SocketWatch, Target};
use super::session_key::SessionKey;
use super::sessions::SessionsPort;
use super::sessions::{with_session, Sessions};
use super::sio::{self, client::SioClient, Recovery};
use super::socket_info::SocketInfo;
use super::stats::Stats;
use super::timer::Timer;
use super::worker_state::WorkerState;
use super::ws::{WsConn, WsHandler, WsMessage};
use bytes::Bytes;

use crate::config::RuntimeConfig;
use crate::proto::ws::OpCode;
use crate::runtime::{Peers, TimerKey};

/// What a path serves.
pub(crate) enum Endpoint {
    WebSocket(Arc<dyn WsHandler>),
    Eio(Arc<EioEndpoint>),
}

/// A worker's state: the tables its sessions share, and the sessions.
pub(crate) struct Worker {
    pub state: WorkerState,
    pub sessions: Sessions,
}

pub(crate) struct Router {
    pub config: Arc<Config>,
    /// Connection state recovery, when on.
    pub recovery: Option<Arc<Recovery>>,
    pub routes: Vec<(String, Endpoint)>,
    pub stats: Arc<Stats>,
    pub adapter: Arc<dyn Adapter>,
    /// Where the Prometheus text is served, if anywhere.
    pub metrics_path: Option<String>,
    /// The application's answer to requests for no endpoint (404 without one).
    pub fallback: Option<Arc<HttpFallback>>,
    /// Where the connections of requests for no endpoint go, taking precedence over
    /// `fallback`.
    pub handoff: Option<Arc<HttpHandoff>>,
    /// Watches the sockets (the admin UI in development mode).
    pub room_events: Option<Arc<dyn SocketWatch>>,
}

/// Paths match with or without their trailing slash (`/socket.io` and `/socket.io/`).
fn same_path(route: &str, path: &str) -> bool {
    route == path || (route.len() > 1 && route.trim_end_matches('/') == path.trim_end_matches('/'))
}

impl Router {
    /// The endpoint for `path`: an exact match, or for Engine.IO endpoints any path under
    /// theirs (the reference matches its `path` as a prefix, so `/engine.io/x/` is served too).
    fn route(&self, path: &str) -> Option<&Endpoint> {
        let exact = self.routes.iter().find(|(p, _)| same_path(p, path));
        exact
            .or_else(|| {
                self.routes.iter().find(|(p, e)| {
                    matches!(e, Endpoint::Eio(_))
                        && p.ends_with('/')
                        && path.starts_with(p.as_str())
                })
            })
            .map(|(_, e)| e)
    }
}

impl Service for Router {
    type Session = Session;
    type WorkerState = Worker;
    type Message = Post;
    type Timer = Timer;

    fn worker_state(&self, _worker: usize) -> Worker {
        Worker {
            state: WorkerState {
                // The server checked at startup that the system's random source works.
                rng: SidRng::new().expect("random source checked at server start"),
                next_key: 0,
                sockets: SidMap::default(),
                rooms: Rooms::new(RoomsOf::watcher(&self.adapter), self.room_events.clone()),
                scratch_sids: Vec::new(),
                stats: self.stats.clone(),
                adapter: self.adapter.clone(),
                recovery: self.recovery.clone(),
                parked: HashMap::new(),
                config: self.config.clone(),
            },
            sessions: Sessions::default(),
        }
    }

    fn on_request(&self, cx: &mut Cx<'_, Self>, id: ConnId, req: &Request) -> Action<Session> {
        if self.metrics_path.as_deref() == Some(req.path.as_str()) {
            let body = self.stats.prometheus();
            cx.respond(
                id,
                200,
                &[("Content-Type", "text/plain; version=0.0.4")],
                body.as_bytes(),
                req.keep_alive,
            );
            return Action::Responded;
        }
        let Some(endpoint) = self.route(&req.path) else {
            if self.handoff.is_some() {
                return Action::Detach;
            }
            if let Some(handler) = &self.fallback {
                return fallback::on_request(cx, id, req, &**handler);
            }
            cx.respond_error(id, 404);
            return Action::Responded;
        };
        match endpoint {
            Endpoint::WebSocket(handler) => match http::validate_upgrade(req) {
                Ok(accept) => Action::Upgrade {
                    accept,
                    session: Session::WebSocket(handler.clone()),
                },
                Err(e) => {
                    cx.respond_error(id, e.status());
                    Action::Responded
                }
            },
            Endpoint::Eio(ep) => ep.on_request(cx, id, req),
        }
    }

    fn on_body(
        &self,
        cx: &mut Cx<'_, Self>,
        id: ConnId,
        req: &Request,
        body: &mut Vec<u8>,
    ) -> Action<Session> {
        match (self.route(&req.path), &self.fallback) {
            (Some(Endpoint::Eio(ep)), _) => ep.on_body(cx, id, req, body),
            (None, Some(handler)) => fallback::serve(cx, id, req, body, &**handler),
            _ => {
                cx.respond_error(id, 404);
                Action::Responded
            }
        }
    }

    fn on_body_error(&self, cx: &mut Cx<'_, Self>, _id: ConnId, req: &Request, err: &HttpError) {
        if let Some(Endpoint::Eio(ep)) = self.route(&req.path) {
            ep.on_body_error(cx, req, err);
        }
    }

    fn on_open(&self, cx: &mut Cx<'_, Self>, id: ConnId, session: &mut Session) {
        match session {
            Session::WebSocket(h) => h.on_open(&mut WsConn { cx, id }),
            Session::Eio(key) => {
                with_session(cx, *key, |cx, s| {
                    // A probing WebSocket waits for `2probe`; a new session opens now.
                    if matches!(s.link, super::link::Link::Ws(c, _) if c == id) {
                        s.open(cx);
                    }
                });
            }
            Session::Refused => cx.close(id, CloseCode::NO_STATUS, ""),
        }
    }

    fn on_message(
        &self,
        cx: &mut Cx<'_, Self>,
        id: ConnId,
        session: &mut Session,
        msg: Message<'_>,
    ) {
        match session {
            Session::WebSocket(h) => {
                let msg = match msg {
                    // The decoder validated text as UTF-8.
                    Message::Text(t) => match std::str::from_utf8(t) {
                        Ok(t) => WsMessage::Text(t),
                        Err(_) => return cx.close(id, CloseCode::INVALID_PAYLOAD, ""),
                    },
                    Message::Binary(b) => WsMessage::Binary(b),
                    _ => return,
                };
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    h.on_message(&mut WsConn { cx, id }, msg);
                }));
                if caught.is_err() {
                    cx.close(id, CloseCode::INTERNAL, "handler panic");
                }
            }
            Session::Eio(key) => {
                let (text, data) = match msg {
                    Message::Text(t) => (true, t),
                    Message::Binary(b) => (false, b),
                    _ => return,
                };
                if with_session(cx, *key, |cx, s| s.on_ws_frame(cx, id, text, data)).is_none() {
                    cx.close(id, CloseCode::POLICY, "");
                }
            }
            Session::Refused => {}
        }
    }

    fn on_drain(&self, cx: &mut Cx<'_, Self>, _id: ConnId, session: &mut Session) {
        if let Session::Eio(key) = session {
            with_session(cx, *key, |cx, s| s.drained(cx));
        }
    }

    fn on_timer(&self, cx: &mut Cx<'_, Self>, t: Timer) {
        if let Timer::Heartbeat(key) = t {
            // The heartbeat deadline of a session that ended while its client still had to
            // collect the close packet.
            if let Some((_, late)) = cx.state().sessions.take_late(key) {
                (late.report)(late.on_timeout);
                return;
            }
        }
        with_session(cx, t.session(), |cx, s| s.on_timer(cx, t));
    }

    fn on_parked_close(&self, cx: &mut Cx<'_, Self>, id: ConnId, _reason: &CloseReason) {
        if let Some(key) = cx.state().state.parked.remove(&id) {
            with_session(cx, key, |_, s| s.on_parked_get_closed(id));
        }
    }

    fn on_close(&self, cx: &mut Cx<'_, Self>, id: ConnId, session: Session, reason: &CloseReason) {
        match session {
            Session::WebSocket(h) => h.on_close(id, reason),
            Session::Eio(key) => {
                with_session(cx, key, |cx, s| s.on_conn_closed(cx, id, reason));
            }
            Session::Refused => {}
        }
    }

    fn closes_at_shutdown(&self, cx: &mut Cx<'_, Self>, id: ConnId, session: &Session) -> bool {
        match session {
            Session::Eio(key) => {
                with_session(cx, *key, |_, s| !s.awaits_upgrade_on(id)).unwrap_or(true)
            }
            Session::WebSocket(_) | Session::Refused => true,
        }
    }

    fn on_detach(&self, conn: Detached) {
        if let Some(handler) = &self.handoff {
            fallback::hand_over(&**handler, conn);
        }
    }

    /// Polling sessions end as the reference's `io.close()` ends them: `server shutting down`,
    /// and a parked GET gets what is queued or the close packet. WebSocket sessions end with
    /// their connections' close frames; one finishing its upgrade, once it has (see
    /// `EioSession::shut_down`).
    fn on_shutdown(&self, cx: &mut Cx<'_, Self>) {
        for key in cx.state().sessions.keys() {
            with_session(cx, key, |_, s| s.shut_down());
        }
    }

    fn on_post(&self, cx: &mut Cx<'_, Self>, msg: Post) {
        match msg {
            Post::Send(id, frame) => {
                cx.send_shared(id, frame);
            }
            Post::ToSocket(sid, outs) => {
                let moved = cx
                    .state()
                    .state
                    .recovery
                    .as_ref()
                    .and_then(|r| r.worker_of(&sid));
                if let Some(worker) = moved.filter(|w| *w != cx.worker()) {
                    // Recovered on another worker than its id names: forwarded there.
                    cx.peers().post(worker as usize, Post::ToSocket(sid, outs));
                } else if let Some(&key) = cx.state().state.sockets.get(&sid) {
                    with_session(cx, key, |cx, s| {
                        let mut tx = Tx {
                            cx,
                            link: &mut s.link,
                        };
                        for o in &outs {
                            tx.out(o);
                        }
                    });
                }
            }
            Post::Close(id, code, reason) => cx.close(id, code, &reason),
            Post::Broadcast(msg) => {
                deliver_local(DeliverFrom::Worker(cx), &msg);
            }
            Post::Select { nsp, target, op } => select(cx, &nsp, &target, op),
            Post::ConnectAnswer(key, answer) => {
                with_session(cx, key, |cx, s| sio::connect_answer(s, cx, answer));
            }
            Post::Restored(key, reply) => {
                with_session(cx, key, |cx, s| sio::restore_answer(s, cx, reply));
            }
        }
    }
}

/// Applies a handle's operation to this worker's sockets that `target` selects.
fn select(cx: &mut Cx<'_, Router>, nsp: &str, target: &Target, op: SelectOp) {
    if let SelectOp::Rooms(reply) = op {
        let _ = reply.send(cx.state().state.rooms.names(nsp));
        return;
    }
    let mut sids = Vec::new();
    cx.state().state.rooms.select(nsp, target, &mut sids);
    match op {
        SelectOp::Join(rooms) => {
            for sid in &sids {
                for r in &rooms {
                    cx.state().state.rooms.join(nsp, *sid, r);
                }
            }
        }
        SelectOp::Leave(rooms) => {
            for sid in &sids {
                for r in &rooms {
                    cx.state().state.rooms.leave(nsp, *sid, r);
                }
            }
        }
        SelectOp::Disconnect(close) => {
            for sid in &sids {
                if let Some(&key) = cx.state().state.sockets.get(sid) {
                    with_session(cx, key, |cx, s| sio::disconnect_socket(s, cx, sid, close));
                }
            }
        }
        SelectOp::Fetch(reply) => {
            let mut out = Vec::with_capacity(sids.len());
            for sid in &sids {
                let Some(&key) = cx.state().state.sockets.get(sid) else {
                    continue;
                };
                let rooms = cx.state().state.rooms.rooms_of(nsp, sid);
                if let Some(Some((handshake, auth, mut data))) = with_session(cx, key, |_, s| {
                    SioClient::of(s).and_then(|(c, _)| c.socket_info(sid))
                }) {
                    if let Some(w) = cx.state().state.rooms.watch() {
                        w.annotate(*sid, &mut data);
                    }
                    out.push(SocketInfo {
                        id: sid.as_str().to_string(),
                        nsp: nsp.to_string(),
                        rooms,
                        handshake,
                        auth,
                        data,
                    });
                }
            }
            let _ = reply.send(out);
        }
        SelectOp::Count(reply) => {
            let _ = reply.send(sids.len());
        }
        SelectOp::Rooms(_) => {}
    }
}

/// The worker's side of the port: what the session layers do lands on its connections.
impl Port for Cx<'_, Router> {
    fn worker(&self) -> u16 {
        Cx::worker(self)
    }
    fn now(&self) -> Instant {
        Cx::now(self)
    }
    fn workers(&self) -> usize {
        Cx::workers(self)
    }
    fn config(&self) -> &RuntimeConfig {
        Cx::config(self)
    }
    fn state(&mut self) -> &mut WorkerState {
        &mut Cx::state(self).state
    }
    fn peers(&self) -> &Peers<Post> {
        Cx::peers(self)
    }
    fn over_budget(&self) -> bool {
        Cx::over_budget(self)
    }
    fn is_parked(&mut self, id: ConnId) -> bool {
        Cx::is_parked(self, id)
    }
    fn notify_drain(&mut self, id: ConnId) -> bool {
        Cx::notify_drain(self, id)
    }
    fn is_open(&mut self, id: ConnId) -> bool {
        Cx::is_open(self, id)
    }
    fn queued_bytes(&mut self, id: ConnId) -> usize {
        Cx::queued_bytes(self, id)
    }
    fn send_frame(&mut self, id: ConnId, opcode: OpCode, payload: &[u8]) -> bool {
        Cx::send_frame(self, id, opcode, payload)
    }
    fn send_frame_compressible(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        payload: &[u8],
        compress: bool,
    ) -> bool {
        Cx::send_frame_compressible(self, id, opcode, payload, compress)
    }
    fn send_with_compressible(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        compress: bool,
        write: &mut dyn FnMut(&mut Vec<u8>) -> bool,
    ) -> bool {
        Cx::send_with_compressible(self, id, opcode, compress, write)
    }
    fn send_shared(&mut self, id: ConnId, frame: Bytes, compress: bool) -> bool {
        Cx::send_shared_compressible(self, id, frame, compress)
    }
    fn peer_addr(&mut self, id: ConnId) -> Option<SocketAddr> {
        Cx::peer_addr(self, id)
    }
    fn respond(
        &mut self,
        id: ConnId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_alive: bool,
    ) {
        Cx::respond(self, id, status, headers, body, keep_alive)
    }
    fn respond_shared(
        &mut self,
        id: ConnId,
        status: u16,
        headers: &[(&str, &str)],
        body: Bytes,
        head_only: bool,
        keep_alive: bool,
    ) {
        Cx::respond_shared(self, id, status, headers, body, head_only, keep_alive)
    }
    fn respond_error(&mut self, id: ConnId, status: u16) {
        Cx::respond_error(self, id, status)
    }
    fn close(&mut self, id: ConnId, code: CloseCode, reason: &str) {
        Cx::close(self, id, code, reason)
    }
    fn arm(&mut self, deadline: Instant, t: Timer) -> TimerKey {
        Cx::arm(self, deadline, t)
    }
    fn cancel(&mut self, key: TimerKey) -> bool {
        Cx::cancel(self, key)
    }
    fn with_session(
        &mut self,
        key: SessionKey,
        f: &mut dyn FnMut(&mut dyn Port, &mut dyn Any),
    ) -> bool {
        with_session(self, key, |cx, s| f(cx, s)).is_some()
    }
}

impl SessionsPort for Cx<'_, Router> {
    fn sessions(&mut self) -> &mut Sessions {
        &mut Cx::state(self).sessions
    }
}
