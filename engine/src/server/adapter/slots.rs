//! Redis Cluster routing, sans-IO: the hash slot of a key or shard channel (CRC16 of its hash
//! tag, mod 16384), the slot map read from `CLUSTER SLOTS`, and the `MOVED`/`ASK` redirections
//! a node answers when a slot is not (or no longer) its own.

use super::resp::Reply;

/// Slots of a Redis Cluster.
pub(crate) const SLOTS: u16 = 16384;

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of `key`: only its hash tag is hashed when it has one (the part between the first
/// `{` and the next `}`, when not empty), as Redis defines.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = key.get(open + 1..)?;
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| rest.get(..close)).flatten()
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

/// Which node (`host:port`) serves each slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SlotMap {
    /// `(first, last, addr)`, sorted by `first`.
    ranges: Vec<(u16, u16, String)>,
}

impl SlotMap {
    /// Reads a `CLUSTER SLOTS` reply; `host` stands in for a node that reports no address of
    /// its own (an empty one: the node the reply came from). `None` when the reply is not one.
    pub fn from_cluster_slots(reply: &Reply<'_>, host: &str) -> Option<SlotMap> {
        let Reply::Array(Some(items)) = reply else {
            return None;
        };
        let mut ranges = Vec::with_capacity(items.len());
        for item in items {
            let Reply::Array(Some(parts)) = item else {
                return None;
            };
            let slot = |i: usize| match parts.get(i) {
                Some(Reply::Int(n)) => u16::try_from(*n).ok().filter(|s| *s < SLOTS),
                _ => None,
            };
            let (first, last) = (slot(0)?, slot(1)?);
            let Some(Reply::Array(Some(master))) = parts.get(2) else {
                return None;
            };
            let ip = std::str::from_utf8(master.first()?.bytes()?).ok()?;
            let Some(Reply::Int(port)) = master.get(1) else {
                return None;
            };
            let ip = if ip.is_empty() || ip == "?" { host } else { ip };
            let addr = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            ranges.push((first, last, addr));
        }
        ranges.sort_unstable();
        Some(SlotMap { ranges })
    }

    /// The node serving `slot`, if any does.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        let i = self.ranges.partition_point(|(first, _, _)| *first <= slot);
        let (_, last, addr) = self.ranges.get(i.checked_sub(1)?)?;
        (slot <= *last).then_some(addr.as_str())
    }

    /// Every node serving a slot, each once.
    pub fn nodes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.ranges.iter().map(|(_, _, a)| a.clone()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether no slot is known.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// A node's answer that a slot lives elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// `ASK` (this command only, after `ASKING`) rather than `MOVED` (the map is stale).
    pub ask: bool,
    /// Where to send it.
    pub addr: String,
}

impl Redirect {
    /// Reads `MOVED <slot> <addr>` or `ASK <slot> <addr>` from an error reply.
    pub fn parse(error: &[u8]) -> Option<Redirect> {
        let text = std::str::from_utf8(error).ok()?;
        let mut words = text.split_ascii_whitespace();
        let ask = match words.next()? {
            "MOVED" => false,
            "ASK" => true,
            _ => return None,
        };
        words.next()?.parse::<u16>().ok()?;
        let addr = words.next()?.to_string();
        Some(Redirect { ask, addr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::adapter::resp;

    #[test]
    fn crc16_matches_the_redis_cluster_spec() {
        // The check value the Redis Cluster specification gives for its CRC16.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn slots_follow_hash_tags() {
        // Values `CLUSTER KEYSLOT` gives.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b"somekey"), 11058);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"user1000"));
        // The examples of the spec: the first `{`, the next `}`, an empty tag hashes it all.
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(key_slot(b"{unclosed"), crc16(b"{unclosed") % SLOTS);
    }

    #[test]
    fn reads_cluster_slots() {
        let wire = b"*2\r\n\
            *4\r\n:5461\r\n:10922\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nr1\r\n\
            *3\r\n:0\r\n:5460\r\n*3\r\n$0\r\n\r\n:7000\r\n$2\r\nid\r\n";
        let (reply, _) = resp::parse(wire).unwrap().unwrap();
        let map = SlotMap::from_cluster_slots(&reply, "10.0.0.9").unwrap();
        assert_eq!(
            map.owner(0),
            Some("10.0.0.9:7000"),
            "empty ip: the node asked"
        );
        assert_eq!(map.owner(5460), Some("10.0.0.9:7000"));
        assert_eq!(map.owner(5461), Some("127.0.0.1:7001"));
        assert_eq!(map.owner(10922), Some("127.0.0.1:7001"));
        assert_eq!(map.owner(10923), None, "uncovered slot");
        assert_eq!(map.nodes(), ["10.0.0.9:7000", "127.0.0.1:7001"]);
        let (bad, _) = resp::parse(b"*1\r\n*2\r\n:0\r\n:99999\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(SlotMap::from_cluster_slots(&bad, "h"), None);
        assert_eq!(SlotMap::from_cluster_slots(&Reply::Int(1), "h"), None);
    }

    #[test]
    fn reads_redirections() {
        assert_eq!(
            Redirect::parse(b"MOVED 3999 127.0.0.1:6381"),
            Some(Redirect {
                ask: false,
                addr: "127.0.0.1:6381".into()
            })
        );
        assert!(Redirect::parse(b"ASK 1 h:1").unwrap().ask);
        assert_eq!(Redirect::parse(b"ERR unknown"), None);
        assert_eq!(Redirect::parse(b"MOVED x h:1"), None);
        assert_eq!(Redirect::parse(b"MOVED 1"), None);
    }
}
