//! The streams adapter's reader thread: reads the stream with `XREAD BLOCK` on a connection
//! of its own (reconnecting with backoff), from `$` (what is appended from now on) and then
//! from the last entry it read, as the Node adapter polls it, and hands the other servers'
//! broadcasts and room operations to this server's workers in stream order. A reconnect goes
//! on from the last entry read, so entries appended while it was away still arrive (as long
//! as the stream kept them, `maxLen`).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::core::{Core, IO_TIMEOUT, MAX_BACKOFF, RETRY};
use super::dialect::{Dialect, StreamsOpts};
use super::health::{io_fault, Fault, Link};
use super::resp::Reply;
use super::streams_wire::{self, Message};
use super::sub::{deliver, on_request};
use super::wire_error::WireError;

/// How long a read waits before the thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Runs until the adapter stops.
pub(super) fn run(core: &Arc<Core>) {
    let Dialect::Streams(opts) = &core.dialect else {
        return;
    };
    let mut offset = "$".to_string();
    let mut backoff = RETRY;
    while !core.stop.load(Ordering::Acquire) {
        match Conn::connect(&core.url, IO_TIMEOUT).and_then(|mut c| c.ping().map(|()| c)) {
            Ok(mut conn) => {
                core.health.up(Link::Reader);
                backoff = RETRY;
                if let Err(e) = read(core, opts, &mut conn, &mut offset) {
                    core.health.down(Link::Reader, io_fault(&e), &e);
                }
            }
            Err(e) => core.health.down(Link::Reader, Fault::Connect, &e),
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !core.stop.load(Ordering::Acquire) {
            std::thread::sleep(POLL.min(backoff));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Reads and delivers until the connection fails or the adapter stops.
fn read(
    core: &Arc<Core>,
    opts: &StreamsOpts,
    conn: &mut Conn,
    offset: &mut String,
) -> io::Result<()> {
    conn.set_read_timeout(POLL)?;
    let block = opts.block.as_millis().to_string();
    let count = opts.read_count.to_string();
    while !core.stop.load(Ordering::Acquire) {
        conn.queue(&[
            b"XREAD",
            b"BLOCK",
            block.as_bytes(),
            b"COUNT",
            count.as_bytes(),
            b"STREAMS",
            opts.names.stream().as_bytes(),
            offset.as_bytes(),
        ]);
        conn.flush()?;
        // Redis answers a blocked XREAD within its block time; a connection silent past that
        // is dead (a peer gone without a reset), not idle.
        let deadline = Instant::now() + opts.block + IO_TIMEOUT;
        let entries = loop {
            if core.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            if let Some(r) = conn.read(entries_of)? {
                break r?;
            }
            if Instant::now() > deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
        };
        for (id, message) in entries {
            match message {
                Ok(m) => on_entry(core, &m, &id),
                Err(e) => core.health.malformed("stream entry", &e),
            }
            *offset = id;
        }
    }
    Ok(())
}

/// The entries of an XREAD reply (none when it timed out), each with its id.
#[allow(clippy::type_complexity)]
fn entries_of(reply: Reply<'_>) -> io::Result<Vec<(String, Result<Message, WireError>)>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected XREAD reply");
    let streams = match reply {
        Reply::Array(None) => return Ok(Vec::new()),
        Reply::Array(Some(streams)) => streams,
        Reply::Error(e) => return Err(io::Error::other(String::from_utf8_lossy(e).into_owned())),
        _ => return Err(bad()),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Reply::Array(Some(parts)) = stream else {
            return Err(bad());
        };
        let Some(Reply::Array(Some(entries))) = parts.get(1) else {
            return Err(bad());
        };
        out.extend(entry_list(entries)?);
    }
    Ok(out)
}

/// Stream entries as XREAD and XRANGE return them (`[id, [field, value, ...]]` each), each
/// with its id.
#[allow(clippy::type_complexity)]
pub(super) fn entry_list(
    entries: &[Reply<'_>],
) -> io::Result<Vec<(String, Result<Message, WireError>)>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected stream entry");
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Reply::Array(Some(e)) = entry else {
            return Err(bad());
        };
        let id = e.first().and_then(Reply::bytes).ok_or_else(bad)?;
        let id = String::from_utf8_lossy(id).into_owned();
        let fields = match e.get(1) {
            Some(Reply::Array(Some(f))) => f.as_slice(),
            _ => &[],
        };
        let pairs = fields
            .chunks(2)
            .filter_map(|kv| Some((kv.first()?.bytes()?, kv.get(1)?.bytes()?)));
        out.push((id, streams_wire::decode_entry(pairs)));
    }
    Ok(out)
}

/// Entry `id` of another server: a broadcast (with recovery in Redis, its id as the offset,
/// as the reference's cluster adapter adds it), or a room operation.
fn on_entry(core: &Arc<Core>, m: &Message, id: &str) {
    if m.uid == core.uid {
        return;
    }
    if m.is_plain_broadcast() {
        match m.broadcast_at(core.recovery.then_some(id)) {
            Ok(inc) => deliver(core, inc),
            Err(e) => core.health.malformed("broadcast", &e),
        }
    } else if let Some(req) = m.as_request() {
        on_request(core, &m.nsp, &req, &m.attachments);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::adapter::resp;

    #[test]
    fn xread_replies_become_entries() {
        let wire = b"*1\r\n*2\r\n$9\r\nsocket.io\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*8\r\n$3\r\nuid\r\n$1\r\nu\r\n$3\r\nnsp\r\n$1\r\n/\r\n$4\r\ntype\r\n$1\r\n4\r\n$4\r\ndata\r\n$38\r\n{\"opts\":{\"rooms\":[\"r\"]},\"rooms\":[\"v\"]}\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$3\r\nuid\r\n$1\r\nu\r\n";
        let (reply, used) = resp::parse(wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        let entries = entries_of(reply).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, "1-0");
        let m = entries[0].1.as_ref().unwrap();
        assert_eq!((m.uid.as_str(), m.nsp.as_str(), m.ty), ("u", "/", 4));
        assert_eq!(entries[1].0, "1-1");
        assert!(
            entries[1].1.is_err(),
            "no type: malformed, yet skipped past"
        );
        let (timeout, _) = resp::parse(b"*-1\r\n").unwrap().unwrap();
        assert!(entries_of(timeout).unwrap().is_empty());
        let (err, _) = resp::parse(b"-ERR nope\r\n").unwrap().unwrap();
        assert!(entries_of(err).is_err());
        assert!(entries_of(Reply::Int(1)).is_err());
    }
}
