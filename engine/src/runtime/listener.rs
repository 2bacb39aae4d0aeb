//! Listening sockets. Every worker accepts on sockets of its own, so no thread hands connections
//! to another on the accept path:
//!
//! - an address is bound once per worker with SO_REUSEPORT, and the kernel spreads new
//!   connections over the workers' sockets by hash;
//! - a socket that arrives ready-made (a bound `std::net::TcpListener`, or one systemd passed)
//!   is duplicated once per worker: the duplicates share that socket's one accept queue, and
//!   whichever worker is woken first takes the connection. Binding SO_REUSEPORT siblings to its
//!   address instead would need the right to bind that address (often the very reason systemd
//!   or a parent bound it) and the same user as its creator. On a shared socket the io_uring
//!   backend uses single-shot accepts: a multishot accept stays first in the socket's wait
//!   queue and took every connection (400 of 400 on two workers), where a re-armed single-shot
//!   one queues behind the other workers' and the spread is even, as epoll's is.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::config::{AcceptMode, ConfigError, Listen};

/// Backlog for each listener: deep enough for connection storms from a load generator.
const BACKLOG: i32 = 4096;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const SYSTEMD_FIRST_FD: RawFd = 3;

/// Whether systemd's sockets were taken: each descriptor must have one owner, so a second
/// server of the same process asking for them is refused.
static SYSTEMD_TAKEN: AtomicBool = AtomicBool::new(false);

/// One of a worker's listening sockets.
pub(crate) struct WorkerListener {
    pub socket: TcpListener,
    /// Whether other workers accept from this same socket (duplicates of one given ready-made)
    /// rather than from SO_REUSEPORT siblings of their own.
    pub shared: bool,
}

/// The listening sockets of a runtime.
pub(crate) struct Listeners {
    /// Worker `i`'s sockets, one per address (none for workers that do not accept).
    pub per_worker: Vec<Vec<WorkerListener>>,
    /// The addresses served, in order, with the real port where port 0 was asked for.
    pub addrs: Vec<SocketAddr>,
}

/// Opens the sockets of `workers` workers: `given` ones when there are any, else those
/// `listen` names. In [`AcceptMode::Acceptor`] only worker 0 gets sockets.
pub(crate) fn open(
    listen: &Listen,
    given: Vec<TcpListener>,
    workers: usize,
    mode: AcceptMode,
) -> io::Result<Listeners> {
    let per_addr = match mode {
        AcceptMode::ReusePort => workers.max(1),
        AcceptMode::Acceptor => 1,
    };
    let mut groups = Vec::new();
    let given = match (given.is_empty(), listen) {
        (false, _) => given,
        (true, Listen::Systemd) => {
            systemd().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
        }
        (true, Listen::Addrs(addrs)) => {
            let v4 = addrs.iter().any(SocketAddr::is_ipv4);
            for &addr in addrs {
                // With an IPv4 address beside it, `[::]` must not claim the IPv4 port too.
                groups.push((bind_group(addr, per_addr, v4 && addr.is_ipv6())?, false));
            }
            Vec::new()
        }
    };
    for l in given {
        groups.push((share(l, per_addr)?, per_addr > 1));
    }
    if groups.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no address to listen on",
        ));
    }
    let addrs = groups
        .iter()
        .map(|(g, _)| g[0].local_addr())
        .collect::<io::Result<_>>()?;
    let mut per_worker: Vec<Vec<WorkerListener>> =
        (0..workers.max(1)).map(|_| Vec::new()).collect();
    for (group, shared) in groups {
        for (w, socket) in group.into_iter().enumerate() {
            per_worker[w].push(WorkerListener { socket, shared });
        }
    }
    Ok(Listeners { per_worker, addrs })
}

/// Binds `count` non-blocking listeners to `addr`. When `addr` has port 0, the port the first
/// bind got is reused by the others.
///
/// The first socket binds without SO_REUSEPORT, so the bind fails with `AddrInUse` when any
/// other socket holds the address, another server's SO_REUSEPORT group included (binding every
/// socket with it would let a second server on the same port silently take half the
/// connections). It sets SO_REUSEPORT before `listen`, and the other workers' sockets, bound
/// with it, join its group. A process of the same user that binds with SO_REUSEPORT itself
/// can still join: that is what the option allows.
fn bind_group(addr: SocketAddr, count: usize, v6only: bool) -> io::Result<Vec<TcpListener>> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("listen on {addr}: {e}"));
    let mut out = Vec::with_capacity(count);
    let mut addr = addr;
    for i in 0..count {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        if v6only {
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_port(i > 0)?;
        socket.set_nonblocking(true)?;
        socket.set_nodelay(true)?;
        socket.bind(&addr.into()).map_err(named)?;
        if count > 1 {
            socket.set_reuse_port(true)?;
        }
        socket.listen(BACKLOG).map_err(named)?;
        if addr.port() == 0 {
            addr = socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("listener has no inet address"))?;
        }
        out.push(socket.into());
    }
    Ok(out)
}

/// `listener` and `count - 1` duplicates of it, non-blocking, after checking that it is a
/// listening TCP socket (a socket that is not would make every accept fail).
fn share(listener: TcpListener, count: usize) -> io::Result<Vec<TcpListener>> {
    check_listening(SockRef::from(&listener))?;
    listener.set_nonblocking(true)?;
    // Accepted sockets inherit TCP_NODELAY from the listener.
    SockRef::from(&listener).set_nodelay(true)?;
    let mut out = Vec::with_capacity(count);
    for _ in 1..count {
        out.push(listener.try_clone()?);
    }
    out.insert(0, listener);
    Ok(out)
}

