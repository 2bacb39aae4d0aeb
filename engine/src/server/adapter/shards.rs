//! One thread's connections to the nodes of a Redis Cluster: the slot map (read with
//! `CLUSTER SLOTS` from any node that answers, the configured ones first), and a connection per
//! node, made when a channel of one of its slots needs it.

use std::collections::HashMap;
use std::io;

use super::conn::{Conn, RedisUrl};
use super::core::IO_TIMEOUT;
use super::slots::{key_slot, SlotMap};

/// The slot map and the open connections of one thread.
pub(crate) struct Shards {
    /// The configured nodes (their AUTH is used for every node).
    seeds: Vec<RedisUrl>,
    pub map: SlotMap,
    pub conns: HashMap<String, Conn>,
}

impl Shards {
    /// No map yet, no connection.
    pub fn new(seeds: Vec<RedisUrl>) -> Shards {
        Shards {
            seeds,
            map: SlotMap::default(),
            conns: HashMap::new(),
        }
    }

    /// Reads the slot map again from the first node that gives one: the configured nodes,
    /// then those of the old map (a configured node may be the one that is gone).
    pub fn refresh(&mut self) -> io::Result<()> {
        let mut addrs: Vec<String> = self.seeds.iter().map(|s| s.addr.clone()).collect();
        addrs.extend(self.map.nodes());
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no redis cluster node");
        for addr in addrs {
            match self.slots_from(&addr) {
                Ok(map) => {
                    self.map = map;
                    // Connections to nodes that serve no slot any more are of no use.
                    let nodes = self.map.nodes();
                    self.conns.retain(|a, _| nodes.contains(a));
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn slots_from(&self, addr: &str) -> io::Result<SlotMap> {
        let mut c = Conn::connect(&self.url(addr), IO_TIMEOUT)?;
        c.queue(&[b"CLUSTER", b"SLOTS"]);
        c.flush()?;
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        c.read(|r| SlotMap::from_cluster_slots(&r, host))?
            .flatten()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no CLUSTER SLOTS map"))
    }

    /// The URL of the node at `addr`, with the configured credentials.
    pub fn url(&self, addr: &str) -> RedisUrl {
        RedisUrl {
            addr: addr.to_string(),
            auth: self.seeds.first().and_then(|s| s.auth.clone()),
        }
    }

    /// The node serving `channel`'s slot, reading the map first when there is none.
    pub fn owner(&mut self, channel: &str) -> io::Result<String> {
        if self.map.is_empty() {
            self.refresh()?;
        }
        let slot = key_slot(channel.as_bytes());
        self.map
            .owner(slot)
            .map(str::to_string)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "slot served by no node"))
    }

    /// The connection to `addr`, made (and checked with PING) when there is none.
    pub fn conn(&mut self, addr: &str) -> io::Result<&mut Conn> {
        if !self.conns.contains_key(addr) {
            let mut c = Conn::connect(&self.url(addr), IO_TIMEOUT)?;
            c.ping()?;
            self.conns.insert(addr.to_string(), c);
        }
        self.conns
            .get_mut(addr)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}
