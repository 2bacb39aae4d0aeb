//! The key a worker finds an Engine.IO session by.

/// Finds a session in its worker's table; the epoch tells a session from a later one that
/// reuses its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey {
    pub idx: u32,
    pub epoch: u32,
}
