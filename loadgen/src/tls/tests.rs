//! The TLS layer against a small rustls echo server in a thread (certificates from rcgen): the
//! handshake, bytes both ways through `flush` and `read_into` (a write far larger than rustls's
//! 64 KiB of buffered records, through a small socket buffer so writes stop part-way), the
//! server's close_notify, and certificate checks.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::*;
use crate::net;
use crate::scenario::Outbuf;

impl Outgoing for Outbuf {
    fn pending(&self) -> Option<&[u8]> {
        Outbuf::pending(self)
    }

    fn advance(&mut self, n: usize) {
        Outbuf::advance(self, n);
    }
}

/// A CA and a server certificate it signed for `localhost` and 127.0.0.1.
struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Pki {
    /// `ca_name`: the CA's common name (two CAs of one name would confuse chain building).
    fn new(ca_name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        Self {
            ca_pem: ca.pem(),
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    /// The CA written to a PEM file, removed when the guard drops.
    fn ca_file(&self) -> TempFile {
        TempFile::with(self.ca_pem.as_bytes())
    }
}

struct TempFile(PathBuf);

impl TempFile {
    fn with(contents: &[u8]) -> Self {
        static N: AtomicU16 = AtomicU16::new(0);
        let path = std::env::temp_dir().join(format!(
            "volley-loadgen-tls-{}-{}.pem",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A listener on a free port in 40000-40999 (the range these tests may use).
fn listen() -> TcpListener {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 1000) as u16;
    for _ in 0..1000 {
        let port = 40000 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 1000;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l;
        }
    }
    panic!("no free port in 40000-40999");
}

/// Serves one TLS connection: completes the handshake, echoes `total` bytes, then sends
/// close_notify and closes. Reads in small pieces with a pause first, so the client's writes
/// back up. Returns what it echoed.
fn echo_server(pki: &Pki, total: usize) -> (SocketAddr, JoinHandle<usize>) {
    let config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .unwrap();
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        let conn = ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            if tls.conn.complete_io(&mut tls.sock).is_err() {
                return 0; // the client refused us, or left
            }
        }
        let mut echoed = 0;
        let mut buf = [0u8; 1000];
        let mut paused = false;
        while echoed < total {
            let n = match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !paused {
                paused = true;
                thread::sleep(Duration::from_millis(100));
            }
            if tls.write_all(&buf[..n]).is_err() {
                break;
            }
            echoed += n;
        }
        tls.conn.send_close_notify();
        let _ = tls.flush();
        echoed
    });
    (addr, handle)
}

/// The client side: a non-blocking socket on a poll, driven the way the event loop drives it.
struct Client {
    sock: TcpStream,
    tls: TlsLayer,
    poll: Poll,
    events: Events,
    buf: Vec<u8>,
    input: Vec<u8>,
    deadline: Instant,
}

impl Client {
    fn connect(addr: SocketAddr, connector: &Connector) -> Self {
        let mut sock = net::connect(addr, None).unwrap();
        // A small send buffer, so writes stop part-way and resume.
        socket2::SockRef::from(&sock)
            .set_send_buffer_size(4096)
            .unwrap();
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut sock, Token(0), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        let mut c = Self {
            sock,
            tls: connector.connect().unwrap(),
            poll,
            events: Events::with_capacity(8),
            buf: vec![0; 64 * 1024],
            input: Vec::new(),
            deadline: Instant::now() + Duration::from_secs(30),
        };
        while c.sock.peer_addr().is_err() {
            c.wait();
        }
        c
    }

    fn wait(&mut self) {
        assert!(Instant::now() < self.deadline, "the test ran out of time");
        self.poll
            .poll(&mut self.events, Some(Duration::from_millis(100)))
            .unwrap();
    }

    fn handshake(&mut self) -> Result<(), Failure> {
        assert!(self.tls.is_handshaking());
        loop {
            match self
                .tls
                .handshake(&mut self.sock, &mut self.buf, &mut self.input)?
            {
                Handshake::Done { eof } => {
                    assert!(!eof && self.input.is_empty());
                    return Ok(());
                }
                Handshake::Pending => self.wait(),
            }
        }
    }
}

/// A pattern that does not repeat within a TLS record, so misordered bytes would show.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn bytes_round_trip_including_a_write_larger_than_64_kib() {
    let pki = Pki::new("volley-loadgen test CA");
    let ca = pki.ca_file();
    let mut sent = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    sent.extend_from_slice(&pattern(300 * 1024, 7));
    sent.extend_from_slice(b"bye");
    let (addr, server) = echo_server(&pki, sent.len());

    let connector = Connector::new("127.0.0.1", Trust::Roots(&ca.0)).unwrap();
    let mut c = Client::connect(addr, &connector);
    c.handshake().unwrap();

    // Queued in three appends (one of 300 KiB) and written as the socket allows.
    let mut out = Outbuf::default();
    out.buf().extend_from_slice(&sent[..18]);
    let mut appended = 18;
    let mut stalled_writes = 0;
    let mut eof = false;
    while !eof {
        if appended < sent.len() && out.pending().is_none() {
            let end = if appended == 18 {
                sent.len() - 3
            } else {
                sent.len()
            };
            out.buf().extend_from_slice(&sent[appended..end]);
            appended = end;
        }
        c.tls.flush(&mut c.sock, &mut out).unwrap();
        if out.pending().is_some() {
            stalled_writes += 1;
        }
        eof = c
            .tls
            .read_into(&mut c.sock, &mut c.buf, &mut c.input)
            .unwrap();
        if !eof {
            c.wait();
        }
    }
    assert_eq!(server.join().unwrap(), sent.len());
    assert_eq!(c.input.len(), sent.len());
    assert!(c.input == sent, "the echo differs from what was sent");
    assert!(
        stalled_writes > 0,
        "the socket should have taken the 300 KiB in several writes"
    );
    assert_eq!(out.pending(), None);
}

