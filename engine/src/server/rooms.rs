//! Which sockets of this worker are in which rooms, per namespace. Every socket is in the room
//! named by its own id. Membership is local to the worker that owns the socket, so joining and
//! leaving never lock or cross threads.

use std::collections::HashMap;
use std::sync::Arc;

use crate::proto::eio::{Sid, SidMap, SidSet};

/// One room name or several: what `join`, `leave`, `to` and `except` take, as the reference's
/// take a string or an array (`"a"`, `["a", "b"]`, `&rooms` of a `Vec<String>`...).
pub trait RoomNames {
    /// Calls `f` with each room name, in order.
    fn each_room(&self, f: &mut dyn FnMut(&str));

    /// The names, owned.
    fn room_list(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.each_room(&mut |r| out.push(r.to_string()));
        out
    }
}

impl RoomNames for str {
    fn each_room(&self, f: &mut dyn FnMut(&str)) {
        f(self)
    }
}

impl RoomNames for String {
    fn each_room(&self, f: &mut dyn FnMut(&str)) {
        f(self)
    }
}

impl RoomNames for std::borrow::Cow<'_, str> {
    fn each_room(&self, f: &mut dyn FnMut(&str)) {
        f(self)
    }
}

impl<T: AsRef<str>> RoomNames for [T] {
    fn each_room(&self, f: &mut dyn FnMut(&str)) {
        self.iter().for_each(|r| f(r.as_ref()))
    }
}

impl<T: AsRef<str>, const N: usize> RoomNames for [T; N] {
    fn each_room(&self, f: &mut dyn FnMut(&str)) {
        self.iter().for_each(|r| f(r.as_ref()))
    }
}

impl<T: AsRef<str>> RoomNames for Vec<T> {
    fn each_room(&self, f: &mut dyn FnMut(&str)) {
        self.iter().for_each(|r| f(r.as_ref()))
    }
}

impl<R: RoomNames + ?Sized> RoomNames for &R {
    fn each_room(&self, f: &mut dyn FnMut(&str)) {
        (**self).each_room(f)
    }
}

/// Who a broadcast goes to within one namespace.
#[derive(Clone, Debug, Default)]
pub(crate) struct Target {
    /// Rooms whose members receive it (union); empty means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Rooms whose members are left out.
    pub except: Vec<String>,
    /// A socket left out (the sender of `socket.broadcast`/`socket.to`).
    pub except_sid: Option<Sid>,
}

#[derive(Default)]
struct NspRooms {
    rooms: HashMap<String, SidSet>,
    /// Each socket's rooms, so leaving the namespace leaves them all.
    of: SidMap<Vec<String>>,
}

/// Watches the sockets (the admin UI): hears every change of membership (the reference
/// adapter's `join-room` and `leave-room` events) on the worker that made it, and adds to the
/// data `fetch_sockets` reports; it must not block.
pub(crate) trait SocketWatch: Send + Sync {
    /// Socket `sid` of `nsp` joined `room` (it was not in it).
    fn joined(&self, nsp: &str, room: &str, sid: Sid);
    /// Socket `sid` of `nsp` left `room` (it was in it).
    fn left(&self, nsp: &str, room: &str, sid: Sid);
    /// Adds what the watcher keeps about socket `sid` to `data`, its data as `fetch_sockets`
    /// reports it to this server and to the others of a cluster.
    fn annotate(&self, sid: Sid, data: &mut serde_json::Value);
}

/// Hears when a room of this worker gets its first member (`exists`) or loses its last;
/// `private` when the room is a socket's own id (an adapter that subscribes per room, see
/// `Adapter::watches_rooms`). Called on the worker: must not block.
pub(crate) trait RoomWatch: Send + Sync {
    /// Room `room` of `nsp` appeared on this worker (`exists`) or went away.
    fn room_changed(&self, nsp: &str, room: &str, private: bool, exists: bool);
}

#[derive(Default)]
pub(crate) struct Rooms {
    nsps: HashMap<String, NspRooms>,
    /// Told of each join and leave when something listens (the admin UI); `None` costs one
    /// check per change.
    events: Option<Arc<dyn SocketWatch>>,
    /// Told when a room of this worker gets its first member or loses its last.
    watcher: Option<Arc<dyn RoomWatch>>,
}

impl Rooms {
    /// Rooms whose changes `events` hears of, and whose creation and deletion `watcher`
    /// hears of.
    pub fn new(watcher: Option<Arc<dyn RoomWatch>>, events: Option<Arc<dyn SocketWatch>>) -> Rooms {
        Rooms {
            nsps: HashMap::new(),
            events,
            watcher,
        }
    }

    /// What watches the sockets, if anything does.
    pub fn watch(&self) -> Option<&Arc<dyn SocketWatch>> {
        self.events.as_ref()
    }

