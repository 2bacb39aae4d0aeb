//! Why a message from another node of the cluster cannot be used.

use std::fmt;

use crate::proto::msgpack::MsgpackError;

/// A message from another node that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    /// Bad msgpack.
    Msgpack(MsgpackError),
    /// Bad JSON.
    Json(String),
    /// Well-formed, but not the shape the adapter sends (the field named is missing or wrong).
    Shape(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Msgpack(e) => write!(f, "{e}"),
            WireError::Json(e) => write!(f, "JSON: {e}"),
            WireError::Shape(field) => write!(f, "unexpected message shape at {field}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<MsgpackError> for WireError {
    fn from(e: MsgpackError) -> Self {
        WireError::Msgpack(e)
    }
}
