//! TLS for `wss://` and `https://` targets (rustls with its default provider, aws-lc-rs): the client
//! configuration built from `--tls-ca` or `--tls-insecure`, and the layer each TLS connection
//! puts between its non-blocking socket and the plaintext the protocol code reads and writes.
//!
//! Reading: what the socket has is read into the loop's buffer until it would block, handed to
//! rustls (`read_tls` from that slice, `process_new_packets`) and the plaintext appended to the
//! connection's input, which the existing parsers consume as before. Writing: queued TLS records
//! go out first (`write_tls` until it would block), then the protocol's pending plaintext goes
//! through `writer()` (rustls takes up to 64 KiB of records at a time) and is advanced by what
//! was taken, so bytes keep their order and a partial write resumes where it stopped.
//!
//! Every connection makes a full handshake (no session resumption), as that many distinct
//! clients would.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::failure::Failure;

/// Which server certificates are accepted.
#[derive(Clone, Copy, Debug)]
pub enum Trust<'a> {
    /// Chains to one of the CA certificates in this PEM file, for the URL's host.
    Roots(&'a Path),
    /// Any certificate (the handshake signature is still checked): benchmarks only.
    Insecure,
}

/// The TLS settings for a run: `None` for `ws://` and `http://` URLs. Refuses TLS options on a
/// plain URL, and a TLS URL with neither `--tls-ca` nor `--tls-insecure`.
pub fn for_target(
    url: &str,
    tls_name: Option<&str>,
    ca: Option<&Path>,
    insecure: bool,
) -> Result<Option<Connector>, String> {
    let Some(name) = tls_name else {
        if ca.is_some() || insecure {
            return Err(format!(
                "{url:?}: --tls-ca and --tls-insecure need a wss:// or https:// URL"
            ));
        }
        return Ok(None);
    };
    let trust = match (ca, insecure) {
        (Some(_), true) => return Err("give --tls-ca or --tls-insecure, not both".into()),
        (Some(path), false) => Trust::Roots(path),
        (None, true) => Trust::Insecure,
        (None, false) => {
            return Err(format!(
                "{url:?}: TLS needs --tls-ca FILE (PEM: the CA that signed the server's \
                 certificate) or --tls-insecure (no verification, benchmarks only)"
            ))
        }
    };
    Connector::new(name, trust).map(Some)
}

/// Starts the TLS side of each connection to one server: the shared client configuration and
/// the server name (SNI, and the name the certificate must carry).
#[derive(Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector for `server_name` (a DNS name or an IP address) trusting `trust`.
    pub fn new(server_name: &str, trust: Trust<'_>) -> Result<Self, String> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| format!("{server_name:?} cannot be a TLS server name: {e}"))?;
        let provider = Arc::new(provider());
        let algorithms = provider.signature_verification_algorithms;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?;
        let mut config = match trust {
            Trust::Roots(path) => builder
                .with_root_certificates(load_roots(path)?)
                .with_no_client_auth(),
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(algorithms)))
                .with_no_client_auth(),
        };
        config.resumption = Resumption::disabled();
        Ok(Self {
            config: Arc::new(config),
            name,
        })
    }

    /// The TLS layer of a new connection; its ClientHello is queued.
    pub fn connect(&self) -> Result<TlsLayer, Failure> {
        ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map(|conn| TlsLayer { conn })
            .map_err(|e| Failure::Connect(format!("tls: {e}")))
    }
}

/// rustls's default provider, aws-lc-rs, as the server uses (ring's is deprecated in rustls
/// 0.23.48 for lacking post-quantum key exchange). Named explicitly, so a build that also has
/// another provider compiled in still works.
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Reads every certificate of a PEM file into a root store.
fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let what = |e: &dyn fmt::Display| format!("--tls-ca {}: {e}", path.display());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| what(&e))? {
        roots
            .add(cert.map_err(|e| what(&e))?)
            .map_err(|e| what(&e))?;
    }
    if roots.is_empty() {
        return Err(what(
            &"no certificate in it (expected PEM CERTIFICATE blocks)",
        ));
    }
    Ok(roots)
}

/// `--tls-insecure`: any chain for any name; the handshake signature is still verified, so the
/// server proves it holds the certificate's key and the client's work matches a real client's.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Plaintext waiting to be written, consumed from the front.
pub trait Outgoing {
    /// Bytes not yet written, if any (never an empty slice).
    fn pending(&self) -> Option<&[u8]>;
    /// The first `n` bytes of [`pending`](Self::pending) were taken.
    fn advance(&mut self, n: usize);
}

