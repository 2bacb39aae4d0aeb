//! TLS on a connection's byte stream (rustls, with the `tls` cargo feature): what the socket
//! delivers is decrypted before the HTTP and WebSocket parsers see it, and what the connection
//! queued is sealed into records before the backend writes them. The layers above never know
//! whether a connection is encrypted; without the feature every type here is empty and each
//! connection's `Option<Box<Tls>>` is always `None`.

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::config::RuntimeConfig;
use crate::runtime::outq::OutQueue;

#[cfg(feature = "tls")]
pub(crate) use with_tls::{Tls, TlsConfig};
#[cfg(not(feature = "tls"))]
pub(crate) use without_tls::{Tls, TlsConfig};

/// The TLS configuration `config` asks for: [`Config::tls_config`] as given, or one made from
/// the PEM files [`Config::tls_cert`] and [`Config::tls_key`]; `None` for plain TCP. A file that
/// cannot be read, holds no certificate or no key, or a key that does not match the
/// certificate, is an `InvalidInput` error naming the file.
pub(crate) fn load(config: &RuntimeConfig) -> io::Result<Option<Arc<TlsConfig>>> {
    #[cfg(feature = "tls")]
    if let Some(c) = &config.tls_config {
        return Ok(Some(c.clone()));
    }
    match (&config.tls_cert, &config.tls_key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => from_pem_files(cert, key).map(|c| Some(Arc::new(c))),
        (Some(_), None) => Err(invalid("a TLS certificate without a key (VOLLEY_TLS_KEY)")),
        (None, Some(_)) => Err(invalid("a TLS key without a certificate (VOLLEY_TLS_CERT)")),
    }
}

