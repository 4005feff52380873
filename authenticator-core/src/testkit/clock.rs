//! [`FakeClock`]: the wall clock of record timestamps, set and advanced by a test.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::platform::Clock;

/// A wall clock that stays where a test puts it.
#[derive(Debug, Default)]
pub struct FakeClock(AtomicU64);

impl FakeClock {
    /// A clock reading `unix_seconds`.
    pub fn at(unix_seconds: u64) -> Self {
        Self(AtomicU64::new(unix_seconds))
    }

    /// Moves the clock to `unix_seconds` (backwards too: a user can set the phone's time).
    pub fn set(&self, unix_seconds: u64) {
        self.0.store(unix_seconds, Ordering::SeqCst);
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_unix_seconds(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
