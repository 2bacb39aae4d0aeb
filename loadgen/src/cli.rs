//! Command-line options (clap), their checks, and the argument list a child process gets.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

/// Load generator for WebSocket, Engine.IO and Socket.IO servers.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "volley-loadgen",
    version,
    args_override_self = true,
    after_help = "Exit status: 0 for a clean run, 2 when the run completed but counted errors \
                  (see the summary), 1 when it could not run."
)]
pub struct Cli {
    /// The scenario to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The scenarios.
#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Plain WebSocket echo: messages to the URL, echoes timed (any echo server).
    WsEcho(Opts),
    /// Open connections at --rate per second: WebSocket upgrade, Engine.IO open, Socket.IO
    /// CONNECT; connects/s and handshake latency. Held for --duration after the ramp.
    Connect(Opts),
    /// Socket.IO emit of --event (default `echo`) with ack: ack round trip and acks/s.
    Echo(Opts),
    /// Socket.IO room broadcast: all clients `join` --room, --senders emit `broadcast`;
    /// delivery latency, losses and duplicates.
    Broadcast(Opts),
    /// Hold Socket.IO connections answering heartbeats for --duration; report drops.
    Idle(Opts),
}

impl Command {
    /// The subcommand name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::WsEcho(_) => "ws-echo",
            Command::Connect(_) => "connect",
            Command::Echo(_) => "echo",
            Command::Broadcast(_) => "broadcast",
            Command::Idle(_) => "idle",
        }
    }

    /// The options, whatever the scenario.
    pub fn opts(&self) -> &Opts {
        match self {
            Command::WsEcho(o)
            | Command::Connect(o)
            | Command::Echo(o)
            | Command::Broadcast(o)
            | Command::Idle(o) => o,
        }
    }
}

/// A child's share of the connections: `FIRST:COUNT` global indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildRange {
    /// Global index of the child's first connection.
    pub first: u64,
    /// Connections the child opens.
    pub count: u64,
}

impl FromStr for ChildRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (first, count) = s.split_once(':').ok_or("expected FIRST:COUNT")?;
        Ok(Self {
            first: first.parse().map_err(|e| format!("FIRST: {e}"))?,
            count: count.parse().map_err(|e| format!("COUNT: {e}"))?,
        })
    }
}

impl std::fmt::Display for ChildRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.first, self.count)
    }
}

