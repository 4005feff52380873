//! The Redis store (`relay serve --redis URL`): every instance started with the same URL and
//! prefix serves every session, so a load balancer may send a session's requests anywhere
//! and an instance may die mid-session.
//!
//! State: each operation is one Lua function (`redis_lua`), atomic in Redis, and its answer
//! is written before the HTTP answer (an acknowledged POST is in Redis; a retry through
//! another instance is recognised by its number, so the receiver gets it exactly once).
//! Limits (sessions, queues, knocks, bytes, long-polls) are counted in Redis, relay-wide.
//! Expiry: the sweeper of every instance runs the idempotent `sweep` step; each key also
//! carries a Redis TTL, so Redis frees a session even when no instance is left.
//!
//! Wake-ups: pub/sub. A step that stores a frame, a knock or removes a session publishes
//! one short message in the same atomic step; every instance keeps one subscriber
//! connection, on its own channel `P:wake:<instance>` and on `P:wake`, and wakes its own
//! local waiters (the `Signal` of the session, the `Notify` of a door waiter). Frame and
//! session-gone wakes go only to the instances whose GET looked and found nothing (the
//! look names its instance in the session, `redis_lua`), so an instance hears the wakes of
//! its own waiters, not every instance's; knocks (one per pairing) go to `P:wake`. Chosen
//! over streams or blocking reads because a long-poll then holds no Redis connection
//! (10,000 waiting GETs cost one subscription per instance, not 10,000 blocked
//! connections), and a lost message costs only latency: a waiter reads its session's wake
//! count before it looks in Redis and sleeps only if it has not moved, and when the
//! subscription breaks and comes back every local waiter is woken to look again.
//!
//! Failures: a Redis error or timeout answers `503` ("the relay's store is unavailable"),
//! never a wrong `404`; the connection manager reconnects by itself, so service resumes
//! when Redis does, without restarting the relay. The steps are one function library
//! (`redis_lua`), loaded again when a restarted Redis has forgotten it.
//!
//! What a client can make an instance do: only what link.md §5 allows any client: ids and
//! frames are opaque values passed as function arguments (never spliced into Lua text or
//! key patterns beyond the checked 32-hex-digit ids). The test faults stay per instance.
//! Redis itself is trusted as the relay is: whoever controls it can drop, delay, reorder or
//! alter frames and knocks, which the phone and the PC detect as they would from a
//! malicious relay (Noise, link.md §4.1; sequence numbers, §5.3), and it never sees a key.
//!
//! Long-poll slots: the relay-wide limit is held by leases. Each instance holds a grant of
//! slots in Redis (`LEASE`: the grants never sum past the limit) and lets at most that many
//! long-polls wait; a GET or door GET takes a slot locally and gives it back when it ends,
//! and only asks Redis when its instance's grant is used up. The grant keeps some slots
//! spare (an eighth of those in use plus 16, at most 1/64 of the limit, none under a limit
//! of 64) and is renewed by the sweeper every period, which gives spare slots back; a grant
//! not renewed lapses after `LEASE_MS` (an instance that died or lost Redis), here 2 s
//! before it lapses in Redis. So slots cost no Redis step per GET, the limit holds across
//! instances, and an instance may refuse a slot while others hold spare ones (at most 1/64
//! of the limit each).
//!
//! Cost: a frame GET is one Redis step (`START_GET`: open, look, and when it will wait, its
//! instance's name in the session), whether its frame is there or comes with the wake; one
//! more (`TAKE`) per wake that brought another number. A POST is one step, which renews the
//! session's idle deadline about once a second and its TTLs about once a minute, and wakes
//! a GET of its own instance without a message. No step counts frames (the stats add up
//! the sessions' numbers when asked). The steps of concurrent requests go to Redis together,
//! one `FCALL` per batch (`redis_batch`); the sweeper's, the lease's and the stats' go
//! alone. Measured with `relay-load --compare-redis` (tests/bench/README.md), beside the
//! floor of any Redis-backed relay (one no-op step per request, `floor`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::body::Bytes;
use futures_util::StreamExt;
use redis::Value as Rv;
use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::error::RelayError;
use crate::faults::{Action, Delivery, Faults, Target};
use crate::ids::{Id, hex};
use crate::queue::{Appended, Dir};
use crate::redis_batch::{self, Batcher, Link};
use crate::redis_lua::{Scripts, Step};
use crate::state::{Limits, SessionRef, Signal, Swept};
use crate::store::{FrameGet, Store};

