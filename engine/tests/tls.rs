//! TLS on the listener (the `tls` feature), with certificates from a test CA made here: the
//! stock socket.io client trusting that CA connects over `wss://`, `https://` polling and the
//! upgrade on each backend (epoll, io_uring, io_uring with direct descriptors) and through the
//! one-acceptor mode that hands connections between workers; a client that does not trust the
//! CA and a plain-HTTP client are refused while the server keeps serving; certificate files
//! that cannot serve make `listen()` fail.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
#[cfg(feature = "tokio")]
use std::sync::Arc;
use std::time::Duration;

use common::{assert_cases, run_node};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use volley::config::{AcceptMode, Backend, Config};
use volley::server::{Ack, Error, Server, ServerBuilder};

/// A directory of PEM files, removed when dropped.
struct Pems {
    dir: PathBuf,
}

impl Pems {
    /// A CA (`ca.pem`), a server certificate for 127.0.0.1 and localhost signed by it
    /// (`cert.pem`, `key.pem`), and a key of another pair (`other-key.pem`).
    fn new(name: &str) -> Pems {
        let dir = std::env::temp_dir().join(format!("volley-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Volley test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let pems = Pems { dir };
        pems.write("ca.pem", &ca.pem());
        pems.write("cert.pem", &cert.pem());
        pems.write("key.pem", &key.serialize_pem());
        pems.write(
            "other-key.pem",
            &KeyPair::generate().unwrap().serialize_pem(),
        );
        pems
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Pems {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server serving TLS with `pems`' certificate (given to the builder) and its other
/// settings changed by `configure`.
fn start(pems: &Pems, configure: impl FnOnce(&mut Config)) -> Server {
    serve(
        Server::builder()
            .configure(configure)
            .tls(pems.path("cert.pem"), pems.path("key.pem")),
    )
}

/// Starts `builder` on an ephemeral port with two workers: `message-with-ack` echoes,
/// `broadcast-me` joins a room and gets `news` sent to that room.
fn serve(builder: ServerBuilder) -> Server {
    builder
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse::<SocketAddr>().unwrap().into();
            c.workers = 2;
        })
        .namespace("/", |ns| {
            ns.on("message-with-ack", |_, args| Some(Ack::from_args(args)));
            ns.on("broadcast-me", |s, args| {
                let room: String = args.deserialize(0).ok()?;
                s.join(&room);
                s.within(&room)
                    .emit("news", &[format!("news for {room}")])
                    .ok()?;
                None
            });
        })
        .listen()
        .unwrap()
}

fn stock_client(pems: &Pems, server: &Server) {
    let url = format!("https://{}", server.local_addr());
    let ca = pems.path("ca.pem");
    let out = run_node("tls.mjs", &[ca.to_str().unwrap(), &url]);
    assert_cases(
        &out,
        &["websocket", "polling", "upgrade", "untrusted refused"],
    );
}

#[test]
fn stock_client_over_tls_on_epoll() {
    let pems = Pems::new("epoll");
    let server = start(&pems, |c| c.backend = Backend::Epoll);
    stock_client(&pems, &server);
    server.shutdown();
}

#[test]
fn stock_client_over_tls_on_uring() {
    let pems = Pems::new("uring");
    let server = start(&pems, |c| c.backend = Backend::Uring);
    stock_client(&pems, &server);
    server.shutdown();
}

#[test]
fn stock_client_over_tls_on_uring_direct_descriptors() {
    let pems = Pems::new("direct");
    let server = start(&pems, |c| {
        c.backend = Backend::Uring;
        c.uring_direct = true;
    });
    stock_client(&pems, &server);
    server.shutdown();
}

#[test]
fn stock_client_over_tls_through_the_acceptor_configured_from_the_environment() {
    let pems = Pems::new("acceptor");
    let (cert, key) = (pems.path("cert.pem"), pems.path("key.pem"));
    // What `Config::from_env` makes of VOLLEY_TLS_CERT and VOLLEY_TLS_KEY, as every example
    // reads them.
    let config = Config::from_lookup(|name| match name {
        "VOLLEY_TLS_CERT" => Some(cert.to_str().unwrap().into()),
        "VOLLEY_TLS_KEY" => Some(key.to_str().unwrap().into()),
        "VOLLEY_ACCEPT" => Some("acceptor".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.accept, AcceptMode::Acceptor);
    let server = serve(Server::builder().config(config));
    stock_client(&pems, &server);
    server.shutdown();
}

#[test]
fn plain_http_to_a_tls_port_is_refused_and_tls_goes_on() {
    let pems = Pems::new("plain");
    let server = start(&pems, |_| {});
    let mut plain = TcpStream::connect(server.local_addr()).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    // The server answers with a TLS alert record (content type 21), never with HTTP, and
    // closes.
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "a plain request got a plain answer"
    );
    if let Some(&first) = answer.first() {
        assert_eq!(first, 21, "not a TLS alert: {answer:?}");
    }
    stock_client(&pems, &server);
    server.shutdown();
}

/// `listen()` with `cert` and `key` fails, with a message containing `says`.
fn refused(cert: &Path, key: &Path, says: &str) {
    let err = match Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into()
        })
        .tls(cert, key)
        .listen()
    {
        Ok(server) => {
            server.shutdown();
            panic!("a server started with {cert:?} and {key:?}");
        }
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(text.contains(says), "{text:?} does not say {says:?}");
}

#[test]
fn certificates_that_cannot_serve_fail_at_start() {
    let pems = Pems::new("bad");
    let cert = pems.path("cert.pem");
    let key = pems.path("key.pem");
    let missing = pems.path("missing.pem");
    refused(&missing, &key, "missing.pem");
    refused(&cert, &missing, "missing.pem");
    let garbage = pems.write("garbage.pem", "not a certificate\n");
    refused(&garbage, &key, "no certificate");
    refused(&cert, &garbage, "garbage.pem");
    // The key of another pair does not fit the certificate.
    refused(&cert, &pems.path("other-key.pem"), "does not fit");
    // A certificate where the key should be.
    refused(&cert, &cert, "cert.pem");
    // From the environment's variables, the same checks.
    let config = Config::from_lookup(|name| match name {
        "VOLLEY_LISTEN" => Some("127.0.0.1:0".into()),
        "VOLLEY_TLS_CERT" => Some(cert.to_str().unwrap().into()),
        "VOLLEY_TLS_KEY" => Some(garbage.to_str().unwrap().into()),
        _ => None,
    })
    .unwrap();
    assert!(Server::builder().config(config).listen().is_err());
}

/// A connection handed to the application over TLS ([`ServerBuilder::http_handoff`] with the
/// tokio feature) is read and written through its session: an axum router on the application's
/// runtime answers a request and echoes a 1 MB body to a rustls client trusting the test CA,
/// and Socket.IO keeps serving on the same port.
#[cfg(feature = "tokio")]
#[test]
fn a_connection_handed_to_the_application_keeps_its_tls_session() {
    use axum::routing::{get, post};
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use volley::rustls;
    use volley::rustls::pki_types::pem::PemObject;

    let pems = Pems::new("handoff");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tokio_handle = runtime.handle().clone();
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello from axum" }))
        .route("/echo", post(|body: String| async move { body }));
    let server = serve(
        Server::builder()
            .tls(pems.path("cert.pem"), pems.path("key.pem"))
            .http_handoff(move |conn| {
                let app = app.clone();
                tokio_handle.spawn(async move {
                    let io = TokioIo::new(conn.into_stream()?);
                    hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(io, TowerToHyperService::new(app))
                        .await
                        .map_err(std::io::Error::other)
                });
            }),
    );
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(pems.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let exchange = |request: &[u8]| -> String {
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(client.clone(), name).unwrap();
        let sock = TcpStream::connect(server.local_addr()).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(request).unwrap();
        let mut answer = Vec::new();
        // The application closes after its answer (no keep-alive).
        let _ = tls.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let hello = exchange(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(hello.starts_with("HTTP/1.1 200"), "{hello}");
    assert!(hello.ends_with("hello from axum"), "{hello}");
    let body = "0123456789abcdef".repeat(65_536);
    let echo = exchange(
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert!(
        echo.starts_with("HTTP/1.1 200"),
        "{}",
        &echo[..echo.len().min(200)]
    );
    assert!(echo.ends_with(&body), "the 1 MB body came back whole");
    stock_client(&pems, &server);
    server.shutdown();
}