/// Options shared by every scenario.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct Opts {
    /// Server URL: `ws://host:port/path` (ws-echo uses the path) or `http://host:port`; with
    /// TLS `wss://...` or `https://...` (see --tls-ca). The port defaults to 80, 443 with TLS.
    #[arg(long, default_value = "ws://127.0.0.1:3000/")]
    pub url: String,
    /// PEM file of the CA certificate(s) trusted for a `wss://` or `https://` URL: the server's
    /// certificate must chain to one and name the URL's host (a DNS name, or an IP address in
    /// an IP SAN), which is also sent as SNI. Required for TLS unless --tls-insecure.
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// Accept any server certificate on a `wss://` or `https://` URL (no chain or name check;
    /// the handshake signature is still verified). For benchmarks against throwaway
    /// certificates only: it protects from nothing.
    #[arg(long, conflicts_with = "tls_ca")]
    pub tls_insecure: bool,
    /// Engine.IO path for the Socket.IO scenarios.
    #[arg(long, default_value = "/socket.io/")]
    pub path: String,
    /// Socket.IO namespace.
    #[arg(long, default_value = "/")]
    pub namespace: String,
    /// Connections in total (over all processes).
    #[arg(short = 'c', long, default_value_t = 100)]
    pub connections: u64,
    /// Requests in flight per connection, closed loop (ws-echo, echo; ignored with --rate).
    #[arg(short = 'k', long, default_value_t = 1)]
    pub in_flight: u32,
    /// Messages per second in total (ws-echo, echo), connections per second (connect) or
    /// broadcasts per second (broadcast; default 10 per sender).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Connections opened per second during the ramp of the other scenarios; unlimited when
    /// absent.
    #[arg(long)]
    pub connect_rate: Option<f64>,
    /// Payload bytes per message (at least 48).
    #[arg(long = "payload", default_value_t = 64)]
    pub payload: usize,
    /// Offer permessage-deflate (as browsers and the Node client do) and fail a connection
    /// whose server declines it; messages of 1024 bytes or more go compressed, as the Node
    /// client's default threshold sends them. The server's threshold decides for what it
    /// sends. Socket.IO scenarios connect over WebSocket with it, through the engine's client.
    #[arg(long)]
    pub deflate: bool,
    /// Pad payloads with English-like words (they compress about as chat JSON does, 3-4x)
    /// instead of `x` (which compresses without limit), for measuring compression.
    #[arg(long)]
    pub words: bool,
    /// Seconds measured (connect, idle: seconds held after the ramp).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Seconds to collect answers and deliveries after sending stops.
    #[arg(long, default_value_t = 1.0)]
    pub drain: f64,
    /// Seconds before an unanswered request counts as a timeout.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Seconds allowed for a connection's whole handshake.
    #[arg(long, default_value_t = 10.0)]
    pub handshake_timeout: f64,
    /// Event loops per process; default: cores - 1, at least 1.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Pin event loop i to core i.
    #[arg(long)]
    pub pin: bool,
    /// Processes sharing the connections (each within its open-file limit).
    #[arg(long, default_value_t = 1)]
    pub processes: u32,
    /// Source addresses used round-robin, e.g. 127.0.0.2,127.0.0.3 (for > 28k connections).
    #[arg(long, value_delimiter = ',')]
    pub local_addrs: Vec<IpAddr>,
    /// Server process to sample (CPU seconds, RSS) at the start and end of the window.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw the latency percentile curve as SVG here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Event the echo scenario emits with an ack; the server must ack with the same arguments.
    #[arg(long, default_value = "echo")]
    pub event: String,
    /// Room joined by the broadcast scenario.
    #[arg(long, default_value = "bench")]
    pub room: String,
    /// Broadcast senders (the first connections).
    #[arg(long, default_value_t = 1)]
    pub senders: u64,
    /// No progress line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Internal: run as a child owning this range of connections.
    #[arg(long, hide = true)]
    pub child: Option<ChildRange>,
}

