//! A handed connection as a tokio stream (the `tokio` feature): the bytes Volley already read,
//! then the socket's, decrypted through the connection's TLS session when it has one (the
//! `tls` feature), so that an application's own HTTP server (hyper, axum) serves it as it is.

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection [`ServerBuilder::http_handoff`] gave away, as a tokio
/// [`AsyncRead`] + [`AsyncWrite`] stream (the `tokio` feature); made by the connection's
/// `into_stream` or [`HandedStream::new`].
///
/// Reads return the bytes Volley already read (the connection's `read`) first, then the
/// socket's. Over TLS (the `tls` feature, with the connection's `tls` session) the socket
/// carries TLS records: reads return their plaintext and writes are encrypted, as with
/// `tokio-rustls`.
///
/// - A write may keep up to rustls's buffer limit of encrypted bytes (64 KiB by default) that
///   the socket did not take yet; [`poll_flush`](AsyncWrite::poll_flush) writes them out.
///   Hyper flushes after each response.
/// - [`poll_shutdown`](AsyncWrite::poll_shutdown) sends TLS's `close_notify` alert, writes
///   what is pending and shuts down the socket's writing half; later writes fail with
///   `BrokenPipe`.
/// - Reads end (return no bytes) when the peer closes the socket, and over TLS when it sends
///   `close_notify` or closes the socket without one: the application protocol finds out
///   whether its message was whole (hyper reports a body shorter than its `Content-Length` as
///   an error).
/// - Bytes that are not valid TLS records for the session fail the read with
///   [`io::ErrorKind::InvalidData`] (the rustls error inside), after rustls's alert was sent
///   to the peer if the socket took it at once; every later read and write fails the same way.
///
/// [`ServerBuilder::http_handoff`]: super::ServerBuilder::http_handoff
pub struct HandedStream {
    /// The bytes Volley read, replayed from `at` on; emptied once replayed.
    read: Vec<u8>,
    at: usize,
    stream: tokio::net::TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<Box<TlsSession>>,
}

impl HandedStream {
    /// Makes the stream from the parts of a [`HandedConnection`]: its socket (set
    /// non-blocking here and registered with the current tokio runtime, through
    /// [`tokio::net::TcpStream::from_std`]), the bytes already `read` (plaintext, read before
    /// the socket) and, with the `tls` feature, its TLS session (`None`: the socket carries
    /// plaintext).
    ///
    /// Call it inside a tokio runtime context, e.g. in the task spawned to serve the
    /// connection: outside of one it returns an error (kind [`io::ErrorKind::Other`]).
    ///
    /// # Errors
    ///
    /// When there is no current runtime, or the socket cannot be set non-blocking or
    /// registered.
    ///
    /// # Panics
    ///
    /// When the current runtime was built without its I/O driver (a `Builder` without
    /// `enable_io` or `enable_all`), as [`tokio::net::TcpStream::from_std`] does.
    ///
    /// [`HandedConnection`]: super::HandedConnection
    pub fn new(
        stream: TcpStream,
        read: Vec<u8>,
        #[cfg(feature = "tls")] tls: Option<rustls::ServerConnection>,
    ) -> io::Result<HandedStream> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "HandedStream::new needs a tokio runtime context (call it in a task)",
            ));
        }
        stream.set_nonblocking(true)?;
        let stream = tokio::net::TcpStream::from_std(stream)?;
        Ok(HandedStream {
            read,
            at: 0,
            stream,
            #[cfg(feature = "tls")]
            tls: tls.map(|conn| {
                Box::new(TlsSession {
                    conn,
                    failed: false,
                    closed: false,
                })
            }),
        })
    }

    /// The socket, e.g. for its `peer_addr` or `set_nodelay`. Reading or writing it directly
    /// would bypass the bytes already read and, over TLS, the session.
    pub fn tcp_stream(&self) -> &tokio::net::TcpStream {
        &self.stream
    }

    /// The connection's TLS session (the `tls` feature), e.g. for the server name the client
    /// asked for (`server_name`) or the protocol it chose (`alpn_protocol`); `None` when the
    /// socket carries plaintext.
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&rustls::ServerConnection> {
        self.tls.as_deref().map(|session| &session.conn)
    }

    /// Copies what is left of the bytes Volley read into `buf`; false when none is left.
    fn replay(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let rest = &self.read[self.at..];
        if rest.is_empty() {
            return false;
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        self.at += n;
        if self.at == self.read.len() {
            // Replayed: its memory goes back now rather than with the connection.
            self.read = Vec::new();
            self.at = 0;
        }
        true
    }
}

