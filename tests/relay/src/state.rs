//! The relay's whole state behind one mutex: sessions with their two frame queues, doors
//! with their knocks and waiters, the armed faults and the counters. Every operation is a
//! short synchronous step that takes the time as an argument; the waiting lives in `api`.
//!
//! Invariants: the lock is never held across an `.await`; `queued_bytes` is the sum of all
//! queues' bytes and `pending_knocks` the number of knocks in all doors; a door entry exists
//! only while it has knocks or waiters. Memory is bounded by the limits: sessions, frames
//! and bytes per direction, bytes relay-wide, knocks per door and relay-wide, waiters, and
//! armed faults.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::door::{Door, Knock};
use crate::error::RelayError;
use crate::faults::{Action, Delivery, Faults, Target};
use crate::ids::Id;
use crate::queue::{Appended, Dir, FrameQueue, QueueLimits};
use crate::store::Store;

/// How many doors a session remembers having knocked on before it prunes the list.
const KNOCKED_DOORS: usize = 16;

/// link.md §5.4: the limits of the reference relay; the defaults are the spec's.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_sessions: usize,
    pub session_idle: Duration,
    pub knock_ttl: Duration,
    pub max_wait: Duration,
    pub queue_frames: usize,
    pub queue_bytes: usize,
    pub door_knocks: usize,
    /// Knocks in all doors together (one session could knock on many doors).
    pub max_knocks: usize,
    /// Frame bytes held in all sessions together.
    pub total_bytes: usize,
    /// Long-polls waiting at once; past it a GET answers at once instead of waiting.
    pub max_waiters: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: 10_000,
            session_idle: Duration::from_secs(120),
            knock_ttl: Duration::from_secs(30),
            max_wait: Duration::from_millis(30_000),
            queue_frames: 32,
            queue_bytes: 1 << 20,
            door_knocks: 8,
            max_knocks: 80_000,
            total_bytes: 512 << 20,
            max_waiters: 50_000,
        }
    }
}

/// Wakes the long-polls of one session, one `Notify` per direction, and counts the wakes
/// per direction: a request that read the count before it looked, and finds it changed
/// after, looks again instead of sleeping (a wake between its look and its `notified()` is
/// not lost, even when the look and the arming are apart, as in the Redis store's first step).
#[derive(Default)]
pub struct Signal {
    up: Notify,
    down: Notify,
    up_wakes: AtomicU64,
    down_wakes: AtomicU64,
}

impl Signal {
    pub fn of(&self, dir: Dir) -> &Notify {
        match dir {
            Dir::Up => &self.up,
            Dir::Down => &self.down,
        }
    }

    fn counter(&self, dir: Dir) -> &AtomicU64 {
        match dir {
            Dir::Up => &self.up_wakes,
            Dir::Down => &self.down_wakes,
        }
    }

    /// Wakes read so far in `dir`: read it before looking.
    pub fn wakes(&self, dir: Dir) -> u64 {
        self.counter(dir).load(Ordering::SeqCst)
    }

    pub fn wake(&self, dir: Dir) {
        self.counter(dir).fetch_add(1, Ordering::SeqCst);
        self.of(dir).notify_waiters();
    }

    pub fn wake_all(&self) {
        self.wake(Dir::Up);
        self.wake(Dir::Down);
    }
}

/// One incarnation of a session id, held by a request while it runs.
#[derive(Clone)]
pub struct SessionRef {
    pub id: Id,
    pub instance: u64,
    pub signal: Arc<Signal>,
}

struct Session {
    instance: u64,
    signal: Arc<Signal>,
    last_request: Instant,
    /// Requests running now (long-polls); a session is not idle while one runs.
    in_flight: u32,
    up: FrameQueue,
    down: FrameQueue,
    /// The doors this session has knocked on, so its knocks are withdrawn when it closes.
    knocked: Vec<Id>,
}

