//! Fuzzes request-head parsing and, when a head parses, body decoding of the bytes after it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley::proto::http::{
    is_websocket_upgrade, parse_request, validate_upgrade, BodyReader, Limits,
};

/// Small caps so the fuzzer reaches the limit paths quickly.
const LIMITS: Limits = Limits {
    max_header_bytes: 1024,
    max_headers: 16,
};
const MAX_BODY: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(req)) = parse_request(data, &LIMITS) else {
        return;
    };
    assert!(req.head_len <= data.len() && req.head_len <= LIMITS.max_header_bytes);
    let _ = req.query_param("sid");
    if is_websocket_upgrade(&req) {
        let _ = validate_upgrade(&req);
    }

    let rest = data.get(req.head_len..).unwrap_or_default();
    let Ok(mut reader) = BodyReader::new(&req.body, MAX_BODY) else {
        return;
    };
    // Feed a prefix first, then everything left over, as a connection would after a short
    // read; this exercises resuming mid-frame.
    let mut out = Vec::new();
    let mut consumed = 0;
    for end in [rest.len() / 2, rest.len()] {
        let Some(available) = rest.get(consumed..end) else {
            return;
        };
        let Ok((used, _)) = reader.feed(available, &mut out) else {
            return;
        };
        assert!(used <= available.len());
        consumed += used;
        assert!(out.len() <= MAX_BODY);
    }
});
