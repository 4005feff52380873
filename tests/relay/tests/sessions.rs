//! Sessions (link.md §5.4): create, conflict, full, delete, idle expiry, and the `400` for
//! every malformed id or path on every endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Relay, assert_one_line, new_id};

#[tokio::test]
async fn create_conflict_delete() {
    let relay = Relay::start();
    let id = new_id();
    assert_eq!(relay.put(&id).await, 201);
    let again = relay
        .send(relay.http.put(relay.url(&format!("/v1/sessions/{id}"))))
        .await;
    assert_eq!(again.status, 409);
    assert_one_line(&again);
    assert_eq!(relay.delete(&id).await, 204);
    assert_eq!(relay.delete(&id).await, 404);
    // A deleted id is unknown everywhere.
    assert_eq!(relay.post(&id, "up", 0, b"x").await, 404);
    assert_eq!(relay.get(&id, "up", 0, 0).await.status, 404);
    assert_eq!(relay.knock(&new_id(), &id).await, 404);
    // And can be created again.
    assert_eq!(relay.put(&id).await, 201);
}

#[tokio::test]
async fn relay_full_gives_503() {
    let relay = Relay::start_with(&["--max-sessions", "2"]);
    let a = relay.session().await;
    relay.session().await;
    let full = relay
        .send(
            relay
                .http
                .put(relay.url(&format!("/v1/sessions/{}", new_id()))),
        )
        .await;
    assert_eq!(full.status, 503);
    assert_one_line(&full);
    assert_eq!(relay.delete(&a).await, 204);
    relay.session().await;
}

#[tokio::test]
async fn malformed_ids_and_paths_give_400() {
    let relay = Relay::start();
    let good = relay.session().await;
    let door = new_id();
    let bad_ids = [
        "0011".to_owned(),
        good.to_uppercase(),
        format!("{good}0"),
        good[..31].to_owned(),
        format!("{}g", &good[..31]),
        format!("{}%20", &good[..29]),
    ];
    for bad in &bad_ids {
        let requests = [
            relay.http.put(relay.url(&format!("/v1/sessions/{bad}"))),
            relay.http.delete(relay.url(&format!("/v1/sessions/{bad}"))),
            relay
                .http
                .post(relay.url(&format!("/v1/sessions/{bad}/up/0")))
                .body("x"),
            relay
                .http
                .get(relay.url(&format!("/v1/sessions/{bad}/down/0"))),
            relay
                .http
                .post(relay.url(&format!("/v1/doors/{bad}/knock")))
                .body(common::unhex(&good)),
            relay
                .http
                .get(relay.url(&format!("/v1/doors?door={bad}&wait_ms=0"))),
            relay
                .http
                .get(relay.url(&format!("/v1/doors?door={door}&door={bad}&wait_ms=0"))),
        ];
        for request in requests {
            let got = relay.send(request).await;
            assert_eq!(got.status, 400, "{bad}");
            assert_one_line(&got);
        }
    }
    // Direction, number, knock body and query.
    for path in [
        format!("/v1/sessions/{good}/sideways/0"),
        format!("/v1/sessions/{good}/up/-1"),
        format!("/v1/sessions/{good}/up/+1"),
        format!("/v1/sessions/{good}/up/1x"),
        format!("/v1/sessions/{good}/up/99999999999999999999999"),
        format!("/v1/sessions/{good}/up/0?wait_ms=soon"),
        format!("/v1/sessions/{good}/up/0?wait_ms=1&wait_ms=2"),
        format!("/v1/sessions/{good}/up/0?door={door}"),
        "/v1/doors?wait_ms=10".to_owned(),
        format!("/v1/doors?door={door}&wait_ms=-5"),
        format!("/v1/doors?door={door}&colour=blue"),
    ] {
        let got = relay.send(relay.http.get(relay.url(&path))).await;
        assert_eq!(got.status, 400, "{path}");
    }
    for body in [vec![], vec![0; 15], vec![0; 17], good.as_bytes().to_vec()] {
        assert_eq!(relay.knock_raw(&door, body).await, 400);
    }
    // 64 doors are fine, 65 are not.
    let doors: Vec<String> = (0..65).map(|_| new_id()).collect();
    let refs: Vec<&str> = doors.iter().map(String::as_str).collect();
    assert_eq!(relay.doors(&refs[..64], 0).await.status, 204);
    assert_eq!(relay.doors(&refs, 0).await.status, 400);
    // The session was not touched by any of it.
    assert_eq!(relay.post(&good, "up", 0, b"still here").await, 204);
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let relay = Relay::start();
    for path in ["/", "/v1", "/v1/sessions", "/v2/doors", "/v1/test/stats"] {
        let got = relay.send(relay.http.get(relay.url(path))).await;
        assert_eq!(got.status, 404, "{path}");
    }
    let fault = relay
        .send(relay.http.post(relay.url("/v1/test/faults")).body("{}"))
        .await;
    assert_eq!(fault.status, 404);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let relay = Relay::start_with(&["--session-idle-secs", "1", "--test-faults"]);
    let idle = relay.session().await;
    let busy = relay.session().await;
    assert_eq!(relay.post(&idle, "up", 0, b"frame").await, 204);
    // `busy` keeps making requests; `idle` makes none.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(relay.get(&busy, "down", 0, 200).await.status, 204);
    }
    assert_eq!(relay.get(&idle, "up", 0, 0).await.status, 404);
    assert_eq!(relay.post(&idle, "up", 1, b"x").await, 404);
    assert_eq!(relay.delete(&idle).await, 404);
    let stats = relay.stats().await;
    assert_eq!(stats["sessions_expired"], 1);
    assert_eq!(stats["bytes_queued"], 0);
    assert_eq!(relay.delete(&busy).await, 204);
}

#[tokio::test]
async fn a_long_poll_keeps_its_session_alive() {
    let relay = Relay::start_with(&["--session-idle-secs", "1"]);
    let id = relay.session().await;
    // One GET waiting longer than the idle time: the session is in use, not idle.
    let got = relay.get(&id, "up", 0, 2500).await;
    assert_eq!(got.status, 204);
    assert_eq!(relay.post(&id, "up", 0, b"x").await, 204);
}
