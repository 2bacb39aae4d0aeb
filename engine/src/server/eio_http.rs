//! Engine.IO over HTTP: the handshake (new sessions on WebSocket or polling), long-polling GETs
//! and POSTs of existing sessions, WebSocket upgrades, requests handed to the worker that owns
//! their session, CORS, the sticky-session cookie and the `allow_request` hook.

use std::borrow::Cow;
use std::sync::Arc;

use crate::config::Config;
use crate::proto::eio::{
    self, BinaryPayloadDecoderV3, EioError, EioVersion, HandshakeError, Heartbeat, Packet,
    PayloadDecoder, PayloadDecoderV3, Sid, Transport,
};
use crate::proto::http::{self, HttpError, Method, Request};
use crate::runtime::{Action, ConnId};

use super::conn_session::Session;
use super::custom_id::CustomId;
use super::custom_id::CustomIds;
use super::eio_session::EioSession;
use super::link::Link;
use super::polling::{self, Framing, Headers, ParkedGet, Polling, PAYLOAD_CONTENT_TYPE};
use super::port::Port;
use super::reason::DisconnectReason;
use super::sessions::{with_session, SessionsPort};
use super::stats::Counter;
use super::upper::NewUpper;

/// Decides whether a handshake may proceed: `Err(message)` answers 403 with the reference
/// server's `{"code":4,"message":message}`.
pub type AllowRequest = dyn Fn(&Request) -> Result<(), String> + Send + Sync;

/// Chooses the id of a new session from its handshake request (the reference's
/// `generateId`): `Ok(id)` is the id the client gets and uses, `Err(_)` refuses the handshake
/// with 400 and `{"code":3,"message":"Bad request"}`, as the reference does when `generateId`
/// fails. An id must be unique among the sessions open (a duplicate or empty one is refused the
/// same way) and is used as it is in query strings, so it should be URL-safe.
pub type GenerateId = dyn Fn(&Request) -> Result<String, String> + Send + Sync;

/// Adds to or changes the headers of an Engine.IO response (the reference's `headers` and
/// `initial_headers` events): run for every answer the transports give — each polling GET and
/// POST, and the 101 of each WebSocket, the handshake's included (then
/// [`ResponseHeaders::initial`] is true) — with the request it answers. Not run for refusals
/// (400, 403) or CORS preflights, which the reference answers before its transports.
pub type HeadersHook = dyn Fn(&Request, &mut ResponseHeaders) + Send + Sync;

/// The headers of one Engine.IO response, for a [`HeadersHook`] to change. Polling answers
/// start with what Volley sends (`Content-Type`, CORS, `Set-Cookie` of the handshake,
/// `Cache-Control`...); a WebSocket's 101 starts empty (its `Upgrade`, `Connection` and
/// `Sec-WebSocket-Accept` are not shown). Names compare without regard to case.
#[derive(Debug, Default)]
pub struct ResponseHeaders {
    list: Headers,
    initial: bool,
}

impl ResponseHeaders {
    /// Whether the response answers a handshake (a request without `sid`: the reference's
    /// `initial_headers`), sent once per session.
    pub fn initial(&self) -> bool {
        self.initial
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }

    /// Sets header `name` to `value`, replacing every value it had.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.remove(&name);
        self.list.push((Cow::Owned(name), Cow::Owned(value.into())));
    }

    /// Adds a value for header `name`, keeping those it had (e.g. a second `Set-Cookie`).
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.list
            .push((Cow::Owned(name.into()), Cow::Owned(value.into())));
    }

    /// Removes every value of header `name`.
    pub fn remove(&mut self, name: &str) {
        self.list.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// Every header, in the order they are written.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.list.iter().map(|(k, v)| (&**k, &**v))
    }
}

pub(crate) struct EioEndpoint {
    /// Makes the layer above each session: a Socket.IO client or the raw handler.
    pub upper: Arc<dyn NewUpper>,
    pub allow_request: Option<Arc<AllowRequest>>,
    pub generate_id: Option<Arc<GenerateId>>,
    pub headers: Option<Arc<HeadersHook>>,
    /// The ids `generate_id` chose, shared by the workers (read only for its endpoints).
    pub custom_ids: Arc<CustomIds>,
}

