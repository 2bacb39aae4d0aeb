//! Worker threads, event loops, timers and write queues.