impl Opts {
    /// Checks values clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("--{name} must be a positive number, got {v}"))
            }
        };
        let non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("--{name} must be zero or more, got {v}"))
            }
        };
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if let Some(r) = self.rate {
            positive("rate", r)?;
        }
        if let Some(r) = self.connect_rate {
            positive("connect-rate", r)?;
        }
        non_negative("duration", self.duration)?;
        non_negative("warmup", self.warmup)?;
        non_negative("drain", self.drain)?;
        positive("timeout", self.timeout)?;
        positive("handshake-timeout", self.handshake_timeout)?;
        if !(crate::scenario::MIN_PAYLOAD..=16 << 20).contains(&self.payload) {
            return Err(format!(
                "--payload must be between {} and {} bytes",
                crate::scenario::MIN_PAYLOAD,
                16 << 20
            ));
        }
        if self.in_flight == 0 {
            return Err("--in-flight must be at least 1".into());
        }
        if self.processes == 0 {
            return Err("--processes must be at least 1".into());
        }
        if self.threads == Some(0) {
            return Err("--threads must be at least 1".into());
        }
        if !self.namespace.starts_with('/') || self.namespace.contains(',') {
            return Err("--namespace must start with / and hold no comma".into());
        }
        Ok(())
    }

    /// Event loops to run: `--threads`, else cores - 1 (at least 1).
    pub fn loops(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1))
                .unwrap_or(1)
                .max(1)
        })
    }

    /// The arguments for a child process owning `range`: these options minus the ones only the
    /// parent acts on (processes, server sampling, output files), with its thread count.
    pub fn child_args(&self, command: &str, range: ChildRange, threads: usize) -> Vec<String> {
        let mut a: Vec<String> = vec![command.into()];
        let mut push = |k: &str, v: String| {
            a.push(format!("--{k}"));
            a.push(v);
        };
        push("url", self.url.clone());
        if let Some(ca) = &self.tls_ca {
            push("tls-ca", ca.display().to_string());
        }
        push("path", self.path.clone());
        push("namespace", self.namespace.clone());
        push("connections", self.connections.to_string());
        push("in-flight", self.in_flight.to_string());
        if let Some(r) = self.rate {
            push("rate", r.to_string());
        }
        if let Some(r) = self.connect_rate {
            push("connect-rate", r.to_string());
        }
        push("payload", self.payload.to_string());
        push("duration", self.duration.to_string());
        push("warmup", self.warmup.to_string());
        push("drain", self.drain.to_string());
        push("timeout", self.timeout.to_string());
        push("handshake-timeout", self.handshake_timeout.to_string());
        push("threads", threads.to_string());
        if !self.local_addrs.is_empty() {
            let addrs: Vec<String> = self.local_addrs.iter().map(|a| a.to_string()).collect();
            push("local-addrs", addrs.join(","));
        }
        push("event", self.event.clone());
        push("room", self.room.clone());
        push("senders", self.senders.to_string());
        push("child", range.to_string());
        if self.pin {
            a.push("--pin".into());
        }
        if self.tls_insecure {
            a.push("--tls-insecure".into());
        }
        if self.deflate {
            a.push("--deflate".into());
        }
        if self.words {
            a.push("--words".into());
        }
        if self.quiet {
            a.push("--quiet".into());
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("volley-loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn defaults() {
        let cli = parse(&["echo"]).unwrap();
        assert_eq!(cli.command.name(), "echo");
        let o = cli.command.opts();
        assert_eq!(o.url, "ws://127.0.0.1:3000/");
        assert_eq!(o.path, "/socket.io/");
        assert_eq!(o.namespace, "/");
        assert_eq!(o.event, "echo");
        assert_eq!((o.connections, o.in_flight, o.payload), (100, 1, 64));
        assert_eq!((o.duration, o.warmup, o.drain), (10.0, 1.0, 1.0));
        assert_eq!((o.rate, o.processes, o.threads), (None, 1, None));
        assert!(o.local_addrs.is_empty());
        assert_eq!((o.tls_ca.as_ref(), o.tls_insecure), (None, false));
        assert!(o.loops() >= 1);
        assert_eq!(o.validate(), Ok(()));
    }

    #[test]
    fn every_option() {
        let cli = parse(&[
            "broadcast",
            "--url",
            "https://10.0.0.1:4000",
            "--tls-ca",
            "ca.pem",
            "--path",
            "/io/",
            "--namespace",
            "/chat",
            "-c",
            "5000",
            "-k",
            "4",
            "--rate",
            "250.5",
            "--connect-rate",
            "1000",
            "--payload",
            "512",
            "--duration",
            "30",
            "--warmup",
            "2",
            "--drain",
            "3",
            "--timeout",
            "1.5",
            "--handshake-timeout",
            "20",
            "--threads",
            "3",
            "--pin",
            "--processes",
            "4",
            "--local-addrs",
            "127.0.0.2,127.0.0.3",
            "--server-pid",
            "4242",
            "--json",
            "out.json",
            "--plot",
            "out.svg",
            "--event",
            "ping-me",
            "--room",
            "r1",
            "--senders",
            "8",
            "-q",
        ])
        .unwrap();
        let o = cli.command.opts();
        assert_eq!(cli.command.name(), "broadcast");
        assert_eq!(o.url, "https://10.0.0.1:4000");
        assert_eq!(o.tls_ca.as_deref(), Some(std::path::Path::new("ca.pem")));
        assert!(!o.tls_insecure);
        assert_eq!((o.path.as_str(), o.namespace.as_str()), ("/io/", "/chat"));
        assert_eq!((o.connections, o.in_flight, o.payload), (5000, 4, 512));
        assert_eq!((o.rate, o.connect_rate), (Some(250.5), Some(1000.0)));
        assert_eq!(
            (o.duration, o.warmup, o.drain, o.timeout),
            (30.0, 2.0, 3.0, 1.5)
        );
        assert_eq!((o.threads, o.loops(), o.processes), (Some(3), 3, 4));
        assert!(o.pin && o.quiet);
        assert_eq!(
            o.local_addrs,
            [
                "127.0.0.2".parse::<IpAddr>().unwrap(),
                "127.0.0.3".parse().unwrap()
            ]
        );
        assert_eq!(o.server_pid, Some(4242));
        assert_eq!(o.json.as_deref(), Some(std::path::Path::new("out.json")));
        assert_eq!(o.plot.as_deref(), Some(std::path::Path::new("out.svg")));
        assert_eq!((o.room.as_str(), o.senders), ("r1", 8));
        assert_eq!(o.event, "ping-me");
        assert_eq!(o.validate(), Ok(()));
    }

    #[test]
    fn child_args_parse_back_to_the_same_options() {
        let cli = parse(&[
            "ws-echo",
            "-c",
            "900",
            "--rate",
            "100",
            "--local-addrs",
            "127.0.0.2",
            "--server-pid",
            "1",
            "--json",
            "x.json",
            "--processes",
            "3",
            "--deflate",
            "--words",
        ])
        .unwrap();
        let o = cli.command.opts();
        assert!(o.deflate && o.words);
        let range = ChildRange {
            first: 300,
            count: 300,
        };
        let args = o.child_args(cli.command.name(), range, 2);
        let back = Cli::try_parse_from(std::iter::once("x".to_owned()).chain(args)).unwrap();
        let b = back.command.opts();
        assert_eq!(back.command.name(), "ws-echo");
        assert_eq!(b.child, Some(range));
        assert_eq!(
            (b.processes, b.server_pid, b.json.as_ref()),
            (1, None, None)
        );
        assert_eq!(b.threads, Some(2));
        let expected = Opts {
            child: Some(range),
            processes: 1,
            server_pid: None,
            json: None,
            threads: Some(2),
            ..o.clone()
        };
        assert_eq!(*b, expected);
    }

    #[test]
    fn tls_options_reach_the_children() {
        for tls in [&["--tls-ca", "/tmp/ca.pem"][..], &["--tls-insecure"][..]] {
            let mut args = vec![
                "echo",
                "--url",
                "https://127.0.0.1:40443",
                "--processes",
                "2",
            ];
            args.extend_from_slice(tls);
            let cli = parse(&args).unwrap();
            let o = cli.command.opts();
            let range = ChildRange { first: 0, count: 1 };
            let child = o.child_args(cli.command.name(), range, 1);
            let back = Cli::try_parse_from(std::iter::once("x".to_owned()).chain(child)).unwrap();
            let b = back.command.opts();
            assert_eq!(
                (&b.url, &b.tls_ca, b.tls_insecure),
                (&o.url, &o.tls_ca, o.tls_insecure)
            );
        }
    }

    #[test]
    fn tls_ca_and_insecure_exclude_each_other() {
        let err = parse(&["echo", "--tls-ca", "ca.pem", "--tls-insecure"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn repeated_options_take_the_last_value() {
        let o = parse(&["idle", "-c", "1", "-c", "7"]).unwrap();
        assert_eq!(o.command.opts().connections, 7);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["echo", "--local-addrs", "1.2.3"]).is_err());
        assert!(parse(&["echo", "-c", "-5"]).is_err());
        assert!(parse(&["nope"]).is_err());
        assert!(parse(&["echo", "--child", "3"]).is_err());
        let invalid = |args: &[&str]| parse(args).unwrap().command.opts().validate().unwrap_err();
        assert!(invalid(&["echo", "-c", "0"]).contains("--connections"));
        assert!(invalid(&["echo", "--rate", "0"]).contains("--rate"));
        assert!(invalid(&["echo", "--rate", "NaN"]).contains("--rate"));
        assert!(invalid(&["echo", "--payload", "10"]).contains("--payload"));
        assert!(invalid(&["echo", "--duration=-1"]).contains("--duration"));
        assert!(invalid(&["echo", "--namespace", "chat"]).contains("--namespace"));
        assert!(invalid(&["echo", "--processes", "0"]).contains("--processes"));
        assert!(invalid(&["echo", "--threads", "0"]).contains("--threads"));
    }
}