impl Session {
    fn queue(&mut self, dir: Dir) -> &mut FrameQueue {
        match dir {
            Dir::Up => &mut self.up,
            Dir::Down => &mut self.down,
        }
    }

    fn bytes(&self) -> usize {
        self.up.bytes() + self.down.bytes()
    }
}

#[derive(Default)]
struct Counters {
    sessions_created: u64,
    sessions_deleted: u64,
    sessions_expired: u64,
    knocks_received: u64,
    knocks_delivered: u64,
    knocks_dropped: u64,
    knocks_withdrawn: u64,
    frames_stored: u64,
    frames_served: u64,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<Id, Session>,
    doors: HashMap<Id, Door>,
    next_instance: u64,
    next_knock: u64,
    next_waiter: u64,
    pending_knocks: usize,
    queued_bytes: usize,
    door_waiters: usize,
    waiters: usize,
    shutting_down: bool,
    faults: Faults,
    counters: Counters,
}

impl Inner {
    fn session(&mut self, session: &SessionRef) -> Result<&mut Session, RelayError> {
        if self.shutting_down {
            return Err(RelayError::unavailable("relay shutting down"));
        }
        self.sessions
            .get_mut(&session.id)
            .filter(|s| s.instance == session.instance)
            .ok_or_else(RelayError::unknown_session)
    }

    /// Removes the session and withdraws the knocks it left on doors.
    fn remove_session(&mut self, id: Id) -> Option<Session> {
        let session = self.sessions.remove(&id)?;
        self.queued_bytes -= session.bytes();
        session.signal.wake_all();
        self.faults.forget(id);
        for door in &session.knocked {
            if let Some(entry) = self.doors.get_mut(door) {
                let removed = entry.retain(|k| k.session != id || k.instance != session.instance);
                self.pending_knocks -= removed;
                self.counters.knocks_withdrawn += u64::try_from(removed).unwrap_or(0);
                if entry.is_idle() {
                    self.doors.remove(door);
                }
            }
        }
        Some(session)
    }

    /// Removes the knocks of `door` that expired or whose session is gone.
    fn purge_door(&mut self, door: Id, now: Instant, ttl: Duration) {
        let Inner {
            sessions,
            doors,
            pending_knocks,
            counters,
            ..
        } = self;
        if let Some(entry) = doors.get_mut(&door) {
            let removed = entry.retain(|k| knock_is_live(sessions, k, now, ttl));
            *pending_knocks -= removed;
            counters.knocks_dropped += u64::try_from(removed).unwrap_or(0);
            if entry.is_idle() {
                doors.remove(&door);
            }
        }
    }
}

fn knock_is_live(
    sessions: &HashMap<Id, Session>,
    knock: &Knock,
    now: Instant,
    ttl: Duration,
) -> bool {
    now.saturating_duration_since(knock.at) < ttl
        && sessions
            .get(&knock.session)
            .is_some_and(|s| s.instance == knock.instance)
}

/// What one sweep removed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: Vec<Id>,
    pub knocks: usize,
}

pub struct Relay {
    pub limits: Limits,
    pub test_mode: bool,
    inner: Mutex<Inner>,
}

