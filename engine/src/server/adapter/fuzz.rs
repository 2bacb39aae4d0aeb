//! Not API: the adapters' parsers as the fuzz targets `sharded_adapter` and `redis_streams`
//! drive them.

use super::cluster_msg;
use super::resp;
use super::session_wire::{decode_session, missed_packet};
use super::slots::{key_slot, Redirect, SlotMap, SLOTS};
use super::streams_wire::{decode_entry, decode_untrusted};

/// Feeds `input` to the streams adapter's decoders: as a pub/sub message and as a stream
/// entry's `data` ([`decode_untrusted`]), and as a stored session, whose rooms (or `r`) then
/// pick what a restore would replay of that entry. Panics only where an invariant breaks.
pub fn redis_streams_input(input: &[u8]) {
    decode_untrusted(input);
    let rooms = decode_session(input).map_or_else(|_| vec!["r".to_string()], |s| s.rooms);
    let fields: [(&[u8], &[u8]); 4] = [
        (b"uid", b"u"),
        (b"nsp", b"/"),
        (b"type", b"3"),
        (b"data", input),
    ];
    if let Ok(m) = decode_entry(fields) {
        if let Ok(Some(packets)) = missed_packet(&m, "1-0", "/", &rooms) {
            assert!(!packets.is_empty());
        }
    }
}

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
