//! Worker threads, event loops, timers and write queues.

pub mod outq;
pub mod timer;