impl Relay {
    pub fn new(limits: Limits, test_mode: bool) -> Self {
        Self {
            limits,
            test_mode,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Every update is a few field writes that keep the invariants between them, so a
    /// panic elsewhere while locked leaves nothing half done worth stopping the relay for.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn create_session(&self, id: Id, now: Instant) -> Result<(), RelayError> {
        let mut inner = self.lock();
        if inner.shutting_down {
            return Err(RelayError::unavailable("relay shutting down"));
        }
        if inner.sessions.contains_key(&id) {
            return Err(RelayError::conflict("session exists"));
        }
        if inner.sessions.len() >= self.limits.max_sessions {
            return Err(RelayError::unavailable("relay full"));
        }
        inner.next_instance += 1;
        let instance = inner.next_instance;
        inner.sessions.insert(
            id,
            Session {
                instance,
                signal: Arc::default(),
                last_request: now,
                in_flight: 0,
                up: FrameQueue::default(),
                down: FrameQueue::default(),
                knocked: Vec::new(),
            },
        );
        inner.counters.sessions_created += 1;
        inner.faults.bind_next(id);
        Ok(())
    }

    /// Closes the session; its waiting GETs wake and answer `404`.
    pub fn delete_session(&self, id: Id) -> Result<(), RelayError> {
        let mut inner = self.lock();
        inner
            .remove_session(id)
            .ok_or_else(RelayError::unknown_session)?;
        inner.counters.sessions_deleted += 1;
        Ok(())
    }

    pub fn knock(&self, door: Id, session: Id, now: Instant) -> Result<(), RelayError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let instance = {
            let entry = inner
                .sessions
                .get_mut(&session)
                .ok_or_else(RelayError::unknown_session)?;
            entry.last_request = now;
            if !entry.knocked.contains(&door) {
                // Bounded: past a few doors, forget those no longer holding its knocks.
                if entry.knocked.len() >= KNOCKED_DOORS {
                    let instance = entry.instance;
                    entry.knocked.retain(|d| {
                        inner.doors.get(d).is_some_and(|e| {
                            e.any_knock(|k| k.session == session && k.instance == instance)
                        })
                    });
                }
                entry.knocked.push(door);
            }
            entry.instance
        };
        let mut inner = guard;
        inner.purge_door(door, now, self.limits.knock_ttl);
        let queued = inner.doors.get(&door).map_or(0, Door::knocks);
        if queued >= self.limits.door_knocks {
            return Err(RelayError::queue_full("door queue full"));
        }
        if inner.pending_knocks >= self.limits.max_knocks {
            return Err(RelayError::queue_full("the relay's knock queue is full"));
        }
        inner.next_knock += 1;
        let knock = Knock {
            session,
            instance,
            at: now,
            order: inner.next_knock,
        };
        inner.doors.entry(door).or_default().push(knock);
        inner.pending_knocks += 1;
        inner.counters.knocks_received += 1;
        Ok(())
    }

    /// Consumes the oldest live knock on any of `doors`: (door, session).
    pub fn take_knock(&self, doors: &[Id], now: Instant) -> Result<Option<(Id, Id)>, RelayError> {
        let mut inner = self.lock();
        if inner.shutting_down {
            return Err(RelayError::unavailable("relay shutting down"));
        }
        for door in doors {
            inner.purge_door(*door, now, self.limits.knock_ttl);
        }
        let oldest = doors
            .iter()
            .filter_map(|door| Some((*door, inner.doors.get(door)?.oldest()?.order)))
            .min_by_key(|(_, order)| *order)
            .map(|(door, _)| door);
        let Some(door) = oldest else {
            return Ok(None);
        };
        let Some(knock) = inner.doors.get_mut(&door).and_then(Door::take_oldest) else {
            return Ok(None);
        };
        inner.pending_knocks -= 1;
        inner.counters.knocks_delivered += 1;
        if inner.doors.get(&door).is_some_and(Door::is_idle) {
            inner.doors.remove(&door);
        }
        Ok(Some((door, knock.session)))
    }

    /// Registers a door long-poll; `None` when the relay already has too many waiters.
    pub fn add_door_waiter(&self, doors: &[Id], notify: &Arc<Notify>) -> Option<u64> {
        let mut inner = self.lock();
        if inner.waiters >= self.limits.max_waiters {
            return None;
        }
        inner.next_waiter += 1;
        let waiter = inner.next_waiter;
        for door in doors {
            inner
                .doors
                .entry(*door)
                .or_default()
                .add_waiter(waiter, notify.clone());
        }
        inner.waiters += 1;
        inner.door_waiters += 1;
        Some(waiter)
    }

