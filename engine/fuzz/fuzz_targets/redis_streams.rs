//! Fuzzes the Redis streams adapter's decoders (`@socket.io/redis-streams-adapter`'s wire
//! format): the input as a pub/sub message (msgpack) and as a stream entry's `data` field (JSON
//! or base64 msgpack). Checks that nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    volley::fuzz_internals::redis_streams_message(input);
});