/// How long one Redis call may take before the client gets `503`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long an instance's long-poll lease holds unless renewed (the sweeper renews it every
/// period, at most a second): a dead instance's slots return to the others within this.
const LEASE_MS: u64 = 10_000;
/// A lease is used only while this much of it is left, so a grant whose renewal failed
/// (Redis away) lapses here before it lapses in Redis.
const LEASE_MARGIN: Duration = Duration::from_secs(2);
/// Sessions or knocks one sweep removes at most (the next sweep takes the rest).
const SWEEP_BATCH: u32 = 500;

pub struct RedisOptions {
    pub url: String,
    pub prefix: String,
}

#[derive(Default)]
struct Local {
    /// The sessions with a request running on this instance.
    signals: HashMap<Id, Arc<Signal>>,
    /// Door long-polls on this instance: door → (waiter, notify).
    doors: HashMap<Id, Vec<(u64, Arc<Notify>)>>,
    door_waiters: usize,
    /// Long-polls (frame and door) waiting on this instance: at most `granted`.
    waiters: usize,
    /// Long-poll slots this instance's lease holds relay-wide (`LEASE`), usable until
    /// `lease_until`.
    granted: usize,
    lease_until: Option<Instant>,
    /// Frames this instance served (`frames_served` of its stats).
    served: u64,
    /// The last frame a wake brought per session and direction: (incarnation, number,
    /// bytes); kept while the session has a request on this instance.
    parcels: HashMap<(Id, Dir), (u64, u64, Bytes)>,
    faults: Faults,
}

impl Local {
    /// One wake message (`redis_lua`): `g:<session>:<u|d>:<inc>:<seq>:<frame>`,
    /// `x:<session>` or `d:<door>`.
    fn wake(&mut self, payload: &[u8]) {
        match payload {
            [b'g', b':', rest @ ..] => {
                if let Some((id, dir, inc, seq, frame)) = parse_parcel(rest) {
                    self.parcel(id, dir, inc, seq, || Bytes::copy_from_slice(frame));
                }
            }
            [b'x', b':', rest @ ..] => {
                if let Some(signal) = parse_id(rest).and_then(|id| self.signals.get(&id)) {
                    signal.wake_all();
                }
            }
            [b'd', b':', rest @ ..] => {
                if let Some(waiters) = parse_id(rest).and_then(|door| self.doors.get(&door)) {
                    for (_, notify) in waiters {
                        notify.notify_one();
                    }
                }
            }
            _ => {}
        }
    }

    /// Frame `seq` of the session's incarnation `inc` was stored: the GETs of this instance
    /// waiting on it wake and find the frame here (none waiting: nothing kept).
    fn parcel(&mut self, id: Id, dir: Dir, inc: u64, seq: u64, frame: impl FnOnce() -> Bytes) {
        let Some(signal) = self.signals.get(&id).cloned() else {
            return;
        };
        self.parcels.insert((id, dir), (inc, seq, frame()));
        signal.wake(dir);
    }

    fn wake_everyone(&self) {
        for signal in self.signals.values() {
            signal.wake_all();
        }
        for waiters in self.doors.values() {
            for (_, notify) in waiters {
                notify.notify_one();
            }
        }
    }
}

/// Held by a POST while its step runs: if the POST ends without the step's answer (Redis
/// timed out, or the request was dropped), the step may have stored the frame for a GET of
/// this instance and, naming this instance, sent it no wake; so its GETs on the session are
/// woken to look again (a look that finds nothing names them again).
struct WakeIfUnanswered<'a> {
    inner: &'a Inner,
    id: Id,
    dir: Dir,
    armed: bool,
}

impl Drop for WakeIfUnanswered<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Some(signal) = self.inner.lock().signals.get(&self.id)
        {
            signal.wake(self.dir);
        }
    }
}

/// The limits as the steps take them (decimal text), encoded once.
struct EncodedLimits {
    queue_frames: Vec<u8>,
    queue_bytes: Vec<u8>,
    total_bytes: Vec<u8>,
    idle_ms: Vec<u8>,
}

impl EncodedLimits {
    fn new(limits: &Limits) -> Self {
        Self {
            queue_frames: number(limits.queue_frames),
            queue_bytes: number(limits.queue_bytes),
            total_bytes: number(limits.total_bytes),
            idle_ms: number(ms(limits.session_idle)),
        }
    }
}

struct Inner {
    limits: Limits,
    encoded: EncodedLimits,
    test_mode: bool,
    prefix: String,
    /// This process's name in the relay-wide waiter set.
    instance: String,
    scripts: Scripts,
    /// The steps of requests go through it (`redis_batch`); sweeps, leases and stats go
    /// alone (`run_alone`).
    batcher: Arc<Batcher>,
    link: Link,
    next_waiter: AtomicU64,
    shutting_down: AtomicBool,
    local: Mutex<Local>,
    /// One lease renewal at a time, so grants are applied in the order Redis made them.
    leasing: tokio::sync::Mutex<()>,
}

