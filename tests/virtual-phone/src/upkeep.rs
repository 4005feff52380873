//! The phone's idle upkeep while it serves: runs the core's `run_idle_maintenance` (the WAL
//! checkpoint, the vault's whole-file check once per open, queued OBR receipts) once the
//! CTAPHID socket has been quiet for [`IDLE_AFTER`] after a request, at most every
//! [`MIN_INTERVAL`], and never while a request is running. Each run prints one line on stderr
//! (`idle upkeep: N pages checkpointed, vault file checked|not checked, ...`).
//!
//! Invariants: the upkeep only follows requests (a phone nobody talks to does nothing), so a
//! peer can make it run at most once per [`MIN_INTERVAL`]; a request arriving during a run
//! waits at most for the checkpoint (the core's guarantee); a failed run is printed and the
//! next request makes it due again.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use authenticator_core::api::Authenticator;

/// Quiet time after the last request before the upkeep runs.
pub const IDLE_AFTER: Duration = Duration::from_secs(2);
/// The shortest time between two runs.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// How often the idle task looks at the clock.
const POLL: Duration = Duration::from_millis(250);

#[derive(Default)]
struct State {
    in_flight: usize,
    last_request: Option<Instant>,
    /// A request ended since the last run.
    dirty: bool,
    last_run: Option<Instant>,
}

/// The requests' activity, as the idle task sees it.
#[derive(Default)]
pub struct Upkeep {
    state: Mutex<State>,
}

/// Held while one request runs; its drop marks the end of the request.
pub struct Busy<'a>(&'a Upkeep);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.last_request = Some(Instant::now());
        state.dirty = true;
    }
}

impl Upkeep {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves the counters usable: they are plain numbers.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks a request running until the returned guard drops.
    pub fn begin(&self) -> Busy<'_> {
        let mut state = self.lock();
        state.in_flight += 1;
        state.last_request = Some(Instant::now());
        Busy(self)
    }

    /// Whether a run is due at `now`; if so, records it as started.
    fn take_due(&self, now: Instant) -> bool {
        let mut state = self.lock();
        let quiet = state
            .last_request
            .is_some_and(|at| now.duration_since(at) >= IDLE_AFTER);
        let spaced = state
            .last_run
            .is_none_or(|at| now.duration_since(at) >= MIN_INTERVAL);
        if state.dirty && state.in_flight == 0 && quiet && spaced {
            state.dirty = false;
            state.last_run = Some(now);
            true
        } else {
            false
        }
    }

    /// Runs forever: the upkeep whenever it is due.
    pub async fn watch(self: Arc<Self>, phone: Arc<Authenticator>) {
        loop {
            tokio::time::sleep(POLL).await;
            if !self.take_due(Instant::now()) {
                continue;
            }
            match phone.run_idle_maintenance().await {
                Ok(done) => eprintln!(
                    "idle upkeep: {} pages checkpointed, vault file {}, receipts {} posted, \
                     {} dropped, {} waiting",
                    done.checkpointed_pages,
                    if done.checked_vault_file {
                        "checked"
                    } else {
                        "not checked"
                    },
                    done.receipts_posted,
                    done.receipts_dropped,
                    done.receipts_waiting
                ),
                Err(e) => {
                    eprintln!("idle upkeep failed: {e}");
                    self.lock().dirty = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    // No `use`: the hybrid sign-in bench includes this file in a build without the test harness.
    #[test]
    fn due_only_after_a_request_quiet_and_spaced() {
        use super::{IDLE_AFTER, Instant, MIN_INTERVAL, Upkeep};
        let upkeep = Upkeep::default();
        let start = Instant::now();
        assert!(!upkeep.take_due(start + IDLE_AFTER * 5), "no request yet");

        let busy = upkeep.begin();
        assert!(
            !upkeep.take_due(Instant::now() + IDLE_AFTER * 5),
            "a request runs"
        );
        drop(busy);
        let ended = Instant::now();
        assert!(!upkeep.take_due(ended + IDLE_AFTER / 2), "not quiet yet");
        assert!(upkeep.take_due(ended + IDLE_AFTER));
        assert!(
            !upkeep.take_due(ended + IDLE_AFTER * 2),
            "nothing new since"
        );

        drop(upkeep.begin());
        let again = Instant::now();
        assert!(!upkeep.take_due(again + IDLE_AFTER), "within the interval");
        assert!(upkeep.take_due(ended + IDLE_AFTER + MIN_INTERVAL));
    }
}