/// CORS response headers for `req` under the configured origins (none when CORS is off or
/// the origin is not allowed).
fn cors_headers(config: &Config, req: &Request) -> Headers {
    let Some(origin) = req.header("Origin") else {
        return Vec::new();
    };
    let any = config.cors_origins.iter().any(|o| o == "*");
    if !any && !config.cors_origins.iter().any(|o| o == origin) {
        return Vec::new();
    }
    let allow = if any && !config.cors_credentials {
        "*".to_string()
    } else {
        origin.to_string()
    };
    let mut h: Headers = vec![
        ("Access-Control-Allow-Origin".into(), allow.into()),
        ("Vary".into(), "Origin".into()),
    ];
    if config.cors_credentials {
        h.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    }
    if !config.cors_exposed_headers.is_empty() {
        h.push((
            "Access-Control-Expose-Headers".into(),
            config.cors_exposed_headers.join(",").into(),
        ));
    }
    h
}

/// The `Set-Cookie` value of the session cookie `name` for session `sid`, with the attributes
/// in the order the reference's `cookie` module writes them.
fn session_cookie(config: &Config, name: &str, sid: &str) -> String {
    let mut v = format!("{name}={sid}");
    if let Some(path) = &config.cookie_path {
        v.push_str("; Path=");
        v.push_str(path);
    }
    if config
        .cookie_http_only
        .unwrap_or(config.cookie_path.is_some())
    {
        v.push_str("; HttpOnly");
    }
    if let Some(same_site) = config.cookie_same_site {
        v.push_str("; SameSite=");
        v.push_str(same_site.as_str());
    }
    v
}

/// The name-value pairs of `headers`, as the runtime writes them.
fn pairs(headers: &Headers) -> Vec<(&str, &str)> {
    headers.iter().map(|(k, v)| (&**k, &**v)).collect()
}

fn reject(
    cx: &mut dyn SessionsPort,
    id: ConnId,
    req: &Request,
    e: HandshakeError,
    message: Option<&str>,
    cors: &Headers,
) -> Action<Session> {
    tracing::debug!(
        worker = cx.worker(),
        status = e.status(),
        reason = e.message(),
        message,
        "request refused"
    );
    if http::is_websocket_upgrade(req) {
        // As the reference's `abortUpgrade`: 400 and the bare message, whatever the error.
        let text = message.unwrap_or(e.message());
        cx.respond(
            id,
            400,
            &[("Content-Type", "text/html")],
            text.as_bytes(),
            false,
        );
        return Action::Responded;
    }
    let mut body = Vec::new();
    match message {
        Some(m) => {
            body.extend_from_slice(format!("{{\"code\":{},\"message\":", e.code()).as_bytes());
            crate::proto::sio::write_json_str(&mut body, m);
            body.push(b'}');
        }
        None => e.write_json(&mut body),
    }
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    headers.extend(pairs(cors));
    cx.respond(id, e.status(), &headers, &body, false);
    Action::Responded
}

impl EioEndpoint {
    /// The headers of a polling answer to `req`: `Content-Type`, `headers` (CORS, the
    /// cookie), and what the reference's polling transport adds to every polling response
    /// (`Cache-Control: no-store`, and `X-XSS-Protection: 0` for Internet Explorer), as the
    /// headers hook leaves them.
    fn polling_headers(
        &self,
        req: &Request,
        content_type: &'static str,
        headers: Headers,
    ) -> Headers {
        let mut h: Headers = Vec::with_capacity(headers.len() + 3);
        h.push(("Content-Type".into(), content_type.into()));
        h.extend(headers);
        let ua = req.header("User-Agent").unwrap_or("");
        if ua.contains(";MSIE") || ua.contains("Trident/") {
            h.push(("X-XSS-Protection".into(), "0".into()));
        }
        h.push(("Cache-Control".into(), "no-store".into()));
        match &self.headers {
            None => h,
            Some(hook) => {
                let mut rh = ResponseHeaders {
                    list: h,
                    initial: sid_param(req).is_none(),
                };
                hook(req, &mut rh);
                rh.list
            }
        }
    }

