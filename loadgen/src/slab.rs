//! A minimal slab: values addressed by a reusable `usize` key (mio tokens), O(1) insert and
//! remove.

/// Values stored under small reusable keys.
#[derive(Debug)]
pub struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    /// An empty slab.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The key the next [`insert`](Self::insert) will use.
    pub fn vacant_key(&self) -> usize {
        self.free.last().copied().unwrap_or(self.entries.len())
    }

    /// Stores `value` under [`vacant_key`](Self::vacant_key) and returns that key.
    pub fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(key) => {
                if let Some(slot) = self.entries.get_mut(key) {
                    *slot = Some(value);
                }
                key
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    /// The value under `key`.
    pub fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key)?.as_mut()
    }

    /// Takes the value under `key` out, freeing the key.
    pub fn remove(&mut self, key: usize) -> Option<T> {
        let value = self.entries.get_mut(key)?.take()?;
        self.free.push(key);
        Some(value)
    }

    /// Keys in use.
    pub fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(k, v)| v.as_ref().map(|_| k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_reused_after_removal() {
        let mut s = Slab::new();
        assert_eq!(s.vacant_key(), 0);
        assert_eq!(s.insert("a"), 0);
        assert_eq!(s.insert("b"), 1);
        assert_eq!(s.remove(0), Some("a"));
        assert_eq!(s.remove(0), None);
        assert_eq!(s.vacant_key(), 0);
        assert_eq!(s.insert("c"), 0);
        assert_eq!(s.get_mut(0), Some(&mut "c"));
        assert_eq!(s.get_mut(7), None);
        assert_eq!(s.keys().collect::<Vec<_>>(), [0, 1]);
    }
}
