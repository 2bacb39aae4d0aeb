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
