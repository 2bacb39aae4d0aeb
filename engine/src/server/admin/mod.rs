//! Compatibility with the Socket.IO admin UI (`@socket.io/admin-ui`): the server side that its
//! `instrument(io, options)` sets up in Node, so the stock UI shows and drives a Volley server.
//! Off by default; when off nothing here runs and the only cost is one `None` check per room
//! change.

mod instrument;
mod operations;
mod options;
mod serialize;
mod stats;

use std::sync::Arc;

pub use options::{AdminAuth, AdminMode, AdminUi};

pub(crate) use instrument::Instrument;
pub(crate) use stats::StatsTask;

use crate::config::ConfigError;
use crate::server::sio::NamespaceBuilder;

impl AdminUi {
    /// Whether per-socket reports are on.
    pub(crate) fn development(&self) -> bool {
        self.mode == AdminMode::Development
    }

    /// Refuses a password hash bcrypt cannot read, as the reference refuses to start.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        match &self.auth {
            AdminAuth::Basic { password_hash, .. }
                if password_hash.parse::<bcrypt::HashParts>().is_err() =>
            {
                Err(ConfigError {
                    var: "VOLLEY_ADMIN_UI_PASSWORD_HASH",
                    value: password_hash.clone(),
                    expected: "a bcrypt hash such as $2b$10$...",
                })
            }
            _ => Ok(()),
        }
    }
}

/// Sets up the admin namespace and, in development mode, hooks every namespace of
/// `namespaces`; returns what the workers and the stats thread share.
pub(crate) fn install(opts: &AdminUi, namespaces: &mut Vec<NamespaceBuilder>) -> Arc<Instrument> {
    let names = namespaces.iter().filter_map(|b| b.name.clone());
    let names = names.filter(|n| !n.contains('{'));
    let core = Arc::new(Instrument::new(&opts.namespace, names.collect::<Vec<_>>()));
    let admin = match namespaces
        .iter()
        .position(|b| b.name.as_deref() == Some(opts.namespace.as_str()))
    {
        Some(i) => i,
        None => {
            namespaces.push(crate::server::sio::namespace_builder::for_pattern(
                &opts.namespace,
            ));
            namespaces.len() - 1
        }
    };
    operations::register(&mut namespaces[admin], opts, core.clone());
    if opts.development() {
        for (i, ns) in namespaces.iter_mut().enumerate() {
            core.observe(ns, i == admin);
        }
    }
    core
}
