//! The Redis store across instances (issue 19): two relay processes on one Redis are one
//! relay. A long-poll on one wakes as soon as the other stores what it waits for, limits
//! hold relay-wide, an acknowledged POST survives the instance that acknowledged it (its
//! retry through another instance is recognised and delivered once), and Redis going away
//! gives `503` with the documented message until it is back, without restarting anything.
//! These tests start their own `redis-server` whatever `RELAY_TEST_STORE` says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Relay, assert_one_line, new_id, unhex};

const UNAVAILABLE: &str = "the relay's store is unavailable\n";

fn pair(args: &[&str]) -> (Relay, Relay) {
    let a = Relay::start_on_redis(args);
    let b = a.another_instance().unwrap();
    (a, b)
}

#[tokio::test]
async fn a_long_poll_on_one_instance_wakes_when_another_stores() {
    let (a, b) = pair(&[]);
    let s = a.session().await;
    let waiter = a.spawn_get(&format!("/v1/sessions/{s}/down/0?wait_ms=20000"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.post(&s, "down", 0, b"from the pc").await, 204);
    let (got, took) = waiter.await.unwrap();
    assert_eq!(
        (got.status, got.body.as_slice()),
        (200, &b"from the pc"[..])
    );
    assert!(took < Duration::from_secs(5), "{took:?}");

    // The same for a door GET and a knock.
    let door = new_id();
    let waiting = b.spawn_get(&format!("/v1/doors?door={door}&wait_ms=20000"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert_eq!(a.knock(&door, &s).await, 204);
    let (got, _) = waiting.await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.body, [unhex(&door), unhex(&s)].concat());
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Polls `what` until it holds, up to 5 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(5), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The long-poll limit holds relay-wide: an instance lets at most the slots of its lease in
/// Redis wait, and the leases never sum past `--max-waiters` (under 64 a lease holds no
/// spare slot, so the limit is exact). With a limit of 2, one GET waits on each instance and
/// a third answers `204` at once on either; when a GET ends, its slot goes back at its
/// instance's next renewal (the sweeper, every second here) and another instance's GET may
/// wait. A GET that finds its frame at once, or on an unknown session, holds no slot after.
#[tokio::test]
async fn long_polls_are_limited_relay_wide_across_instances() {
    let (a, b) = pair(&["--test-faults", "--max-waiters", "2"]);
    let s = a.session().await;
    let first = a.spawn_get(&format!("/v1/sessions/{s}/up/0?wait_ms=20000"));
    eventually("a's GET waits", || async {
        a.stats().await["waiters"] == 1
    })
    .await;
    let second = b.spawn_get(&format!("/v1/sessions/{s}/down/0?wait_ms=20000"));
    eventually("b's GET waits", || async {
        b.stats().await["waiters"] == 1
    })
    .await;
    for relay in [&a, &b] {
        let started = Instant::now();
        let third = relay.get(&s, "up", 0, 20_000).await;
        assert_eq!((third.status, third.body.as_slice()), (204, &b""[..]));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    eventually("both counted relay-wide", || async {
        b.stats().await["waiters_relay_wide"] == 2
    })
    .await;

    // The first GET ends with its frame; its slot returns to the relay, and b may use it.
    assert_eq!(b.post(&s, "up", 0, b"wake").await, 204);
    let (got, _) = first.await.unwrap();
    assert_eq!((got.status, got.body.as_slice()), (200, &b"wake"[..]));
    assert_eq!(a.stats().await["waiters"], 0);
    let started = Instant::now();
    let third = loop {
        let waiter = b.spawn_get(&format!("/v1/sessions/{s}/up/1?wait_ms=20000"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        if b.stats().await["waiters"] == 2 {
            break waiter;
        }
        // Answered at once: a's slot was not back yet.
        let (got, _) = waiter.await.unwrap();
        assert_eq!(got.status, 204);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a's slot never came back"
        );
    };
    assert_eq!(a.post(&s, "up", 1, b"two").await, 204);
    assert_eq!(a.post(&s, "down", 0, b"three").await, 204);
    for waiter in [third, second] {
        let (got, _) = waiter.await.unwrap();
        assert_eq!(got.status, 200);
    }
    eventually("b's slots back", || async {
        b.stats().await["waiters"] == 0
    })
    .await;

    // Found at once, or an unknown session: no slot is held afterwards.
    let at_once = a.get(&s, "up", 1, 20_000).await;
    assert_eq!(
        (at_once.status, at_once.body.as_slice()),
        (200, &b"two"[..])
    );
    let unknown = a.get(&new_id(), "up", 0, 2_000).await;
    assert_eq!(
        (unknown.status, unknown.body.as_slice()),
        (404, &b"unknown, expired or closed session\n"[..])
    );
    assert_eq!(a.stats().await["waiters"], 0);
    eventually("nothing waits relay-wide", || async {
        a.stats().await["waiters_relay_wide"] == 0
    })
    .await;
}

/// Wakes go only to the instances whose GET waits (`P:wake:<instance>`): a GET woken by a
/// frame that is not the one it waits for looks again, is named again, and still wakes
/// for its own frame; closing the session on another instance wakes it with `404`.
#[tokio::test]
async fn addressed_wakes_reach_a_get_woken_before_and_a_closed_session() {
    let (a, b) = pair(&[]);
    let s = a.session().await;
    let waiter = a.spawn_get(&format!("/v1/sessions/{s}/up/1?wait_ms=20000"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.post(&s, "up", 0, b"not yet").await, 204);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert_eq!(b.post(&s, "up", 1, b"this one").await, 204);
    let (got, _) = waiter.await.unwrap();
    assert_eq!((got.status, got.body.as_slice()), (200, &b"this one"[..]));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let waiter = a.spawn_get(&format!("/v1/sessions/{s}/down/0?wait_ms=20000"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert_eq!(b.delete(&s).await, 204);
    let (got, _) = waiter.await.unwrap();
    assert_eq!(
        (got.status, got.body.as_slice()),
        (404, &b"unknown, expired or closed session\n"[..])
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn limits_hold_across_instances() {
    let (a, b) = pair(&["--max-sessions", "2", "--queue-frames", "2"]);
    let s = a.session().await;
    b.session().await;
    let full = a
        .send(a.http.put(a.url(&format!("/v1/sessions/{}", new_id()))))
        .await;
    assert_eq!(full.status, 503);
    assert_eq!(full.body, b"relay full\n");
    // One queue, whichever instance the frames go through.
    assert_eq!(a.post(&s, "up", 0, b"one").await, 204);
    assert_eq!(b.post(&s, "up", 1, b"two").await, 204);
    assert_eq!(a.post(&s, "up", 2, b"three").await, 429);
    // A session made on one instance is deleted through the other.
    assert_eq!(b.delete(&s).await, 204);
    assert_eq!(a.get(&s, "up", 0, 0).await.status, 404);
}

#[tokio::test]
async fn an_acknowledged_post_survives_its_instance_and_its_retry_is_delivered_once() {
    let (a, b) = pair(&["--test-faults"]);
    let s = a.session().await;
    assert_eq!(a.post(&s, "up", 0, b"acknowledged").await, 204);
    // The instance dies before the client saw... whatever: the client retries elsewhere.
    let pid = a.pid();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert_eq!(b.post(&s, "up", 0, b"acknowledged").await, 204);
    assert_eq!(b.post(&s, "up", 1, b"next").await, 204);
    let first = b.get(&s, "up", 0, 0).await;
    assert_eq!(
        (first.status, first.seq.as_deref(), first.body.as_slice()),
        (200, Some("0"), &b"acknowledged"[..])
    );
    let second = b.get(&s, "up", 1, 0).await;
    assert_eq!(second.body, b"next");
    let stats = b.stats().await;
    assert_eq!(stats["frames_stored"], 2, "the retry was not stored again");
    // A different frame under an acknowledged number is still refused.
    assert_eq!(b.post(&s, "up", 1, b"other").await, 409);
}

#[tokio::test]
async fn redis_away_gives_503_and_service_resumes_when_it_returns() {
    let relay = Relay::start_on_redis(&[]);
    let s = relay.session().await;
    assert_eq!(relay.post(&s, "up", 0, b"before").await, 204);
    let ready = relay.send(relay.http.get(relay.url("/readyz"))).await;
    assert_eq!(ready.status, 200);

    relay.redis.as_ref().unwrap().lock().unwrap().kill();
    for request in [
        relay
            .http
            .put(relay.url(&format!("/v1/sessions/{}", new_id()))),
        relay
            .http
            .post(relay.url(&format!("/v1/sessions/{s}/up/1")))
            .body("x"),
        relay
            .http
            .get(relay.url(&format!("/v1/sessions/{s}/up/0?wait_ms=100"))),
        relay
            .http
            .post(relay.url(&format!("/v1/doors/{}/knock", new_id())))
            .body(unhex(&s)),
        relay
            .http
            .get(relay.url(&format!("/v1/doors?door={}", new_id()))),
        relay.http.get(relay.url("/readyz")),
    ] {
        let got = relay.send(request).await;
        assert_eq!(got.status, 503);
        assert_eq!(String::from_utf8_lossy(&got.body), UNAVAILABLE);
        assert_one_line(&got);
    }
    // Alive, though not ready.
    let alive = relay.send(relay.http.get(relay.url("/healthz"))).await;
    assert_eq!(alive.status, 200);

    // A restarted Redis is empty (no persistence here): the old session is gone, new ones
    // work, through the same relay process.
    relay.redis.as_ref().unwrap().lock().unwrap().restart();
    let started = Instant::now();
    let fresh = new_id();
    loop {
        match relay.put(&fresh).await {
            201 => break,
            503 if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("PUT after the restart: {other}"),
        }
    }
    assert_eq!(relay.get(&s, "up", 0, 0).await.status, 404);
    let waiter = relay.spawn_get(&format!("/v1/sessions/{fresh}/down/0?wait_ms=20000"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.post(&fresh, "down", 0, b"after").await, 204);
    let (got, took) = waiter.await.unwrap();
    assert_eq!((got.status, got.body.as_slice()), (200, &b"after"[..]));
    assert!(took < Duration::from_secs(5), "{took:?}");
    let ready = relay.send(relay.http.get(relay.url("/readyz"))).await;
    assert_eq!(ready.status, 200);
}

#[tokio::test]
async fn a_bad_redis_url_is_refused_at_start() {
    let output = std::process::Command::new(common::BIN)
        .args(["serve", "--redis", "http://not-redis/"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--redis: not a Redis URL"), "{stderr}");
}

/// A POST wakes a GET of its own instance itself, without a message through Redis; when the
/// POST ends without its step's answer (here Redis holds the step past the relay's 2 s
/// timeout, and the POST answers `503`), the step still runs later and may store the frame,
/// so that GET is woken to look again: it gets the frame then, not after its whole wait.
#[tokio::test]
async fn a_get_is_woken_when_a_post_on_its_instance_ends_without_an_answer() {
    let relay = Relay::start_on_redis(&["--test-faults"]);
    let s = relay.session().await;
    let waiter = relay.spawn_get(&format!("/v1/sessions/{s}/up/0?wait_ms=20000"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = relay.redis.as_ref().unwrap().lock().unwrap().url();
    let mut admin = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    // Functions count as writes: the POST's step waits 3 s, past the relay's 2 s timeout.
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("WRITE")
        .query(&mut admin)
        .unwrap();
    let started = Instant::now();
    assert_eq!(relay.post(&s, "up", 0, b"late").await, 503);
    let (got, _) = waiter.await.unwrap();
    assert_eq!((got.status, got.body.as_slice()), (200, &b"late"[..]));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "{took:?}");
    // The frame was stored after all: the client's retry is recognised.
    assert_eq!(relay.post(&s, "up", 0, b"late").await, 204);
    assert_eq!(relay.stats().await["frames_stored"], 1);
}
