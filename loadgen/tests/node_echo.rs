//! `echo` and `broadcast` against the reference Node socket.io server
//! (`loadgen/peers/node_server.mjs`, packages from `interop/node_modules`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The Node server; killed by PID when dropped, also when a test panics.
struct NodeServer {
    child: Child,
    port: u16,
}

impl NodeServer {
    fn start() -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        assert!(
            std::path::Path::new(root)
                .join("interop/node_modules/socket.io")
                .exists(),
            "interop/node_modules missing: run ./scripts/test.sh (it runs npm ci in interop/)"
        );
        let mut child = Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/peers/node_server.mjs"
            ))
            .arg("0")
            .arg("500")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node (is Node.js installed?)");
        let stdout = child.stdout.take().expect("node stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("listening ") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let mut server = NodeServer { child, port: 0 };
        server.port = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .flatten()
            .expect("node server did not print `listening PORT` within 20 s");
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn echo_and_broadcast_against_the_node_reference_server() {
    let node = NodeServer::start();
    let url = node.url();
    let pid = node.child.id().to_string();

    let (out, doc) = common::run_loadgen(
        &[
            "echo",
            "--url",
            &url,
            "-c",
            "10",
            "-k",
            "2",
            "--duration",
            "2",
            "--warmup",
            "0.3",
            "--drain",
            "0.5",
            "--threads",
            "1",
            "--server-pid",
            &pid,
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = &doc["summary"];
    assert_eq!(s["counters"]["connected"], 10, "{s}");
    assert!(s["counters"]["completed"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["errors_total"], 0, "{s}");
    assert!(s["latency"]["p99_us"].as_u64().unwrap() > 0);
    assert!(
        s["server"]["completed_per_cpu_s"].as_f64().unwrap() > 0.0,
        "{s}"
    );
    assert!(stdout.contains("acks"), "{stdout}");

    let (out, doc) = common::run_loadgen(
        &[
            "broadcast",
            "--url",
            &url,
            "-c",
            "12",
            "--senders",
            "2",
            "--rate",
            "40",
            "--duration",
            "1.5",
            "--warmup",
            "0.2",
            "--drain",
            "1",
            "--namespace",
            "/room",
            "--processes",
            "2",
            "--threads",
            "2",
            "-q",
        ],
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let b = &doc["summary"]["broadcast"];
    assert_eq!(b["members"], 12, "{b}");
    let broadcasts = b["broadcasts"].as_u64().unwrap();
    assert!(broadcasts >= 40, "{b}");
    assert_eq!(b["expected"].as_u64(), Some(12 * broadcasts));
    assert_eq!(b["delivered"], b["expected"], "{b}");
    assert_eq!(b["lost"], 0);
    assert_eq!(doc["summary"]["errors_total"], 0);
    assert_eq!(doc["result"]["processes"], 2);
}
