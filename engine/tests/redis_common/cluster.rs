//! A 3-node Redis Cluster of this test: `redis-server --cluster-enabled yes` on free loopback
//! ports (bus ports too) in a temp dir, joined with `redis-cli --cluster create`; every process
//! is stopped by PID when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::query;
use crate::common;

/// The cluster's nodes, all masters.
pub struct Cluster {
    children: Vec<Child>,
    pub ports: Vec<u16>,
    dir: std::path::PathBuf,
}

impl Cluster {
    /// Starts `n` nodes, spreads the slots over them and waits for `cluster_state:ok`.
    pub fn start(n: usize) -> Cluster {
        let ports: Vec<u16> = (0..n).map(|_| common::free_port()).collect();
        let dir = std::env::temp_dir().join(format!(
            "volley-cluster-{}-{}",
            std::process::id(),
            ports[0]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = Cluster {
            children: Vec::new(),
            ports: ports.clone(),
            dir: dir.clone(),
        };
        for port in &ports {
            let (port, bus) = (port.to_string(), common::free_port().to_string());
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port,
                    "--cluster-port",
                    &bus,
                    "--bind",
                    "127.0.0.1",
                ])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (7+) must be installed for the cluster tests");
            c.children.push(child);
        }
        for port in &ports {
            let up = common::wait_until(Duration::from_secs(10), || {
                query(*port, &["PING"]).is_some_and(|r| r.starts_with(b"+PONG"))
            });
            assert!(up, "cluster node {port} never answered PING");
        }
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli must be installed for the cluster tests");
        assert!(status.success(), "redis-cli --cluster create failed");
        let ok = common::wait_until(Duration::from_secs(20), || {
            ports.iter().all(|p| {
                query(*p, &["CLUSTER", "INFO"])
                    .is_some_and(|r| String::from_utf8_lossy(&r).contains("cluster_state:ok"))
            })
        });
        assert!(ok, "the cluster never reached cluster_state:ok");
        c
    }

    /// The nodes as a `VOLLEY_REDIS_URL`: comma-separated URLs.
    pub fn urls(&self) -> String {
        let urls: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        urls.join(",")
    }

    /// Subscribers of shard channel `channel`, summed over the nodes (as the Node adapter
    /// counts servers).
    pub fn shardnumsub(&self, channel: &str) -> usize {
        self.ports
            .iter()
            .filter_map(|p| query(*p, &["PUBSUB", "SHARDNUMSUB", channel]))
            .map(|reply| {
                String::from_utf8_lossy(&reply)
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix(':').and_then(|n| n.trim().parse().ok()))
                    .unwrap_or(0)
            })
            .sum()
    }

    /// The node id of the node on `port`.
    pub fn id(&self, port: u16) -> String {
        let reply = query(port, &["CLUSTER", "MYID"]).expect("CLUSTER MYID");
        let text = String::from_utf8_lossy(&reply);
        text.lines()
            .nth(1)
            .expect("a bulk reply")
            .trim()
            .to_string()
    }

    /// The port of the node serving the slot of `key` (a channel name hashes as a key).
    pub fn owner(&self, key: &str) -> u16 {
        *self
            .ports
            .iter()
            .find(|p| query(**p, &["EXISTS", key]).is_some_and(|r| r.starts_with(b":")))
            .expect("a node serves the slot")
    }

    /// Moves the slot of `key` (holding no keys) to the node on `to`, as a resharding does.
    pub fn move_slot(&self, key: &str, to: u16) {
        let from = self.owner(key);
        let reply = query(from, &["CLUSTER", "KEYSLOT", key]).expect("CLUSTER KEYSLOT");
        let slot = String::from_utf8_lossy(&reply)
            .trim()
            .trim_start_matches(':')
            .to_string();
        let (from_id, to_id) = (self.id(from), self.id(to));
        let ok = |r: Option<Vec<u8>>| assert!(r.is_some_and(|r| r.starts_with(b"+OK")));
        ok(query(
            to,
            &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id],
        ));
        ok(query(
            from,
            &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id],
        ));
        ok(query(to, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]));
        ok(query(from, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]));
        for p in &self.ports {
            if ![from, to].contains(p) {
                ok(query(*p, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]));
            }
        }
    }

    /// Waits until `n` subscribers hold `channel`.
    pub fn wait_subscribers(&self, channel: &str, n: usize) {
        let ok = common::wait_until(Duration::from_secs(15), || self.shardnumsub(channel) == n);
        assert!(
            ok,
            "{channel} never had {n} subscribers ({} now)",
            self.shardnumsub(channel)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
