//! Emitted arguments from any `Serialize` value, written as JSON in one pass.
//!
//! - The argument list: a tuple or a fixed-size array is several arguments (`()` none);
//!   anything else — a string, a number, a struct, a `Vec`, `serde_json::Value` (`Null`
//!   included), `None` — is one argument, as one value passed to `socket.emit` is in
//!   JavaScript.
//! - Binary: a value that serialises as bytes (`bytes::Bytes`, `serde_bytes`) or a non-empty
//!   sequence of `u8` (`Vec<u8>`, `&[u8]`) becomes an attachment, written as the placeholder
//!   `{"_placeholder":true,"num":N}`, as socket.io-parser does with a `Buffer`.
//! - JSON as JavaScript's `JSON.stringify` writes it: non-finite floats are `null`;
//!   `serde_json::value::RawValue` (and [`ValueRef`](super::ValueRef)) is copied verbatim.

use bytes::Bytes;
use serde::ser::{self, Serialize};

use super::encode::write_json_str;

/// Appends `value` as the comma-separated argument list (no brackets) to `out`, and its binary
/// parts to `attachments`. Returns how many arguments were written. On error `out` may hold a
/// partial list: the caller truncates it.
pub fn write_args<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    attachments: &mut Vec<Bytes>,
    value: &T,
) -> Result<usize, SerError> {
    let mut ser = JsonSer {
        out,
        attachments,
        top: true,
        // `()` is the empty tuple; other unit values (`Value::Null`, `None`) are one `null`.
        empty_unit: std::mem::size_of_val(value) == 0,
        args: 0,
        last_u8: None,
        raw: false,
    };
    value.serialize(&mut ser)?;
    Ok(ser.args)
}

/// Appends `value` as one JSON value (binary parts as placeholders into `attachments`).
pub fn write_value<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    attachments: &mut Vec<Bytes>,
    value: &T,
) -> Result<(), SerError> {
    let mut ser = JsonSer {
        out,
        attachments,
        top: false,
        empty_unit: false,
        args: 1,
        last_u8: None,
        raw: false,
    };
    value.serialize(&mut ser)
}

/// A list of arguments whose length is known only at run time: each item is one argument
/// (a slice or `Vec` passed directly is one argument, an array).
#[derive(Clone, Copy, Debug)]
pub struct ArgList<'a, T>(pub &'a [T]);

impl<T: Serialize> Serialize for ArgList<'_, T> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeTuple;
        let mut t = serializer.serialize_tuple(self.0.len())?;
        for item in self.0 {
            t.serialize_element(item)?;
        }
        t.end()
    }
}

/// Why a value could not be written as arguments: serde's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerError(pub String);

impl std::fmt::Display for SerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

/// serde_json's name for its raw-value struct; its one field holds the JSON text.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

struct JsonSer<'o> {
    out: &'o mut Vec<u8>,
    attachments: &'o mut Vec<Bytes>,
    /// The next value is the whole argument list.
    top: bool,
    /// A unit value at the top level is no arguments (the value is `()`).
    empty_unit: bool,
    /// Arguments written (for the top level).
    args: usize,
    /// The last value written was this bare `u8` (to spot byte sequences).
    last_u8: Option<u8>,
    /// Inside a raw value: the next string is JSON text to copy.
    raw: bool,
}

impl JsonSer<'_> {
    /// Starts one value: at the top level it is the only argument.
    fn scalar(&mut self) {
        if self.top {
            self.top = false;
            self.args = 1;
        }
        self.last_u8 = None;
    }

    fn placeholder(&mut self, bytes: Bytes) {
        self.out
            .extend_from_slice(b"{\"_placeholder\":true,\"num\":");
        write_number(self.out, self.attachments.len());
        self.out.push(b'}');
        self.attachments.push(bytes);
    }
}

type Res = Result<(), SerError>;

/// Writes a number in decimal straight into the output (no `String` per number).
fn write_number(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    use std::io::Write as _;
    // Writing into a Vec<u8> cannot fail.
    let _ = write!(out, "{v}");
}

macro_rules! write_display {
    ($($name:ident: $ty:ty),*) => {$(
        fn $name(self, v: $ty) -> Res {
            self.scalar();
            write_number(self.out, v);
            Ok(())
        }
    )*};
}