#[test]
fn insecure_trust_takes_any_certificate_for_any_name() {
    let pki = Pki::new("volley-loadgen test CA");
    let (addr, server) = echo_server(&pki, 5);
    let connector = Connector::new("not-the-name.example", Trust::Insecure).unwrap();
    let mut c = Client::connect(addr, &connector);
    c.handshake().unwrap();
    let mut out = Outbuf::default();
    out.buf().extend_from_slice(b"hello");
    let mut eof = false;
    while !eof {
        c.tls.flush(&mut c.sock, &mut out).unwrap();
        eof = c
            .tls
            .read_into(&mut c.sock, &mut c.buf, &mut c.input)
            .unwrap();
        if !eof {
            c.wait();
        }
    }
    assert_eq!(c.input, b"hello");
    assert_eq!(server.join().unwrap(), 5);
}

#[test]
fn an_untrusted_or_misnamed_certificate_fails_the_connect() {
    let pki = Pki::new("volley-loadgen test CA");
    let ca = pki.ca_file();
    let other = Pki::new("another test CA");
    let other_ca = other.ca_file();
    for (name, roots, expected) in [
        ("127.0.0.1", &other_ca, "UnknownIssuer"),
        ("localhost", &ca, ""),
        ("127.0.0.2", &ca, "not valid for name"),
        ("elsewhere.example", &ca, "not valid for name"),
    ] {
        let (addr, server) = echo_server(&pki, 0);
        let connector = Connector::new(name, Trust::Roots(&roots.0)).unwrap();
        let mut c = Client::connect(addr, &connector);
        let result = c.handshake();
        drop(c);
        let _ = server.join();
        if expected.is_empty() {
            assert_eq!(result, Ok(()), "{name}");
            continue;
        }
        match result {
            Err(Failure::Connect(why)) => {
                assert!(
                    why.starts_with("tls: ") && why.contains(expected),
                    "{name}: {why}"
                )
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_server_that_hangs_up_during_the_handshake_is_a_connect_failure() {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut hello = [0u8; 5];
        sock.read_exact(&mut hello).unwrap(); // the ClientHello's record header
    });
    let connector = Connector::new("127.0.0.1", Trust::Insecure).unwrap();
    let mut c = Client::connect(addr, &connector);
    let result = c.handshake();
    server.join().unwrap();
    match result {
        Err(Failure::Connect(why)) => assert!(why.contains("during the handshake"), "{why}"),
        Err(Failure::Closed(why)) => assert!(why.contains("reset"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tls_options_must_match_the_url() {
    let pki = Pki::new("volley-loadgen test CA");
    let ca = pki.ca_file();
    let ca = Some(ca.0.as_path());
    let url = "wss://127.0.0.1:40443/";
    assert!(for_target(url, None, None, false).unwrap().is_none());
    assert!(for_target(url, None, ca, false)
        .unwrap_err()
        .contains("need a wss:// or https:// URL"));
    assert!(for_target(url, None, None, true)
        .unwrap_err()
        .contains("need a wss:// or https:// URL"));
    let name = Some("127.0.0.1");
    let err = for_target(url, name, None, false).unwrap_err();
    assert!(
        err.contains("--tls-ca") && err.contains("--tls-insecure"),
        "{err}"
    );
    assert!(for_target(url, name, ca, true)
        .unwrap_err()
        .contains("not both"));
    assert!(for_target(url, name, ca, false).unwrap().is_some());
    assert!(for_target(url, name, None, true).unwrap().is_some());

    let missing = std::path::Path::new("/nonexistent/ca.pem");
    let err = for_target(url, name, Some(missing), false).unwrap_err();
    assert!(err.starts_with("--tls-ca /nonexistent/ca.pem: "), "{err}");
    let empty = TempFile::with(b"not a certificate\n");
    let err = for_target(url, name, Some(&empty.0), false).unwrap_err();
    assert!(err.contains("no certificate"), "{err}");
    let err = for_target(url, Some("bad name!"), None, true).unwrap_err();
    assert!(err.contains("server name"), "{err}");
}