pub struct RedisStore {
    inner: Arc<Inner>,
}

fn unavailable(e: &redis::RedisError) -> RelayError {
    // The error's kind only: a script error could quote its arguments.
    log!("redis: {:?} error", e.kind());
    RelayError::store_unavailable()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The steps' clock (`redis_lua`): this instance's wall clock, in ms since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, ms)
}

fn dir_key(dir: Dir) -> &'static str {
    match dir {
        Dir::Up => "u",
        Dir::Down => "d",
    }
}

fn parse_id(text: &[u8]) -> Option<Id> {
    Id::parse_hex(std::str::from_utf8(text).ok()?)
}

/// The wake messages of one published message: itself, or those a `b:` message carries
/// (`<length>:<message>` each; what does not parse ends the list).
fn wakes(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = payload.strip_prefix(b"b:");
    let single = rest.is_none().then_some(payload);
    single.into_iter().chain(std::iter::from_fn(move || {
        let text = rest?;
        let colon = text.iter().position(|b| *b == b':')?;
        let len: usize = std::str::from_utf8(&text[..colon]).ok()?.parse().ok()?;
        let end = colon.checked_add(1)?.checked_add(len)?;
        let one = text.get(colon + 1..end)?;
        rest = Some(&text[end..]);
        Some(one)
    }))
}

/// `<session>:<u|d>:<inc>:<seq>:<frame>` of a `g:` wake.
fn parse_parcel(text: &[u8]) -> Option<(Id, Dir, u64, u64, &[u8])> {
    let mut parts = text.splitn(5, |b| *b == b':');
    let id = parse_id(parts.next()?)?;
    let dir = match parts.next()? {
        b"u" => Dir::Up,
        b"d" => Dir::Down,
        _ => return None,
    };
    let mut int = || std::str::from_utf8(parts.next()?).ok()?.parse().ok();
    let inc = int()?;
    let seq = int()?;
    Some((id, dir, inc, seq, parts.next()?))
}

/// A found frame from a script's answer: `[frame]` or `[frame, following]`.
fn frame_of(items: Vec<Rv>) -> Result<(Bytes, Option<Bytes>), RelayError> {
    let mut items = items.into_iter().map(|v| match v {
        Rv::BulkString(bytes) => Some(Bytes::from(bytes)),
        _ => None,
    });
    let Some(Some(frame)) = items.next() else {
        return Err(RelayError::store_unavailable());
    };
    Ok((frame, items.next().flatten()))
}

impl RedisStore {
    /// Connects lazily: the relay starts (and answers `503`, readiness false) while Redis is
    /// away.
    pub async fn connect(
        options: RedisOptions,
        limits: Limits,
        test_mode: bool,
    ) -> Result<Self, String> {
        let client = redis::Client::open(options.url.as_str())
            .map_err(|e| format!("--redis: not a Redis URL ({:?})", e.kind()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| format!("--redis: {:?}", e.kind()))?;
        let mut name = [0u8; 8];
        getrandom::fill(&mut name).map_err(|e| format!("no randomness: {e}"))?;
        let scripts = Scripts::new();
        let link = Link {
            conn,
            prefix: options.prefix.as_bytes().into(),
            library: scripts.library.as_str().into(),
            names: scripts.by_index.clone().into(),
        };
        let inner = Arc::new(Inner {
            encoded: EncodedLimits::new(&limits),
            limits,
            test_mode,
            prefix: options.prefix,
            instance: hex(&name),
            scripts,
            batcher: Batcher::start(link.clone()),
            link,
            next_waiter: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            local: Mutex::new(Local::default()),
            leasing: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(subscriber(client, Arc::downgrade(&inner)));
        Ok(Self { inner })
    }
}

/// Keeps one subscription to `P:wake` and `P:wake:<instance>` and wakes the local waiters it names; after a broken
/// subscription, wakes every local waiter so each looks in Redis again.
async fn subscriber(client: redis::Client, inner: std::sync::Weak<Inner>) {
    let mut delay = Duration::from_millis(50);
    loop {
        let Some(channels) = inner.upgrade().map(|i| {
            let all = format!("{}:wake", i.prefix);
            let own = format!("{all}:{}", i.instance);
            [all, own]
        }) else {
            return;
        };
        let pubsub = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channels).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, pubsub).await {
            Ok(Ok(pubsub)) => {
                delay = Duration::from_millis(50);
                if let Some(inner) = inner.upgrade() {
                    inner.lock().wake_everyone();
                }
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Some(inner) = inner.upgrade() else {
                        return;
                    };
                    inner.wake(message.get_payload_bytes());
                }
                log!("redis: subscription lost; reconnecting");
            }
            Ok(Err(e)) => log!("redis: cannot subscribe ({:?})", e.kind()),
            Err(_) => log!("redis: cannot subscribe (timeout)"),
        }
        if let Some(inner) = inner.upgrade() {
            inner.lock().wake_everyone();
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_running(&self) -> Result<(), RelayError> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(RelayError::unavailable("relay shutting down"));
        }
        Ok(())
    }

