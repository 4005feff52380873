//! `GET /metrics` in the Prometheus text format (OpenMetrics), per instance: frames and
//! bytes relayed (served to their receiver) per direction, requests refused by reason, the
//! Redis round-trip time and the steps those round trips carried, and the relay-wide number of open sessions (read from the store
//! at each scrape). Labels are fixed words, never ids, so a client cannot grow the registry.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::queue::Dir;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirLabel {
    dir: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

struct Metrics {
    registry: Registry,
    open_sessions: Gauge,
    frames: Family<DirLabel, Counter>,
    bytes: Family<DirLabel, Counter>,
    rejected: Family<ReasonLabel, Counter>,
    redis: Histogram,
    steps: Counter,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let open_sessions = Gauge::default();
        let frames = Family::<DirLabel, Counter>::default();
        let bytes = Family::<DirLabel, Counter>::default();
        let rejected = Family::<ReasonLabel, Counter>::default();
        // 100 µs .. ~3.3 s.
        let redis = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let steps = Counter::default();
        registry.register(
            "relay_open_sessions",
            "Sessions open relay-wide",
            open_sessions.clone(),
        );
        registry.register(
            "relay_frames_relayed",
            "Frames served to their receiver by this instance",
            frames.clone(),
        );
        registry.register(
            "relay_bytes_relayed",
            "Frame bytes served to their receiver by this instance",
            bytes.clone(),
        );
        registry.register(
            "relay_rejected_requests",
            "Requests this instance answered with an error, by reason",
            rejected.clone(),
        );
        registry.register(
            "relay_redis_round_trip_seconds",
            "Time of one Redis round trip (a step, a batch of steps or a command) as this instance saw it",
            redis.clone(),
        );
        registry.register(
            "relay_redis_steps",
            "Steps this instance ran in Redis, alone or batched (per round trip: over relay_redis_round_trip_seconds_count)",
            steps.clone(),
        );
        Metrics {
            registry,
            open_sessions,
            frames,
            bytes,
            rejected,
            redis,
            steps,
        }
    })
}

pub fn frame_relayed(dir: Dir, len: usize) {
    let label = DirLabel { dir: dir.name() };
    let m = metrics();
    m.frames.get_or_create(&label).inc();
    m.bytes
        .get_or_create(&label)
        .inc_by(u64::try_from(len).unwrap_or(u64::MAX));
}

/// One error answer; the reason is the rule's class, from the status and message.
pub fn rejected(status: StatusCode, message: &str) {
    let reason = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::GONE => "gone",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::TOO_MANY_REQUESTS => "queue_full",
        StatusCode::SERVICE_UNAVAILABLE if message == "relay full" => "relay_full",
        StatusCode::SERVICE_UNAVAILABLE if message.contains("store") => "store_unavailable",
        StatusCode::SERVICE_UNAVAILABLE => "shutting_down",
        _ => "internal",
    };
    metrics()
        .rejected
        .get_or_create(&ReasonLabel { reason })
        .inc();
}

pub fn redis_round_trip(took: Duration) {
    metrics().redis.observe(took.as_secs_f64());
}

/// `n` steps went to Redis in one round trip.
pub fn redis_steps(n: usize) {
    metrics().steps.inc_by(u64::try_from(n).unwrap_or(u64::MAX));
}

/// The text of one scrape; `open_sessions` is the store's count now, if it answered.
pub fn encode(open_sessions: Option<i64>) -> String {
    let m = metrics();
    if let Some(n) = open_sessions {
        m.open_sessions.set(n);
    }
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &m.registry);
    text
}
