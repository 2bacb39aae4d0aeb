//! The service the runtime drives: routes each request head to an endpoint by path and keeps the
//! per-connection session of that endpoint.

use std::sync::Arc;

use bytes::Bytes;

use crate::proto::http::{self, Request};
use crate::proto::ws::{CloseCode, Message};
use crate::runtime::{Action, CloseReason, ConnId, Cx, Service};

use super::ws::{WsConn, WsHandler, WsMessage};

/// What a path serves.
pub(crate) enum Endpoint {
    WebSocket(Arc<dyn WsHandler>),
}

/// Per-connection state.
pub(crate) enum Session {
    WebSocket(Arc<dyn WsHandler>),
}

/// Messages from other threads to a worker.
pub(crate) enum Post {
    /// A pre-framed message for one connection.
    Send(ConnId, Bytes),
    /// Close one connection.
    Close(ConnId, CloseCode, String),
}

/// Timers of the endpoints (none yet for plain WebSocket).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timer {}

pub(crate) struct Router {
    pub routes: Vec<(String, Endpoint)>,
}

impl Router {
    fn route(&self, path: &str) -> Option<&Endpoint> {
        self.routes.iter().find(|(p, _)| p == path).map(|(_, e)| e)
    }
}

impl Service for Router {
    type Session = Session;
    type WorkerState = ();
    type Message = Post;
    type Timer = Timer;

    fn worker_state(&self, _worker: usize) {}

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
        }
    }

    fn on_open(&self, cx: &mut Cx<'_, Self>, id: ConnId, session: &mut Session) {
        match session {
            Session::WebSocket(h) => h.on_open(&mut WsConn { cx, id }),
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
        }
    }

    fn on_timer(&self, _cx: &mut Cx<'_, Self>, _id: ConnId, _session: &mut Session, t: Timer) {
        match t {}
    }

    fn on_close(&self, _cx: &mut Cx<'_, Self>, id: ConnId, session: Session, reason: &CloseReason) {
        match session {
            Session::WebSocket(h) => h.on_close(id, reason),
        }
    }

    fn on_post(&self, cx: &mut Cx<'_, Self>, msg: Post) {
        match msg {
            Post::Send(id, frame) => {
                cx.send_shared(id, frame);
            }
            Post::Close(id, code, reason) => cx.close(id, code, &reason),
        }
    }
}
