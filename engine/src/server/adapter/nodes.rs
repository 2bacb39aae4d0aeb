//! The other servers of the cluster this one has heard from, by uid, so that a request left
//! unanswered can name them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::server::cluster::{Answers, RequestError};

/// Most other servers remembered; beyond it the one heard from least recently is forgotten.
const MAX_NODES: usize = 1024;

/// The other servers this one heard from (by uid), so a request they leave unanswered can
/// name them. A server that never sent anything is counted as missing but cannot be named.
#[derive(Default)]
pub(crate) struct Nodes(Mutex<HashMap<String, Instant>>);

impl Nodes {
    /// Another server sent something.
    pub fn seen(&self, uid: &str) {
        let Ok(mut m) = self.0.lock() else { return };
        let now = Instant::now();
        match m.get_mut(uid) {
            Some(t) => *t = now,
            None => {
                if m.len() >= MAX_NODES {
                    let oldest = m.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone());
                    if let Some(k) = oldest {
                        m.remove(&k);
                    }
                }
                m.insert(uid.to_string(), now);
            }
        }
    }

    /// The known servers not in `answered`, sorted.
    pub fn missing(&self, answered: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self.0.lock().map_or_else(
            |_| Vec::new(),
            |m| {
                m.keys()
                    .filter(|k| !answered.contains(k))
                    .cloned()
                    .collect()
            },
        );
        out.sort_unstable();
        out
    }

    /// The answer to a request that was never sent: nothing from the others, every known
    /// server missing.
    pub fn unavailable<T: Default>(&self) -> Answers<T> {
        Err(RequestError::Unavailable {
            got: T::default(),
            missing_nodes: self.missing(&[]),
        })
    }
}
