//! What a cluster request (one that waits for the other servers through the adapter) returns
//! when not every server answered.

use super::sio::EmitError;

/// What a cluster request collected: every server's answer, or what came and who is missing.
pub(crate) type Answers<T> = Result<T, RequestError<T>>;

/// Why a cluster request ([`super::HandleBroadcast::fetch_sockets`],
/// [`super::ServerHandle::server_side_emit_with_ack`]) did not hear from every server. The
/// answers that did come are in `got`, this server's own part included, so a caller can use
/// the partial result knowingly.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RequestError<T> {
    /// `missing` servers did not answer within the requests timeout (`requests_timeout`,
    /// `VOLLEY_REQUESTS_TIMEOUT_MS`). Node's adapter rejects `fetchSockets` then with "timeout
    /// reached while waiting for fetchSockets response" and gives `serverSideEmit`'s callback
    /// an error with the responses that came.
    Timeout {
        /// What arrived in time.
        got: T,
        /// How many servers did not answer (Redis counts the servers that listen).
        missing: usize,
        /// The uids of those servers that this one has heard from before, sorted; a server
        /// that never sent anything is counted in `missing` without a name, and none is
        /// named when a server answered without saying who it is (Node's adapter does not).
        missing_nodes: Vec<String>,
    },
    /// The request could not be sent: Redis is unreachable (or the adapter's command queue
    /// was full, or the server is stopping). `got` holds this server's own part.
    Unavailable {
        /// This server's own part.
        got: T,
        /// The uids of the other servers this one knew, none of which was asked, sorted.
        missing_nodes: Vec<String>,
    },
    /// The event could not be encoded (server-side emits only); nothing was sent.
    Emit(EmitError),
}

impl<T> RequestError<T> {
    /// What arrived (empty for [`RequestError::Emit`]).
    pub fn got(self) -> T
    where
        T: Default,
    {
        match self {
            RequestError::Timeout { got, .. } | RequestError::Unavailable { got, .. } => got,
            RequestError::Emit(_) => T::default(),
        }
    }

    /// The uids of the servers known to have not answered.
    pub fn missing_nodes(&self) -> &[String] {
        match self {
            RequestError::Timeout { missing_nodes, .. }
            | RequestError::Unavailable { missing_nodes, .. } => missing_nodes,
            RequestError::Emit(_) => &[],
        }
    }

    /// The same error around another `got`.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> RequestError<U> {
        match self {
            RequestError::Timeout {
                got,
                missing,
                missing_nodes,
            } => RequestError::Timeout {
                got: f(got),
                missing,
                missing_nodes,
            },
            RequestError::Unavailable { got, missing_nodes } => RequestError::Unavailable {
                got: f(got),
                missing_nodes,
            },
            RequestError::Emit(e) => RequestError::Emit(e),
        }
    }
}

impl<T> std::fmt::Display for RequestError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Timeout {
                missing,
                missing_nodes,
                ..
            } => write!(
                f,
                "timeout reached: {missing} server(s) did not answer (known: {missing_nodes:?})"
            ),
            RequestError::Unavailable { missing_nodes, .. } => write!(
                f,
                "the cluster adapter is unavailable: other servers not asked ({missing_nodes:?})"
            ),
            RequestError::Emit(e) => e.fmt(f),
        }
    }
}

impl<T: std::fmt::Debug> std::error::Error for RequestError<T> {}

impl<T> From<EmitError> for RequestError<T> {
    fn from(e: EmitError) -> Self {
        RequestError::Emit(e)
    }
}
