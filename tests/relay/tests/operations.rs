//! Operations endpoints (issue 19): `/healthz`, `/readyz` and the Prometheus `/metrics`
//! (open sessions, frames and bytes relayed, refusals by reason, Redis round trips), on
//! whichever store this run tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Relay, new_id, on_redis};

/// The value of the sample line `name` (with its labels) in a scrape.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let relay = Relay::start();
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            relay.send(relay.http.get(relay.url(path))).await.status,
            200
        );
    }
    let (s, gone) = (relay.session().await, relay.session().await);
    assert_eq!(relay.delete(&gone).await, 204);
    assert_eq!(relay.post(&s, "up", 0, &[7; 100]).await, 204);
    assert_eq!(relay.post(&s, "down", 0, &[7; 10]).await, 204);
    assert_eq!(relay.get(&s, "up", 0, 0).await.status, 200);
    // The same frame asked for again is relayed again (a lost answer).
    assert_eq!(relay.get(&s, "up", 0, 0).await.status, 200);
    assert_eq!(relay.get(&s, "down", 0, 0).await.status, 200);
    assert_eq!(relay.get(&gone, "up", 0, 0).await.status, 404);
    assert_eq!(relay.post(&s, "up", 5, b"x").await, 409);
    assert_eq!(relay.put(&s).await, 409);
    assert_eq!(relay.get(&new_id()[..5], "up", 0, 0).await.status, 400);

    let got = relay.send(relay.http.get(relay.url("/metrics"))).await;
    assert_eq!(got.status, 200);
    let text = String::from_utf8(got.body).unwrap();
    let expect = [
        ("relay_open_sessions", 1.0),
        ("relay_frames_relayed_total{dir=\"up\"}", 2.0),
        ("relay_bytes_relayed_total{dir=\"up\"}", 200.0),
        ("relay_frames_relayed_total{dir=\"down\"}", 1.0),
        ("relay_bytes_relayed_total{dir=\"down\"}", 10.0),
        ("relay_rejected_requests_total{reason=\"not_found\"}", 1.0),
        ("relay_rejected_requests_total{reason=\"conflict\"}", 2.0),
        ("relay_rejected_requests_total{reason=\"bad_request\"}", 1.0),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&text, name), Some(value), "{name} in\n{text}");
    }
    let round_trips = sample(&text, "relay_redis_round_trip_seconds_count").unwrap();
    let steps = sample(&text, "relay_redis_steps_total").unwrap();
    if on_redis() {
        // One request at a time here: each step went alone (requests, sweeps, leases).
        assert!(round_trips >= 10.0, "{text}");
        assert!(steps >= round_trips, "{text}");
    } else {
        assert!(round_trips == 0.0 && steps == 0.0, "{text}");
    }
    // Ids never label a metric.
    for id in [&s, &gone] {
        assert!(!text.contains(&id[..8]), "{text}");
    }
}