    /// A parked GET of `req` on connection `conn`, answered with the polling headers, and
    /// compressed as its `Accept-Encoding` asks when the server compresses (`config`).
    fn parked_get(&self, config: &Config, conn: ConnId, req: &Request, cors: Headers) -> ParkedGet {
        ParkedGet {
            conn,
            keep_alive: req.keep_alive,
            headers: self.polling_headers(req, PAYLOAD_CONTENT_TYPE, cors),
            encoding: if config.http_compression {
                http::encoding::negotiate(req.header("Accept-Encoding"))
            } else {
                None
            },
        }
    }

    /// Answers a polling POST whose packets were taken.
    fn post_ok(&self, cx: &mut dyn Port, id: ConnId, req: &Request, cors: &Headers) {
        let headers = self.polling_headers(req, "text/html", cors.clone());
        cx.respond(id, 200, &pairs(&headers), b"ok", req.keep_alive);
    }

    /// The upgrade of `req` to a WebSocket for `session`, with the headers hook's additions.
    fn upgrade(&self, req: &Request, accept: String, session: Session) -> Action<Session> {
        let Some(hook) = &self.headers else {
            return Action::Upgrade { accept, session };
        };
        let mut rh = ResponseHeaders {
            list: Vec::new(),
            initial: sid_param(req).is_none(),
        };
        hook(req, &mut rh);
        if rh.list.is_empty() {
            return Action::Upgrade { accept, session };
        }
        let headers = rh
            .list
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Action::UpgradeWith {
            accept,
            session,
            headers,
        }
    }

    /// The internal session id for the `sid` a request names: a custom id when the endpoint
    /// has `generate_id`, else one Volley drew.
    fn resolve(&self, sid: &str) -> Option<Sid> {
        if self.generate_id.is_some() {
            let ids = self.custom_ids.read().ok()?;
            if let Some(&internal) = ids.get(sid) {
                return Some(internal);
            }
        }
        Sid::parse(sid)
    }

    /// Registers the id `generate_id` chose for session `sid`; `None` (refused) when it failed,
    /// is empty or is in use.
    fn register_custom_id(&self, chosen: Result<String, String>, sid: Sid) -> Option<CustomId> {
        let id: Arc<str> = chosen.ok().filter(|id| !id.is_empty())?.into();
        let mut ids = self.custom_ids.write().ok()?;
        if ids.contains_key(&id) {
            return None;
        }
        ids.insert(id.clone(), sid);
        drop(ids);
        Some(CustomId {
            id,
            ids: self.custom_ids.clone(),
        })
    }

    pub fn on_request(
        &self,
        cx: &mut dyn SessionsPort,
        id: ConnId,
        req: &Request,
    ) -> Action<Session> {
        let cors = cors_headers(&cx.state().config.clone(), req);
        if req.method == Method::Options
            && !cx.state().config.cors_origins.is_empty()
            && cors.is_empty()
        {
            // An origin CORS does not allow: the preflight is answered, without any allow
            // header, as the reference's `cors` module does.
            let status = cx.state().config.cors_options_status;
            cx.respond(id, status, &[("Vary", "Origin")], b"", req.keep_alive);
            return Action::Responded;
        }
        if req.method == Method::Options && !cors.is_empty() {
            // The preflight, answered as the reference's `cors` module answers it.
            let config = cx.state().config.clone();
            let methods = config.cors_methods.join(",");
            let allowed = match config.cors_allowed_headers.as_slice() {
                [] => req
                    .header("Access-Control-Request-Headers")
                    .unwrap_or("")
                    .to_string(),
                list => list.join(","),
            };
            let max_age = config.cors_max_age.map(|s| s.to_string());
            let status = config.cors_options_status;
            let mut headers: Vec<(&str, &str)> = vec![("Access-Control-Allow-Methods", &methods)];
            if !allowed.is_empty() {
                headers.push(("Access-Control-Allow-Headers", &allowed));
            }
            if let Some(age) = &max_age {
                headers.push(("Access-Control-Max-Age", age));
            }
            headers.extend(pairs(&cors));
            cx.respond(id, status, &headers, b"", req.keep_alive);
            return Action::Responded;
        }
        let sid = sid_param(req).map(|s| s.into_owned());
        match sid {
            Some(sid) => self.existing(cx, id, req, &sid, cors),
            None => self.handshake(cx, id, req, cors),
        }
    }