/// Whether `sock` is a listening TCP (IPv4 or IPv6) socket; its address if it is.
fn check_listening(sock: SockRef<'_>) -> io::Result<SocketAddr> {
    let refuse = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {}: {what}", sock.as_raw_fd()),
        )
    };
    if sock.r#type()? != Type::STREAM {
        return Err(refuse("not a stream socket"));
    }
    let addr = sock
        .local_addr()?
        .as_socket()
        .ok_or_else(|| refuse("not an IPv4 or IPv6 socket"))?;
    if !sock.is_listener()? {
        return Err(refuse("not listening"));
    }
    Ok(addr)
}

/// The listening sockets systemd passed to this process (socket activation): `LISTEN_FDS`
/// descriptors from 3, when `LISTEN_PID` is this process's id. Each must be a listening TCP
/// socket; they are marked close-on-exec so child processes do not inherit them. The variables
/// stay set (changing the environment races with other threads reading it); a child sees a
/// `LISTEN_PID` that is not its own and ignores them. Refused the second time in a process.
pub fn systemd() -> Result<Vec<TcpListener>, ConfigError> {
    systemd_from(|name| std::env::var(name).ok(), std::process::id())
}

/// [`systemd`] with the variables from `get` and the process id `pid`.
fn systemd_from(
    get: impl Fn(&str) -> Option<String>,
    pid: u32,
) -> Result<Vec<TcpListener>, ConfigError> {
    let error = |var, value: Option<String>, expected| ConfigError {
        var,
        value: value.unwrap_or_default(),
        expected,
    };
    let listen_pid = get("LISTEN_PID");
    if listen_pid.as_deref().and_then(|p| p.trim().parse().ok()) != Some(pid) {
        return Err(error(
            "LISTEN_PID",
            listen_pid,
            "this process's id (systemd socket activation)",
        ));
    }
    let fds = get("LISTEN_FDS");
    let count = fds
        .as_deref()
        .and_then(|n| n.trim().parse::<RawFd>().ok())
        .filter(|&n| n > 0 && n < RawFd::MAX - SYSTEMD_FIRST_FD)
        .ok_or_else(|| error("LISTEN_FDS", fds.clone(), "a positive count of sockets"))?;
    let fd_range = SYSTEMD_FIRST_FD..SYSTEMD_FIRST_FD + count;
    // Check them all before owning any: a descriptor that is not a socket systemd passed
    // (a wrong LISTEN_FDS) must not be closed by us.
    for fd in fd_range.clone() {
        // SAFETY: fcntl(F_GETFD) only asks whether `fd` is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            let why = "descriptors from 3 that are open";
            return Err(error("LISTEN_FDS", Some(count.to_string()), why));
        }
        // SAFETY: `fd` is open (checked above) and stays open while borrowed here.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        if let Err(e) = check_listening(SockRef::from(&borrowed)) {
            return Err(ConfigError {
                var: "LISTEN_FDS",
                value: format!("{count} ({e})"),
                expected: "listening TCP sockets from descriptor 3",
            });
        }
    }
    if SYSTEMD_TAKEN.swap(true, Ordering::AcqRel) {
        return Err(error(
            "LISTEN_FDS",
            fds,
            "sockets no other server of this process took already",
        ));
    }
    Ok(fd_range
        .map(|fd| {
            // SAFETY: systemd passed `fd` to this process (LISTEN_PID matched), it is an open
            // listening socket (checked above), and SYSTEMD_TAKEN makes this its only owner.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: F_SETFD on a descriptor we own.
            unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
            TcpListener::from(owned)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_one_port() {
        let ls = bind_group("127.0.0.1:0".parse().unwrap(), 3, false).unwrap();
        let port = ls[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(ls.iter().all(|l| l.local_addr().unwrap().port() == port));
    }

    #[test]
    fn a_second_group_on_a_taken_port_is_refused() {
        let ours = bind_group("127.0.0.1:0".parse().unwrap(), 2, false).unwrap();
        let addr = ours[0].local_addr().unwrap();
        let err = bind_group(addr, 2, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn a_given_listener_is_duplicated_per_worker() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let opened = open(&Listen::Systemd, vec![l], 3, AcceptMode::ReusePort).unwrap();
        assert_eq!(opened.addrs, [addr]);
        assert!(opened.per_worker.iter().all(|w| w.len() == 1));
        let opened = open(
            &Listen::Addrs(vec!["127.0.0.1:0".parse().unwrap(); 2]),
            Vec::new(),
            3,
            AcceptMode::Acceptor,
        )
        .unwrap();
        let counts: Vec<usize> = opened.per_worker.iter().map(Vec::len).collect();
        assert_eq!(counts, [2, 0, 0]);
    }

    #[test]
    fn a_socket_that_does_not_listen_is_refused() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let err = share(TcpListener::from(OwnedFd::from(s)), 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(open(
            &Listen::Addrs(Vec::new()),
            Vec::new(),
            1,
            AcceptMode::ReusePort
        )
        .is_err());
    }

    #[test]
    fn systemd_variables_are_checked() {
        let vars = |pid: &'static str, fds: &'static str| {
            move |name: &str| match name {
                "LISTEN_PID" => Some(pid.to_string()),
                "LISTEN_FDS" => Some(fds.to_string()),
                _ => None,
            }
        };
        assert_eq!(systemd_from(|_| None, 7).unwrap_err().var, "LISTEN_PID");
        assert_eq!(
            systemd_from(vars("8", "1"), 7).unwrap_err().var,
            "LISTEN_PID"
        );
        assert_eq!(
            systemd_from(vars("7", "0"), 7).unwrap_err().var,
            "LISTEN_FDS"
        );
        assert_eq!(
            systemd_from(vars("7", "x"), 7).unwrap_err().var,
            "LISTEN_FDS"
        );
    }
}
