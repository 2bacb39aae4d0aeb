//! Namespaces: static (`/chat`) or dynamic (a pattern such as `/tenant-{id}`, or a predicate),
//! each with its connect middleware, event middleware, event handlers (hashed by name, several
//! per name), catch-alls, outgoing listeners, and disconnecting/disconnect handlers.

use super::model::{ConnectHook, ConnectStep, Matcher, Namespace, NewNamespaceFn, SioApp, Socket};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::proto::sio::{self, Args, ValueRef};

use super::ack::Ack;
use super::async_connect::{ConnectRequest, Spawn};
use super::errors::ConnectError;
use crate::server::reason::DisconnectReason;

/// Registers the handlers of a namespace. Handlers of one kind run in the order registered,
/// as listeners of the reference server's `EventEmitter` do.
pub struct NamespaceBuilder {
    pub(crate) ns: Namespace,
    /// The name it was registered under (`None` for predicate namespaces).
    pub(crate) name: Option<String>,
    /// Registration mistakes, reported by `listen()`.
    pub(crate) errors: Vec<String>,
}

impl NamespaceBuilder {
    pub(crate) fn new(matcher: Matcher) -> Self {
        NamespaceBuilder {
            ns: Namespace {
                matcher,
                connect: Vec::new(),
                events: HashMap::new(),
                any: Vec::new(),
                unhandled: None,
                middleware: Vec::new(),
                error: Vec::new(),
                outgoing: Vec::new(),
                disconnecting: Vec::new(),
                disconnect: Vec::new(),
                upgraded: Vec::new(),
                needs_runtime: false,
            },
            name: None,
            errors: Vec::new(),
        }
    }

    pub(crate) fn for_pattern(pattern: &str) -> Self {
        let mut b = Self::new(Matcher::parse_pattern(pattern));
        b.name = Some(pattern.to_string());
        b
    }

