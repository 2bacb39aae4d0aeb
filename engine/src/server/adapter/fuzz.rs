//! Not API: the sharded adapter's parsers as the fuzz target `sharded_adapter` drives them.

use super::cluster_msg;
use super::resp;
use super::slots::{key_slot, Redirect, SlotMap, SLOTS};

/// Feeds `input` to the sharded adapter's parsers: a first byte that is even sends the rest to
/// the cluster message decoder, an odd one to the RESP parser and from there to the slot map
/// and redirection readers. Panics only where an invariant breaks.
pub fn sharded_adapter_input(input: &[u8]) {
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    assert!(key_slot(rest) < SLOTS);
    if selector % 2 == 0 {
        if let Ok(m) = cluster_msg::decode(rest) {
            let _ = m.as_response();
        }
        return;
    }
    let Ok(Some((reply, used))) = resp::parse(rest) else {
        return;
    };
    assert!(used <= rest.len());
    if let resp::Reply::Error(e) = &reply {
        let _ = Redirect::parse(e);
    }
    if let Some(map) = SlotMap::from_cluster_slots(&reply, "h") {
        for slot in [0, 1, 5460, 5461, 10922, 16383] {
            if let Some(addr) = map.owner(slot) {
                assert!(map.nodes().iter().any(|n| n == addr));
            }
        }
    }
}
