//! The service the runtime drives: routes each request head to an endpoint by path (plain
//! WebSocket, Engine.IO, Socket.IO) and holds the per-connection session of that endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::proto::eio::{self, HandshakeError, Sid, SidRng, Transport};
use crate::proto::http::{self, Method, Request};
use crate::proto::ws::{CloseCode, Message};
use crate::runtime::{Action, CloseReason, ConnId, Cx, Service};

use super::engine::{EioSession, Upper};
use super::engine_io::EioHandler;
use super::sio::client::SioClient;
use super::sio::{Handshake, SioApp};
use super::ws::{WsConn, WsHandler, WsMessage};

/// What a path serves.
pub(crate) enum Endpoint {
    WebSocket(Arc<dyn WsHandler>),
    EngineIo(Arc<dyn EioHandler>),
    SocketIo(Arc<SioApp>),
}

/// Per-connection state.
pub(crate) enum Session {
    WebSocket(Arc<dyn WsHandler>),
    Eio(Box<EioSession>),
}

/// Messages from other threads (or workers) to a worker.
pub(crate) enum Post {
    /// A pre-framed message for one connection.
    Send(ConnId, Bytes),
    /// Pre-framed messages for one connection, queued back to back.
    Frames(ConnId, Vec<Bytes>),
    /// Pre-framed messages for the connection of a Socket.IO socket.
    ToSocket(Sid, Vec<Bytes>),
    /// Close one connection.
    Close(ConnId, CloseCode, String),
}

/// What the endpoints' timers carry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timer {
    /// Engine.IO ping due or pong overdue.
    Heartbeat,
    /// No namespace joined within connectTimeout.
    ConnectTimeout,
    /// A binary packet's attachments are overdue.
    Attachments,
    /// A server emit's ack is overdue (socket key, ack id).
    Ack { socket: u32, id: u64 },
}

/// Each worker's own state for the endpoints.
pub(crate) struct WorkerState {
    pub rng: SidRng,
    /// simd-json scratch space reused by every packet this worker parses.
    pub json: simd_json::Buffers,
    pub next_key: u32,
    /// Socket.IO sockets of this worker, for emits addressed by socket id.
    pub sockets: HashMap<Sid, ConnId>,
}

pub(crate) struct Router {
    pub routes: Vec<(String, Endpoint)>,
}

/// Paths match with or without their trailing slash (`/socket.io` and `/socket.io/`).
fn same_path(route: &str, path: &str) -> bool {
    route == path || (route.len() > 1 && route.trim_end_matches('/') == path.trim_end_matches('/'))
}

impl Router {
    fn route(&self, path: &str) -> Option<&Endpoint> {
        self.routes
            .iter()
            .find(|(p, _)| same_path(p, path))
            .map(|(_, e)| e)
    }

    fn eio_request(
        &self,
        cx: &mut Cx<'_, Self>,
        id: ConnId,
        req: &Request,
        upper: impl FnOnce(&Request, &mut Cx<'_, Self>) -> Upper,
    ) -> Action<Session> {
        let is_upgrade = http::is_websocket_upgrade(req);
        let eio_version = req.query_param("EIO");
        let transport = req.query_param("transport");
        let checked = if req.query_param("sid").is_some() {
            // Sessions resumed by id (polling, upgrades) need the polling transport.
            Err(HandshakeError::UnknownSid)
        } else {
            eio::check_handshake(
                req.method == Method::Get,
                is_upgrade,
                eio_version.as_deref(),
                transport.as_deref(),
            )
            .and_then(|t| match t {
                Transport::WebSocket => Ok(()),
                Transport::Polling => Err(HandshakeError::UnknownTransport),
            })
        };
        if let Err(e) = checked {
            let mut body = Vec::new();
            e.write_json(&mut body);
            cx.respond(
                id,
                e.status(),
                &[("Content-Type", "application/json")],
                &body,
                false,
            );
            return Action::Responded;
        }
        match http::validate_upgrade(req) {
            Ok(accept) => {
                let sid = Sid::generate(cx.worker(), &mut cx.state().rng);
                let upper = upper(req, cx);
                let session = EioSession::new(sid, cx, upper);
                Action::Upgrade {
                    accept,
                    session: Session::Eio(Box::new(session)),
                }
            }
            Err(e) => {
                cx.respond_error(id, e.status());
                Action::Responded
            }
        }
    }
}

impl Service for Router {
    type Session = Session;
    type WorkerState = WorkerState;
    type Message = Post;
    type Timer = Timer;

    fn worker_state(&self, _worker: usize) -> WorkerState {
        WorkerState {
            // The server checked at startup that the system's random source works.
            rng: SidRng::new().expect("random source checked at server start"),
            json: simd_json::Buffers::default(),
            next_key: 0,
            sockets: HashMap::new(),
        }
    }

    fn on_request(&self, cx: &mut Cx<'_, Self>, id: ConnId, req: &Request) -> Action<Session> {
        let Some(endpoint) = self.route(&req.path) else {
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
            Endpoint::EngineIo(handler) => {
                self.eio_request(cx, id, req, |_, _| Upper::Raw(handler.clone()))
            }
            Endpoint::SocketIo(app) => self.eio_request(cx, id, req, |req, cx| {
                let handshake = Handshake::from_request(req, cx.peer_addr(id));
                Upper::Sio(Box::new(SioClient::new(app.clone(), handshake)))
            }),
        }
    }

    fn on_open(&self, cx: &mut Cx<'_, Self>, id: ConnId, session: &mut Session) {
        match session {
            Session::WebSocket(h) => h.on_open(&mut WsConn { cx, id }),
            Session::Eio(s) => s.on_open(cx, id),
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
                h.on_message(&mut WsConn { cx, id }, msg);
            }
            Session::Eio(s) => s.on_message(cx, id, msg),
        }
    }

    fn on_timer(&self, cx: &mut Cx<'_, Self>, id: ConnId, session: &mut Session, t: Timer) {
        if let Session::Eio(s) = session {
            s.on_timer(cx, id, t);
        }
    }

    fn on_close(&self, cx: &mut Cx<'_, Self>, id: ConnId, session: Session, reason: &CloseReason) {
        match session {
            Session::WebSocket(h) => h.on_close(id, reason),
            Session::Eio(s) => s.on_closed(cx, id, reason),
        }
    }

    fn on_post(&self, cx: &mut Cx<'_, Self>, msg: Post) {
        match msg {
            Post::Send(id, frame) => {
                cx.send_shared(id, frame);
            }
            Post::Frames(id, frames) => {
                for f in frames {
                    cx.send_shared(id, f);
                }
            }
            Post::ToSocket(sid, frames) => {
                if let Some(&id) = cx.state().sockets.get(&sid) {
                    for f in frames {
                        cx.send_shared(id, f);
                    }
                }
            }
            Post::Close(id, code, reason) => cx.close(id, code, &reason),
        }
    }
}