    /// Adds a socket to its namespace (and to the room of its own id).
    pub fn add_socket(&mut self, nsp: &str, sid: Sid) {
        let n = self.nsps.entry(nsp.to_string()).or_default();
        n.of.entry(sid).or_default();
        if let Some(first) = Self::join_in(n, sid, sid.as_str()) {
            self.joined(nsp, sid.as_str(), sid, first);
        }
    }

    /// `Some` if the socket was not in `room` and now is: whether it is the room's first
    /// member on this worker.
    fn join_in(n: &mut NspRooms, sid: Sid, room: &str) -> Option<bool> {
        let list = n.of.get_mut(&sid)?;
        if list.iter().any(|r| r == room) {
            return None;
        }
        list.push(room.to_string());
        let set = n.rooms.entry(room.to_string()).or_default();
        set.insert(sid);
        Some(set.len() == 1)
    }

    fn joined(&self, nsp: &str, room: &str, sid: Sid, first: bool) {
        if let Some(e) = &self.events {
            e.joined(nsp, room, sid);
        }
        if let (true, Some(w)) = (first, &self.watcher) {
            w.room_changed(nsp, room, room == sid.as_str(), true);
        }
    }

    /// Puts a socket of the namespace in `room`.
    pub fn join(&mut self, nsp: &str, sid: Sid, room: &str) {
        if let Some(n) = self.nsps.get_mut(nsp) {
            if let Some(first) = Self::join_in(n, sid, room) {
                self.joined(nsp, room, sid, first);
            }
        }
    }

    /// Takes a socket out of `room`.
    pub fn leave(&mut self, nsp: &str, sid: Sid, room: &str) {
        let Some(n) = self.nsps.get_mut(nsp) else {
            return;
        };
        if let Some(list) = n.of.get_mut(&sid) {
            list.retain(|r| r != room);
        }
        if let Some(last) = Self::drop_member(n, room, sid) {
            self.left(nsp, room, sid, last);
        }
    }

    /// `Some` if the socket was in `room`: whether it was the room's last member on this
    /// worker.
    fn drop_member(n: &mut NspRooms, room: &str, sid: Sid) -> Option<bool> {
        let set = n.rooms.get_mut(room)?;
        if !set.remove(&sid) {
            return None;
        }
        let last = set.is_empty();
        if last {
            n.rooms.remove(room);
        }
        Some(last)
    }

    fn left(&self, nsp: &str, room: &str, sid: Sid, last: bool) {
        if let Some(e) = &self.events {
            e.left(nsp, room, sid);
        }
        if let (true, Some(w)) = (last, &self.watcher) {
            w.room_changed(nsp, room, room == sid.as_str(), false);
        }
    }

    /// Removes a socket that left the namespace from every room.
    pub fn remove_socket(&mut self, nsp: &str, sid: Sid) {
        let Some(n) = self.nsps.get_mut(nsp) else {
            return;
        };
        let mut gone = Vec::new();
        for room in n.of.remove(&sid).unwrap_or_default() {
            if let Some(last) = Self::drop_member(n, &room, sid) {
                gone.push((room, last));
            }
        }
        if n.of.is_empty() {
            self.nsps.remove(nsp);
        }
        for (room, last) in gone {
            self.left(nsp, &room, sid, last);
        }
    }

    /// The rooms of a socket.
    pub fn rooms_of(&self, nsp: &str, sid: &Sid) -> Vec<String> {
        self.nsps
            .get(nsp)
            .and_then(|n| n.of.get(sid))
            .cloned()
            .unwrap_or_default()
    }