    pub fn remove_door_waiter(&self, doors: &[Id], waiter: u64) {
        let mut inner = self.lock();
        for door in doors {
            if let Some(entry) = inner.doors.get_mut(door) {
                entry.remove_waiter(waiter);
                if entry.is_idle() {
                    inner.doors.remove(door);
                }
            }
        }
        inner.waiters -= 1;
        inner.door_waiters -= 1;
    }

    /// Claims a frame long-poll slot; false when the relay already has too many waiters.
    pub fn add_frame_waiter(&self) -> bool {
        let mut inner = self.lock();
        if inner.waiters >= self.limits.max_waiters {
            return false;
        }
        inner.waiters += 1;
        true
    }

    pub fn remove_frame_waiter(&self) {
        self.lock().waiters -= 1;
    }

    pub fn post_frame(
        &self,
        id: Id,
        dir: Dir,
        seq: u64,
        frame: Bytes,
        now: Instant,
    ) -> Result<Appended, RelayError> {
        let mut inner = self.lock();
        if inner.shutting_down {
            return Err(RelayError::unavailable("relay shutting down"));
        }
        let relay_room = self.limits.total_bytes.saturating_sub(inner.queued_bytes);
        let limits = QueueLimits {
            frames: self.limits.queue_frames,
            bytes: self.limits.queue_bytes,
            relay_room,
        };
        let session = inner
            .sessions
            .get_mut(&id)
            .ok_or_else(RelayError::unknown_session)?;
        session.last_request = now;
        let len = frame.len();
        let stored = session.queue(dir).append(seq, frame.clone(), limits)?;
        if stored == Appended::Stored {
            session.signal.wake(dir);
            inner.queued_bytes += len;
            inner.counters.frames_stored += 1;
            inner.faults.on_stored(id, dir, seq, &frame);
        }
        Ok(stored)
    }

    /// Starts a request that may wait on the session (a frame GET).
    pub fn open_request(&self, id: Id, now: Instant) -> Result<SessionRef, RelayError> {
        let mut inner = self.lock();
        if inner.shutting_down {
            return Err(RelayError::unavailable("relay shutting down"));
        }
        let session = inner
            .sessions
            .get_mut(&id)
            .ok_or_else(RelayError::unknown_session)?;
        session.last_request = now;
        session.in_flight += 1;
        Ok(SessionRef {
            id,
            instance: session.instance,
            signal: session.signal.clone(),
        })
    }

    /// Ends what `open_request` started; the session's idle time counts from now.
    pub fn close_request(&self, session: &SessionRef, now: Instant) {
        let mut inner = self.lock();
        if let Some(entry) = inner
            .sessions
            .get_mut(&session.id)
            .filter(|s| s.instance == session.instance)
        {
            entry.last_request = now;
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
    }

    /// Acknowledges the frames before `seq` and returns frame `seq` (as the armed faults
    /// would deliver it) if it is there.
    pub fn take_frame(
        &self,
        session: &SessionRef,
        dir: Dir,
        seq: u64,
    ) -> Result<Option<(Bytes, Option<Action>)>, RelayError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let entry = inner.session(session)?;
        let queue = entry.queue(dir);
        let freed = queue.acknowledge(seq);
        let frame = queue.get(seq).map(|f| f.cloned());
        let following = queue.get(seq.saturating_add(1)).ok().flatten().cloned();
        inner.queued_bytes -= freed;
        let Some(frame) = frame? else {
            return Ok(None);
        };
        let delivered =
            match inner
                .faults
                .on_deliver(session.id, dir, seq, &frame, following.as_ref())?
            {
                Delivery::Genuine => (frame, None),
                Delivery::Replaced { bytes, action } => (bytes, Some(action)),
                Delivery::Hold => return Ok(None),
            };
        inner.counters.frames_served += 1;
        Ok(Some(delivered))
    }

