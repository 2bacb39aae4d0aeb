//! Acknowledgements as futures (the reference's `emitWithAck` promises): [`AckFuture`] for one
//! socket's reply, [`BroadcastAckFuture`] for a broadcast's. They are completed by the worker
//! that gets the replies and can be awaited on any executor, from any thread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::broadcast_msg::BroadcastAcks;
use super::oneshot;
use super::sio::{Ack, AckError};
use crate::proto::sio::Args;

/// The arguments of a client's event or acknowledgement, owned (for code that outlives the
/// handler: futures, other threads): the JSON array it sent, and its binary attachments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnedArgs {
    json: Vec<u8>,
    attachments: Vec<Bytes>,
}

impl OwnedArgs {
    pub(crate) fn from_args(args: &Args<'_>) -> Self {
        let mut json = Vec::new();
        args.write_json(&mut json);
        OwnedArgs {
            json,
            attachments: args.attachments().to_vec(),
        }
    }

    /// The arguments as the JSON array the client sent (placeholders where binary was).
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// The binary attachments, by placeholder number.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// Argument `i` decoded into `T` (serde_json's rules); the reference's promise resolves
    /// with argument 0.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, serde_json::Error> {
        let mut all: Vec<serde_json::Value> = serde_json::from_slice(&self.json)?;
        if i >= all.len() {
            return Err(serde::de::Error::custom(format!(
                "no argument at index {i}"
            )));
        }
        serde_json::from_value(all.swap_remove(i))
    }
}

impl From<OwnedArgs> for Ack {
    /// An ack carrying exactly these arguments, binary included (an echo from async code).
    fn from(args: OwnedArgs) -> Ack {
        Ack::new_raw(args.json, args.attachments)
    }
}

/// Resolves to a socket's acknowledgement, [`AckError::Timeout`] when none came in time, or
/// [`AckError::Disconnected`] when the socket (or the server) went away first.
#[must_use = "the acknowledgement arrives only through this future"]
pub struct AckFuture(pub(crate) oneshot::Receiver<Result<OwnedArgs, AckError>>);

impl Future for AckFuture {
    type Output = Result<OwnedArgs, AckError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(AckError::Disconnected)))
    }
}

/// Some receivers of a broadcast did not acknowledge in time, or other servers of a cluster
/// did not report (the reference's rejection, whose `responses` are in [`MissingAcks::acks`]).
#[derive(Debug)]
pub struct MissingAcks {
    /// The replies that came, and how many sockets did not answer.
    pub acks: BroadcastAcks,
}

impl std::fmt::Display for MissingAcks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "operation has timed out: {} of {} sockets did not acknowledge",
            self.acks.no_reply,
            self.acks.no_reply + self.acks.replies.len()
        )?;
        match self.acks.missing_servers {
            0 => Ok(()),
            n => write!(f, ", {n} other server(s) did not report"),
        }
    }
}

impl std::error::Error for MissingAcks {}

/// Resolves to every receiver's acknowledgement once all answered (`Ok`, also for a broadcast
/// that reached nobody), or once the timeout passed with some missing ([`MissingAcks`]; also
/// when the server shut down first).
#[must_use = "the acknowledgements arrive only through this future"]
pub struct BroadcastAckFuture(pub(crate) oneshot::Receiver<BroadcastAcks>);

impl BroadcastAckFuture {
    /// A future and the callback that completes it, for the callback forms of broadcasts.
    pub(crate) fn new() -> (Self, impl FnOnce(BroadcastAcks) + Send + 'static) {
        let (tx, rx) = oneshot::channel();
        (BroadcastAckFuture(rx), move |acks| tx.send(acks))
    }
}

impl Future for BroadcastAckFuture {
    type Output = Result<BroadcastAcks, MissingAcks>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|acks| match acks {
            Some(acks) if acks.no_reply == 0 && acks.missing_servers == 0 => Ok(acks),
            Some(acks) => Err(MissingAcks { acks }),
            // The server shut down before the broadcast completed.
            None => Err(MissingAcks {
                acks: BroadcastAcks::default(),
            }),
        })
    }
}