    /// The rooms of a namespace that have members on this worker (own-id rooms included).
    pub fn names(&self, nsp: &str) -> Vec<String> {
        self.nsps
            .get(nsp)
            .map(|n| n.rooms.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Appends the sockets `target` selects, each once, to `out`.
    pub fn select(&self, nsp: &str, target: &Target, out: &mut Vec<Sid>) {
        let Some(n) = self.nsps.get(nsp) else { return };
        let excluded = |sid: &Sid| {
            target.except_sid.as_ref() == Some(sid)
                || target
                    .except
                    .iter()
                    .any(|r| n.rooms.get(r).is_some_and(|set| set.contains(sid)))
        };
        match target.rooms.as_slice() {
            [] => out.extend(n.of.keys().filter(|s| !excluded(s)).copied()),
            [one] => {
                if let Some(set) = n.rooms.get(one) {
                    out.extend(set.iter().filter(|s| !excluded(s)).copied());
                }
            }
            many => {
                let mut seen = SidSet::default();
                for room in many {
                    if let Some(set) = n.rooms.get(room) {
                        out.extend(
                            set.iter()
                                .filter(|s| !excluded(s) && seen.insert(**s))
                                .copied(),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::eio::SidRng;
    use std::collections::HashSet;

    fn sids(n: usize) -> Vec<Sid> {
        let mut rng = SidRng::new().unwrap();
        (0..n).map(|_| Sid::generate(0, &mut rng)).collect()
    }

    fn select(r: &Rooms, t: &Target) -> HashSet<Sid> {
        let mut out = Vec::new();
        r.select("/", t, &mut out);
        let set: HashSet<Sid> = out.iter().copied().collect();
        assert_eq!(set.len(), out.len(), "a socket selected twice");
        set
    }

    #[test]
    fn rooms_union_except_and_leave() {
        let s = sids(4);
        let mut r = Rooms::default();
        for sid in &s {
            r.add_socket("/", *sid);
        }
        r.join("/", s[0], "a");
        r.join("/", s[1], "a");
        r.join("/", s[1], "b");
        r.join("/", s[2], "b");
        let t = |rooms: &[&str], except: &[&str]| Target {
            rooms: rooms.iter().map(|x| x.to_string()).collect(),
            except: except.iter().map(|x| x.to_string()).collect(),
            except_sid: None,
        };
        assert_eq!(
            select(&r, &t(&["a", "b"], &[])),
            HashSet::from([s[0], s[1], s[2]])
        );
        assert_eq!(select(&r, &t(&["a"], &["b"])), HashSet::from([s[0]]));
        assert_eq!(select(&r, &t(&[], &["a"])), HashSet::from([s[2], s[3]]));
        assert_eq!(
            select(&r, &t(&[s[3].as_str()], &[])),
            HashSet::from([s[3]]),
            "own-id room"
        );
        let mut no_sender = t(&["a"], &[]);
        no_sender.except_sid = Some(s[0]);
        assert_eq!(select(&r, &no_sender), HashSet::from([s[1]]));
        r.leave("/", s[1], "a");
        assert_eq!(select(&r, &t(&["a"], &[])), HashSet::from([s[0]]));
        r.remove_socket("/", s[2]);
        assert_eq!(select(&r, &t(&["b"], &[])), HashSet::from([s[1]]));
        assert_eq!(select(&r, &t(&[], &[])).len(), 3);
        assert_eq!(
            r.rooms_of("/", &s[1]),
            vec![s[1].as_str().to_string(), "b".to_string()]
        );
    }

    #[test]
    fn a_room_is_gone_with_its_last_member() {
        let s = sids(2);
        let mut r = Rooms::default();
        r.add_socket("/", s[0]);
        r.add_socket("/", s[1]);
        r.join("/", s[0], "a");
        r.join("/", s[1], "a");
        let has = |r: &Rooms, room: &str| r.names("/").iter().any(|n| n == room);
        r.leave("/", s[0], "a");
        assert!(has(&r, "a"), "one member left");
        r.remove_socket("/", s[1]);
        assert!(!has(&r, "a"), "no member left: the room is deleted");
        assert_eq!(r.names("/"), vec![s[0].as_str().to_string()]);
        r.remove_socket("/", s[0]);
        assert!(r.names("/").is_empty());
    }

    #[test]
    fn room_names_take_one_or_several() {
        fn list(r: impl RoomNames) -> Vec<String> {
            r.room_list()
        }
        let owned = vec!["x".to_string(), "y".to_string()];
        assert_eq!(list("a"), ["a"]);
        assert_eq!(list(["a", "b"]), ["a", "b"]);
        assert_eq!(list(&owned), ["x", "y"]);
        assert_eq!(list(&owned[..1]), ["x"]);
        assert_eq!(list("z".to_string()), ["z"]);
    }

    /// Records what a room watcher hears.
    #[derive(Default)]
    struct Watcher(std::sync::Mutex<Vec<(String, bool, bool)>>);

    impl RoomWatch for Watcher {
        fn room_changed(&self, _nsp: &str, room: &str, private: bool, exists: bool) {
            self.0
                .lock()
                .unwrap()
                .push((room.to_string(), private, exists));
        }
    }

    #[test]
    fn a_watching_adapter_hears_of_first_and_last_members() {
        let s = sids(2);
        let w = Arc::new(Watcher::default());
        let mut r = Rooms::new(Some(w.clone()), None);
        r.add_socket("/", s[0]);
        r.add_socket("/", s[1]);
        r.join("/", s[0], "a");
        r.join("/", s[1], "a");
        r.join("/", s[1], "a");
        r.leave("/", s[0], "a");
        r.remove_socket("/", s[1]);
        let heard = std::mem::take(&mut *w.0.lock().unwrap());
        let own = |i: usize| s[i].as_str().to_string();
        assert_eq!(
            heard,
            [
                (own(0), true, true),
                (own(1), true, true),
                ("a".to_string(), false, true),
                (own(1), true, false),
                ("a".to_string(), false, false),
            ],
            "a room once when it appears and once when it goes; own-id rooms are private"
        );
    }
}