/// The queue a connection's socket is written from: its TLS records, or its plaintext queue on
/// a plain connection (wherever the connection is: in a worker or moving between two).
pub(crate) fn wire<'a>(outq: &'a mut OutQueue, tls: &'a mut Option<Box<Tls>>) -> &'a mut OutQueue {
    match tls {
        Some(tls) => tls.out(),
        None => outq,
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

#[cfg(not(feature = "tls"))]
fn from_pem_files(_cert: &Path, _key: &Path) -> io::Result<TlsConfig> {
    Err(invalid(
        "TLS is configured but volley was built without its `tls` feature",
    ))
}

#[cfg(feature = "tls")]
fn from_pem_files(cert: &Path, key: &Path) -> io::Result<TlsConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let named = |path: &Path, e: &dyn std::fmt::Display| {
        invalid(format!("TLS file {}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| named(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| named(cert, &e))?;
    if chain.is_empty() {
        return Err(named(cert, &"no certificate in it"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| named(key, &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| named(key, &format!("does not fit the certificate: {e}")))?;
    // Volley speaks HTTP/1.1 only; a client that offers h2 as well gets HTTP/1.1.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

#[cfg(feature = "tls")]
mod with_tls {
    use std::io::{self, Read};
    use std::sync::Arc;

    use bytes::Bytes;
    use rustls::ServerConnection;

    use crate::runtime::outq::OutQueue;

    /// The server's TLS settings (certificate, versions, ALPN).
    pub(crate) type TlsConfig = rustls::ServerConfig;

    /// One connection's TLS session and the records it made that the socket has not taken.
    pub(crate) struct Tls {
        conn: ServerConnection,
        /// Records for the peer, in order: what the backend writes instead of the plaintext
        /// queue.
        out: OutQueue,
        /// A `close_notify` was queued.
        closed: bool,
    }

    impl Tls {
        /// A fresh server session.
        pub fn new(config: &Arc<TlsConfig>) -> io::Result<Box<Tls>> {
            let mut conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
            // The connection bounds what it queues (`max_buffered`); rustls need not.
            conn.set_buffer_limit(None);
            Ok(Box::new(Tls {
                conn,
                out: OutQueue::new(),
                closed: false,
            }))
        }

        /// Decrypts all of `data`, appending the plaintext to `plain`. Records the peer must
        /// get (handshake, alerts) are queued in `out`. An error means the peer broke TLS: the
        /// alert is queued and the connection must close once it is written.
        pub fn decrypt(&mut self, mut data: &[u8], plain: &mut Vec<u8>) -> Result<(), TlsError> {
            while !data.is_empty() {
                if let Err(e) = self.conn.read_tls(&mut data) {
                    return Err(TlsError(e.to_string()));
                }
                let state = match self.conn.process_new_packets() {
                    Ok(state) => state,
                    Err(e) => {
                        self.collect();
                        return Err(TlsError(e.to_string()));
                    }
                };
                let n = state.plaintext_bytes_to_read();
                if n > 0 {
                    let start = plain.len();
                    plain.resize(start + n, 0);
                    if let Err(e) = self.conn.reader().read_exact(&mut plain[start..]) {
                        plain.truncate(start);
                        return Err(TlsError(e.to_string()));
                    }
                }
            }
            self.collect();
            Ok(())
        }

        /// Encrypts everything `plain` holds into records queued in `out` (before the
        /// handshake completes, rustls keeps it and releases it as records once it has).
        pub fn seal(&mut self, plain: &mut OutQueue) {
            if !plain.is_empty() && !self.closed {
                // Without a buffer limit the writer takes every byte it is offered.
                if plain.flush_to(&mut self.conn.writer()).is_err() {
                    plain.clear();
                }
            }
            self.collect();
        }

        /// Queues a `close_notify` (once); false if one was queued before.
        pub fn close_notify(&mut self) -> bool {
            if std::mem::replace(&mut self.closed, true) {
                return false;
            }
            self.conn.send_close_notify();
            self.collect();
            true
        }

        /// Moves the records rustls holds into `out`.
        fn collect(&mut self) {
            while self.conn.wants_write() {
                let mut records = Vec::new();
                match self.conn.write_tls(&mut records) {
                    Ok(n) if n > 0 => self.out.push_shared(Bytes::from(records)),
                    _ => break,
                }
            }
        }

        /// The records waiting for the socket.
        pub fn out(&mut self) -> &mut OutQueue {
            &mut self.out
        }

        /// Bytes of records waiting for the socket.
        pub fn queued_bytes(&self) -> usize {
            self.out.queued_bytes()
        }

        /// Memory the records waiting for the socket hold (see [`OutQueue::footprint`]).
        pub fn footprint(&self) -> usize {
            self.out.footprint()
        }

        /// The session, for a connection given to the application.
        pub fn into_connection(self) -> ServerConnection {
            self.conn
        }
    }

    /// Why a peer's TLS input was refused.
    #[derive(Debug)]
    pub(crate) struct TlsError(pub String);
}

#[cfg(not(feature = "tls"))]
mod without_tls {
    use std::io;
    use std::sync::Arc;

    use crate::runtime::outq::OutQueue;

    /// No TLS settings exist without the `tls` feature.
    #[derive(Debug)]
    pub(crate) enum TlsConfig {}

    /// No TLS session exists without the `tls` feature.
    pub(crate) enum Tls {}

    /// Never made.
    #[derive(Debug)]
    pub(crate) struct TlsError(pub String);

    impl Tls {
        pub fn new(config: &Arc<TlsConfig>) -> io::Result<Box<Tls>> {
            match **config {}
        }

        pub fn decrypt(&mut self, _data: &[u8], _plain: &mut Vec<u8>) -> Result<(), TlsError> {
            match *self {}
        }

        pub fn seal(&mut self, _plain: &mut OutQueue) {
            match *self {}
        }

        pub fn close_notify(&mut self) -> bool {
            match *self {}
        }

        pub fn out(&mut self) -> &mut OutQueue {
            match *self {}
        }

        pub fn queued_bytes(&self) -> usize {
            match *self {}
        }

        pub fn footprint(&self) -> usize {
            match *self {}
        }
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore};

    use super::{Tls, TlsConfig};
    use crate::runtime::outq::OutQueue;

    /// A server configuration for a self-signed `localhost` certificate, and a client
    /// configuration trusting it.
    fn configs() -> (Arc<TlsConfig>, Arc<ClientConfig>) {
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let der = CertificateDer::from(cert.der().to_vec());
        let key = PrivateKeyDer::try_from(key_pair.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = TlsConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(der).unwrap();
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// Moves the client's records to the server `chunk` bytes at a time, and the server's
    /// records back, until neither has anything to say; returns the plaintext the server got
    /// and the plaintext the client got.
    fn exchange(
        client: &mut ClientConnection,
        server: &mut Tls,
        chunk: usize,
    ) -> (Vec<u8>, Vec<u8>) {
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        loop {
            let mut records = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut records).unwrap();
            }
            for piece in records.chunks(chunk) {
                server.decrypt(piece, &mut to_server).unwrap();
            }
            let mut back = Vec::new();
            server.out().flush_to(&mut back).unwrap();
            if records.is_empty() && back.is_empty() {
                return (to_server, to_client);
            }
            let mut slice = back.as_slice();
            while !slice.is_empty() {
                client.read_tls(&mut slice).unwrap();
                client.process_new_packets().unwrap();
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = client.reader().read(&mut buf) {
                    to_client.extend_from_slice(&buf[..n]);
                }
            }
        }
    }

    #[test]
    fn bytes_cross_in_both_directions_however_the_input_is_split() {
        let (server_config, client_config) = configs();
        for chunk in [1, 7, 100, 16 * 1024 + 5, usize::MAX] {
            let mut server = Tls::new(&server_config).unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let mut client = ClientConnection::new(client_config.clone(), name).unwrap();
            // Written before the handshake: the server gets it once the handshake is done.
            client
                .writer()
                .write_all(b"GET / HTTP/1.1\r\n\r\n")
                .unwrap();
            let (got, _) = exchange(&mut client, &mut server, chunk);
            assert_eq!(got, b"GET / HTTP/1.1\r\n\r\n", "chunk {chunk}");
            // The server's queue, sealed: many small pieces and one large shared one.
            let mut outq = OutQueue::new();
            let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            for i in 0..50u8 {
                outq.push_copy(&[i; 10]);
            }
            outq.push_shared(bytes::Bytes::from(large.clone()));
            server.seal(&mut outq);
            assert!(outq.is_empty(), "everything sealed");
            assert!(
                server.queued_bytes() > large.len(),
                "records carry overhead"
            );
            let (_, received) = exchange(&mut client, &mut server, chunk);
            let mut expected: Vec<u8> = (0..50u8).flat_map(|i| [i; 10]).collect();
            expected.extend_from_slice(&large);
            assert_eq!(received.len(), expected.len(), "chunk {chunk}");
            assert!(received == expected, "chunk {chunk}: bytes differ");
        }
    }

    #[test]
    fn garbage_is_refused_with_an_alert() {
        let (server_config, _) = configs();
        let mut server = Tls::new(&server_config).unwrap();
        let mut plain = Vec::new();
        let err = server
            .decrypt(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &mut plain)
            .unwrap_err();
        assert!(!err.0.is_empty());
        assert!(plain.is_empty());
        let mut alert = Vec::new();
        server.out().flush_to(&mut alert).unwrap();
        assert_eq!(alert.first(), Some(&21), "a TLS alert record: {alert:?}");
    }

    #[test]
    fn close_notify_is_queued_once() {
        let (server_config, _) = configs();
        let mut server = Tls::new(&server_config).unwrap();
        assert!(server.close_notify());
        assert!(!server.close_notify());
    }
}