    /// Adds connect middleware; they run in the order added, before `on_connect`, and the
    /// first `Err` refuses the client. A recovered socket skips them unless
    /// `recovery_skip_middlewares` is off.
    pub fn middleware(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, Option<ValueRef<'_>>) -> Result<(), ConnectError>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.ns.connect.push(ConnectHook {
            step: ConnectStep::Sync(Box::new(f)),
            middleware: true,
        });
        self
    }

    /// Adds asynchronous connect middleware (`io.use(async (socket, next) => ..)`): `f` gets
    /// the request, owned, and its future runs on the runtime given to
    /// `ServerBuilder::spawner` while the worker serves others; the connect goes on with the
    /// next middleware when it resolves `Ok`, and the client gets `connect_error` on `Err`.
    /// Middleware of both kinds run in the order added. If the client goes away first, the
    /// answer is dropped and nothing after it runs; if the future takes longer than
    /// `connect_timeout` and the client has joined no namespace, the connection is closed
    /// (as the reference's `connectTimeout`). [`ConnectRequest::set_data`] becomes the
    /// socket's data.
    pub fn middleware_async<F, Fut>(&mut self, f: F) -> &mut Self
    where
        F: Fn(ConnectRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.ns.needs_runtime = true;
        self.ns.connect.push(ConnectHook {
            step: ConnectStep::Async(Box::new(move |req| Box::pin(f(req)))),
            middleware: true,
        });
        self
    }

    /// The connect handler: runs after the middleware, may join rooms, set
    /// [`Socket::set_data`] and emit (delivered right after the CONNECT reply), and may still
    /// refuse with `Err`. Several run in the order added. Unlike middleware it runs for a
    /// recovered socket too ([`Socket::recovered`]).
    pub fn on_connect(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, Option<ValueRef<'_>>) -> Result<(), ConnectError>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.ns.connect.push(ConnectHook {
            step: ConnectStep::Sync(Box::new(f)),
            middleware: false,
        });
        self
    }

    /// Adds an `on_connect` handler that runs before those already added, after the
    /// middleware (the reference's `prependListener("connection")`), for instrumentation that
    /// must see the socket before the application changes it.
    pub(crate) fn prepend_on_connect(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, Option<ValueRef<'_>>) -> Result<(), ConnectError>
            + Send
            + Sync
            + 'static,
    ) {
        let at = self
            .ns
            .connect
            .iter()
            .position(|h| !h.middleware)
            .unwrap_or(self.ns.connect.len());
        self.ns.connect.insert(
            at,
            ConnectHook {
                step: ConnectStep::Sync(Box::new(f)),
                middleware: false,
            },
        );
    }

    /// Runs `f` for each socket of this namespace whose connection upgraded from polling to
    /// WebSocket (the reference's `socket.conn.on("upgrade")`), on its worker.
    pub(crate) fn on_upgrade(&mut self, f: impl Fn(&mut Socket<'_, '_>) + Send + Sync + 'static) {
        self.ns.upgraded.push(Box::new(f));
    }

    /// Handles event `name`; the first handler (catch-alls first) that returns an [`Ack`]
    /// acknowledges it. Several handlers for one name all run, in the order added. Reserved
    /// names (`connect`, `connect_error`, `disconnect`, `disconnecting`, `newListener`,
    /// `removeListener`) are refused: `listen()` returns [`Error::Registration`](crate::server::Error)
    /// naming them (use `on_connect`, `on_disconnecting`, `on_disconnect`).
    pub fn on(
        &mut self,
        name: &str,
        f: impl Fn(&mut Socket<'_, '_>, &Args<'_>) -> Option<Ack> + Send + Sync + 'static,
    ) -> &mut Self {
        if sio::is_reserved_event(name) {
            self.errors.push(format!(
                "ns.on({name:?}): a reserved event name, which clients cannot send"
            ));
        } else {
            self.ns
                .events
                .entry(name.to_string())
                .or_default()
                .push(Box::new(f));
        }
        self
    }

    /// Adds a catch-all: it sees every event (with its name) before the named handlers, as
    /// `socket.onAny` does; catch-alls run in the order added.
    pub fn on_any(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, &str, &Args<'_>) -> Option<Ack> + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.any.push(Box::new(f));
        self
    }

    /// Adds a catch-all that runs before those already added (`socket.prependAny`).
    pub fn prepend_any(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, &str, &Args<'_>) -> Option<Ack> + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.any.insert(0, Box::new(f));
        self
    }

    /// Handles the events that no named handler takes, after the catch-alls (the one place
    /// to answer unknown events). Replaces an earlier one.
    pub fn on_unhandled(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, &str, &Args<'_>) -> Option<Ack> + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.unhandled = Some(Box::new(f));
        self
    }

    /// Adds event middleware (`socket.use`): it runs for every incoming event before any
    /// handler, in the order added; `Err(message)` drops the event, skips the middleware after
    /// it, and runs the [`NamespaceBuilder::on_error`] handlers with `message`.
    pub fn use_events(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, &str, &Args<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.middleware.push(Box::new(f));
        self
    }

    /// Runs when event middleware refuses an event of a socket, with the middleware's message,
    /// and when the client sends a packet the parser refuses, with the parser's message (e.g.
    /// `Illegal attachments`) just before the session ends (`socket.on("error")`).
    pub fn on_error(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, &str) + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.error.push(Box::new(f));
        self
    }

    /// Sees every event emitted to a socket of this namespace, by the socket itself, a
    /// broadcast or the handle (`socket.onAnyOutgoing`): the socket id, the event name and the
    /// arguments (binary included). Runs on the socket's worker; it must not block.
    pub fn on_any_outgoing(
        &mut self,
        f: impl Fn(&str, &str, &Args<'_>) + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.outgoing.push(Box::new(f));
        self
    }

    /// Runs when a socket is about to leave the namespace: its rooms are still readable.
    pub fn on_disconnecting(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, DisconnectReason) + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.disconnecting.push(Box::new(f));
        self
    }

    /// Runs when a socket has left the namespace (its rooms are gone), whatever the reason.
    pub fn on_disconnect(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, DisconnectReason) + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.disconnect.push(Box::new(f));
        self
    }
}

