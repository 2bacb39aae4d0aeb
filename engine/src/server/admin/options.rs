//! What the admin UI instrumentation is asked to do: the options of `@socket.io/admin-ui`'s
//! `instrument(io, options)`.

/// How admin clients prove who they are (the reference's `auth` option).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminAuth {
    /// Anyone who reaches the admin namespace may use it (`auth: false`).
    Off,
    /// `{ type: "basic", username, password }`: the client's `auth` must carry `username` and
    /// a `password` matching the bcrypt hash (`$2a$`, `$2b$` or `$2y$`, as `bcryptjs` makes);
    /// a client that logged in gets a `session` event with an id it may send instead
    /// (`auth.sessionId`) for the server's life.
    Basic {
        /// The expected `auth.username`.
        username: String,
        /// The bcrypt hash of the password.
        password_hash: String,
    },
}

/// What the admin namespace reports (the reference's `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdminMode {
    /// Every socket and its changes (`all_sockets`, `socket_connected`, `socket_updated`,
    /// `socket_disconnected`, `room_joined`, `room_left`, `event_received`, `event_sent`) on top
    /// of the periodic `server_stats`. The default, as the reference's when `NODE_ENV` is unset.
    #[default]
    Development,
    /// Only `config` and the periodic `server_stats`: no per-socket or per-event work.
    Production,
}

impl AdminMode {
    /// The mode a `VOLLEY_ADMIN_UI_MODE` value names: `development` or `production`.
    pub fn from_name(name: &str) -> Option<AdminMode> {
        match name.trim() {
            "development" => Some(AdminMode::Development),
            "production" => Some(AdminMode::Production),
            _ => None,
        }
    }
}

/// The admin UI's server side (`@socket.io/admin-ui`'s `instrument`), for
/// [`ServerBuilder::admin_ui`](crate::server::ServerBuilder::admin_ui).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminUi {
    /// Who may connect. There is no default: like the reference, the caller says
    /// [`AdminAuth::Off`] explicitly.
    pub auth: AdminAuth,
    /// Refuses the operations (`emit`, `join`, `leave`, `_disconnect`): the UI only watches.
    /// Default: false.
    pub readonly: bool,
    /// What is reported. Default: [`AdminMode::Development`].
    pub mode: AdminMode,
    /// The admin namespace. Default: `/admin`.
    pub namespace: String,
    /// This server's name in the UI. Default: the host name.
    pub server_id: Option<String>,
}

impl AdminUi {
    /// The reference's defaults with `auth`: read-write, development mode, `/admin`, the host
    /// name as server id.
    pub fn new(auth: AdminAuth) -> Self {
        AdminUi {
            auth,
            readonly: false,
            mode: AdminMode::Development,
            namespace: "/admin".to_string(),
            server_id: None,
        }
    }
}