    /// Arms a test fault (`--test-faults` only).
    pub fn arm_fault(
        &self,
        session: Option<Id>,
        dir: Dir,
        seq: u64,
        action: Action,
    ) -> Result<u64, RelayError> {
        let mut inner = self.lock();
        let (target, earlier) = match session {
            None => (Target::NextSession, None),
            Some(id) => {
                let entry = inner
                    .sessions
                    .get_mut(&id)
                    .ok_or_else(RelayError::unknown_session)?;
                let earlier = match seq.checked_sub(1) {
                    Some(before) => entry
                        .queue(dir)
                        .get(before)
                        .map_err(|_| RelayError::conflict("frame seq - 1 was already dropped"))?,
                    None => None,
                };
                (Target::Session(id), earlier.cloned())
            }
        };
        inner.faults.arm(target, dir, seq, action, earlier)
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Removes idle sessions and stale knocks.
    pub fn sweep(&self, now: Instant) -> Swept {
        let mut inner = self.lock();
        let idle = self.limits.session_idle;
        let expired: Vec<Id> = inner
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.in_flight == 0 && now.saturating_duration_since(s.last_request) >= idle
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            inner.remove_session(*id);
        }
        inner.counters.sessions_expired += u64::try_from(expired.len()).unwrap_or(0);
        let before = inner.pending_knocks;
        let doors: Vec<Id> = inner.doors.keys().copied().collect();
        for door in doors {
            inner.purge_door(door, now, self.limits.knock_ttl);
        }
        Swept {
            sessions: expired,
            knocks: before - inner.pending_knocks,
        }
    }

    /// Stops everything: waiters wake and answer `503`, new requests get `503`.
    pub fn shut_down(&self) {
        let mut inner = self.lock();
        inner.shutting_down = true;
        for session in inner.sessions.values() {
            session.signal.wake_all();
        }
        for door in inner.doors.values() {
            door.wake_all();
        }
    }

    pub fn stats(&self) -> Value {
        let inner = self.lock();
        let c = &inner.counters;
        let frames_queued: usize = inner
            .sessions
            .values()
            .map(|s| s.up.frames() + s.down.frames())
            .sum();
        json!({
            "sessions": inner.sessions.len(),
            "sessions_created": c.sessions_created,
            "sessions_deleted": c.sessions_deleted,
            "sessions_expired": c.sessions_expired,
            "knocks": inner.pending_knocks,
            "knocks_received": c.knocks_received,
            "knocks_delivered": c.knocks_delivered,
            "knocks_dropped": c.knocks_dropped,
            "knocks_withdrawn": c.knocks_withdrawn,
            "doors": inner.doors.len(),
            "door_waiters": inner.door_waiters,
            "waiters": inner.waiters,
            "frames_stored": c.frames_stored,
            "frames_served": c.frames_served,
            "frames_queued": frames_queued,
            "bytes_queued": inner.queued_bytes,
            "faults_armed": inner.faults.armed(),
            "faults_fired": inner.faults.fired(),
        })
    }
}

