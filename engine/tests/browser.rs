//! A real browser: headless Chromium (puppeteer-core) loads the browser_chat example's page
//! from Volley itself and, with the stock bundle the page loaded, runs connect, an emit with
//! an acknowledgement, rooms, binary both ways, the polling→WebSocket upgrade and a reconnect,
//! same-origin and from a page on another port (CORS), plus a cross-origin poll the browser
//! must refuse (interop/browser.mjs).

mod common;

use common::{assert_cases, chromium, interop_dir, run_node, ServerProcess};

#[test]
fn the_stock_client_in_chromium() {
    let chrome = chromium();
    assert!(
        interop_dir().join("node_modules/puppeteer-core").exists(),
        "interop/node_modules/puppeteer-core missing: run ./scripts/test.sh (npm ci in interop/)"
    );
    // Heartbeats and connect deadlines a loaded machine's browser meets with room to spare.
    let relaxed = [
        ("VOLLEY_LISTEN", "127.0.0.1:0".to_string()),
        ("VOLLEY_PING_INTERVAL_MS", "5000".to_string()),
        ("VOLLEY_PING_TIMEOUT_MS", "5000".to_string()),
        ("VOLLEY_CONNECT_TIMEOUT_MS", "10000".to_string()),
    ];
    let a = ServerProcess::start_with("browser_chat", &relaxed);
    let mut env = relaxed.to_vec();
    env.push(("VOLLEY_CORS_ORIGINS", a.url()));
    let b = ServerProcess::start_with("browser_chat", &env);
    let out = run_node(
        "browser.mjs",
        &[&chrome.to_string_lossy(), &a.url(), &b.url()],
    );
    let mut cases = vec!["page".to_string(), "cors:refused".to_string()];
    for prefix in ["same", "cors"] {
        for case in ["connect", "upgrade", "ack", "rooms", "binary", "reconnect"] {
            cases.push(format!("{prefix}:{case}"));
        }
    }
    let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
    assert_cases(&out, &cases);
}