    fn handshake(
        &self,
        cx: &mut dyn SessionsPort,
        id: ConnId,
        req: &Request,
        mut cors: Headers,
    ) -> Action<Session> {
        let is_upgrade = http::is_websocket_upgrade(req);
        let checked = eio::check_handshake(
            req.method == Method::Get,
            is_upgrade,
            req.query_param("EIO").as_deref(),
            req.query_param("transport").as_deref(),
            cx.state().config.allow_eio3,
        );
        let (transport, version) = match checked {
            Ok((t, v)) if cx.state().config.transports.allows(t) => (t, v),
            Ok(_) => return reject(cx, id, req, HandshakeError::UnknownTransport, None, &cors),
            Err(e) => return reject(cx, id, req, e, None, &cors),
        };
        if let Some(allow) = &self.allow_request {
            if let Err(message) = allow(req) {
                return reject(
                    cx,
                    id,
                    req,
                    HandshakeError::Forbidden,
                    Some(&message),
                    &cors,
                );
            }
        }
        let accept = match transport {
            Transport::WebSocket => match http::validate_upgrade(req) {
                Ok(accept) => Some(accept),
                Err(e) => {
                    cx.respond_error(id, e.status());
                    return Action::Responded;
                }
            },
            Transport::Polling => None,
        };
        let sid = Sid::generate(cx.worker(), &mut cx.state().rng);
        let custom = match &self.generate_id {
            None => None,
            Some(generate) => match self.register_custom_id(generate(req), sid) {
                Some(c) => Some(c),
                None => return reject(cx, id, req, HandshakeError::BadRequest, None, &cors),
            },
        };
        let remote = cx.peer_addr(id);
        let upper = self.upper.new_upper(req, remote);
        let c = cx.state().config.clone();
        let heartbeat = match version {
            EioVersion::V4 => Heartbeat::new(cx.now(), c.ping_interval, c.ping_timeout),
            EioVersion::V3 => Heartbeat::new_v3(cx.now(), c.ping_interval, c.ping_timeout),
        };
        let link = match accept {
            Some(_) => Link::Ws(id, version),
            None => {
                if let Some(name) = &c.cookie {
                    let id = custom.as_ref().map_or(sid.as_str(), |c| &c.id);
                    cors.push(("Set-Cookie".into(), session_cookie(&c, name, id).into()));
                }
                let framing = match version {
                    EioVersion::V4 => Framing::V4,
                    // As the reference's `supportsBinary`: binary payloads unless the
                    // handshake asked for base64 (`b64`, any non-empty value).
                    EioVersion::V3 => Framing::V3 {
                        binary: req.query_param("b64").map_or(true, |b| b.is_empty()),
                    },
                };
                let mut polling = Polling::new(c.max_buffered, framing);
                polling.get = Some(self.parked_get(&c, id, req, cors));
                Link::Polling(polling)
            }
        };
        let worker = cx.worker();
        let key = cx.sessions().insert(sid, |key| {
            let mut session = EioSession::new(sid, key, heartbeat, link, upper, remote);
            session.custom = custom;
            session.version = version;
            session
        });
        let state = cx.state();
        state.stats.add(worker, Counter::SessionsOpened, 1);
        state.stats.sessions_delta(worker, 1);
        match accept {
            // The open packet goes out in `on_open`, after the 101.
            Some(accept) => self.upgrade(req, accept, Session::Eio(key)),
            None => {
                with_session(cx, key, |cx, s| s.open(cx));
                Action::Responded
            }
        }
    }

