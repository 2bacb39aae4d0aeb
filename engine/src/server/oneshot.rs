//! A one-value channel whose receiving end is a `Future`: how a worker hands a result (an
//! acknowledgement, an async hook's answer) to code awaiting it on any executor, without the
//! engine depending on one.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The sender is gone (sent or dropped).
    closed: bool,
}

type Shared<T> = Arc<Mutex<Slot<T>>>;

fn lock<T>(s: &Shared<T>) -> MutexGuard<'_, Slot<T>> {
    // A panic while holding this lock leaves a consistent slot: every write is one assignment.
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends the one value.
pub(crate) struct Sender<T>(Shared<T>);

/// Resolves to the value, or to `None` when the sender was dropped without sending.
pub(crate) struct Receiver<T>(Shared<T>);

pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
        closed: false,
    }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    pub fn send(self, value: T) {
        lock(&self.0).value = Some(value);
        // Drop runs next and wakes the receiver.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = lock(&self.0);
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = lock(&self.0);
        if let Some(v) = slot.value.take() {
            return Poll::Ready(Some(v));
        }
        if slot.closed {
            return Poll::Ready(None);
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use std::thread;

    #[test]
    fn the_value_sent_from_another_thread_arrives() {
        let (tx, rx) = channel();
        let t = thread::spawn(move || {
            thread::sleep(std::time::Duration::from_millis(5));
            tx.send(7);
        });
        assert_eq!(block_on(rx), Some(7));
        t.join().unwrap();
    }

    #[test]
    fn a_sender_dropped_unsent_resolves_to_none() {
        let (tx, rx) = channel::<u8>();
        let t = thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx), None);
        t.join().unwrap();
    }

    #[test]
    fn a_value_sent_before_the_first_poll_is_ready() {
        let (tx, rx) = channel();
        tx.send("x");
        assert_eq!(block_on(rx), Some("x"));
    }
}
