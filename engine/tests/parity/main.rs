//! The parity suite: the scenarios of the reference server's own tests (socketio/socket.io,
//! `packages/socket.io/test/*.ts` and `packages/engine.io/test/server.js`), each module a Volley
//! server on the public API for one reference file, driven by `interop/parity/<file>.mjs` with
//! the stock npm clients over WebSocket, polling and the upgrade. `interop/PARITY.md` says, file
//! by file, which scenarios are ported and why the others are not; `table_matches_the_scripts`
//! keeps it honest.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod close;
mod connection_state_recovery;
mod engine_server;
mod handshake;
mod messaging_many;
mod middleware;
mod namespaces;
mod socket;
mod socket_middleware;
mod socket_timeout;
mod utility_methods;
