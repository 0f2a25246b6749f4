//! Waiting, injectable so tests never sleep.

use std::time::Duration;

/// Something that waits (the real clock, or a recorder in tests).
pub trait Wait {
    /// Waits for `duration`.
    fn wait(&mut self, duration: Duration);
}

/// Waits by sleeping the thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sleep;

impl Wait for Sleep {
    fn wait(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}
