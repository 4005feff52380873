//! The HTTP endpoints of link.md §5.4, and the test routes of `--test-faults`.
//!
//! `--test-faults` also offers a slow relay (`POST /v1/test/delay`, body: milliseconds as
//! decimal text): every frame stored after it is served no sooner than that long after it was
//! stored, as over a slow network; frames are not held back behind each other, and nothing
//! else changes. The store times live here, beside the relay's state, not in it.
//!
//! Long-polls never spin: a frame GET arms its direction's `Notify` before it looks at the
//! queue (so a frame stored in between wakes it), a door GET registers its own `Notify` on
//! every door it names before it looks; both then sleep until woken or until `wait_ms`.
//!
//! The log names requests by shortened ids, directions, numbers and sizes only; frame bytes
//! and knock bodies never reach it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::RelayError;
use crate::faults::FaultRequest;
use crate::ids::{ID_LEN, Id};
use crate::queue::{Appended, Dir};
use crate::state::SessionRef;
use crate::store::Store;

/// link.md §4.2 (Noise §3): no frame is longer.
pub const MAX_FRAME: usize = 65_535;
/// §5.4: one door GET names 1..=64 doors.
pub const MAX_DOORS: usize = 64;
/// The header that carries a served frame's number (§5.4).
pub const RELAY_SEQ: &str = "relay-seq";

type Answer = Result<Response, RelayError>;

pub fn router(relay: Arc<dyn Store>) -> Router {
    let mut router = Router::new()
        .route(
            "/v1/sessions/{session}",
            put(create_session).delete(delete_session),
        )
        .route("/v1/doors/{door}/knock", post(knock))
        .route("/v1/doors", get(wait_for_knock))
        .route(
            "/v1/sessions/{session}/{dir}/{seq}",
            post(post_frame).get(get_frame),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if relay.test_mode() {
        router = router
            .route("/v1/test/faults", post(arm_fault).delete(clear_faults))
            .route("/v1/test/stats", get(stats))
            .route("/v1/test/delay", post(set_delay));
    }
    router
        .fallback(|| async { RelayError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_FRAME))
        .with_state(relay)
}

fn session_id(text: &str) -> Result<Id, RelayError> {
    Id::parse_hex(text).ok_or(RelayError::bad_request(
        "a session id is 32 lower-case hex digits",
    ))
}

fn door_id(text: &str) -> Result<Id, RelayError> {
    Id::parse_hex(text).ok_or(RelayError::bad_request(
        "a door id is 32 lower-case hex digits",
    ))
}

fn frame_path(session: &str, dir: &str, seq: &str) -> Result<(Id, Dir, u64), RelayError> {
    let id = session_id(session)?;
    let dir = Dir::parse(dir).ok_or(RelayError::bad_request("dir is up or down"))?;
    // Digits only: no sign, no spaces, one spelling per number.
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RelayError::bad_request("seq is a decimal number"));
    }
    let seq = seq
        .parse()
        .map_err(|_| RelayError::bad_request("seq is a decimal number"))?;
    Ok((id, dir, seq))
}

/// The query of a long-poll: `wait_ms` (optional, clamped) and, for the door GET, the doors.
struct Query {
    doors: Vec<Id>,
    wait: Duration,
}

fn parse_query(
    raw: Option<&str>,
    doors_allowed: bool,
    max_wait: Duration,
) -> Result<Query, RelayError> {
    let mut doors = Vec::new();
    let mut wait_ms = None;
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "door" if doors_allowed => {
                if doors.len() == MAX_DOORS {
                    return Err(RelayError::bad_request("at most 64 doors"));
                }
                let door = door_id(value)?;
                if !doors.contains(&door) {
                    doors.push(door);
                }
            }
            "wait_ms" if wait_ms.is_none() => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(RelayError::bad_request("wait_ms is a decimal number"));
                }
                // Longer than u64 is simply "very long", clamped below like any other.
                wait_ms = Some(value.parse::<u64>().unwrap_or(u64::MAX));
            }
            _ => {
                return Err(RelayError::bad_request(
                    "unknown or repeated query parameter",
                ));
            }
        }
    }
    if doors_allowed && doors.is_empty() {
        return Err(RelayError::bad_request("name at least one door"));
    }
    let wait = Duration::from_millis(wait_ms.unwrap_or(0)).min(max_wait);
    Ok(Query { doors, wait })
}

fn wait_ms(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn octets(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        body,
    )
        .into_response()
}

/// The body, or the right error: `413` past `MAX_FRAME`, `400` if it could not be read.
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, RelayError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RelayError::too_large()
        } else {
            RelayError::bad_request("cannot read the request body")
        }
    })
}

async fn create_session(
    State(relay): State<Arc<dyn Store>>,
    Path(session): Path<String>,
) -> Answer {
    let id = session_id(&session)?;
    relay.create_session(id).await?;
    log!("session {} created", id.short());
    Ok(StatusCode::CREATED.into_response())
}

