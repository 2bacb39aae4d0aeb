//! `volley-loadgen`: a load generator for WebSocket, Engine.IO and Socket.IO servers.

mod client;
mod clock;
mod failure;
mod ledger;
mod plot;
mod procfs;
mod stats;

fn main() {}
