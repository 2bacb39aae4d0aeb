//! Message bodies between JSON and msgpack: other servers send JSON or msgpack, whose byte
//! strings stand for binary arguments; ours carry them as placeholders plus attachments.

use bytes::Bytes;
use serde_json::{Map, Value as Json};

use super::wire_error::WireError;
use crate::proto::msgpack::{self, Value as Mp};

/// Parses a message body: JSON when it opens with `{` (as the adapter checks), else msgpack,
/// whose byte strings become placeholders numbered in order into the returned attachments.
pub(crate) fn parse(payload: &[u8]) -> Result<(Json, Vec<Bytes>), WireError> {
    if payload.first() == Some(&b'{') {
        let v = serde_json::from_slice(payload).map_err(|e| WireError::Json(e.to_string()))?;
        return Ok((v, Vec::new()));
    }
    let mp = msgpack::decode(payload)?;
    let mut attachments = Vec::new();
    let v = mp_to_json(&mp, &mut attachments)?;
    Ok((v, attachments))
}

fn mp_to_json(v: &Mp<'_>, attachments: &mut Vec<Bytes>) -> Result<Json, WireError> {
    Ok(match v {
        // Ext types (notepack's dates) have no JSON form the events could carry.
        Mp::Nil | Mp::Ext(..) => Json::Null,
        Mp::Bool(b) => Json::Bool(*b),
        Mp::Int(n) => Json::from(*n),
        Mp::UInt(n) => Json::from(*n),
        Mp::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Mp::Str(s) => Json::String((*s).to_string()),
        Mp::Bin(b) => {
            attachments.push(Bytes::copy_from_slice(b));
            serde_json::json!({"_placeholder": true, "num": attachments.len() - 1})
        }
        Mp::Array(items) => Json::Array(
            items
                .iter()
                .map(|i| mp_to_json(i, attachments))
                .collect::<Result<_, _>>()?,
        ),
        Mp::Map(entries) => {
            let mut m = Map::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match k {
                    Mp::Str(s) => (*s).to_string(),
                    Mp::UInt(n) => n.to_string(),
                    Mp::Int(n) => n.to_string(),
                    _ => return Err(WireError::Shape("map key")),
                };
                m.insert(key, mp_to_json(v, attachments)?);
            }
            Json::Object(m)
        }
    })
}

/// The index of a `{"_placeholder":true,"num":N}` object.
fn placeholder(v: &Json) -> Option<usize> {
    let o = v.as_object()?;
    if o.len() != 2 || o.get("_placeholder")? != &Json::Bool(true) {
        return None;
    }
    usize::try_from(o.get("num")?.as_u64()?).ok()
}

/// Appends `v` as msgpack, placeholders replaced by their attachments' bytes.
pub(crate) fn write_mp(
    out: &mut Vec<u8>,
    v: &Json,
    attachments: &[Bytes],
) -> Result<(), WireError> {
    match v {
        Json::Null => msgpack::write_nil(out),
        Json::Bool(b) => msgpack::write_bool(out, *b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                msgpack::write_uint(out, u);
            } else if let Some(i) = n.as_i64() {
                msgpack::write_int(out, i);
            } else {
                msgpack::write_f64(out, n.as_f64().unwrap_or(0.0));
            }
        }
        Json::String(s) => msgpack::write_str(out, s),
        Json::Array(items) => {
            msgpack::write_array_len(out, items.len());
            for i in items {
                write_mp(out, i, attachments)?;
            }
        }
        Json::Object(m) => {
            if let Some(num) = placeholder(v) {
                let bin = attachments
                    .get(num)
                    .ok_or(WireError::Shape("placeholder num"))?;
                msgpack::write_bin(out, bin);
                return Ok(());
            }
            msgpack::write_map_len(out, m.len());
            for (k, v) in m {
                msgpack::write_str(out, k);
                write_mp(out, v, attachments)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn byte_strings_become_numbered_placeholders_and_back() {
        // notepack.io's encode({a: Buffer[1], b: [Buffer[2, 3], 1.5, null]}).
        let wire = b"\x82\xa1a\xc4\x01\x01\xa1b\x93\xc4\x02\x02\x03\xcb\x3f\xf8\0\0\0\0\0\0\xc0";
        let (v, bins) = parse(wire).unwrap();
        let p = |n: usize| json!({"_placeholder": true, "num": n});
        assert_eq!(v, json!({"a": p(0), "b": [p(1), 1.5, null]}));
        assert_eq!(
            bins,
            [Bytes::from_static(&[1]), Bytes::from_static(&[2, 3])]
        );
        let mut out = Vec::new();
        write_mp(&mut out, &v, &bins).unwrap();
        assert_eq!(out, wire);
    }

    #[test]
    fn json_bodies_pass_through() {
        let (v, bins) = parse(br#"{"type":6,"data":["e"]}"#).unwrap();
        assert_eq!(v, json!({"type": 6, "data": ["e"]}));
        assert!(bins.is_empty());
        assert!(
            matches!(parse(b"\x81\xc3\x01"), Err(WireError::Shape(_))),
            "bool map key"
        );
    }
}