/// How far the handshake got.
#[derive(Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Waiting for the server (or for the socket to take our records).
    Pending,
    /// Complete: application data may flow. `eof`: the server closed the connection right
    /// after (what it sent before is in the input).
    Done {
        /// The server closed the connection.
        eof: bool,
    },
}

/// One connection's TLS state.
pub struct TlsLayer {
    conn: ClientConnection,
}

impl TlsLayer {
    /// Advances the handshake on a connected socket: sends what is queued, reads what came.
    /// Call it once the TCP connect completed and on every event until it says `Done`. The
    /// client's last handshake record stays queued and leaves with the first
    /// [`flush`](Self::flush), in the same write as the first request.
    pub fn handshake<S: Read + Write>(
        &mut self,
        sock: &mut S,
        buf: &mut [u8],
        input: &mut Vec<u8>,
    ) -> Result<Handshake, Failure> {
        self.send(sock)?;
        let eof = self.receive(sock, buf, input)?;
        if !self.conn.is_handshaking() {
            return Ok(Handshake::Done { eof });
        }
        if eof {
            return Err(Failure::Connect(
                "tls: the server closed the connection during the handshake".into(),
            ));
        }
        // What the server's flight asked for (TLS 1.2: key exchange and Finished).
        self.send(sock)?;
        Ok(Handshake::Pending)
    }

    /// Reads until the socket would block, appending the plaintext to `input`; `Ok(true)` when
    /// the server closed the connection (TCP end of stream or TLS close_notify).
    pub fn read_into<S: Read + Write>(
        &mut self,
        sock: &mut S,
        buf: &mut [u8],
        input: &mut Vec<u8>,
    ) -> Result<bool, Failure> {
        self.receive(sock, buf, input)
    }

    /// Writes queued TLS records, then `out`'s plaintext through rustls, until everything is
    /// written or the socket would block.
    pub fn flush<S: Write, O: Outgoing + ?Sized>(
        &mut self,
        sock: &mut S,
        out: &mut O,
    ) -> Result<(), Failure> {
        loop {
            if !self.send(sock)? {
                return Ok(());
            }
            let Some(bytes) = out.pending() else {
                return Ok(());
            };
            let n = self
                .conn
                .writer()
                .write(bytes)
                .map_err(|e| Failure::Closed(format!("tls: {e}")))?;
            if n == 0 {
                return Err(Failure::Closed(
                    "tls: the connection takes no more data".into(),
                ));
            }
            out.advance(n);
        }
    }

    /// Whether the handshake is still going on.
    #[cfg(test)]
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Writes queued TLS records: `Ok(true)` when none is left, `Ok(false)` when the socket
    /// would block.
    fn send<S: Write>(&mut self, sock: &mut S) -> Result<bool, Failure> {
        while self.conn.wants_write() {
            match self.conn.write_tls(sock) {
                Ok(0) => return Err(Failure::Closed("write returned 0".into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Closed(e.to_string())),
            }
        }
        Ok(true)
    }

    fn receive<S: Read + Write>(
        &mut self,
        sock: &mut S,
        buf: &mut [u8],
        input: &mut Vec<u8>,
    ) -> Result<bool, Failure> {
        loop {
            let n = match sock.read(buf) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Closed(e.to_string())),
            };
            let mut data = buf.get(..n).unwrap_or_default();
            while !data.is_empty() {
                // Reading from a slice takes at most one record's worth and advances it.
                match self.conn.read_tls(&mut data) {
                    Ok(0) => return Ok(true), // after the server's close_notify
                    Ok(_) => {}
                    Err(e) => return Err(Failure::Protocol(format!("tls: {e}"))),
                }
                let handshaking = self.conn.is_handshaking();
                let state = match self.conn.process_new_packets() {
                    Ok(state) => state,
                    Err(e) => {
                        // Tell the server why (the alert rustls queued), if the socket takes it.
                        let _ = self.conn.write_tls(sock);
                        return Err(if handshaking {
                            Failure::Connect(format!("tls: {e}"))
                        } else {
                            Failure::Protocol(format!("tls: {e}"))
                        });
                    }
                };
                self.take_plaintext(input)?;
                if state.peer_has_closed() {
                    return Ok(true);
                }
            }
        }
    }

    /// Moves the decrypted bytes to `input`.
    fn take_plaintext(&mut self, input: &mut Vec<u8>) -> Result<(), Failure> {
        let mut reader = self.conn.reader();
        loop {
            let n = match reader.fill_buf() {
                Ok([]) => return Ok(()),
                Ok(chunk) => {
                    input.extend_from_slice(chunk);
                    chunk.len()
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(())
                }
                Err(e) => return Err(Failure::Closed(format!("tls: {e}"))),
            };
            reader.consume(n);
        }
    }
}

#[cfg(test)]
mod tests;
