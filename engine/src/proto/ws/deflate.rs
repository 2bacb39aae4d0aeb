//! permessage-deflate (RFC 7692): negotiating the extension from a client's offer, inflating
//! compressed messages with the size limit applied to the inflated bytes, and deflating
//! outgoing messages.
//!
//! A compressed message is raw DEFLATE (RFC 1951) flushed with an empty stored block whose
//! trailing `00 00 ff ff` is left off on the wire; the receiver appends it again. Compressor and
//! decompressor keep their LZ77 window from one message to the next ("context takeover") unless
//! the negotiation says otherwise; without it, their state is dropped after each message, so a
//! connection between messages holds none.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::WsError;

/// The extension's registered name.
const NAME: &str = "permessage-deflate";
/// What a sync flush ends with and the wire form leaves off (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Inflated bytes produced per step: bounds what one step can allocate beyond the limit.
const INFLATE_STEP: usize = 16 * 1024;

/// The parameters both sides agreed on for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server starts each message with an empty window (and keeps no compressor between
    /// messages).
    pub server_no_context_takeover: bool,
    /// The client starts each message with an empty window (so the server keeps no
    /// decompressor between messages).
    pub client_no_context_takeover: bool,
    /// Base-2 logarithm of the largest window the server's compressor may use (8 to 15).
    pub server_max_window_bits: u8,
    /// Base-2 logarithm of the largest window the client's compressor may use (8 to 15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// No parameters: both sides keep their context and may use 32 KiB windows.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// The server's answer to a client's offers: the parameters in force and the
/// `Sec-WebSocket-Extensions` value of the 101 response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// What both sides use from now on.
    pub params: DeflateParams,
    /// The response header's value, e.g. `permessage-deflate; client_max_window_bits=10`.
    pub response: String,
}

/// Chooses the first acceptable permessage-deflate offer among the values of a request's
/// `Sec-WebSocket-Extensions` headers, in order (RFC 7692 §5). An offer with an unknown, repeated
/// or malformed parameter is declined and the next one is tried; `None` when none is
/// acceptable, so the connection goes on without compression (never an error: the client asked,
/// the server may decline).
///
/// The answer echoes what the offer asked of the server (`server_no_context_takeover`,
/// `server_max_window_bits`) and `client_no_context_takeover`; a `client_max_window_bits` with a
/// value is echoed so the client keeps that bound (and the decompressor's window can be that
/// small), one without a value is left out (the client then uses 15), as Node's `ws` answers.
pub fn negotiate<'a>(header_values: impl IntoIterator<Item = &'a str>) -> Option<Accepted> {
    header_values
        .into_iter()
        .flat_map(|v| v.split(','))
        .find_map(parse_offer)
}

/// One offer (`name; param; param=value`), if it is permessage-deflate and acceptable.
fn parse_offer(offer: &str) -> Option<Accepted> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut p = DeflateParams::default();
    let mut seen = [false; 4];
    let mut client_bits_value = None;
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
            None => (part, None),
        };
        let i = [
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
        ]
        .iter()
        .position(|known| name.eq_ignore_ascii_case(known))?;
        if std::mem::replace(&mut seen[i], true) {
            return None;
        }
        match (i, value) {
            (0, None) => p.server_no_context_takeover = true,
            (1, None) => p.client_no_context_takeover = true,
            (2, Some(v)) => p.server_max_window_bits = window_bits(v)?,
            (3, None) => {}
            (3, Some(v)) => {
                p.client_max_window_bits = window_bits(v)?;
                client_bits_value = Some(p.client_max_window_bits);
            }
            _ => return None,
        }
    }
    let mut response = String::from(NAME);
    if p.server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if p.client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if seen[2] {
        response.push_str(&format!(
            "; server_max_window_bits={}",
            p.server_max_window_bits
        ));
    }
    if let Some(bits) = client_bits_value {
        response.push_str(&format!("; client_max_window_bits={bits}"));
    }
    Some(Accepted {
        params: p,
        response,
    })
}

/// A parameter value may be a quoted string whose content is a token (RFC 7692 §7.1).
fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(v),
    }
}

