//! Fuzzes the Redis streams adapter's decoders (`@socket.io/redis-streams-adapter`'s wire
//! format): the input as a pub/sub message (msgpack), as a stream entry's `data` field (JSON
//! or base64 msgpack), and as a recovery session stored in Redis (base64 msgpack), whose rooms
//! then filter the entry as a restore does. Checks that nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    volley::fuzz_internals::redis_streams_message(input);
});