    /// Test faults are armed: a look also fetches the following frame, and the GET keeps its
    /// slot (a fault may hold the frame it found).
    fn want_following(&self) -> bool {
        self.test_mode && self.lock().faults.armed() > 0
    }

    /// The frame as the armed faults deliver it (as found when none are armed), counted in
    /// `served` when it is delivered.
    fn deliver(
        &self,
        id: Id,
        dir: Dir,
        seq: u64,
        frame: Bytes,
        following: Option<Bytes>,
        want_following: bool,
    ) -> Result<Option<(Bytes, Option<Action>)>, RelayError> {
        let mut local = self.lock();
        let delivered = if want_following {
            match local
                .faults
                .on_deliver(id, dir, seq, &frame, following.as_ref())?
            {
                Delivery::Genuine => Some((frame, None)),
                Delivery::Replaced { bytes, action } => Some((bytes, Some(action))),
                Delivery::Hold => None,
            }
        } else {
            Some((frame, None))
        };
        if delivered.is_some() {
            local.served += 1;
        }
        Ok(delivered)
    }

    /// One published message: a wake, or several (`wakes`).
    fn wake(&self, payload: &[u8]) {
        let mut local = self.lock();
        for one in wakes(payload) {
            local.wake(one);
        }
    }

    /// One step of a request, in the next batch (`redis_batch`).
    async fn run<T: redis::FromRedisValue>(
        &self,
        step: &Step,
        args: &[&[u8]],
    ) -> Result<T, RelayError> {
        let args = args.iter().map(|arg| arg.to_vec()).collect();
        let answer = self.batcher.call(step.index, args).await;
        answer
            .map_err(|()| RelayError::store_unavailable())
            .and_then(typed)
    }

    /// One step on its own `FCALL`, not batched: the sweeper's and the stats' steps, which
    /// may take long, and the lease's.
    async fn run_alone<T: redis::FromRedisValue>(
        &self,
        step: &Step,
        args: &[&[u8]],
    ) -> Result<T, RelayError> {
        let answer = match redis_batch::alone(&self.link, step.index, args.iter().copied()) {
            Some(call) => redis_batch::fcall(&self.link, &call, 1).await,
            None => Err(()),
        };
        answer
            .map_err(|()| RelayError::store_unavailable())
            .and_then(typed)
    }
}

/// A step's answer as the type its caller reads.
fn typed<T: redis::FromRedisValue>(answer: Rv) -> Result<T, RelayError> {
    T::from_redis_value(answer).map_err(|_| {
        log!("redis: a step's answer is not of the type expected");
        RelayError::store_unavailable()
    })
}

