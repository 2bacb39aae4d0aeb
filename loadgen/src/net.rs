//! Where the load goes: the target address parsed from `--url`, and non-blocking connects from a
//! chosen source address.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The server under load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Address connected to.
    pub addr: SocketAddr,
    /// `Host` header value: `host:port` as written in the URL.
    pub host: String,
    /// Path (and query) from the URL; `/` when it had none.
    pub path: String,
    /// For `wss://` and `https://`: the host without port or brackets, the name (DNS name or IP
    /// address) sent as SNI and checked against the server's certificate. `None`: plain TCP.
    pub tls_name: Option<String>,
}

/// Parses `ws://host:port/path`, `http://...`, `wss://...` or `https://...` (TLS) and resolves
/// the host. The port defaults to 80, or 443 with TLS.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?}: expected ws://host:port/path"))?;
    let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => (false, 80),
        "wss" | "https" => (true, 443),
        other => return Err(format!("{url:?}: unknown scheme {other:?}")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let with_explicit_port = authority.rsplit_once(':').filter(|(h, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':')
    });
    let (host, with_port) = match with_explicit_port {
        Some((host, _)) => (host, authority.to_owned()),
        None => (authority, format!("{authority}:{default_port}")),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url:?}: cannot resolve {with_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url:?}: {with_port} resolves to nothing"))?;
    Ok(Target {
        addr,
        host: authority.to_owned(),
        path: path.to_owned(),
        tls_name: tls.then(|| host.to_owned()),
    })
}

/// Starts a non-blocking TCP connect to `addr`, from `local` (port chosen at connect time) when
/// given. Completion shows as writability.
pub fn connect(addr: SocketAddr, local: Option<IpAddr>) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    if let Some(ip) = local {
        bind_address_no_port(&socket)?;
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// Lets the kernel pick the source port at `connect` rather than at `bind`, so one source
/// address serves ~28k connections to each destination instead of ~28k in total.
fn bind_address_no_port(socket: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: the fd is a live socket owned by `socket`; the option value is a c_int we own
    // and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = parse_url("ws://127.0.0.1:3000/").unwrap();
        assert_eq!(t.addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!((t.host.as_str(), t.path.as_str()), ("127.0.0.1:3000", "/"));
        let t = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.host.as_str(), t.path.as_str()), ("127.0.0.1:8080", "/"));
        let t = parse_url("ws://127.0.0.1/chat?x=1").unwrap();
        assert_eq!(t.addr.port(), 80);
        assert_eq!(t.path, "/chat?x=1");
        let t = parse_url("ws://[::1]:9000/").unwrap();
        assert_eq!(t.addr, "[::1]:9000".parse().unwrap());
        assert_eq!(t.host, "[::1]:9000");
        assert_eq!(parse_url("ws://localhost:1/").unwrap().addr.port(), 1);
        assert_eq!(parse_url("http://127.0.0.1").unwrap().addr.port(), 80);
        assert_eq!(parse_url("ws://127.0.0.1:3000/").unwrap().tls_name, None);
    }

    #[test]
    fn parses_tls_urls() {
        let t = parse_url("wss://127.0.0.1:8443/echo").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(
            (t.host.as_str(), t.path.as_str()),
            ("127.0.0.1:8443", "/echo")
        );
        assert_eq!(t.tls_name.as_deref(), Some("127.0.0.1"));
        // No port: 443 for wss and https (80 stays the plain default).
        let t = parse_url("wss://127.0.0.1/").unwrap();
        assert_eq!(t.addr, "127.0.0.1:443".parse().unwrap());
        assert_eq!(
            t.host, "127.0.0.1",
            "the Host header keeps the URL's spelling"
        );
        let t = parse_url("HTTPS://localhost").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (443, "/"));
        assert_eq!(t.tls_name.as_deref(), Some("localhost"));
        let t = parse_url("https://localhost:40443").unwrap();
        assert_eq!(t.addr.port(), 40443);
        assert_eq!(t.tls_name.as_deref(), Some("localhost"));
        // IPv6: the brackets belong to the URL, not to the name.
        let t = parse_url("wss://[::1]:9443/").unwrap();
        assert_eq!(t.addr, "[::1]:9443".parse().unwrap());
        assert_eq!(
            (t.host.as_str(), t.tls_name.as_deref()),
            ("[::1]:9443", Some("::1"))
        );
        let t = parse_url("https://[::1]/x").unwrap();
        assert_eq!(t.addr, "[::1]:443".parse().unwrap());
        assert_eq!(t.tls_name.as_deref(), Some("::1"));
    }

    #[test]
    fn bad_urls_say_why() {
        assert!(parse_url("127.0.0.1:3000")
            .unwrap_err()
            .contains("expected ws://"));
        assert!(parse_url("wss:///x").unwrap_err().contains("no host"));
        assert!(parse_url("https://:443/").unwrap_err().contains("no host"));
        assert!(parse_url("ftp://h:1/").unwrap_err().contains("scheme"));
        assert!(parse_url("ws:///x").unwrap_err().contains("no host"));
    }

    #[test]
    fn connects_from_a_chosen_source_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _stream = connect(addr, Some("127.0.0.1".parse().unwrap())).unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
    }
}
