//! Session ids chosen by the application, and the internal session each stands for.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::proto::eio::Sid;

/// Custom session ids of one endpoint and the internal session each stands for.
pub(crate) type CustomIds = RwLock<HashMap<Arc<str>, Sid>>;

/// A custom session id, registered in its endpoint's [`CustomIds`] while the session lives or
/// what it owes its client is kept; dropping it unregisters the id.
pub(crate) struct CustomId {
    pub id: Arc<str>,
    pub ids: Arc<CustomIds>,
}

impl Drop for CustomId {
    fn drop(&mut self) {
        if let Ok(mut ids) = self.ids.write() {
            ids.remove(&self.id);
        }
    }
}
