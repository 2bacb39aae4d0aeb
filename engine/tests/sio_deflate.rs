//! The stock npm `socket.io-client` with permessage-deflate (compressing everything it sends)
//! against the conformance example: with `VOLLEY_PER_MESSAGE_DEFLATE=1` the extension is
//! negotiated and large messages cross the wire compressed both ways, without it they go plain.

mod common;

use common::ServerProcess;

fn run(deflate: &str) -> String {
    // Heartbeats with slack: a node client busy inflating 64 KiB messages on a loaded machine
    // may answer a ping late, and heartbeats are not what this test is about.
    let server = ServerProcess::start(
        "conformance",
        &[
            ("VOLLEY_WORKERS", "2"),
            ("VOLLEY_PER_MESSAGE_DEFLATE", deflate),
            ("VOLLEY_PING_INTERVAL_MS", "1000"),
            ("VOLLEY_PING_TIMEOUT_MS", "3000"),
        ],
    );
    let on = if deflate == "1" { "on" } else { "off" };
    common::run_node("sio_deflate.mjs", &[&server.url(), on])
}

const ROUND_TRIPS: &[&str] = &[
    "a large message round-trips both ways",
    "a large event is echoed, and small ones too",
    "a large broadcast reaches every member, and their own messages still inflate after it",
];

#[test]
fn node_client_negotiates_permessage_deflate() {
    let out = run("1");
    common::assert_cases(&out, &["permessage-deflate is negotiated"]);
    common::assert_cases(&out, ROUND_TRIPS);
}

#[test]
fn node_client_goes_plain_when_the_server_does_not_offer_it() {
    let out = run("0");
    common::assert_cases(&out, &["permessage-deflate is not negotiated"]);
    common::assert_cases(&out, ROUND_TRIPS);
}