impl fmt::Debug for HandedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HandedStream");
        d.field("stream", &self.stream)
            .field("unread_prefix", &(self.read.len() - self.at));
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.finish()
    }
}

impl AsyncRead for HandedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 || this.replay(buf) {
            return Poll::Ready(Ok(()));
        }
        #[cfg(feature = "tls")]
        if let Some(session) = this.tls.as_deref_mut() {
            return session.poll_read(&mut this.stream, cx, buf);
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for HandedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        #[cfg(feature = "tls")]
        if let Some(session) = this.tls.as_deref_mut() {
            return session.poll_write(&mut this.stream, cx, buf);
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        #[cfg(feature = "tls")]
        if let Some(session) = this.tls.as_deref_mut() {
            return session.poll_flush(&mut this.stream, cx);
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        #[cfg(feature = "tls")]
        if let Some(session) = this.tls.as_deref_mut() {
            return session.poll_shutdown(&mut this.stream, cx);
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// The TLS session of a handed connection and what became of it.
#[cfg(feature = "tls")]
struct TlsSession {
    conn: rustls::ServerConnection,
    /// Records that did not verify or parse: reads and writes fail from then on.
    failed: bool,
    /// `close_notify` was queued (`poll_shutdown`): writes fail from then on.
    closed: bool,
}

/// The socket as blocking-style `Read`/`Write` for rustls, inside a poll: a `Pending` socket
/// (its waker registered with `cx`) reads as `WouldBlock`.
#[cfg(feature = "tls")]
struct SyncIo<'a, 'b> {
    stream: &'a mut tokio::net::TcpStream,
    cx: &'a mut Context<'b>,
}

#[cfg(feature = "tls")]
impl io::Read for SyncIo<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut *self.stream).poll_read(self.cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

#[cfg(feature = "tls")]
impl io::Write for SyncIo<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.stream).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.stream).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// The error of every read and write after the session failed.
#[cfg(feature = "tls")]
fn failed_session() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "the TLS session failed earlier")
}

