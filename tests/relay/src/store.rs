//! The one interface between the HTTP endpoints (`api`) and where the relay keeps its state,
//! with two implementations: `state::Relay` (one process's memory, the embedded default) and
//! `redis_store::RedisStore` (shared by several instances behind a load balancer).
//!
//! Every method is one atomic step of link.md §5: the waiting (long-polls) lives in `api`,
//! which arms a local `Notify` (a session's `Signal`, or its own for a door GET) before it
//! looks, so a frame or knock stored in between, on this instance or another, still wakes it.
//! Errors are the answers of §5.4 (`RelayError`); a store that cannot reach its backend
//! answers `503` with `RelayError::store_unavailable` (proto/link.md, operations notes).

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use serde_json::Value;
use tokio::sync::Notify;

use crate::error::RelayError;
use crate::faults::Action;
use crate::ids::Id;
use crate::queue::{Appended, Dir};
use crate::state::{Limits, SessionRef, Swept};

/// What `start_frame_get` found: the open request, its long-poll slot (if it may wait), the
/// frame if it was there, and the session's wake count in its direction before the look.
pub struct FrameGet {
    pub session: SessionRef,
    pub waiter: Option<u64>,
    pub frame: Option<(Bytes, Option<Action>)>,
    pub seen: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn limits(&self) -> &Limits;

    /// `--test-faults`: the test routes exist.
    fn test_mode(&self) -> bool;

    /// Short name for the log and `/metrics` (`memory` or `redis`).
    fn kind(&self) -> &'static str;

    async fn create_session(&self, id: Id) -> Result<(), RelayError>;

    /// Closes the session: its waiting GETs wake and answer `404`, and the knocks it left on
    /// doors are withdrawn at once (a phone never sees a knock for a closed session).
    async fn delete_session(&self, id: Id) -> Result<(), RelayError>;

    async fn knock(&self, door: Id, session: Id) -> Result<(), RelayError>;

    /// Consumes the oldest live knock on any of `doors`: (door, session).
    async fn take_knock(&self, doors: &[Id]) -> Result<Option<(Id, Id)>, RelayError>;

    /// Registers a door long-poll waiting up to `wait_ms`; `None` when the relay (all its
    /// instances) already has too many waiters.
    async fn add_door_waiter(
        &self,
        doors: &[Id],
        notify: &Arc<Notify>,
        wait_ms: u64,
    ) -> Option<u64>;

    /// Ends what `add_door_waiter` started; called from `Drop`, so it must not wait.
    fn remove_door_waiter(&self, doors: &[Id], waiter: u64);

    /// Claims a frame long-poll slot for up to `wait_ms`; `None` when there are too many.
    async fn add_frame_waiter(&self, wait_ms: u64) -> Option<u64>;

    /// Ends what `add_frame_waiter` started; called from `Drop`.
    fn remove_frame_waiter(&self, waiter: u64);

    /// Stores frame `seq`; the answer is in the store before this returns (at-least-once:
    /// an acknowledged POST survives the instance that acknowledged it).
    async fn post_frame(
        &self,
        id: Id,
        dir: Dir,
        seq: u64,
        frame: Bytes,
    ) -> Result<Appended, RelayError>;

    /// Starts a request that may wait on the session up to `wait_ms` (a frame GET); the
    /// session is not idle while it runs.
    async fn open_request(&self, id: Id, wait_ms: u64) -> Result<SessionRef, RelayError>;

    /// `open_request`, then (when `wait_ms` > 0) `add_frame_waiter`: a frame GET's start.
    /// A store may do both in one step (Redis: one script instead of two round trips).
    async fn open_waiting_request(
        &self,
        id: Id,
        wait_ms: u64,
    ) -> Result<(SessionRef, Option<u64>), RelayError> {
        let session = self.open_request(id, wait_ms).await?;
        let waiter = if wait_ms == 0 {
            None
        } else {
            self.add_frame_waiter(wait_ms).await
        };
        Ok((session, waiter))
    }

    /// Ends what `open_request` started; called from `Drop`, so it must not wait.
    fn close_request(&self, session: &SessionRef);

    /// Acknowledges the frames before `seq` and returns frame `seq` (as the armed faults
    /// would deliver it) if it is there. `waiter` is the request's long-poll slot: a store
    /// may release it in the same step when it finds the frame (`remove_frame_waiter`
    /// then only forgets it).
    async fn take_frame(
        &self,
        session: &SessionRef,
        dir: Dir,
        seq: u64,
        waiter: Option<u64>,
    ) -> Result<Option<(Bytes, Option<Action>)>, RelayError>;

    /// A frame GET's first step: `open_waiting_request`, then the first `take_frame`, with
    /// the session's wake count read before the look (`FrameGet::seen`). A store may do it
    /// in one step (Redis: one script, which claims a long-poll slot only when the GET will
    /// wait). On an error nothing stays open.
    async fn start_frame_get(
        &self,
        id: Id,
        dir: Dir,
        seq: u64,
        wait_ms: u64,
    ) -> Result<FrameGet, RelayError> {
        let (session, waiter) = self.open_waiting_request(id, wait_ms).await?;
        let seen = session.signal.wakes(dir);
        let found = self.take_frame(&session, dir, seq, waiter).await;
        self.frame_get(session, waiter, seen, found)
    }

    /// The end of every store's `start_frame_get`: the GET with what its first look found, or
    /// on an error the request closed and its long-poll slot released, so nothing stays open.
    fn frame_get(
        &self,
        session: SessionRef,
        waiter: Option<u64>,
        seen: u64,
        found: Result<Option<(Bytes, Option<Action>)>, RelayError>,
    ) -> Result<FrameGet, RelayError> {
        match found {
            Ok(frame) => Ok(FrameGet {
                session,
                waiter,
                frame,
                seen,
            }),
            Err(e) => {
                self.close_request(&session);
                if let Some(waiter) = waiter {
                    self.remove_frame_waiter(waiter);
                }
                Err(e)
            }
        }
    }

    async fn arm_fault(
        &self,
        session: Option<Id>,
        dir: Dir,
        seq: u64,
        action: Action,
    ) -> Result<u64, RelayError>;

    async fn clear_faults(&self);

    /// Removes idle sessions and stale knocks (the sweeper, every instance).
    async fn sweep(&self) -> Result<Swept, RelayError>;

    /// Stops everything on this instance: waiters wake and answer `503`.
    fn shut_down(&self);

    /// Readiness: `Ok` when requests can be served (the backend answers).
    async fn ready(&self) -> Result<(), RelayError>;

    /// The counters of `GET /v1/test/stats`, relay-wide; `frames`: with the frame counts
    /// (`frames_stored`, `frames_queued`), which a store may have to add up over its
    /// sessions (Redis: one read per open session), so a frequent poller leaves them out.
    async fn stats(&self, frames: bool) -> Result<Value, RelayError>;
}
