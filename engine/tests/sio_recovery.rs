//! Connection state recovery with the stock socket.io-client (interop/sio_recovery.mjs)
//! against the README's example (engine/examples/recovery.rs) on two workers: a client whose
//! connection drops for about a second comes back with `socket.recovered`, the same id, its
//! rooms and data, and the broadcasts it missed in order, and is reached by its id through the
//! server handle even on the other worker; past the window it gets a fresh session.

mod common;

#[test]
fn the_stock_client_recovers_its_session_within_the_window() {
    let long = common::ServerProcess::start("recovery", &[("VOLLEY_RECOVERY_MS", "60000")]);
    let short = common::ServerProcess::start("recovery", &[("VOLLEY_RECOVERY_MS", "300")]);
    let out = common::run_node("sio_recovery.mjs", &[&long.url(), &short.url()]);
    common::assert_cases(
        &out,
        &[
            "within the window the socket is recovered with its missed broadcasts in order (polling,websocket)",
            "within the window the socket is recovered with its missed broadcasts in order (websocket)",
            "after the window the client gets a fresh session",
        ],
    );
}