    fn existing(
        &self,
        cx: &mut dyn SessionsPort,
        id: ConnId,
        req: &Request,
        sid: &str,
        cors: Headers,
    ) -> Action<Session> {
        let Some(sid) = self.resolve(sid) else {
            return reject(cx, id, req, HandshakeError::UnknownSid, None, &cors);
        };
        let owner = sid.worker() as usize;
        if owner != cx.worker() as usize && owner < cx.workers() {
            return Action::Handoff(owner);
        }
        let Some(key) = cx.sessions().key_of(&sid) else {
            let polling_get = req.method == Method::Get
                && req.query_param("transport").as_deref() == Some("polling");
            let now = cx.now();
            let owed = polling_get
                .then(|| cx.sessions().closed_body(now, &sid))
                .flatten();
            if let Some((body, late)) = owed {
                let get = self.parked_get(&cx.state().config.clone(), id, req, cors);
                polling::respond(cx, &get, &body);
                if let Some(late) = late {
                    cx.cancel(late.timer);
                    (late.report)(late.collected);
                }
                return Action::Responded;
            }
            return reject(cx, id, req, HandshakeError::UnknownSid, None, &cors);
        };
        let transport = match req
            .query_param("transport")
            .as_deref()
            .and_then(Transport::parse)
        {
            Some(t) => t,
            None => return reject(cx, id, req, HandshakeError::UnknownTransport, None, &cors),
        };
        let version = EioVersion::of(req.query_param("EIO").as_deref());
        let action = with_session(cx, key, |cx, s| match transport {
            // Another protocol revision than the session's: the reference's
            // `PROTOCOL_MISMATCH`.
            _ if version != s.version => Err((HandshakeError::BadRequest, cors)),
            Transport::Polling => self.polling_request(cx, s, id, req, cors),
            Transport::WebSocket => {
                if !http::is_websocket_upgrade(req) || !cx.state().config.transports.websocket {
                    return Err((HandshakeError::BadRequest, cors));
                }
                let accept = match http::validate_upgrade(req) {
                    Ok(a) => a,
                    // 400, or 426 with the version we speak (RFC 6455 4.2.2).
                    Err(e) => {
                        cx.respond_error(id, e.status());
                        return Ok(Action::Responded);
                    }
                };
                // A second WebSocket for a session that has one (or is getting one) is opened
                // and closed at once, as the reference does.
                let session = if s.begin_upgrade(cx, id) {
                    Session::Eio(key)
                } else {
                    Session::Refused
                };
                Ok(self.upgrade(req, accept, session))
            }
        });
        match action {
            Some(Ok(Action::Park)) => {
                cx.state().parked.insert(id, key);
                Action::Park
            }
            Some(Ok(a)) => a,
            Some(Err((e, cors))) => reject(cx, id, req, e, None, &cors),
            None => reject(cx, id, req, HandshakeError::UnknownSid, None, &Vec::new()),
        }
    }

    /// The body of a polling POST arrived: its packets go to the session, the client gets `ok`
    /// (400 when a packet does not parse: the session is closed and the request refused, where
    /// the reference aborts it; the Engine.IO compliance suite expects the 400).
    pub fn on_body(
        &self,
        cx: &mut dyn SessionsPort,
        id: ConnId,
        req: &Request,
        body: &mut [u8],
    ) -> Action<Session> {
        let cors = cors_headers(&cx.state().config.clone(), req);
        let key = sid_param(req)
            .and_then(|s| self.resolve(&s))
            .and_then(|sid| cx.sessions().key_of(&sid));
        let Some(key) = key else {
            return reject(cx, id, req, HandshakeError::UnknownSid, None, &cors);
        };
        let answered = with_session(cx, key, |cx, s| {
            if let Link::Polling(p) | Link::Upgrading { polling: p, .. } = &mut s.link {
                if p.post == Some(id) {
                    p.post = None;
                }
            }
            let fed = match s.version {
                EioVersion::V4 => feed(cx, s, PayloadDecoder::new(body)),
                EioVersion::V3 if is_octet_stream(req) => {
                    feed(cx, s, BinaryPayloadDecoderV3::new(body))
                }
                EioVersion::V3 => feed(cx, s, PayloadDecoderV3::new(body)),
            };
            if !fed {
                return false;
            }
            // `ok` goes out before what these packets caused reaches a parked GET (flushed
            // when this returns), as from the reference, which answers its handlers' emits
            // on the next tick: the client's POST has settled when the replies arrive, so a
            // `close()` in its `connect` handler does not wait for a write in flight.
            self.post_ok(cx, id, req, &cors);
            true
        });
        match answered {
            Some(true) => {}
            Some(false) => return reject(cx, id, req, HandshakeError::BadRequest, None, &cors),
            // A handler panicked before the answer: its session ends, the POST itself was fine.
            None => self.post_ok(cx, id, req, &cors),
        }
        Action::Responded
    }

