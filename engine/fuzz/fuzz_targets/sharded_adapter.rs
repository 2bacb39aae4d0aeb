//! Fuzzes the sharded Redis adapter's parsers. Input: a selector byte (even: a cluster message
//! from another server, JSON or msgpack; odd: a RESP reply read as a `CLUSTER SLOTS` map or a
//! MOVED/ASK redirection), then the bytes. Checks that nothing panics and that slots stay in
//! range and map to known nodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use volley::fuzz_internals::sharded_adapter_input;

fuzz_target!(|input: &[u8]| sharded_adapter_input(input));