#[cfg(feature = "tls")]
impl TlsSession {
    /// Writes the encrypted bytes rustls holds until none is left (`Ok`) or the socket is full
    /// (`WouldBlock`, its waker registered).
    fn write_pending(&mut self, io: &mut SyncIo<'_, '_>) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(io)? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    fn poll_read(
        &mut self,
        stream: &mut tokio::net::TcpStream,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.failed {
            return Poll::Ready(Err(failed_session()));
        }
        let mut io = SyncIo { stream, cx };
        // Each turn returns, or read bytes from the socket (which tokio's cooperative budget
        // bounds): no turn spins without progress.
        loop {
            // Plaintext rustls decrypted already, then the end of the stream.
            match io::Read::read(&mut self.conn.reader(), buf.initialize_unfilled()) {
                // 0: the peer sent close_notify.
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without close_notify: the end of the stream too.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
            }
            // More records. 0 bytes (the socket's end) shows in the reader on the next turn.
            match self.conn.read_tls(&mut io) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Err(err) = self.conn.process_new_packets() {
                // rustls queued an alert that tells the peer why: a last try to send it, the
                // error being the one to report.
                self.failed = true;
                let _ = self.write_pending(&mut io);
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, err)));
            }
            // What the records call for (a TLS 1.3 key update's answer) goes now if the socket
            // takes it, or with the next write or flush.
            match self.write_pending(&mut io) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                    return Poll::Ready(Err(e));
                }
                _ => {}
            }
        }
    }

    fn poll_write(
        &mut self,
        stream: &mut tokio::net::TcpStream,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.failed {
            return Poll::Ready(Err(failed_session()));
        }
        if self.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the stream was shut down",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut io = SyncIo { stream, cx };
        let mut taken = 0;
        // Each turn writes bytes to the socket, takes bytes into rustls, or returns.
        loop {
            // What rustls holds goes first, so that it keeps at most its buffer limit.
            match self.write_pending(&mut io) {
                Ok(()) => {}
                // What was taken is encrypted and goes with the next write or flush.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return match taken {
                        0 => Poll::Pending,
                        _ => Poll::Ready(Ok(taken)),
                    };
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
            if taken == buf.len() {
                return Poll::Ready(Ok(taken));
            }
            // rustls encrypts as much as its buffer limit allows.
            match io::Write::write(&mut self.conn.writer(), &buf[taken..]) {
                Ok(0) if !self.conn.wants_write() => {
                    // Nothing taken with nothing to send: it would take nothing next time.
                    return Poll::Ready(match taken {
                        0 => Err(io::ErrorKind::WriteZero.into()),
                        _ => Ok(taken),
                    });
                }
                Ok(n) => taken += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(
        &mut self,
        stream: &mut tokio::net::TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut io = SyncIo { stream, cx };
        match self.write_pending(&mut io) {
            Ok(()) => Pin::new(&mut *io.stream).poll_flush(io.cx),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(
        &mut self,
        stream: &mut tokio::net::TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.closed && !self.failed {
            self.conn.send_close_notify();
        }
        self.closed = true;
        match self.poll_flush(stream, cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match Pin::new(stream).poll_shutdown(cx) {
            // A socket the peer reset has no writing half to shut.
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::{poll_fn, Future};
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener};
    use std::time::Duration;

    use super::*;

    /// Long enough for any step on a loaded machine; a hang fails the test instead.
    const LIMIT: Duration = Duration::from_secs(20);

    /// Runs `f` on a runtime of this thread, failing after `LIMIT`.
    fn run<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { tokio::time::timeout(LIMIT, f).await.expect("timed out") })
    }

    /// A connected pair on 127.0.0.1: (server side, client side), both blocking.
    fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.set_read_timeout(Some(LIMIT)).unwrap();
        client.set_write_timeout(Some(LIMIT)).unwrap();
        (server, client)
    }

    #[cfg(not(feature = "tls"))]
    fn handed(stream: TcpStream, read: &[u8]) -> io::Result<HandedStream> {
        HandedStream::new(stream, read.to_vec())
    }

    #[cfg(feature = "tls")]
    fn handed(stream: TcpStream, read: &[u8]) -> io::Result<HandedStream> {
        HandedStream::new(stream, read.to_vec(), None)
    }

    /// One read into a buffer of `cap` bytes.
    async fn read_some(s: &mut HandedStream, cap: usize) -> io::Result<Vec<u8>> {
        let mut space = vec![0; cap];
        let mut buf = ReadBuf::new(&mut space);
        poll_fn(|cx| Pin::new(&mut *s).poll_read(cx, &mut buf)).await?;
        let n = buf.filled().len();
        space.truncate(n);
        Ok(space)
    }

    /// Reads until the stream ends.
    async fn read_to_end(s: &mut HandedStream) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        loop {
            let chunk = read_some(s, 8192).await?;
            if chunk.is_empty() {
                return Ok(all);
            }
            all.extend_from_slice(&chunk);
        }
    }

    /// Reads exactly `n` bytes.
    async fn read_exact(s: &mut HandedStream, n: usize) -> io::Result<Vec<u8>> {
        let mut all = Vec::with_capacity(n);
        while all.len() < n {
            let chunk = read_some(s, (n - all.len()).min(20_000)).await?;
            if chunk.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }

    async fn write_all(s: &mut HandedStream, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            // Uneven pieces, as an application writes them.
            let piece = &data[..data.len().min(50_000)];
            let n = poll_fn(|cx| Pin::new(&mut *s).poll_write(cx, piece)).await?;
            assert!(n > 0, "a write took nothing");
            data = &data[n..];
        }
        Ok(())
    }

    async fn flush(s: &mut HandedStream) -> io::Result<()> {
        poll_fn(|cx| Pin::new(&mut *s).poll_flush(cx)).await
    }

    async fn shutdown(s: &mut HandedStream) -> io::Result<()> {
        poll_fn(|cx| Pin::new(&mut *s).poll_shutdown(cx)).await
    }

    /// `len` bytes that tell misplaced or missing ones.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ seed ^ (i / 251) as u8)
            .collect()
    }

    #[test]
    fn the_prefix_is_read_before_the_socket() {
        let (server, mut client) = socket_pair();
        client.write_all(b" world").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        run(async move {
            let mut s = handed(server, b"hello").unwrap();
            // A small buffer takes the prefix in pieces.
            assert_eq!(read_some(&mut s, 3).await.unwrap(), b"hel");
            assert_eq!(read_some(&mut s, 3).await.unwrap(), b"lo");
            assert_eq!(read_to_end(&mut s).await.unwrap(), b" world");
            // The end stays the end.
            assert!(read_some(&mut s, 10).await.unwrap().is_empty());
            write_all(&mut s, b"answer").await.unwrap();
            flush(&mut s).await.unwrap();
            shutdown(&mut s).await.unwrap();
        });
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"answer");
    }

    #[test]
    fn an_empty_prefix_reads_the_socket_and_a_large_transfer_goes_both_ways() {
        let (server, mut client) = socket_pair();
        let up = pattern(3 << 20, 1);
        let down = pattern(3 << 20, 2);
        let (up2, down2) = (up.clone(), down.clone());
        let peer = std::thread::spawn(move || {
            client.write_all(&up2).unwrap();
            let mut got = vec![0; down2.len()];
            client.read_exact(&mut got).unwrap();
            assert!(got == down2, "the server's bytes arrived changed");
            client.shutdown(Shutdown::Write).unwrap();
        });
        run(async move {
            let mut s = handed(server, b"").unwrap();
            let got = read_exact(&mut s, up.len()).await.unwrap();
            assert!(got == up, "the client's bytes arrived changed");
            write_all(&mut s, &down).await.unwrap();
            flush(&mut s).await.unwrap();
            assert!(
                read_some(&mut s, 10).await.unwrap().is_empty(),
                "EOF reads 0"
            );
        });
        peer.join().unwrap();
    }

    #[test]
    fn the_stream_moves_to_spawned_tasks() {
        fn spawnable<T: Send + Sync + Unpin + 'static>() {}
        spawnable::<HandedStream>();
    }

    #[test]
    fn outside_a_runtime_the_constructor_fails_without_panicking() {
        let (server, _client) = socket_pair();
        let err = handed(server, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
    }

    #[cfg(feature = "tls")]
    mod tls {
        use std::sync::Arc;

        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        use rustls::{
            ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection,
        };

        use super::*;

        /// A server config with a fresh self-signed certificate for `localhost` and a client
        /// config that trusts it, both limited to `versions`.
        fn configs(
            versions: &[&'static rustls::SupportedProtocolVersion],
        ) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
            // The provider is the one the crate's rustls features choose.
            let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
            let cert = certified.cert.der().clone();
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
            let server = ServerConfig::builder_with_protocol_versions(versions)
                .with_no_client_auth()
                .with_single_cert(vec![cert.clone()], key)
                .unwrap();
            let mut roots = RootCertStore::empty();
            roots.add(cert).unwrap();
            let client = ClientConfig::builder_with_protocol_versions(versions)
                .with_root_certificates(roots)
                .with_no_client_auth();
            (Arc::new(server), Arc::new(client))
        }

        type Client = rustls::StreamOwned<ClientConnection, TcpStream>;

        /// A TLS session over a real socket pair, its handshake done on both sides: the
        /// server's socket and session (as Volley hands them over) and the client.
        fn tls_pair(
            versions: &[&'static rustls::SupportedProtocolVersion],
        ) -> (TcpStream, ServerConnection, Client) {
            let (server_config, client_config) = configs(versions);
            let (mut server, mut client) = socket_pair();
            server.set_read_timeout(Some(LIMIT)).unwrap();
            let peer = std::thread::spawn(move || {
                let name = "localhost".try_into().unwrap();
                let mut conn = ClientConnection::new(client_config, name).unwrap();
                while conn.is_handshaking() {
                    conn.complete_io(&mut client).unwrap();
                }
                rustls::StreamOwned::new(conn, client)
            });
            let mut conn = ServerConnection::new(server_config).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut server).unwrap();
            }
            // Session tickets (TLS 1.3) and anything else queued.
            while conn.wants_write() {
                conn.write_tls(&mut server).unwrap();
            }
            server.set_read_timeout(None).unwrap();
            (server, conn, peer.join().unwrap())
        }

        const BOTH: [&[&rustls::SupportedProtocolVersion]; 2] =
            [&[&rustls::version::TLS13], &[&rustls::version::TLS12]];

        #[test]
        fn the_plaintext_prefix_comes_before_buffered_and_socket_plaintext() {
            for versions in BOTH {
                let (mut server, mut conn, mut client) = tls_pair(versions);
                client.write_all(b"buffered").unwrap();
                client.flush().unwrap();
                // Volley decrypted this record already: its plaintext waits in the session.
                server.set_read_timeout(Some(LIMIT)).unwrap();
                while conn
                    .process_new_packets()
                    .unwrap()
                    .plaintext_bytes_to_read()
                    == 0
                {
                    conn.read_tls(&mut server).unwrap();
                }
                client.write_all(b" and sent").unwrap();
                client.conn.send_close_notify();
                client.flush().unwrap();
                run(async move {
                    let mut s = HandedStream::new(server, b"read ".to_vec(), Some(conn)).unwrap();
                    assert!(s.tls().is_some());
                    let got = read_to_end(&mut s).await.unwrap();
                    assert_eq!(String::from_utf8_lossy(&got), "read buffered and sent");
                });
            }
        }

        #[test]
        fn large_transfers_go_both_ways_and_close_notify_ends_them() {
            for versions in BOTH {
                let (server, conn, mut client) = tls_pair(versions);
                let up = pattern(3 << 20, 3);
                let down = pattern((3 << 20) + 12_345, 4);
                let (up2, down2) = (up.clone(), down.clone());
                let peer = std::thread::spawn(move || {
                    client.write_all(&up2).unwrap();
                    client.flush().unwrap();
                    // Everything the server wrote, then its close_notify (read_to_end's end).
                    let mut got = Vec::new();
                    client.read_to_end(&mut got).unwrap();
                    assert!(got == down2, "the server's bytes arrived changed");
                    client.conn.send_close_notify();
                    client.flush().unwrap();
                    // The socket stays open until the server has read the close_notify.
                    client
                });
                run(async move {
                    let mut s = HandedStream::new(server, Vec::new(), Some(conn)).unwrap();
                    let got = read_exact(&mut s, up.len()).await.unwrap();
                    assert!(got == up, "the client's bytes arrived changed");
                    write_all(&mut s, &down).await.unwrap();
                    flush(&mut s).await.unwrap();
                    shutdown(&mut s).await.unwrap();
                    let err = write_all(&mut s, b"late").await.unwrap_err();
                    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
                    assert!(read_some(&mut s, 100).await.unwrap().is_empty());
                    assert!(read_some(&mut s, 100).await.unwrap().is_empty());
                });
                drop(peer.join().unwrap());
            }
        }

        #[test]
        fn close_notify_ends_reads_while_the_socket_is_open() {
            let (server, conn, mut client) = tls_pair(&[&rustls::version::TLS13]);
            client.write_all(b"last words").unwrap();
            client.conn.send_close_notify();
            client.flush().unwrap();
            run(async move {
                let mut s = HandedStream::new(server, Vec::new(), Some(conn)).unwrap();
                assert_eq!(read_to_end(&mut s).await.unwrap(), b"last words");
                // Half-closed: the server still answers.
                write_all(&mut s, b"noted").await.unwrap();
                shutdown(&mut s).await.unwrap();
            });
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"noted");
        }

        #[test]
        fn a_socket_closed_without_close_notify_ends_reads() {
            let (server, conn, mut client) = tls_pair(&[&rustls::version::TLS13]);
            client.write_all(b"cut").unwrap();
            client.flush().unwrap();
            // A FIN without close_notify (dropping the socket with the session tickets unread
            // would reset it instead).
            client.sock.shutdown(Shutdown::Write).unwrap();
            run(async move {
                let mut s = HandedStream::new(server, Vec::new(), Some(conn)).unwrap();
                assert_eq!(read_to_end(&mut s).await.unwrap(), b"cut");
                assert!(read_some(&mut s, 10).await.unwrap().is_empty());
            });
        }

        #[test]
        fn garbage_after_the_handshake_fails_both_sides_instead_of_hanging() {
            let garbage: [&[u8]; 3] = [
                // Not a TLS record at all.
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                // An application-data record that does not decrypt.
                b"\x17\x03\x03\x00\x20abcdefghijklmnopqrstuvwxyz012345",
                // A record longer than TLS allows.
                b"\x17\x03\x03\xff\xff",
            ];
            for versions in BOTH {
                for bytes in garbage {
                    let (server, conn, mut client) = tls_pair(versions);
                    client.write_all(b"valid first").unwrap();
                    client.flush().unwrap();
                    client.sock.write_all(bytes).unwrap();
                    run(async move {
                        let mut s = HandedStream::new(server, Vec::new(), Some(conn)).unwrap();
                        // What came before the garbage is read; then the error.
                        let mut got = Vec::new();
                        let err = loop {
                            match read_some(&mut s, 100).await {
                                Ok(chunk) if chunk.is_empty() => panic!("EOF, not an error"),
                                Ok(chunk) => got.extend_from_slice(&chunk),
                                Err(e) => break e,
                            }
                        };
                        assert_eq!(got, b"valid first");
                        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
                        assert!(err.get_ref().unwrap().is::<rustls::Error>(), "{err}");
                        // It stays failed.
                        let again = read_some(&mut s, 100).await.unwrap_err();
                        assert_eq!(again.kind(), io::ErrorKind::InvalidData);
                        let write = write_all(&mut s, b"x").await.unwrap_err();
                        assert_eq!(write.kind(), io::ErrorKind::InvalidData);
                        shutdown(&mut s).await.unwrap();
                    });
                    // The client learns why from rustls's alert (a hang would end in the
                    // socket's read timeout, an error of another kind).
                    let mut rest = Vec::new();
                    let err = client.read_to_end(&mut rest).unwrap_err();
                    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
                    assert!(err.to_string().contains("fatal alert"), "{err}");
                    assert!(rest.is_empty());
                }
            }
        }
    }
}
