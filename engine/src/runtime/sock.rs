//! A connection's socket: a descriptor in the process's file table, or an io_uring direct
//! descriptor, an index into one worker ring's registered file table that does not count
//! against `RLIMIT_NOFILE` (`VOLLEY_URING_DIRECT`).
//!
//! A direct socket has no descriptor the process could call into, so only its ring can read,
//! write, shut down or close it; plain reads and writes on it fail with `Unsupported`. Dropping
//! one without [`Io::close`](super::worker) would leave its table slot taken until the ring is
//! gone, so the worker always closes sockets through its backend.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

/// A connection's socket.
pub(crate) enum Sock {
    /// A descriptor in the process's file table.
    Os(TcpStream),
    /// Slot `index` of the owning worker's registered file table, with the peer address its
    /// accept reported (there is no descriptor to ask later).
    Direct {
        index: u32,
        peer: Option<SocketAddr>,
    },
}

impl Sock {
    /// The process descriptor, `None` for a direct socket.
    pub fn raw_fd(&self) -> Option<RawFd> {
        match self {
            Sock::Os(s) => Some(s.as_raw_fd()),
            Sock::Direct { .. } => None,
        }
    }

    /// The remote address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Sock::Os(s) => s.peer_addr().ok(),
            Sock::Direct { peer, .. } => *peer,
        }
    }

    /// Shuts a direction down at once; a direct socket's ring must do it instead.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Sock::Os(s) => s.shutdown(how),
            Sock::Direct { .. } => Err(unsupported()),
        }
    }
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a direct descriptor is read and written only through its ring",
    )
}

impl Read for &Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => (&*s).read(buf),
            Sock::Direct { .. } => Err(unsupported()),
        }
    }
}

impl Write for &Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => (&*s).write(buf),
            Sock::Direct { .. } => Err(unsupported()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => (&*s).write_vectored(bufs),
            Sock::Direct { .. } => Err(unsupported()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn direct_sockets_refuse_plain_io_and_keep_their_peer() {
        let peer: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let d = Sock::Direct {
            index: 3,
            peer: Some(peer),
        };
        assert_eq!(d.raw_fd(), None);
        assert_eq!(d.peer_addr(), Some(peer));
        let unsupported = |r: io::Result<usize>| r.unwrap_err().kind();
        assert_eq!(
            unsupported((&d).read(&mut [0; 4])),
            io::ErrorKind::Unsupported
        );
        assert_eq!(unsupported((&d).write(b"x")), io::ErrorKind::Unsupported);
        assert_eq!(
            d.shutdown(Shutdown::Write).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
    }

    #[test]
    fn plain_sockets_pass_through() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, from) = l.accept().unwrap();
        let s = Sock::Os(s);
        assert_eq!(s.peer_addr(), Some(from));
        assert!(s.raw_fd().is_some());
        (&s).write_all(b"hi").unwrap();
        let mut got = [0u8; 2];
        (&c).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
    }
}