impl SioApp {
    /// The namespace that serves `name`, by index.
    pub fn find(&self, name: &str) -> Option<usize> {
        let exact = self
            .namespaces
            .iter()
            .position(|n| matches!(&n.matcher, Matcher::Exact(e) if e == name));
        exact.or_else(|| self.namespaces.iter().position(|n| n.matcher.matches(name)))
    }

    pub fn new(
        mut namespaces: Vec<Namespace>,
        limits: sio::Limits,
        attachment_timeout: Duration,
        new_namespace: Option<Arc<NewNamespaceFn>>,
        spawn: Option<Arc<Spawn>>,
    ) -> Self {
        namespaces.sort_by_key(|n| !matches!(n.matcher, Matcher::Exact(_)));
        SioApp {
            namespaces,
            limits,
            attachment_timeout,
            new_namespace: new_namespace.map(|f| (f, Mutex::default())),
            spawn,
        }
    }

    /// The names of the namespaces registered by name (`/` aside, which exists from the start
    /// as the reference's main namespace does).
    pub fn exact_names(&self) -> impl Iterator<Item = &str> {
        self.namespaces.iter().filter_map(|n| match &n.matcher {
            Matcher::Exact(name) if name != "/" => Some(name.as_str()),
            _ => None,
        })
    }

    /// A client is connecting to `name`, served by namespace `ns`: the first time a dynamic
    /// namespace serves a name, on any worker, the `new_namespace` hook hears of it (the
    /// reference creates a child namespace then, once however many clients race for it).
    pub fn note_child(&self, ns: usize, name: &str) {
        let Some((hook, seen)) = &self.new_namespace else {
            return;
        };
        if matches!(self.namespaces[ns].matcher, Matcher::Exact(_)) {
            return;
        }
        let first = seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        if first {
            hook(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_one_segment() {
        let m = Matcher::parse_pattern("/tenant-{id}");
        assert!(m.matches("/tenant-42"));
        assert!(!m.matches("/tenant-"));
        assert!(!m.matches("/tenant-4/2"));
        assert!(!m.matches("/other"));
        let m = Matcher::parse_pattern("/room-{id}/chat");
        assert!(m.matches("/room-7/chat"));
        assert!(!m.matches("/room-7/news"));
    }

    #[test]
    fn exact_namespaces_win_over_dynamic_ones() {
        let app = SioApp::new(
            vec![
                NamespaceBuilder::new(Matcher::Predicate(Box::new(|_| true))).ns,
                NamespaceBuilder::for_pattern("/admin").ns,
            ],
            sio::Limits::default(),
            Duration::from_secs(1),
            None,
            None,
        );
        assert!(matches!(
            app.namespaces[app.find("/admin").unwrap()].matcher,
            Matcher::Exact(_)
        ));
        assert!(matches!(
            app.namespaces[app.find("/x").unwrap()].matcher,
            Matcher::Predicate(_)
        ));
    }

    #[test]
    fn a_dynamic_name_is_new_once_however_many_race_for_it() {
        let heard = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = heard.clone();
        let app = Arc::new(SioApp::new(
            vec![
                NamespaceBuilder::for_pattern("/").ns,
                NamespaceBuilder::for_pattern("/admin").ns,
                NamespaceBuilder::for_pattern("/room-{id}").ns,
            ],
            sio::Limits::default(),
            Duration::from_secs(1),
            Some(Arc::new(move |name: &str| {
                log.lock().unwrap().push(name.to_string())
            })),
            None,
        ));
        assert_eq!(app.exact_names().collect::<Vec<_>>(), ["/admin"]);
        let admin = app.find("/admin").unwrap();
        app.note_child(admin, "/admin");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let app = app.clone();
                std::thread::spawn(move || {
                    let ns = app.find("/room-7").unwrap();
                    app.note_child(ns, "/room-7");
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let ns = app.find("/room-8").unwrap();
        app.note_child(ns, "/room-8");
        assert_eq!(*heard.lock().unwrap(), ["/room-7", "/room-8"]);
    }
}
