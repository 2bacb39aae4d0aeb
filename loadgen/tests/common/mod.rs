//! Helpers for the integration tests: run the binary with a bounded wait, read its JSON.

// Each test binary compiles this module but uses only some of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `volley-loadgen args...` with `--json` into a temporary file; kills it after `limit`.
/// Returns the process output and the parsed JSON document.
pub fn run_loadgen(args: &[&str], limit: Duration) -> (Output, serde_json::Value) {
    let json = temp_path("json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_volley-loadgen"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start volley-loadgen");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("poll volley-loadgen").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "volley-loadgen ran past {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("collect output");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e})\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let _ = std::fs::remove_file(&json);
    (out, serde_json::from_str(&text).expect("valid JSON"))
}

/// A unique path in the temporary directory.
pub fn temp_path(ext: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "volley-loadgen-test-{}-{nanos}.{ext}",
        std::process::id()
    ))
}