/// The in-memory store: each step is the synchronous method above at the present time.
#[async_trait]
impl Store for Relay {
    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn test_mode(&self) -> bool {
        self.test_mode
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn create_session(&self, id: Id) -> Result<(), RelayError> {
        Relay::create_session(self, id, Instant::now())
    }

    async fn delete_session(&self, id: Id) -> Result<(), RelayError> {
        Relay::delete_session(self, id)
    }

    async fn knock(&self, door: Id, session: Id) -> Result<(), RelayError> {
        Relay::knock(self, door, session, Instant::now())
    }

    async fn take_knock(&self, doors: &[Id]) -> Result<Option<(Id, Id)>, RelayError> {
        Relay::take_knock(self, doors, Instant::now())
    }

    async fn add_door_waiter(
        &self,
        doors: &[Id],
        notify: &Arc<Notify>,
        _wait_ms: u64,
    ) -> Option<u64> {
        Relay::add_door_waiter(self, doors, notify)
    }

    fn remove_door_waiter(&self, doors: &[Id], waiter: u64) {
        Relay::remove_door_waiter(self, doors, waiter);
    }

    async fn add_frame_waiter(&self, _wait_ms: u64) -> Option<u64> {
        Relay::add_frame_waiter(self).then_some(0)
    }

    fn remove_frame_waiter(&self, _waiter: u64) {
        Relay::remove_frame_waiter(self);
    }

    async fn post_frame(
        &self,
        id: Id,
        dir: Dir,
        seq: u64,
        frame: Bytes,
    ) -> Result<Appended, RelayError> {
        Relay::post_frame(self, id, dir, seq, frame, Instant::now())
    }

    async fn open_request(&self, id: Id, _wait_ms: u64) -> Result<SessionRef, RelayError> {
        Relay::open_request(self, id, Instant::now())
    }

    fn close_request(&self, session: &SessionRef) {
        Relay::close_request(self, session, Instant::now());
    }

    async fn take_frame(
        &self,
        session: &SessionRef,
        dir: Dir,
        seq: u64,
        _waiter: Option<u64>,
    ) -> Result<Option<(Bytes, Option<Action>)>, RelayError> {
        Relay::take_frame(self, session, dir, seq)
    }

    async fn arm_fault(
        &self,
        session: Option<Id>,
        dir: Dir,
        seq: u64,
        action: Action,
    ) -> Result<u64, RelayError> {
        Relay::arm_fault(self, session, dir, seq, action)
    }

    async fn clear_faults(&self) {
        Relay::clear_faults(self);
    }

    async fn sweep(&self) -> Result<Swept, RelayError> {
        Ok(Relay::sweep(self, Instant::now()))
    }

    fn shut_down(&self) {
        Relay::shut_down(self);
    }

    async fn ready(&self) -> Result<(), RelayError> {
        if self.lock().shutting_down {
            return Err(RelayError::unavailable("relay shutting down"));
        }
        Ok(())
    }

    async fn stats(&self, _frames: bool) -> Result<Value, RelayError> {
        Ok(Relay::stats(self))
    }
}

/// Logs a sweep (ids shortened, see `ids`).
pub fn log_swept(swept: &Swept) {
    for id in &swept.sessions {
        log!("session {} expired", id.short());
    }
    if swept.knocks > 0 {
        log!("{} stale knocks removed", swept.knocks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn id(n: u8) -> Id {
        Id::from_bytes(&[n; 16]).unwrap()
    }

    fn relay() -> Relay {
        Relay::new(
            Limits {
                max_sessions: 3,
                door_knocks: 2,
                max_knocks: 3,
                ..Limits::default()
            },
            true,
        )
    }

    fn status<T: std::fmt::Debug>(result: Result<T, RelayError>) -> StatusCode {
        result.unwrap_err().status
    }

    #[test]
    fn sessions_create_delete_and_full() {
        let relay = relay();
        let now = Instant::now();
        relay.create_session(id(1), now).unwrap();
        assert_eq!(
            status(relay.create_session(id(1), now)),
            StatusCode::CONFLICT
        );
        relay.create_session(id(2), now).unwrap();
        relay.create_session(id(3), now).unwrap();
        assert_eq!(
            status(relay.create_session(id(4), now)),
            StatusCode::SERVICE_UNAVAILABLE
        );
        relay.delete_session(id(1)).unwrap();
        assert_eq!(status(relay.delete_session(id(1))), StatusCode::NOT_FOUND);
        relay.create_session(id(4), now).unwrap();
    }

    #[test]
    fn knocks_oldest_first_bounded_and_dropped_with_their_session() {
        let relay = relay();
        let now = Instant::now();
        let (door_a, door_b) = (id(10), id(11));
        assert_eq!(
            status(relay.knock(door_a, id(1), now)),
            StatusCode::NOT_FOUND
        );
        relay.create_session(id(1), now).unwrap();
        relay.create_session(id(2), now).unwrap();
        relay.knock(door_b, id(1), now).unwrap();
        relay.knock(door_a, id(2), now).unwrap();
        relay.knock(door_a, id(1), now).unwrap();
        assert_eq!(
            status(relay.knock(door_a, id(1), now)),
            StatusCode::TOO_MANY_REQUESTS
        );
        // Relay-wide cap (3).
        assert_eq!(
            status(relay.knock(id(12), id(1), now)),
            StatusCode::TOO_MANY_REQUESTS
        );
        let doors = [door_a, door_b];
        assert_eq!(
            relay.take_knock(&doors, now).unwrap(),
            Some((door_b, id(1)))
        );
        relay.delete_session(id(2)).unwrap();
        assert_eq!(
            relay.take_knock(&doors, now).unwrap(),
            Some((door_a, id(1)))
        );
        assert_eq!(relay.take_knock(&doors, now).unwrap(), None);
        assert_eq!(relay.stats()["knocks"], 0);
        assert_eq!(relay.stats()["doors"], 0);
    }

    #[test]
    fn sweep_expires_idle_sessions_and_old_knocks() {
        let relay = relay();
        let start = Instant::now();
        relay.create_session(id(1), start).unwrap();
        relay.create_session(id(2), start).unwrap();
        relay.knock(id(10), id(2), start).unwrap();
        relay
            .post_frame(id(1), Dir::Up, 0, Bytes::from_static(b"x"), start)
            .unwrap();
        let waiting = relay.open_request(id(2), start).unwrap();
        let later = start + Duration::from_secs(31);
        assert_eq!(
            relay.sweep(later),
            Swept {
                sessions: vec![],
                knocks: 1
            }
        );
        let much_later = start + Duration::from_secs(121);
        // Session 2 has a long-poll running, so it is not idle.
        assert_eq!(relay.sweep(much_later).sessions, vec![id(1)]);
        relay.close_request(&waiting, much_later);
        assert_eq!(relay.stats()["bytes_queued"], 0);
        assert_eq!(
            relay.sweep(much_later + Duration::from_secs(120)).sessions,
            vec![id(2)]
        );
    }

    #[test]
    fn frames_flow_and_a_deleted_session_answers_404() {
        let relay = relay();
        let now = Instant::now();
        relay.create_session(id(1), now).unwrap();
        let reader = relay.open_request(id(1), now).unwrap();
        assert_eq!(relay.take_frame(&reader, Dir::Down, 0).unwrap(), None);
        relay
            .post_frame(id(1), Dir::Down, 0, Bytes::from_static(b"m2"), now)
            .unwrap();
        let (frame, fault) = relay.take_frame(&reader, Dir::Down, 0).unwrap().unwrap();
        assert_eq!((&frame[..], fault), (&b"m2"[..], None));
        assert_eq!(relay.take_frame(&reader, Dir::Down, 1).unwrap(), None);
        assert_eq!(
            status(relay.take_frame(&reader, Dir::Down, 0)),
            StatusCode::GONE
        );
        relay.delete_session(id(1)).unwrap();
        assert_eq!(
            status(relay.take_frame(&reader, Dir::Down, 1)),
            StatusCode::NOT_FOUND
        );
        // A new incarnation of the same id is not the one the request opened.
        relay.create_session(id(1), now).unwrap();
        assert_eq!(
            status(relay.take_frame(&reader, Dir::Down, 1)),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn shut_down_refuses_everything() {
        let relay = relay();
        let now = Instant::now();
        relay.create_session(id(1), now).unwrap();
        let reader = relay.open_request(id(1), now).unwrap();
        relay.shut_down();
        assert_eq!(
            status(relay.take_frame(&reader, Dir::Up, 0)),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(relay.create_session(id(2), now)),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
