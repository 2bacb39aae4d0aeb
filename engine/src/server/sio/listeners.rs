//! Catch-all listeners of one socket, added and removed while it lives (`socket.onAny`,
//! `prependAny`, `offAny`, and their `Outgoing` twins), around the namespace's catch-alls that
//! every socket gets when it connects. Sockets that add none pay one `None` check per event.

use super::model::{
    Chain, IncomingRun, ListenerId, OutgoingFn, OutgoingRun, Socket, SocketListeners, SocketState,
};
use crate::proto::sio;
use bytes::Bytes;
use std::borrow::Cow;
use std::rc::Rc;

use crate::proto::sio::Args;

impl SocketState {
    fn listeners(&mut self) -> &mut SocketListeners {
        self.listeners.get_or_insert_with(|| {
            Box::new(SocketListeners {
                next: 0,
                incoming: Chain::new(),
                outgoing: Chain::new(),
            })
        })
    }

    /// The socket's incoming catch-alls for the event at hand (`None`: it has none).
    pub(crate) fn incoming_run(&self) -> Option<IncomingRun> {
        let l = self.listeners.as_ref()?;
        (l.incoming.len() > 0).then(|| l.incoming.snapshot())
    }

    /// The socket's outgoing catch-alls for the packet at hand (`None`: it has none).
    pub(crate) fn outgoing_run(&self) -> Option<OutgoingRun> {
        let l = self.listeners.as_ref()?;
        (l.outgoing.len() > 0).then(|| l.outgoing.snapshot())
    }
}

impl Socket<'_, '_> {
    /// Adds a catch-all for this socket alone (`socket.onAny`): it runs for every event the
    /// client sends, after the namespace's catch-alls and the socket's earlier ones, before
    /// the named handlers. Returns its id for [`Socket::off_any`].
    pub fn on_any(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, &str, &Args<'_>) + 'static,
    ) -> ListenerId {
        let l = self.state.listeners();
        let id = l.id();
        l.incoming.after.push((id, Rc::new(f)));
        id
    }

    /// Like [`Socket::on_any`], but runs before every other catch-all, the namespace's
    /// included (`socket.prependAny`).
    pub fn prepend_any(
        &mut self,
        f: impl Fn(&mut Socket<'_, '_>, &str, &Args<'_>) + 'static,
    ) -> ListenerId {
        let l = self.state.listeners();
        let id = l.id();
        l.incoming.before.insert(0, (id, Rc::new(f)));
        id
    }

    /// Removes a catch-all added to this socket (`socket.offAny(listener)`); false if there
    /// was none with that id. Takes effect from the next event.
    pub fn off_any(&mut self, id: ListenerId) -> bool {
        self.state.listeners().incoming.remove(id)
    }

    /// Removes every catch-all added to this socket (`socket.offAny()`); the namespace's stay.
    pub fn off_any_all(&mut self) {
        self.state.listeners().incoming.clear();
    }

    /// How many catch-alls run for this socket's events: the namespace's and its own
    /// (`socket.listenersAny().length`).
    pub fn any_listeners(&self) -> usize {
        let own = self
            .state
            .listeners
            .as_ref()
            .map_or(0, |l| l.incoming.len());
        self.state.app.namespaces[self.state.ns].any.len() + own
    }

    /// Adds an outgoing catch-all for this socket alone (`socket.onAnyOutgoing`): it sees
    /// every event sent to it (by itself, a broadcast or the handle) with the arguments as
    /// sent, after the namespace's outgoing listeners. Returns its id for
    /// [`Socket::off_any_outgoing`].
    pub fn on_any_outgoing(&mut self, f: impl Fn(&str, &Args<'_>) + 'static) -> ListenerId {
        let l = self.state.listeners();
        let id = l.id();
        l.outgoing.after.push((id, Rc::new(f)));
        id
    }

    /// Like [`Socket::on_any_outgoing`], but runs before every other outgoing listener
    /// (`socket.prependAnyOutgoing`).
    pub fn prepend_any_outgoing(&mut self, f: impl Fn(&str, &Args<'_>) + 'static) -> ListenerId {
        let l = self.state.listeners();
        let id = l.id();
        l.outgoing.before.insert(0, (id, Rc::new(f)));
        id
    }

    /// Removes an outgoing catch-all added to this socket (`socket.offAnyOutgoing(listener)`);
    /// false if there was none with that id.
    pub fn off_any_outgoing(&mut self, id: ListenerId) -> bool {
        self.state.listeners().outgoing.remove(id)
    }

    /// Removes every outgoing catch-all added to this socket (`socket.offAnyOutgoing()`).
    pub fn off_any_outgoing_all(&mut self) {
        self.state.listeners().outgoing.clear();
    }

    /// How many outgoing listeners see this socket's events: the namespace's and its own
    /// (`socket.listenersAnyOutgoing().length`).
    pub fn any_outgoing_listeners(&self) -> usize {
        let own = self
            .state
            .listeners
            .as_ref()
            .map_or(0, |l| l.outgoing.len());
        self.state.app.namespaces[self.state.ns].outgoing.len() + own
    }
}

/// Runs a namespace's outgoing listeners, and those socket `sid` added itself (`own`, its
/// prepended ones first, its added ones last), for one event packet (`4...`, the Engine.IO
/// message, or the msgpack parser's binary message) sent to it, with its attachments.
pub(crate) fn notify_outgoing(
    listeners: &[Box<OutgoingFn>],
    own: Option<OutgoingRun>,
    sid: &str,
    packet: &[u8],
    attachments: &[Bytes],
) {
    let limits = sio::Limits {
        max_depth: usize::MAX,
        ..sio::Limits::default()
    };
    // A packet of the msgpack parser is one message with its binary values inline.
    let transcoded;
    let (text, attachments): (&[u8], Cow<'_, [Bytes]>) = match packet.strip_prefix(b"4") {
        Some(text) => (text, Cow::Borrowed(attachments)),
        None => {
            let Ok(t) = sio::transcode_msgpack(packet, &limits) else {
                return;
            };
            let bins = t.attachments.iter().map(|a| Bytes::copy_from_slice(a));
            let bins = Cow::Owned(bins.collect());
            transcoded = t.text;
            (&transcoded, bins)
        }
    };
    let Ok(p) = sio::decode(text, &limits) else {
        return;
    };
    let Some(name) = p.event_name() else {
        return;
    };
    let args = Args::with_attachments(&p, &attachments);
    let (before, after) = own.unwrap_or_default();
    for f in before {
        f(name, &args);
    }
    for f in listeners {
        f(sid, name, &args);
    }
    for f in after {
        f(name, &args);
    }
}
