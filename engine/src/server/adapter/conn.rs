//! A blocking Redis connection over std TCP: the URL, connecting (with AUTH), writing commands
//! and reading replies with the sans-IO codec of [`super::resp`].

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::resp::{self, Reply};

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]` (port 6379 by default; the
/// database number is ignored, pub/sub spans every database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    /// `host:port`.
    pub addr: String,
    /// For `AUTH` (with the user name when one is given).
    pub auth: Option<(Option<String>, String)>,
}

impl RedisUrl {
    /// Parses `url`; `None` when it is not a `redis://` URL with a host.
    pub fn parse(url: &str) -> Option<RedisUrl> {
        let rest = url.trim().strip_prefix("redis://")?;
        let rest = rest.split('/').next().unwrap_or_default();
        let (auth, host) = match rest.rsplit_once('@') {
            Some((creds, host)) => {
                let (user, pass) = creds.split_once(':').unwrap_or(("", creds));
                let user = (!user.is_empty()).then(|| user.to_string());
                (Some((user, pass.to_string())), host)
            }
            None => (None, rest),
        };
        if host.is_empty() {
            return None;
        }
        // A bracketed IPv6 address holds colons of its own.
        let has_port = match host.rfind(']') {
            Some(close) => host.get(close..).is_some_and(|t| t.contains(':')),
            None => host.contains(':'),
        };
        let addr = if has_port {
            host.to_string()
        } else {
            format!("{host}:6379")
        };
        Some(RedisUrl { addr, auth })
    }
}

/// A connected client.
pub(crate) struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    /// Connects within `timeout` and authenticates when the URL carries a password.
    pub fn connect(url: &RedisUrl, timeout: Duration) -> io::Result<Conn> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for redis host");
        for addr in url.addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(sock) => {
                    sock.set_nodelay(true)?;
                    sock.set_read_timeout(Some(timeout))?;
                    sock.set_write_timeout(Some(timeout))?;
                    let mut c = Conn {
                        sock,
                        buf: Vec::with_capacity(64 << 10),
                        out: Vec::new(),
                    };
                    if let Some((user, pass)) = &url.auth {
                        let mut args: Vec<&[u8]> = vec![b"AUTH"];
                        if let Some(u) = user {
                            args.push(u.as_bytes());
                        }
                        args.push(pass.as_bytes());
                        c.queue(&args);
                        c.flush()?;
                        c.expect_ok()?;
                    }
                    return Ok(c);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Whether the server has closed the connection (say, Redis restarted while it was idle):
    /// writing to it would seem to succeed and the command be lost.
    pub fn is_closed(&self) -> bool {
        if !self.buf.is_empty() || self.sock.set_nonblocking(true).is_err() {
            return false;
        }
        let closed = match self.sock.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        closed || self.sock.set_nonblocking(false).is_err()
    }

    /// The socket's descriptor, for a thread that waits on several connections at once.
    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.sock)
    }

    /// Sets how long a read waits before [`Conn::read`] reports nothing.
    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        self.sock.set_read_timeout(Some(t))
    }

    /// Queues a command; [`Conn::flush`] writes every queued command at once.
    pub fn queue(&mut self, args: &[&[u8]]) {
        resp::encode_command(&mut self.out, args);
    }

    /// Writes the queued commands.
    pub fn flush(&mut self) -> io::Result<()> {
        let r = self.sock.write_all(&self.out);
        self.out.clear();
        r
    }

    /// Reads the next reply and hands it to `f`; `Ok(None)` when the read timeout passed first.
    /// A protocol error or EOF is an error: the connection is no longer usable.
    pub fn read<R>(&mut self, f: impl FnOnce(Reply<'_>) -> R) -> io::Result<Option<R>> {
        loop {
            match resp::parse(&self.buf) {
                Ok(Some((reply, used))) => {
                    let r = f(reply);
                    self.buf.drain(..used);
                    return Ok(Some(r));
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 16 << 10];
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self
                    .buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads a reply that must arrive before the read timeout; Redis errors become `Other`.
    pub fn reply<R>(&mut self, f: impl FnOnce(Reply<'_>) -> R) -> io::Result<R> {
        let r = self
            .read(|reply| match reply {
                Reply::Error(e) => Err(io::Error::other(String::from_utf8_lossy(e).into_owned())),
                other => Ok(f(other)),
            })?
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))?;
        r
    }

    /// Reads a reply that must not be an error.
    pub fn expect_ok(&mut self) -> io::Result<()> {
        self.reply(|_| ())
    }

    /// Reads an integer reply (0 for a reply of another kind).
    pub fn expect_int(&mut self) -> io::Result<i64> {
        self.reply(|r| match r {
            Reply::Int(n) => n,
            _ => 0,
        })
    }

    /// Runs `PING`: whether Redis takes commands on this connection (it refuses them, say,
    /// when it wants a password the URL does not give).
    pub fn ping(&mut self) -> io::Result<()> {
        self.queue(&[b"PING"]);
        self.flush()?;
        self.expect_ok()
    }

    /// Runs `PUBSUB NUMSUB channel`: how many clients subscribed to exactly `channel`.
    pub fn numsub(&mut self, channel: &str) -> io::Result<usize> {
        self.queue(&[b"PUBSUB", b"NUMSUB", channel.as_bytes()]);
        self.flush()?;
        self.reply(|r| match r {
            Reply::Array(Some(items)) => match items.get(1) {
                Some(Reply::Int(n)) => usize::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = RedisUrl::parse("redis://127.0.0.1:7000").unwrap();
        assert_eq!(u.addr, "127.0.0.1:7000");
        assert_eq!(u.auth, None);
        let u = RedisUrl::parse("redis://:secret@cache/2").unwrap();
        assert_eq!(u.addr, "cache:6379");
        assert_eq!(u.auth, Some((None, "secret".to_string())));
        let u = RedisUrl::parse("redis://me:pw@[::1]:6380").unwrap();
        assert_eq!(u.addr, "[::1]:6380");
        assert_eq!(u.auth, Some((Some("me".into()), "pw".into())));
        assert_eq!(RedisUrl::parse("redis://[::1]").unwrap().addr, "[::1]:6379");
        assert_eq!(RedisUrl::parse("http://x"), None);
        assert_eq!(RedisUrl::parse("redis://"), None);
    }
}