fn number(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

#[async_trait]
impl Store for RedisStore {
    fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    fn test_mode(&self) -> bool {
        self.inner.test_mode
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn create_session(&self, id: Id) -> Result<(), RelayError> {
        let inner = &self.inner;
        inner.check_running()?;
        let h = hex(id.as_bytes());
        let answer: i64 = inner
            .run(
                &inner.scripts.create,
                &[
                    h.as_bytes(),
                    &number(inner.limits.max_sessions),
                    &number(ms(inner.limits.session_idle)),
                ],
            )
            .await?;
        match answer {
            -1 => Err(RelayError::conflict("session exists")),
            -2 => Err(RelayError::unavailable("relay full")),
            _ => {
                inner.lock().faults.bind_next(id);
                Ok(())
            }
        }
    }

    async fn delete_session(&self, id: Id) -> Result<(), RelayError> {
        let inner = &self.inner;
        inner.check_running()?;
        let h = hex(id.as_bytes());
        let deleted: i64 = inner.run(&inner.scripts.delete, &[h.as_bytes()]).await?;
        inner.lock().faults.forget(id);
        if deleted == 0 {
            return Err(RelayError::unknown_session());
        }
        Ok(())
    }

    async fn knock(&self, door: Id, session: Id) -> Result<(), RelayError> {
        let inner = &self.inner;
        inner.check_running()?;
        let limits = &inner.limits;
        let answer: i64 = inner
            .run(
                &inner.scripts.knock,
                &[
                    hex(door.as_bytes()).as_bytes(),
                    hex(session.as_bytes()).as_bytes(),
                    &number(limits.door_knocks),
                    &number(limits.max_knocks),
                    &number(ms(limits.knock_ttl)),
                    &number(ms(limits.session_idle)),
                ],
            )
            .await?;
        match answer {
            -1 => Err(RelayError::unknown_session()),
            -2 => Err(RelayError::queue_full("door queue full")),
            -3 => Err(RelayError::queue_full("the relay's knock queue is full")),
            _ => Ok(()),
        }
    }

    async fn take_knock(&self, doors: &[Id]) -> Result<Option<(Id, Id)>, RelayError> {
        let inner = &self.inner;
        inner.check_running()?;
        let ttl = number(ms(inner.limits.knock_ttl));
        let names: Vec<String> = doors.iter().map(|d| hex(d.as_bytes())).collect();
        let mut args: Vec<&[u8]> = vec![&ttl];
        args.extend(names.iter().map(String::as_bytes));
        let answer: Option<(Vec<u8>, Vec<u8>)> =
            inner.run(&inner.scripts.take_knock, &args).await?;
        Ok(answer.and_then(|(door, session)| Some((parse_id(&door)?, parse_id(&session)?))))
    }

    async fn add_door_waiter(
        &self,
        doors: &[Id],
        notify: &Arc<Notify>,
        _wait_ms: u64,
    ) -> Option<u64> {
        let waiter = self.add_waiter().await?;
        let mut local = self.inner.lock();
        for door in doors {
            local
                .doors
                .entry(*door)
                .or_default()
                .push((waiter, notify.clone()));
        }
        local.door_waiters += 1;
        Some(waiter)
    }

    fn remove_door_waiter(&self, doors: &[Id], waiter: u64) {
        {
            let mut local = self.inner.lock();
            for door in doors {
                if let Some(waiters) = local.doors.get_mut(door) {
                    waiters.retain(|(w, _)| *w != waiter);
                    if waiters.is_empty() {
                        local.doors.remove(door);
                    }
                }
            }
            local.door_waiters -= 1;
        }
        self.remove_waiter();
    }

    async fn add_frame_waiter(&self, _wait_ms: u64) -> Option<u64> {
        self.add_waiter().await
    }

    fn remove_frame_waiter(&self, _waiter: u64) {
        self.remove_waiter();
    }

    async fn post_frame(
        &self,
        id: Id,
        dir: Dir,
        seq: u64,
        frame: Bytes,
    ) -> Result<Appended, RelayError> {
        let inner = &self.inner;
        inner.check_running()?;
        let limits = &inner.encoded;
        let mut unanswered = WakeIfUnanswered {
            inner,
            id,
            dir,
            armed: true,
        };
        let answer: Rv = inner
            .run(
                &inner.scripts.post,
                &[
                    hex(id.as_bytes()).as_bytes(),
                    dir_key(dir).as_bytes(),
                    &number(seq),
                    &frame,
                    &limits.queue_frames,
                    &limits.queue_bytes,
                    &limits.total_bytes,
                    &limits.idle_ms,
                    inner.instance.as_bytes(),
                ],
            )
            .await?;
        unanswered.armed = false;
        let answer = match answer {
            Rv::Int(n) => n,
            // Stored, and a GET of this instance waits for it: woken here, not by a message.
            Rv::Array(items) => {
                let inc = match items.get(1) {
                    Some(Rv::Int(inc)) => u64::try_from(*inc).ok(),
                    _ => None,
                };
                let mut local = inner.lock();
                if let Some(inc) = inc {
                    local.parcel(id, dir, inc, seq, || frame.clone());
                }
                local.faults.on_stored(id, dir, seq, &frame);
                return Ok(Appended::Stored);
            }
            _ => return Err(RelayError::store_unavailable()),
        };
        match answer {
            1 => {
                inner.lock().faults.on_stored(id, dir, seq, &frame);
                Ok(Appended::Stored)
            }
            2 => Ok(Appended::AlreadyStored),
            -1 => Err(RelayError::unknown_session()),
            -2 => Err(RelayError::conflict(
                "other bytes are already stored under this number",
            )),
            -3 => Err(RelayError::conflict("seq is not the next frame number")),
            -4 => Err(RelayError::queue_full("too many unacknowledged frames")),
            -5 => Err(RelayError::queue_full("too many unacknowledged bytes")),
            _ => Err(RelayError::queue_full("the relay's frame memory is full")),
        }
    }

    async fn open_request(&self, id: Id, wait_ms: u64) -> Result<SessionRef, RelayError> {
        let inner = &self.inner;
        inner.check_running()?;
        let keep = wait_ms.saturating_add(ms(inner.limits.session_idle));
        let answer: Option<u64> = inner
            .run(
                &inner.scripts.open,
                &[hex(id.as_bytes()).as_bytes(), &number(keep)],
            )
            .await?;
        let instance = answer.ok_or_else(RelayError::unknown_session)?;
        let signal = inner.lock().signals.entry(id).or_default().clone();
        Ok(SessionRef {
            id,
            instance,
            signal,
        })
    }

    /// Only local: `open_request` already kept the session for the request's whole wait plus
    /// the idle time (a deadline only ever moves later), which is at least its end plus the
    /// idle time, so a Redis step here would change nothing.
    fn close_request(&self, session: &SessionRef) {
        let mut local = self.inner.lock();
        // The map's reference and the closing request's: nobody else uses it.
        if local
            .signals
            .get(&session.id)
            .is_some_and(|s| Arc::strong_count(s) <= 2)
        {
            local.signals.remove(&session.id);
            local.parcels.remove(&(session.id, Dir::Up));
            local.parcels.remove(&(session.id, Dir::Down));
        }
    }

    async fn take_frame(
        &self,
        session: &SessionRef,
        dir: Dir,
        seq: u64,
        _waiter: Option<u64>,
    ) -> Result<Option<(Bytes, Option<Action>)>, RelayError> {
        let inner = &self.inner;
        inner.check_running()?;
        let want_following = inner.want_following();
        if !want_following {
            // The frame came with the wake: no Redis step.
            let parcel = inner.lock().parcels.get(&(session.id, dir)).cloned();
            if let Some((inc, number, frame)) = parcel
                && inc == session.instance
                && number == seq
            {
                return inner.deliver(session.id, dir, seq, frame, None, false);
            }
        }
        let answer: Rv = inner
            .run(
                &inner.scripts.take,
                &[
                    hex(session.id.as_bytes()).as_bytes(),
                    &number(session.instance),
                    dir_key(dir).as_bytes(),
                    &number(seq),
                    if want_following { b"1" } else { b"0" },
                    inner.instance.as_bytes(),
                ],
            )
            .await?;
        let (frame, following) = match answer {
            Rv::Int(-1) => return Err(RelayError::unknown_session()),
            Rv::Int(-2) => return Err(RelayError::gone()),
            Rv::Array(items) => frame_of(items)?,
            _ => return Ok(None),
        };
        inner.deliver(session.id, dir, seq, frame, following, want_following)
    }

    /// `START_GET`: open, first look and (when the GET will wait) the slot, one script.
    async fn start_frame_get(
        &self,
        id: Id,
        dir: Dir,
        seq: u64,
        wait_ms: u64,
    ) -> Result<FrameGet, RelayError> {
        let inner = &self.inner;
        inner.check_running()?;
        let keep = wait_ms.saturating_add(ms(inner.limits.session_idle));
        let want_following = inner.want_following();
        // The slot comes from this instance's lease (a Redis step only when it runs out);
        // a GET that finds its frame at once gives it back when it ends.
        let waiter = if wait_ms == 0 {
            None
        } else {
            self.add_waiter().await
        };
        // The signal exists before the look, so a wake published after it is not dropped,
        // and its count is read before the look (`FrameGet::seen`).
        let signal = inner.lock().signals.entry(id).or_default().clone();
        let seen = signal.wakes(dir);
        let mut session = SessionRef {
            id,
            instance: 0,
            signal,
        };
        let answer: Result<Rv, RelayError> = inner
            .run(
                &inner.scripts.start_get,
                &[
                    hex(id.as_bytes()).as_bytes(),
                    &number(keep),
                    dir_key(dir).as_bytes(),
                    &number(seq),
                    if want_following { b"1" } else { b"0" },
                    if waiter.is_some() { b"1" } else { b"0" },
                    inner.instance.as_bytes(),
                ],
            )
            .await;
        let items = match answer {
            Ok(Rv::Array(items)) => items,
            other => {
                self.close_request(&session);
                if waiter.is_some() {
                    self.remove_waiter();
                }
                return Err(other.err().unwrap_or_else(RelayError::unknown_session));
            }
        };
        let int = |v: Option<&Rv>| match v {
            Some(Rv::Int(n)) => Some(*n),
            _ => None,
        };
        session.instance = int(items.first())
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let found = match items.get(1) {
            Some(Rv::Int(-2)) => Err(RelayError::gone()),
            Some(Rv::Int(_)) => Ok(None),
            _ => frame_of(items.into_iter().skip(1).collect()).and_then(|(frame, following)| {
                inner.deliver(id, dir, seq, frame, following, want_following)
            }),
        };
        self.frame_get(session, waiter, seen, found)
    }

    async fn arm_fault(
        &self,
        session: Option<Id>,
        dir: Dir,
        seq: u64,
        action: Action,
    ) -> Result<u64, RelayError> {
        let inner = &self.inner;
        let (target, earlier) = match session {
            None => (Target::NextSession, None),
            Some(id) => {
                let earlier = match seq.checked_sub(1) {
                    None => None,
                    Some(before) => {
                        let answer: Rv = inner
                            .run(
                                &inner.scripts.peek,
                                &[
                                    hex(id.as_bytes()).as_bytes(),
                                    dir_key(dir).as_bytes(),
                                    &number(before),
                                ],
                            )
                            .await?;
                        match answer {
                            Rv::Int(-1) => return Err(RelayError::unknown_session()),
                            Rv::Int(_) => {
                                return Err(RelayError::conflict(
                                    "frame seq - 1 was already dropped",
                                ));
                            }
                            Rv::Array(items) => items.into_iter().next().and_then(|v| match v {
                                Rv::BulkString(bytes) => Some(Bytes::from(bytes)),
                                _ => None,
                            }),
                            _ => None,
                        }
                    }
                };
                if seq == 0 {
                    // Only the session's existence matters.
                    let open: Option<u64> = inner
                        .run(&inner.scripts.open, &[hex(id.as_bytes()).as_bytes(), b"0"])
                        .await?;
                    open.ok_or_else(RelayError::unknown_session)?;
                }
                (Target::Session(id), earlier)
            }
        };
        inner.lock().faults.arm(target, dir, seq, action, earlier)
    }

    async fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }

    async fn sweep(&self) -> Result<Swept, RelayError> {
        let inner = &self.inner;
        self.renew_lease().await?;
        let answer: Vec<Rv> = inner
            .run_alone(
                &inner.scripts.sweep,
                &[&number(ms(inner.limits.knock_ttl)), &number(SWEEP_BATCH)],
            )
            .await?;
        let mut items = answer.into_iter();
        let knocks = match items.next() {
            Some(Rv::Int(n)) => usize::try_from(n).unwrap_or(0),
            _ => 0,
        };
        let sessions = items
            .filter_map(|v| match v {
                Rv::BulkString(bytes) => parse_id(&bytes),
                _ => None,
            })
            .collect();
        Ok(Swept { sessions, knocks })
    }

    fn shut_down(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
        self.inner.lock().wake_everyone();
    }

    async fn ready(&self) -> Result<(), RelayError> {
        self.inner.check_running()?;
        let mut conn = self.inner.link.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn stats(&self, frames: bool) -> Result<Value, RelayError> {
        let inner = &self.inner;
        let answer: Vec<Rv> = inner
            .run_alone(&inner.scripts.stats, &[if frames { b"1" } else { b"0" }])
            .await?;
        let int = |v: &Rv| match v {
            Rv::Int(n) => *n,
            Rv::BulkString(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            _ => 0,
        };
        let mut counters: HashMap<String, i64> = HashMap::new();
        for pair in answer.get(5..).unwrap_or(&[]).chunks_exact(2) {
            if let Rv::BulkString(name) = &pair[0] {
                counters.insert(String::from_utf8_lossy(name).into_owned(), int(&pair[1]));
            }
        }
        let c = |name: &str| counters.get(name).copied().unwrap_or(0);
        let at = |i: usize| answer.get(i).map_or(0, int);
        let local = inner.lock();
        let mut stats = json!({
            "sessions": at(0),
            "sessions_created": c("sessions_created"),
            "sessions_deleted": c("sessions_deleted"),
            "sessions_expired": c("sessions_expired"),
            "knocks": at(1),
            "knocks_received": c("knocks_received"),
            "knocks_delivered": c("knocks_delivered"),
            "knocks_dropped": c("knocks_dropped"),
            "knocks_withdrawn": c("knocks_withdrawn"),
            "doors": c("doors"),
            "door_waiters": local.door_waiters,
            "waiters": local.waiters,
            "waiters_relay_wide": at(2),
            "waiter_slots_leased": local.granted,
            "frames_served": local.served,
            "bytes_queued": c("bytes"),
            "faults_armed": local.faults.armed(),
            "faults_fired": local.faults.fired(),
        });
        if frames {
            stats["frames_stored"] = json!(at(3) + c("stored_gone"));
            stats["frames_queued"] = json!(at(4));
        }
        Ok(stats)
    }
}

impl RedisStore {
    /// One `noop` step (`redis_lua`) on the path every request's step takes (`Inner::run`,
    /// batched): what one step costs beyond its own work, for `relay serve --floor-redis`.
    pub async fn floor_step(&self) -> Result<(), RelayError> {
        let inner = &self.inner;
        let _: i64 = inner.run(&inner.scripts.noop, &[]).await?;
        Ok(())
    }

    /// Takes a long-poll slot from this instance's lease, renewing the lease for more when
    /// it has none left (`renew_lease`); `None` past the relay-wide limit or when Redis
    /// does not answer (the request then answers at once instead of waiting).
    async fn add_waiter(&self) -> Option<u64> {
        let inner = &self.inner;
        if !inner.take_slot() {
            let _one = inner.leasing.lock().await;
            // Another request's renewal may have made room meanwhile.
            if !inner.take_slot() {
                self.renew_locked(1).await.ok()?;
                if !inner.take_slot() {
                    return None;
                }
            }
        }
        Some(inner.next_waiter.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Only local: the slot goes back to this instance's lease.
    fn remove_waiter(&self) {
        let mut local = self.inner.lock();
        local.waiters = local.waiters.saturating_sub(1);
    }

    /// Renews this instance's lease (the sweeper, every period): its long-polls now and the
    /// headroom (`Inner::headroom`), so unused slots go back to the others.
    async fn renew_lease(&self) -> Result<(), RelayError> {
        let _one = self.inner.leasing.lock().await;
        self.renew_locked(0).await
    }

    /// `LEASE` for the long-polls now plus `more` and the headroom, with `leasing` held. A
    /// shrinking grant applies before the step (this instance never uses more than Redis
    /// will say it holds); the answer applies after it.
    async fn renew_locked(&self, more: usize) -> Result<(), RelayError> {
        let inner = &self.inner;
        let started = Instant::now();
        let (want, used) = {
            let mut local = inner.lock();
            let want = local.waiters + more + inner.headroom(local.waiters);
            local.granted = local.granted.min(want);
            (want, local.waiters)
        };
        let until = now_ms().saturating_add(LEASE_MS);
        let granted: i64 = inner
            .run_alone(
                &inner.scripts.lease,
                &[
                    inner.instance.as_bytes(),
                    &number(want),
                    &number(used),
                    &number(inner.limits.max_waiters),
                    &number(until),
                ],
            )
            .await?;
        let mut local = inner.lock();
        local.granted = usize::try_from(granted).unwrap_or(0).min(want);
        local.lease_until = Some(started + Duration::from_millis(LEASE_MS) - LEASE_MARGIN);
        Ok(())
    }
}

impl Inner {
    /// One slot of the lease, if it has one left and has not lapsed.
    fn take_slot(&self) -> bool {
        let mut local = self.lock();
        let live = local
            .lease_until
            .is_some_and(|until| Instant::now() < until);
        if live && local.waiters < local.granted {
            local.waiters += 1;
            return true;
        }
        false
    }

    /// Slots leased beyond those in use, so most long-polls take a slot without a Redis step:
    /// an eighth of those in use plus 16, at most 1/64 of the relay-wide limit (so the
    /// instances' unused slots keep at most a few percent of it from the others), and none
    /// when the limit is under 64 (every slot then a step: exact).
    fn headroom(&self, used: usize) -> usize {
        (16 + used / 8).min(self.limits.max_waiters / 64)
    }
}

#[cfg(test)]
mod tests {
    use super::wakes;

    #[test]
    fn a_message_carries_one_wake_or_several() {
        let one: Vec<&[u8]> = wakes(b"x:00").collect();
        assert_eq!(one, [b"x:00".as_slice()]);
        // Lengths count bytes, so a frame holding ':' or digits stays whole.
        let several: Vec<&[u8]> = wakes(b"b:4:x:0013:g:1:u:2:3:4:53:d:7").collect();
        assert_eq!(several, [b"x:00".as_slice(), b"g:1:u:2:3:4:5", b"d:7"]);
        // A list cut short or malformed ends where it stops parsing; nothing is read past it.
        let cut: Vec<&[u8]> = wakes(b"b:4:x:0099:g:1").collect();
        assert_eq!(cut, [b"x:00".as_slice()]);
        assert_eq!(wakes(b"b:zz:x").count(), 0);
        assert_eq!(wakes(b"b:").count(), 0);
        assert_eq!(wakes(b"b:18446744073709551615:x").count(), 0);
    }
}
