//! Sans-IO protocol code: plain functions and state machines over bytes. No sockets, threads or
//! clocks live here, so both backends, the client and the fuzzers share every line.

pub mod eio;
pub mod http;
pub(crate) mod msgpack;
pub mod sio;
pub mod ws;