    /// A polling POST's body was refused (too large, malformed): the session ends.
    pub fn on_body_error(&self, cx: &mut dyn SessionsPort, req: &Request, _err: &HttpError) {
        let key = sid_param(req)
            .and_then(|s| self.resolve(&s))
            .and_then(|sid| cx.sessions().key_of(&sid));
        if let Some(key) = key {
            with_session(cx, key, |_, s| s.close(DisconnectReason::TransportError));
        }
    }

    /// A GET or POST for a polling session.
    fn polling_request(
        &self,
        cx: &mut dyn Port,
        s: &mut EioSession,
        id: ConnId,
        req: &Request,
        cors: Headers,
    ) -> Result<Action<Session>, (HandshakeError, Headers)> {
        let max_payload = cx.config().max_payload;
        let (p, probed) = match &mut s.link {
            Link::Polling(p) => (p, false),
            Link::Upgrading {
                polling, probed, ..
            } => (polling, *probed),
            // The session moved to WebSocket: polling for it is over.
            Link::Ws(..) => return Err((HandshakeError::BadRequest, cors)),
        };
        match req.method {
            Method::Get => {
                if p.get.as_ref().is_some_and(|g| cx.is_parked(g.conn)) {
                    // Two GETs at once: the first gets a close packet, the second a bare 400
                    // (the reference's "overlap from client").
                    s.close(DisconnectReason::TransportError);
                    cx.respond(id, 400, &[], b"", false);
                    return Ok(Action::Responded);
                }
                p.get = Some(self.parked_get(&cx.state().config.clone(), id, req, cors));
                if !p.is_empty() {
                    s.flush(cx);
                    Ok(Action::Responded)
                } else if probed {
                    // Mid-upgrade: the client waits for this GET before it sends `5`.
                    p.answer_all_with_noop(cx);
                    Ok(Action::Responded)
                } else {
                    Ok(Action::Park)
                }
            }
            Method::Post => {
                if p.post.is_some_and(|c| cx.is_open(c) && c != id) {
                    // The reference's "data request overlap from client".
                    s.close(DisconnectReason::TransportError);
                    cx.respond(id, 400, &[], b"", false);
                    return Ok(Action::Responded);
                }
                // Engine.IO 4 sends binary as base64 in text payloads; the reference refuses
                // an octet-stream body ("invalid content") and ends the session. Engine.IO 3
                // clients that take binary post binary payloads.
                if is_octet_stream(req) && !p.is_v3() {
                    s.close(DisconnectReason::TransportError);
                    return Err((HandshakeError::BadRequest, cors));
                }
                p.post = Some(id);
                Ok(Action::ReadBody { max: max_payload })
            }
            _ => Err((HandshakeError::BadHandshakeMethod, cors)),
        }
    }
}

/// Whether a POST's body is a binary payload.
fn is_octet_stream(req: &Request) -> bool {
    req.header("content-type") == Some("application/octet-stream")
}

/// Hands the packets of a polling body to session `s` until it closes; false (and the session
/// ends with `parse error`) at a packet that does not parse.
fn feed<'a>(
    cx: &mut dyn Port,
    s: &mut EioSession,
    packets: impl Iterator<Item = Result<Packet<'a>, EioError>>,
) -> bool {
    for packet in packets {
        match packet {
            Ok(p) => s.on_packet(cx, p),
            Err(_) => {
                s.close(DisconnectReason::ParseError);
                return false;
            }
        }
        if s.is_closing() {
            break;
        }
    }
    true
}

/// The request's `sid`; an empty one is none at all, as in the reference (`if (sid)`): the
/// request is a handshake.
fn sid_param(req: &Request) -> Option<std::borrow::Cow<'_, str>> {
    req.query_param("sid").filter(|s| !s.is_empty())
}
