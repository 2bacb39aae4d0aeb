//! What the sharded adapter's two threads share ([`ShardCore`]): the channels the subscriber
//! must hold ([`Wanted`]), the pending requests, the publisher's queue and the workers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;
use serde_json::Value as Json;

use super::api::ServerSideEmitHandler;
use super::cluster_msg::{self, ShardChannels};
use super::conn::RedisUrl;
use super::core::{send, Cmd};
use super::health::Health;
use super::nodes::Nodes;
use super::pending::Pending;
use crate::runtime::Peers;
use crate::server::post::Post;

/// The channels the subscriber must hold, changed by the workers (rooms) and the publisher
/// (namespaces), applied by the subscriber.
#[derive(Default)]
pub(super) struct Wanted {
    /// Every channel to hold.
    pub all: HashSet<String>,
    /// Additions (`true`) and removals since the subscriber last looked.
    pub changes: Vec<(String, bool)>,
    /// Per room channel, how many workers have the room.
    pub rooms: HashMap<String, usize>,
    /// Namespaces whose channel this server holds (SHARDNUMSUB counts it).
    pub nsps: HashSet<String>,
    /// Namespaces whose channel subscription a shard confirmed.
    pub confirmed: HashSet<String>,
}

impl Wanted {
    pub fn add(&mut self, channel: String) {
        if self.all.insert(channel.clone()) {
            self.changes.push((channel, true));
        }
    }

    pub fn remove(&mut self, channel: &str) {
        if self.all.remove(channel) {
            self.changes.push((channel.to_string(), false));
        }
    }
}

/// What both threads share.
pub(super) struct ShardCore {
    pub seeds: Vec<RedisUrl>,
    pub channels: ShardChannels,
    pub uid: String,
    pub stop: AtomicBool,
    pub pending: Pending,
    pub wanted: Arc<Mutex<Wanted>>,
    pub cmds: Sender<Cmd>,
    pub peers: Peers<Post>,
    pub on_emit: Option<Arc<ServerSideEmitHandler>>,
    pub health: Arc<Health>,
    pub requests_timeout: Duration,
    pub nodes: Arc<Nodes>,
}

impl ShardCore {
    /// Listens on `nsp`'s channel and this server's response channel for it.
    pub fn want(&self, nsp: &str) {
        let Ok(mut w) = self.wanted.lock() else {
            return;
        };
        if w.nsps.insert(nsp.to_string()) {
            w.add(self.channels.nsp(nsp));
            w.add(self.channels.room(nsp, &self.uid));
        }
    }

    /// Publishes `{type, data}` to the response channel of the server `to`.
    pub fn respond(&self, nsp: &str, to: &str, ty: u64, data: Json) {
        if let Ok(payload) = cluster_msg::encode(&self.uid, nsp, ty, data, &[]) {
            let channel = self.channels.room(nsp, to);
            send(
                &self.cmds,
                &self.health,
                &self.nodes,
                Cmd::Publish { channel, payload },
            );
        }
    }

    pub fn subscribed(&self, nsp: &str) -> bool {
        self.wanted.lock().is_ok_and(|w| w.confirmed.contains(nsp))
    }
}
