//! Namespaces: static (`/chat`) or dynamic (a pattern such as `/tenant-{id}`, or a predicate),
//! each with its connect middleware, event handlers (hashed by name), a catch-all and a
//! disconnect handler.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::proto::sio::{self, Args, ValueRef};

use super::ack::Ack;
use super::socket::Socket;
use crate::server::reason::DisconnectReason;

/// Refuses a connection to a namespace: the client gets `connect_error` with
/// `{"message": message, "data": data}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    pub(crate) message: String,
    pub(crate) data: Option<Vec<u8>>,
}

impl ConnectError {
    /// A refusal with a message and no data.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds `data` (any serialisable value) to the refusal.
    pub fn with_data<T: Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.data = serde_json::to_vec(data).ok();
        self
    }
}

/// Runs when a client asks to join: `Err` refuses it with `connect_error`. The auth payload of
/// the CONNECT packet is the second argument (`None` when the client sent none).
pub type ConnectFn =
    dyn Fn(&mut Socket<'_, '_>, Option<ValueRef<'_>>) -> Result<(), ConnectError> + Send + Sync;
/// Handles one event; the returned value, if any, is the acknowledgement.
pub type EventFn = dyn Fn(&mut Socket<'_, '_>, &Args<'_>) -> Option<Ack> + Send + Sync;
/// Handles events no named handler took (gets the event name too).
pub type AnyFn = dyn Fn(&mut Socket<'_, '_>, &str, &Args<'_>) -> Option<Ack> + Send + Sync;
/// Runs when a socket leaves the namespace, with the reason.
pub type DisconnectFn = dyn Fn(&mut Socket<'_, '_>, DisconnectReason) + Send + Sync;

pub(crate) enum Matcher {
    Exact(String),
    /// `/tenant-{id}`: a prefix, one non-empty segment without `/`, a suffix.
    Pattern {
        prefix: String,
        suffix: String,
    },
    Predicate(Box<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Matcher {
    fn parse_pattern(pattern: &str) -> Matcher {
        match (pattern.find('{'), pattern.find('}')) {
            (Some(a), Some(b)) if a < b => Matcher::Pattern {
                prefix: pattern[..a].to_string(),
                suffix: pattern[b + 1..].to_string(),
            },
            _ => Matcher::Exact(pattern.to_string()),
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(n) => n == name,
            Matcher::Pattern { prefix, suffix } => {
                name.len() > prefix.len() + suffix.len()
                    && name.starts_with(prefix.as_str())
                    && name.ends_with(suffix.as_str())
                    && !name[prefix.len()..name.len() - suffix.len()].contains('/')
            }
            Matcher::Predicate(f) => f(name),
        }
    }
}

/// A namespace's handlers, shared by every socket in it.
pub(crate) struct Namespace {
    pub matcher: Matcher,
    pub connect: Vec<Box<ConnectFn>>,
    pub events: HashMap<String, Box<EventFn>>,
    pub any: Option<Box<AnyFn>>,
    pub disconnect: Option<Box<DisconnectFn>>,
}

/// Registers the handlers of a namespace.
pub struct NamespaceBuilder {
    pub(crate) ns: Namespace,
}

impl NamespaceBuilder {
    pub(crate) fn new(matcher: Matcher) -> Self {
        NamespaceBuilder {
            ns: Namespace {
                matcher,
                connect: Vec::new(),
                events: HashMap::new(),
                any: None,
                disconnect: None,
            },
        }
    }

    pub(crate) fn for_pattern(pattern: &str) -> Self {
        Self::new(Matcher::parse_pattern(pattern))
    }

    /// Adds connect middleware; they run in the order added, before `on_connect`, and the
    /// first `Err` refuses the client.
    pub fn middleware(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, Option<ValueRef<'_>>) -> Result<(), ConnectError>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.ns.connect.push(Box::new(f));
        self
    }

    /// The connect handler: runs last, may emit (delivered right after the CONNECT reply),
    /// and may still refuse with `Err`.
    pub fn on_connect(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, Option<ValueRef<'_>>) -> Result<(), ConnectError>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.middleware(f)
    }

    /// Handles event `name`; the returned [`Ack`] (if any) acknowledges it. Reserved names
    /// (`connect`, `disconnect`...) are ignored: clients cannot send them.
    pub fn on(
        &mut self,
        name: &str,
        f: impl Fn(&mut Socket<'_, '_>, &Args<'_>) -> Option<Ack> + Send + Sync + 'static,
    ) -> &mut Self {
        if !sio::is_reserved_event(name) {
            self.ns.events.insert(name.to_string(), Box::new(f));
        }
        self
    }

    /// Handles every event that has no named handler.
    pub fn on_any(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, &str, &Args<'_>) -> Option<Ack> + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.any = Some(Box::new(f));
        self
    }

    /// Runs when a socket leaves the namespace, whatever the reason.
    pub fn on_disconnect(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, DisconnectReason) + Send + Sync + 'static,
    ) -> &mut Self {
        self.ns.disconnect = Some(Box::new(f));
        self
    }
}

/// Everything the Socket.IO endpoint needs, shared by all workers.
pub(crate) struct SioApp {
    /// Static namespaces first, then dynamic ones in the order registered.
    pub namespaces: Vec<Namespace>,
    pub limits: sio::Limits,
    pub attachment_timeout: Duration,
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
    ) -> Self {
        namespaces.sort_by_key(|n| !matches!(n.matcher, Matcher::Exact(_)));
        SioApp {
            namespaces,
            limits,
            attachment_timeout,
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
}