impl<'a, 'o> ser::Serializer for &'a mut JsonSer<'o> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Seq<'a, 'o>;
    type SerializeTuple = Seq<'a, 'o>;
    type SerializeTupleStruct = Seq<'a, 'o>;
    type SerializeTupleVariant = Seq<'a, 'o>;
    type SerializeMap = Map<'a, 'o>;
    type SerializeStruct = Map<'a, 'o>;
    type SerializeStructVariant = Map<'a, 'o>;

    fn serialize_bool(self, v: bool) -> Res {
        self.scalar();
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    write_display!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128);

    fn serialize_u8(self, v: u8) -> Res {
        self.scalar();
        write_number(self.out, v);
        self.last_u8 = Some(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Res {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Res {
        self.scalar();
        if v.is_finite() {
            // serde_json's float formatting (shortest round trip), as JSON.stringify writes it.
            serde_json::to_writer(&mut *self.out, &v).map_err(ser::Error::custom)
        } else {
            self.out.extend_from_slice(b"null");
            Ok(())
        }
    }

    fn serialize_char(self, v: char) -> Res {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Res {
        if self.raw {
            self.raw = false;
            self.out.extend_from_slice(v.as_bytes());
            return Ok(());
        }
        self.scalar();
        write_json_str(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Res {
        self.scalar();
        self.placeholder(Bytes::copy_from_slice(v));
        Ok(())
    }

    fn serialize_none(self) -> Res {
        self.scalar();
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Res {
        if self.top && self.empty_unit {
            self.top = false;
            return Ok(());
        }
        self.scalar();
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Res {
        self.scalar();
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_variant(self, _name: &'static str, _i: u32, variant: &'static str) -> Res {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Res {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> Res {
        self.scalar();
        self.out.push(b'{');
        write_json_str(self.out, variant);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'a, 'o>, SerError> {
        self.scalar();
        let start = self.out.len();
        self.out.push(b'[');
        Ok(Seq {
            ser: self,
            kind: SeqKind::Array { start },
            first: true,
            bytes: Some(Vec::new()),
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Seq<'a, 'o>, SerError> {
        if self.top {
            self.top = false;
            self.args = len;
            return Ok(Seq {
                ser: self,
                kind: SeqKind::Args,
                first: true,
                bytes: None,
            });
        }
        self.scalar();
        self.out.push(b'[');
        Ok(Seq {
            ser: self,
            kind: SeqKind::Tuple,
            first: true,
            bytes: None,
        })
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Seq<'a, 'o>, SerError> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Seq<'a, 'o>, SerError> {
        self.scalar();
        self.out.push(b'{');
        write_json_str(self.out, variant);
        self.out.extend_from_slice(b":[");
        Ok(Seq {
            ser: self,
            kind: SeqKind::Variant,
            first: true,
            bytes: None,
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a, 'o>, SerError> {
        self.scalar();
        self.out.push(b'{');
        Ok(Map {
            ser: self,
            first: true,
            kind: MapKind::Object,
        })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Map<'a, 'o>, SerError> {
        if name == RAW_VALUE_TOKEN {
            self.scalar();
            self.raw = true;
            return Ok(Map {
                ser: self,
                first: true,
                kind: MapKind::Raw,
            });
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Map<'a, 'o>, SerError> {
        self.scalar();
        self.out.push(b'{');
        write_json_str(self.out, variant);
        self.out.extend_from_slice(b":{");
        Ok(Map {
            ser: self,
            first: true,
            kind: MapKind::Variant,
        })
    }
}

enum SeqKind {
    /// A sequence: `[...]`, or an attachment if every element was a `u8`.
    Array { start: usize },
    /// A nested tuple: `[...]`.
    Tuple,
    /// The top-level tuple: the arguments, no brackets.
    Args,
    /// A tuple variant: `{"V":[...]}`.
    Variant,
}

/// A sequence, tuple or argument list being written.
pub struct Seq<'a, 'o> {
    ser: &'a mut JsonSer<'o>,
    kind: SeqKind,
    first: bool,
    /// The bytes so far while every element was a bare `u8`.
    bytes: Option<Vec<u8>>,
}

impl Seq<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        if !self.first {
            self.ser.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.ser)?;
        let byte = self.ser.last_u8.take();
        if let Some(bytes) = self.bytes.as_mut() {
            match byte {
                Some(b) => bytes.push(b),
                None => self.bytes = None,
            }
        }
        Ok(())
    }

    fn finish(self) -> Res {
        match self.kind {
            SeqKind::Array { start } => match self.bytes {
                Some(bytes) if !bytes.is_empty() => {
                    self.ser.out.truncate(start);
                    self.ser.placeholder(Bytes::from(bytes));
                }
                _ => self.ser.out.push(b']'),
            },
            SeqKind::Tuple => self.ser.out.push(b']'),
            SeqKind::Args => {}
            SeqKind::Variant => self.ser.out.extend_from_slice(b"]}"),
        }
        self.ser.last_u8 = None;
        Ok(())
    }
}

impl ser::SerializeSeq for Seq<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        self.element(value)
    }
    fn end(self) -> Res {
        self.finish()
    }
}

impl ser::SerializeTuple for Seq<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        self.element(value)
    }
    fn end(self) -> Res {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Seq<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        self.element(value)
    }
    fn end(self) -> Res {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Seq<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        self.element(value)
    }
    fn end(self) -> Res {
        self.finish()
    }
}

enum MapKind {
    /// `{...}`.
    Object,
    /// A struct variant: `{"V":{...}}`.
    Variant,
    /// serde_json's raw value: its one field is JSON text, copied as is.
    Raw,
}

/// A map, struct or struct variant being written.
pub struct Map<'a, 'o> {
    ser: &'a mut JsonSer<'o>,
    first: bool,
    kind: MapKind,
}

impl Map<'_, '_> {
    fn key(&mut self, key: &str) {
        if !self.first {
            self.ser.out.push(b',');
        }
        self.first = false;
        write_json_str(self.ser.out, key);
        self.ser.out.push(b':');
    }

    fn finish(self) -> Res {
        match self.kind {
            MapKind::Object => self.ser.out.push(b'}'),
            MapKind::Variant => self.ser.out.extend_from_slice(b"}}"),
            MapKind::Raw if self.ser.raw => {
                return Err(ser::Error::custom("raw JSON value without its text"))
            }
            MapKind::Raw => {}
        }
        self.ser.last_u8 = None;
        Ok(())
    }
}

impl ser::SerializeMap for Map<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Res {
        let key = key.serialize(KeySer)?;
        self.key(&key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Res {
        self.finish()
    }
}

impl ser::SerializeStruct for Map<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res {
        if let MapKind::Raw = self.kind {
            // The raw value's only field: its JSON text, copied by `serialize_str`.
            return value.serialize(&mut *self.ser);
        }
        self.key(key);
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Res {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Map<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res {
        self.key(key);
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Res {
        self.finish()
    }
}

/// Map keys: strings, and numbers, chars and unit variants as their text (serde_json's rules).
struct KeySer;

macro_rules! key_display {
    ($($name:ident: $ty:ty),*) => {$(
        fn $name(self, v: $ty) -> Result<String, SerError> {
            Ok(v.to_string())
        }
    )*};
}

impl ser::Serializer for KeySer {
    type Ok = String;
    type Error = SerError;
    type SerializeSeq = ser::Impossible<String, SerError>;
    type SerializeTuple = ser::Impossible<String, SerError>;
    type SerializeTupleStruct = ser::Impossible<String, SerError>;
    type SerializeTupleVariant = ser::Impossible<String, SerError>;
    type SerializeMap = ser::Impossible<String, SerError>;
    type SerializeStruct = ser::Impossible<String, SerError>;
    type SerializeStructVariant = ser::Impossible<String, SerError>;

    key_display!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128, serialize_char: char, serialize_str: &str,
        serialize_bool: bool);

    fn serialize_f32(self, v: f32) -> Result<String, SerError> {
        Err(key_error(v))
    }
    fn serialize_f64(self, v: f64) -> Result<String, SerError> {
        Err(key_error(v))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, SerError> {
        Err(key_error("bytes"))
    }
    fn serialize_none(self) -> Result<String, SerError> {
        Err(key_error("none"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, SerError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, SerError> {
        Err(key_error("()"))
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<String, SerError> {
        Err(key_error(name))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<String, SerError> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<String, SerError> {
        Err(key_error(variant))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        Err(key_error("a sequence"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, SerError> {
        Err(key_error("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(key_error(name))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(key_error(variant))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Err(key_error("a map"))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Err(key_error(name))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(key_error(variant))
    }
}

fn key_error(what: impl std::fmt::Display) -> SerError {
    SerError(format!("map key must be a string or a number, got {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<T: Serialize + ?Sized>(value: &T) -> (String, usize, Vec<Bytes>) {
        let mut out = Vec::new();
        let mut attachments = Vec::new();
        let n = write_args(&mut out, &mut attachments, value).unwrap();
        (String::from_utf8(out).unwrap(), n, attachments)
    }

    #[test]
    fn one_value_is_one_argument_a_tuple_several() {
        assert_eq!(args(&"hi").0, r#""hi""#);
        assert_eq!(args(&"hi").1, 1);
        assert_eq!(args(&42).0, "42");
        assert_eq!(args(&serde_json::Value::Null), ("null".into(), 1, vec![]));
        assert_eq!(args(&None::<u8>), ("null".into(), 1, vec![]));
        assert_eq!(args(&()), (String::new(), 0, vec![]));
        assert_eq!(args(&("a", 1, true)), (r#""a",1,true"#.into(), 3, vec![]));
        assert_eq!(args(&["x", "y"]), (r#""x","y""#.into(), 2, vec![]));
        assert_eq!(args(&vec!["x", "y"]), (r#"["x","y"]"#.into(), 1, vec![]));
        assert_eq!(
            args(&serde_json::json!({"name": "John"})).0,
            r#"{"name":"John"}"#
        );
        assert_eq!(args(&(vec![1, 2], ())).0, "[1,2],null");
        assert_eq!(args(&ArgList(&[1, 2])), ("1,2".into(), 2, vec![]));
        assert_eq!(args(&ArgList::<u8>(&[])), (String::new(), 0, vec![]));
    }

    #[test]
    fn json_like_json_stringify() {
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tup(u8, u16),
            Rec { a: f64 },
        }
        #[derive(serde::Serialize)]
        struct S<'a> {
            s: &'a str,
            f: f64,
            nan: f64,
            o: Option<i8>,
            m: std::collections::BTreeMap<u32, char>,
            e: [E; 4],
        }
        let s = S {
            s: "q\"\n\u{1}é",
            f: 0.1,
            nan: f64::NAN,
            o: None,
            m: [(7, 'x')].into_iter().collect(),
            e: [E::Unit, E::New(1), E::Tup(2, 3), E::Rec { a: -1.5 }],
        };
        assert_eq!(
            args(&s).0,
            r#"{"s":"q\"\n\u0001é","f":0.1,"nan":null,"o":null,"m":{"7":"x"},"e":["Unit",{"New":1},{"Tup":[2,3]},{"Rec":{"a":-1.5}}]}"#
        );
        let raw =
            serde_json::value::RawValue::from_string(r#"{"z":1, "a":"\ud800"}"#.into()).unwrap();
        assert_eq!(args(&("e", &raw)).0, r#""e",{"z":1, "a":"\ud800"}"#);
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1], 2);
        let err = write_args(&mut Vec::new(), &mut Vec::new(), &bad).unwrap_err();
        assert!(err.0.contains("map key"), "{err}");
    }

    #[test]
    fn bytes_become_attachments() {
        let (json, n, att) = args(&Bytes::from_static(b"\x01\x02"));
        assert_eq!((json.as_str(), n), (r#"{"_placeholder":true,"num":0}"#, 1));
        assert_eq!(att, vec![Bytes::from_static(b"\x01\x02")]);
        let (json, n, att) = args(&("name", vec![9u8, 8], [1u8, 2], Vec::<u8>::new()));
        assert_eq!(
            (json.as_str(), n),
            (r#""name",{"_placeholder":true,"num":0},[1,2],[]"#, 4)
        );
        assert_eq!(att, vec![Bytes::from_static(&[9, 8])]);
        // Numbers of other widths stay numbers; a mixed sequence stays an array.
        assert_eq!(args(&vec![1u16, 2]).0, "[1,2]");
        assert_eq!(args(&vec![(1u8,)]).0, "[[1]]");
        let nested = serde_json::json!({"k": [1, 2]});
        assert_eq!(args(&nested).0, r#"{"k":[1,2]}"#);
        let mut out = Vec::new();
        let mut att = Vec::new();
        write_value(&mut out, &mut att, &(1u8, vec![5u8])).unwrap();
        assert_eq!(out, br#"[1,{"_placeholder":true,"num":0}]"#);
    }
}
