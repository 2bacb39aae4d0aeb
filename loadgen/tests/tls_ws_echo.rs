//! `ws-echo` over `wss://` through the whole binary (event loop, TLS handshake before the
//! upgrade, TLS reads and writes) against a WebSocket echo server on rustls started in this
//! process (a thread per connection; the engine's sans-IO HTTP and frame codecs), with a
//! certificate made by rcgen for 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use volley::proto::http::{parse_request, validate_upgrade, write_switching_protocols, Limits};
use volley::proto::ws::{encode_frame, Decoder, Message, OpCode, Role};

/// A CA (its PEM in a file, removed on drop) and a server certificate it signed.
struct Pki {
    ca_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Pki {
    fn new(ca_name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let ca_file = common::temp_path("pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Self {
            ca_file,
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    fn ca(&self) -> &str {
        self.ca_file.to_str().unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// A listener on a free port in 40000-40999.
fn listen() -> TcpListener {
    static NEXT: AtomicU16 = AtomicU16::new(500);
    let base = (std::process::id() % 1000) as u16;
    for _ in 0..1000 {
        let port = 40000 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 1000;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l;
        }
    }
    panic!("no free port in 40000-40999");
}

/// Starts the TLS WebSocket echo server; its URL.
fn wss_echo_server(pki: &Pki) -> String {
    // The provider the load generator uses (see src/tls.rs).
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .unwrap();
    let config = Arc::new(config);
    let listener = listen();
    let url = format!("wss://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        for sock in listener.incoming().map_while(Result::ok) {
            let config = Arc::clone(&config);
            thread::spawn(move || serve(sock, config));
        }
    });
    url
}

/// One connection: the upgrade, then every text or binary message sent back, until the client
/// leaves. Any error just ends the connection (the load generator counts it).
fn serve(sock: TcpStream, config: Arc<ServerConfig>) -> Option<()> {
    sock.set_nodelay(true).ok()?;
    let mut tls = StreamOwned::new(ServerConnection::new(config).ok()?, sock);
    let mut input = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let request = loop {
        let n = tls.read(&mut chunk).ok().filter(|n| *n > 0)?;
        input.extend_from_slice(&chunk[..n]);
        if let Some(request) = parse_request(&input, &Limits::default()).ok()? {
            break request;
        }
    };
    let mut out = Vec::new();
    write_switching_protocols(&mut out, &validate_upgrade(&request).ok()?);
    tls.write_all(&out).ok()?;
    input.drain(..request.head_len);
    let mut decoder = Decoder::new(Role::Server, 16 << 20);
    loop {
        out.clear();
        let mut pos = 0;
        loop {
            let decoded = decoder.decode(&mut input[pos..]).ok()?;
            if decoded.consumed == 0 {
                break;
            }
            pos += decoded.consumed;
            match decoded.message {
                Some(Message::Text(t)) => encode_frame(&mut out, OpCode::Text, t),
                Some(Message::Binary(b)) => encode_frame(&mut out, OpCode::Binary, b),
                Some(Message::Close(_)) => return Some(()),
                _ => {}
            }
        }
        input.drain(..pos);
        if !out.is_empty() {
            tls.write_all(&out).ok()?;
        }
        let n = tls.read(&mut chunk).ok().filter(|n| *n > 0)?;
        input.extend_from_slice(&chunk[..n]);
    }
}

fn ws_echo(url: &str, tls: &[&str], payload: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "ws-echo",
        "--url",
        url,
        "-c",
        "4",
        "-k",
        "2",
        "--duration",
        "1",
        "--warmup",
        "0.2",
        "--drain",
        "0.3",
        "--threads",
        "1",
        "--payload",
        payload,
        "-q",
    ];
    args.extend_from_slice(tls);
    args.extend_from_slice(extra);
    let (out, doc) = common::run_loadgen(&args, Duration::from_secs(60));
    let summary = doc["summary"].clone();
    assert!(
        out.status.success(),
        "{summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    summary
}

fn assert_clean(s: &serde_json::Value, connections: u64) {
    assert_eq!(s["counters"]["connected"], connections, "{s}");
    assert!(s["counters"]["completed"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["errors_total"], 0, "{s}");
    assert!(s["latency"]["p50_us"].as_u64().unwrap() > 0, "{s}");
}

#[test]
fn ws_echo_over_wss_small_and_large_messages() {
    let pki = Pki::new("volley-loadgen wss test CA");
    let url = wss_echo_server(&pki);
    let ca = ["--tls-ca", pki.ca()];
    assert_clean(&ws_echo(&url, &ca, "100", &[]), 4);
    // Messages of 100 KB: more than rustls buffers at once, in both directions.
    assert_clean(&ws_echo(&url, &ca, "100000", &[]), 4);
    // Two processes: the children get the TLS options too.
    let s = ws_echo(&url, &["--tls-insecure"], "64", &["--processes", "2"]);
    assert_clean(&s, 4);
}

#[test]
fn a_certificate_from_another_ca_fails_every_connect() {
    let pki = Pki::new("volley-loadgen wss test CA");
    let other = Pki::new("some other CA");
    let url = wss_echo_server(&pki);
    let (out, doc) = common::run_loadgen(
        &[
            "ws-echo",
            "--url",
            &url,
            "--tls-ca",
            other.ca(),
            "-c",
            "3",
            "--duration",
            "0.2",
            "--warmup",
            "0",
            "--drain",
            "0",
            "--threads",
            "1",
            "-q",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "errors make the exit status 2");
    let s = &doc["summary"];
    assert_eq!(s["counters"]["connect_failed"], 3, "{s}");
    assert_eq!(
        s["errors"]["connect: tls: invalid peer certificate: UnknownIssuer"], 3,
        "{s}"
    );
}

#[test]
fn tls_urls_need_a_ca_or_insecure() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_volley-loadgen"))
        .args(["ws-echo", "--url", "wss://127.0.0.1:40999/", "-c", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS needs --tls-ca FILE") && stderr.contains("--tls-insecure"),
        "{stderr}"
    );
}