/// A window size: 8 to 15 in decimal without a leading zero (RFC 7692 §7.1.2).
fn window_bits(v: &str) -> Option<u8> {
    match v.as_bytes() {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// zlib refuses an 8-bit window for raw deflate; 9 serves both ends. A 9-bit compressor never
/// reaches back past 250 bytes (zlib keeps `MIN_LOOKAHEAD`, 262 bytes, out of its window), so
/// its output suits a peer limited to 8 bits; a 9-bit decompressor reads what an 8-bit
/// compressor wrote.
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// Inflates one side's compressed messages.
#[derive(Debug)]
pub struct Inflater {
    z: Option<Decompress>,
    window_bits: u8,
    no_context_takeover: bool,
    /// The message in progress had a final block: the rest of it, the tail included, is
    /// ignored.
    ended: bool,
}

impl Inflater {
    /// A decompressor for the peer's messages: `window_bits` and `no_context_takeover` are the
    /// peer's side of the [`DeflateParams`] (the client's, on a server).
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Inflater {
            z: None,
            window_bits: zlib_bits(window_bits),
            no_context_takeover,
            ended: false,
        }
    }

    /// Inflates `input`, a piece of a compressed message, appending to `out`. Fails with
    /// [`WsError::TooBig`] as soon as `out` would pass `max` bytes (its capacity never grows
    /// past `max` + 1, however well the input compresses) and with
    /// [`WsError::BadCompression`] on data that is not DEFLATE.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(), WsError> {
        if self.ended {
            return Ok(());
        }
        let bits = self.window_bits;
        let z = self
            .z
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut input = input;
        loop {
            let room = INFLATE_STEP.min(max.saturating_add(1).saturating_sub(out.len()));
            if room == 0 {
                return Err(WsError::TooBig);
            }
            let len = out.len();
            if out.capacity() < len + room {
                // Grow geometrically, but never past the limit: a bomb cannot make it allocate
                // more.
                let cap = (len + room)
                    .max(out.capacity().saturating_mul(2))
                    .min(max.saturating_add(1));
                out.reserve_exact(cap - len);
            }
            out.resize(len + room, 0);
            let before = (z.total_in(), z.total_out());
            let status = z.decompress(input, &mut out[len..], FlushDecompress::Sync);
            let used = (z.total_in() - before.0) as usize;
            let made = (z.total_out() - before.1) as usize;
            out.truncate(len + made);
            input = &input[used..];
            match status {
                Ok(Status::StreamEnd) => {
                    // A final block (RFC 7692 §7.2.3.4): what follows it is ignored, and the
                    // next message starts a new stream.
                    z.reset(false);
                    self.ended = true;
                    return Ok(());
                }
                Ok(_) if input.is_empty() && made < room => return Ok(()),
                Ok(_) if used == 0 && made == 0 => return Err(WsError::BadCompression),
                Ok(_) => {}
                Err(_) => return Err(WsError::BadCompression),
            }
            if out.len() > max {
                return Err(WsError::TooBig);
            }
        }
    }

    /// Ends a message: inflates the `00 00 ff ff` the sender left off, then forgets the window
    /// when the peer does not keep its context.
    pub fn finish(&mut self, out: &mut Vec<u8>, max: usize) -> Result<(), WsError> {
        self.inflate(&TAIL, out, max)?;
        if out.len() > max {
            return Err(WsError::TooBig);
        }
        self.ended = false;
        if self.no_context_takeover {
            self.z = None;
        }
        Ok(())
    }
}

/// Deflates one side's outgoing messages.
#[derive(Debug)]
pub struct Deflater {
    z: Option<Compress>,
    window_bits: u8,
    no_context_takeover: bool,
}

impl Deflater {
    /// A compressor for our messages: `window_bits` and `no_context_takeover` are our side of
    /// the [`DeflateParams`] (the server's, on a server).
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Deflater {
            z: None,
            window_bits: zlib_bits(window_bits),
            no_context_takeover,
        }
    }

    /// The window size this compressor uses (what the peer allowed, 9 for 8).
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Forgets what was sent: the next message refers to nothing before it. A sender may
    /// always do without its context (RFC 7692 only lets it keep it), and must once a message
    /// compressed elsewhere went out between two of its own: the peer's window holds that
    /// message, this compressor's history does not, and references into it would read wrong
    /// bytes. Frees the compressor until the next message.
    pub fn forget_context(&mut self) {
        self.z = None;
    }

    /// Appends `message` compressed as one permessage-deflate payload (without the trailing
    /// `00 00 ff ff`) to `out`. The compressor is made on first use and, without context
    /// takeover, dropped again after the message, so an idle connection holds none.
    pub fn deflate(&mut self, message: &[u8], out: &mut Vec<u8>) {
        let bits = self.window_bits;
        let z = self.z.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::default(), false, bits)
        });
        let start = out.len();
        let before = z.total_in();
        loop {
            let used = (z.total_in() - before) as usize;
            // Incompressible data grows by 5 bytes per stored block; this leaves room for it.
            out.reserve(message.len() - used + 64);
            z.compress_vec(&message[used..], out, FlushCompress::Sync)
                .expect("deflate of an in-memory buffer cannot fail");
            // Room left over after all the input went in: the flush is complete.
            if (z.total_in() - before) as usize == message.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.len() == start {
            // An empty message: the one byte RFC 7692 §7.2.3.6 shows (an empty stored block
            // without its length).
            out.push(0);
        }
        if self.no_context_takeover {
            self.z = None;
        }
    }
}

#[cfg(test)]
mod tests;