async fn delete_session(
    State(relay): State<Arc<dyn Store>>,
    Path(session): Path<String>,
) -> Answer {
    let id = session_id(&session)?;
    relay.delete_session(id).await?;
    log!("session {} deleted", id.short());
    Ok(no_content())
}

async fn knock(
    State(relay): State<Arc<dyn Store>>,
    Path(door): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let door = door_id(&door)?;
    let body = body_of(body)?;
    let session = Id::from_bytes(&body).ok_or(RelayError::bad_request(
        "the knock body is a 16-byte session id",
    ))?;
    relay.knock(door, session).await?;
    log!(
        "knock on door {} for session {}",
        door.short(),
        session.short()
    );
    Ok(no_content())
}

/// Unregisters a door long-poll however its request ends (answer, error, or a client gone).
struct DoorWaiter<'a> {
    relay: &'a dyn Store,
    doors: &'a [Id],
    waiter: u64,
}

impl Drop for DoorWaiter<'_> {
    fn drop(&mut self) {
        self.relay.remove_door_waiter(self.doors, self.waiter);
    }
}

async fn wait_for_knock(State(relay): State<Arc<dyn Store>>, RawQuery(query): RawQuery) -> Answer {
    let query = parse_query(query.as_deref(), true, relay.limits().max_wait)?;
    let deadline = Instant::now() + query.wait;
    let notify = Arc::new(Notify::new());
    let registration = if query.wait.is_zero() {
        None
    } else {
        relay
            .add_door_waiter(&query.doors, &notify, wait_ms(query.wait))
            .await
            .map(|waiter| DoorWaiter {
                relay: &*relay,
                doors: &query.doors,
                waiter,
            })
    };
    let waiting = registration.is_some();
    loop {
        if let Some((door, session)) = relay.take_knock(&query.doors).await? {
            log!(
                "knock on door {} delivered for session {}",
                door.short(),
                session.short()
            );
            let mut body = Vec::with_capacity(2 * ID_LEN);
            body.extend_from_slice(door.as_bytes());
            body.extend_from_slice(session.as_bytes());
            return Ok(octets(body));
        }
        if !waiting || Instant::now() >= deadline {
            return Ok(no_content());
        }
        tokio::select! {
            () = notify.notified() => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

async fn post_frame(
    State(relay): State<Arc<dyn Store>>,
    Path((session, dir, seq)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let (id, dir, seq) = frame_path(&session, &dir, &seq)?;
    let frame = body_of(body)?;
    if frame.is_empty() {
        return Err(RelayError::bad_request("a frame is 1..=65535 bytes"));
    }
    let len = frame.len();
    let now = Instant::now();
    let stored = relay.post_frame(id, dir, seq, frame).await;
    if let Ok(Appended::Stored) = stored {
        slow::stored(id, dir, seq, now);
    }
    match &stored {
        Ok(Appended::Stored) => log!(
            "frame {} {} {seq}: {len} bytes stored",
            id.short(),
            dir.name()
        ),
        Ok(Appended::AlreadyStored) => log!(
            "frame {} {} {seq}: {len} bytes, a retry",
            id.short(),
            dir.name()
        ),
        Err(e) => log!(
            "frame {} {} {seq}: {len} bytes refused ({})",
            id.short(),
            dir.name(),
            e.status.as_u16()
        ),
    }
    stored.map(|_| no_content())
}

/// Ends a frame long-poll's hold on its session and its waiter slot, however it ends.
struct OpenRequest<'a> {
    relay: &'a dyn Store,
    session: SessionRef,
    waiter: Option<u64>,
}

impl Drop for OpenRequest<'_> {
    fn drop(&mut self) {
        self.relay.close_request(&self.session);
        if let Some(waiter) = self.waiter {
            self.relay.remove_frame_waiter(waiter);
        }
    }
}

async fn get_frame(
    State(relay): State<Arc<dyn Store>>,
    Path((session, dir, seq)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let (id, dir, seq) = frame_path(&session, &dir, &seq)?;
    let query = parse_query(query.as_deref(), false, relay.limits().max_wait)?;
    let deadline = Instant::now() + query.wait;
    let start = relay
        .start_frame_get(id, dir, seq, wait_ms(query.wait))
        .await
        .inspect_err(|e| log_refused(id, dir, seq, e))?;
    let open = OpenRequest {
        relay: &*relay,
        session: start.session,
        waiter: start.waiter,
    };
    let mut found = start.frame;
    let mut seen = start.seen;
    loop {
        if let Some((frame, fault)) = found.take() {
            match fault {
                None => log!(
                    "frame {} {} {seq}: {} bytes served",
                    id.short(),
                    dir.name(),
                    frame.len()
                ),
                Some(action) => log!(
                    "frame {} {} {seq}: {} bytes served with fault {}",
                    id.short(),
                    dir.name(),
                    frame.len(),
                    action.name()
                ),
            }
            slow::hold(id, dir, seq).await;
            crate::metrics::frame_relayed(dir, frame.len());
            let mut response = octets(frame.to_vec());
            response
                .headers_mut()
                .insert(RELAY_SEQ, HeaderValue::from(seq));
            return Ok(response);
        }
        if open.waiter.is_none() || Instant::now() >= deadline {
            return Ok(no_content());
        }
        // Armed, then the wake count compared with the one read before the last look: a
        // frame stored after that look has woken it or changed the count.
        let signal = &open.session.signal;
        let notified = signal.of(dir).notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if signal.wakes(dir) == seen {
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
        seen = signal.wakes(dir);
        found = relay
            .take_frame(&open.session, dir, seq, open.waiter)
            .await
            .inspect_err(|e| log_refused(id, dir, seq, e))?;
    }
}

/// A frame GET's error, logged unless it is the store's `503` (logged by the store).
fn log_refused(id: Id, dir: Dir, seq: u64, e: &RelayError) {
    if e.status != StatusCode::SERVICE_UNAVAILABLE {
        log!(
            "frame {} {} {seq}: {}",
            id.short(),
            dir.name(),
            e.status.as_u16()
        );
    }
}

/// Liveness: the process answers HTTP.
async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Readiness: the store answers (Redis reachable), and the relay is not stopping.
async fn readyz(State(relay): State<Arc<dyn Store>>) -> Answer {
    relay.ready().await?;
    Ok((StatusCode::OK, "ready\n").into_response())
}

async fn metrics(State(relay): State<Arc<dyn Store>>) -> Response {
    let sessions = relay
        .stats(false)
        .await
        .ok()
        .and_then(|stats| stats["sessions"].as_i64());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::encode(sessions),
    )
        .into_response()
}

async fn arm_fault(
    State(relay): State<Arc<dyn Store>>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body_of(body)?;
    let request: FaultRequest = serde_json::from_slice(&body).map_err(|_| {
        RelayError::bad_request("the body is {\"session\", \"dir\", \"seq\", \"action\"}")
    })?;
    let session = request.session.as_deref().map(session_id).transpose()?;
    let id = relay
        .arm_fault(session, request.dir, request.seq, request.action)
        .await?;
    let target = session.map_or_else(
        || "the next session".to_owned(),
        |s| format!("session {}", s.short()),
    );
    log!(
        "fault {id} armed: {} on {target} {} {}",
        request.action.name(),
        request.dir.name(),
        request.seq
    );
    Ok((StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response())
}

async fn clear_faults(State(relay): State<Arc<dyn Store>>) -> Response {
    relay.clear_faults().await;
    log!("faults cleared");
    no_content()
}

/// `?frames=0` leaves out the frame counts (see `Store::stats`).
async fn stats(State(relay): State<Arc<dyn Store>>, RawQuery(query): RawQuery) -> Answer {
    let frames = match query.as_deref() {
        None | Some("frames=1") => true,
        Some("frames=0") => false,
        Some(_) => {
            return Err(RelayError::bad_request(
                "the only query is frames=0 or frames=1",
            ));
        }
    };
    Ok(axum::Json(relay.stats(frames).await?).into_response())
}

async fn set_delay(body: Result<Bytes, BytesRejection>) -> Answer {
    let body = body_of(body)?;
    let ms = std::str::from_utf8(&body)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|ms| *ms <= 60_000)
        .ok_or_else(|| RelayError::bad_request("the body is a delay in ms, 0..=60000"))?;
    slow::set(ms);
    log!("frames are now served {ms} ms after they are stored");
    Ok(no_content())
}

/// The slow relay of `POST /v1/test/delay` (test mode only; off while the delay is 0).
mod slow {
    use super::*;

    /// At most this many store times are kept; beyond it they are forgotten (served at once).
    const MAX_KEPT: usize = 100_000;

    static DELAY_MS: AtomicU64 = AtomicU64::new(0);
    /// When each frame (session, direction, number) was stored.
    type StoreTimes = HashMap<(Id, Dir, u64), Instant>;

    static STORED_AT: Mutex<Option<StoreTimes>> = Mutex::new(None);

    pub(super) fn set(ms: u64) {
        DELAY_MS.store(ms, Ordering::SeqCst);
    }

    pub(super) fn stored(id: Id, dir: Dir, seq: u64, at: Instant) {
        if DELAY_MS.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut kept = STORED_AT.lock().unwrap_or_else(|e| e.into_inner());
        let kept = kept.get_or_insert_with(HashMap::new);
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert((id, dir, seq), at);
    }

    /// Waits until frame `seq` is due. Its store time is kept until then, so a GET that is
    /// dropped while it waits leaves the next one the same wait.
    pub(super) async fn hold(id: Id, dir: Dir, seq: u64) {
        let delay = Duration::from_millis(DELAY_MS.load(Ordering::SeqCst));
        let at = {
            let kept = STORED_AT.lock().unwrap_or_else(|e| e.into_inner());
            kept.as_ref().and_then(|k| k.get(&(id, dir, seq)).copied())
        };
        if let Some(at) = at {
            tokio::time::sleep_until(at + delay).await;
            if let Some(kept) = STORED_AT.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                kept.remove(&(id, dir, seq));
            }
        }
    }
}
