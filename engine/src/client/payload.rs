//! [`Payload`]: the arguments of an emit, an event, or an ack, as a JSON array plus binary
//! attachments.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Arguments as a JSON array (`[arg0,arg1,...]`) and the binary attachments its
/// `{"_placeholder":true,"num":N}` objects point at.
///
/// Build outgoing ones with [`Payload::new`] + [`arg`](Payload::arg) /
/// [`binary`](Payload::binary), or [`Payload::from_args`]; read incoming ones with
/// [`get`](Payload::get), [`binary_at`](Payload::binary_at) or
/// [`deserialize`](Payload::deserialize).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    json: Vec<u8>,
    attachments: Vec<Bytes>,
}

impl Default for Payload {
    fn default() -> Self {
        Self::new()
    }
}

impl Payload {
    /// No arguments: `[]`.
    pub fn new() -> Self {
        Self {
            json: b"[]".to_vec(),
            attachments: Vec::new(),
        }
    }

    /// Wraps a JSON array the caller vouches for, with the attachments its placeholders index.
    pub fn from_json_array(json: impl Into<Vec<u8>>, attachments: Vec<Bytes>) -> Self {
        Self {
            json: json.into(),
            attachments,
        }
    }

    /// Serialises `args` (a tuple, `Vec`, slice or array; `()` means none) as the arguments;
    /// any other value becomes the single argument.
    pub fn from_args<T: Serialize + ?Sized>(args: &T) -> Result<Self, serde_json::Error> {
        let value = serde_json::to_value(args)?;
        let json = match value {
            serde_json::Value::Null => b"[]".to_vec(),
            array @ serde_json::Value::Array(_) => array.to_string().into_bytes(),
            single => format!("[{single}]").into_bytes(),
        };
        Ok(Self::from_json_array(json, Vec::new()))
    }

    /// Appends one JSON argument.
    pub fn arg(mut self, value: impl Into<serde_json::Value>) -> Self {
        self.push_raw(value.into().to_string().as_bytes());
        self
    }

    /// Appends one binary argument: a placeholder in the JSON and an attachment.
    pub fn binary(mut self, data: impl Into<Bytes>) -> Self {
        let placeholder = format!(
            r#"{{"_placeholder":true,"num":{}}}"#,
            self.attachments.len()
        );
        self.push_raw(placeholder.as_bytes());
        self.attachments.push(data.into());
        self
    }

    fn push_raw(&mut self, item: &[u8]) {
        if self.json.last() == Some(&b']') {
            self.json.pop();
        }
        if self.json.is_empty() {
            self.json.push(b'[');
        }
        if self.json.iter().rev().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
            self.json.push(b',');
        }
        self.json.extend_from_slice(item);
        self.json.push(b']');
    }

    /// The arguments as JSON array text.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// The binary attachments, in placeholder `num` order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// The arguments as JSON values (empty if the JSON is not an array).
    pub fn values(&self) -> Vec<serde_json::Value> {
        serde_json::from_slice(&self.json).unwrap_or_default()
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.values().len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Argument `i` deserialised as `T`, if present and of that shape.
    pub fn get<T: DeserializeOwned>(&self, i: usize) -> Option<T> {
        let value = self.values().into_iter().nth(i)?;
        serde_json::from_value(value).ok()
    }

    /// The attachment argument `i` stands for, if it is a binary placeholder.
    pub fn binary_at(&self, i: usize) -> Option<&Bytes> {
        let values = self.values();
        let object = values.get(i)?.as_object()?;
        if object.get("_placeholder")? != &serde_json::Value::Bool(true) {
            return None;
        }
        let num = usize::try_from(object.get("num")?.as_u64()?).ok()?;
        self.attachments.get(num)
    }

    /// All arguments deserialised at once, e.g. into a tuple `(String, u32)`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_arrays_with_placeholders() {
        let p = Payload::new()
            .arg("hi")
            .binary(vec![1u8, 2])
            .arg(serde_json::json!({"a": 1}))
            .binary(Bytes::from_static(b"z"));
        assert_eq!(
            std::str::from_utf8(p.json()).unwrap(),
            r#"["hi",{"_placeholder":true,"num":0},{"a":1},{"_placeholder":true,"num":1}]"#
        );
        assert_eq!(p.len(), 4);
        assert_eq!(p.get::<String>(0).as_deref(), Some("hi"));
        assert_eq!(p.binary_at(1).map(|b| b.as_ref()), Some(&[1u8, 2][..]));
        assert_eq!(p.binary_at(3).map(|b| b.as_ref()), Some(&b"z"[..]));
        assert_eq!(p.binary_at(0), None);
        assert_eq!(p.binary_at(9), None);
        assert!(Payload::new().is_empty());
        assert_eq!(Payload::default().json(), b"[]");
    }

    #[test]
    fn from_args_and_deserialize() {
        let p = Payload::from_args(&("a", 2, [true])).unwrap();
        assert_eq!(p.json(), br#"["a",2,[true]]"#);
        let (s, n, v): (String, u32, Vec<bool>) = p.deserialize().unwrap();
        assert_eq!((s.as_str(), n, v), ("a", 2, vec![true]));
        assert_eq!(Payload::from_args(&()).unwrap().json(), b"[]");
        assert_eq!(Payload::from_args(&5).unwrap().json(), b"[5]");
        let odd = Payload::from_json_array(&b"not json"[..], Vec::new());
        assert!(odd.values().is_empty() && odd.get::<u8>(0).is_none());
        assert_eq!(
            Payload::from_json_array(&b"[1]"[..], Vec::new())
                .arg(2)
                .json(),
            b"[1,2]"
        );
    }
}
