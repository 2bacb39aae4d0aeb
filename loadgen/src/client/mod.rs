//! Client protocol state for the scenarios: a WebSocket client and a Socket.IO client on top of
//! it, both sans-IO over the engine's codecs.

pub mod sio;
pub mod ws;
