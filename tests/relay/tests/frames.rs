//! Frames (link.md §5.3, §5.4): numbered POSTs with idempotent retry and `409`, GETs that
//! wait, acknowledge and answer `410` for dropped frames, `DELETE` waking a waiter with
//! `404`, and the limits (`413`, `429`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Relay, assert_one_line};

#[tokio::test]
async fn handshake_and_transport_frames() {
    let relay = Relay::start();
    let s = relay.session().await;
    assert_eq!(relay.post(&s, "up", 0, b"message 1").await, 204);
    let got = relay.get(&s, "up", 0, 0).await;
    assert_eq!(
        (got.status, got.seq.as_deref(), &got.body[..]),
        (200, Some("0"), &b"message 1"[..])
    );
    assert_eq!(relay.post(&s, "down", 0, b"message 2").await, 204);
    let got = relay.get(&s, "down", 0, 1000).await;
    assert_eq!(
        (got.seq.as_deref(), &got.body[..]),
        (Some("0"), &b"message 2"[..])
    );
    for seq in 1..=5u64 {
        let frame = vec![u8::try_from(seq).unwrap(); 48];
        assert_eq!(relay.post(&s, "up", seq, &frame).await, 204);
    }
    for seq in 1..=5u64 {
        let got = relay.get(&s, "up", seq, 0).await;
        assert_eq!(got.seq, Some(seq.to_string()));
        assert_eq!(got.body, vec![u8::try_from(seq).unwrap(); 48]);
    }
    let none = relay.get(&s, "up", 6, 200).await;
    assert_eq!((none.status, none.seq, none.body.len()), (204, None, 0));
}

#[tokio::test]
async fn retries_are_idempotent_and_conflicts_409() {
    let relay = Relay::start_with(&["--test-faults"]);
    let s = relay.session().await;
    assert_eq!(relay.post(&s, "up", 0, b"first").await, 204);
    // A retry after a lost answer: the same bytes, stored once.
    assert_eq!(relay.post(&s, "up", 0, b"first").await, 204);
    assert_eq!(relay.stats().await["frames_stored"], 1);
    let differs = relay
        .send(
            relay
                .http
                .post(relay.url(&format!("/v1/sessions/{s}/up/0")))
                .body("other"),
        )
        .await;
    assert_eq!(differs.status, 409);
    assert_one_line(&differs);
    // Skipping a number, in either direction.
    assert_eq!(relay.post(&s, "up", 2, b"third").await, 409);
    assert_eq!(relay.post(&s, "down", 1, b"second").await, 409);
    assert_eq!(relay.post(&s, "up", 1, b"second").await, 204);
    // A retry of a frame the receiver already acknowledged is still a success.
    assert_eq!(relay.get(&s, "up", 2, 0).await.status, 204);
    assert_eq!(relay.post(&s, "up", 0, b"first").await, 204);
    assert_eq!(relay.stats().await["frames_stored"], 2);
}

#[tokio::test]
async fn a_get_resumes_and_acknowledges() {
    let relay = Relay::start_with(&["--test-faults"]);
    let s = relay.session().await;
    for seq in 0..3u64 {
        assert_eq!(relay.post(&s, "down", seq, &[0xa0; 100]).await, 204);
    }
    // A lost answer: the same GET again gets the same frame.
    assert_eq!(relay.get(&s, "down", 0, 0).await.status, 200);
    assert_eq!(relay.get(&s, "down", 0, 0).await.status, 200);
    assert_eq!(relay.stats().await["frames_queued"], 3);
    // Asking for 2 acknowledges 0 and 1.
    assert_eq!(relay.get(&s, "down", 2, 0).await.status, 200);
    let stats = relay.stats().await;
    assert_eq!(
        (
            stats["frames_queued"].as_u64(),
            stats["bytes_queued"].as_u64()
        ),
        (Some(1), Some(100))
    );
    for seq in [0, 1] {
        let gone = relay.get(&s, "down", seq, 0).await;
        assert_eq!(gone.status, 410);
        assert_one_line(&gone);
    }
    // The other direction is independent.
    assert_eq!(relay.get(&s, "up", 0, 0).await.status, 204);
}

#[tokio::test]
async fn a_frame_wakes_a_waiting_get() {
    let relay = Relay::start();
    let s = relay.session().await;
    let waiter = relay.spawn_get(&format!("/v1/sessions/{s}/up/0?wait_ms=20000"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.post(&s, "up", 0, b"handshake").await, 204);
    let (got, waited) = waiter.await.unwrap();
    assert_eq!(
        (got.status, got.seq.as_deref(), &got.body[..]),
        (200, Some("0"), &b"handshake"[..])
    );
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "not woken: {waited:?}");
}

#[tokio::test]
async fn delete_wakes_waiters_with_404() {
    let relay = Relay::start();
    let s = relay.session().await;
    let waiters: Vec<_> = ["up", "down"]
        .into_iter()
        .map(|dir| relay.spawn_get(&format!("/v1/sessions/{s}/{dir}/0?wait_ms=20000")))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.delete(&s).await, 204);
    for waiter in waiters {
        let (got, waited) = waiter.await.unwrap();
        assert_eq!(got.status, 404);
        assert!(waited < Duration::from_secs(5), "not woken: {waited:?}");
    }
    // Recreating the id does not revive the old waiters' session.
    assert_eq!(relay.put(&s).await, 201);
}

#[tokio::test]
async fn frame_size_limits() {
    let relay = Relay::start();
    let s = relay.session().await;
    assert_eq!(relay.post(&s, "up", 0, &vec![1; 65_535]).await, 204);
    let too_large = relay
        .send(
            relay
                .http
                .post(relay.url(&format!("/v1/sessions/{s}/up/1")))
                .body(vec![2; 65_536]),
        )
        .await;
    assert_eq!(too_large.status, 413);
    assert_one_line(&too_large);
    assert_eq!(relay.post(&s, "up", 1, &[]).await, 400);
    assert_eq!(relay.get(&s, "up", 0, 0).await.body.len(), 65_535);
    assert_eq!(relay.get(&s, "up", 1, 0).await.status, 204);
}

#[tokio::test]
async fn queue_limits_give_429_until_acknowledged() {
    let relay = Relay::start_with(&["--queue-frames", "4", "--queue-bytes", "1000"]);
    let s = relay.session().await;
    for seq in 0..4 {
        assert_eq!(relay.post(&s, "up", seq, b"frame").await, 204);
    }
    let full = relay
        .send(
            relay
                .http
                .post(relay.url(&format!("/v1/sessions/{s}/up/4")))
                .body("frame"),
        )
        .await;
    assert_eq!(full.status, 429);
    assert_one_line(&full);
    // A retry of a stored frame is not a new frame: still fine when full.
    assert_eq!(relay.post(&s, "up", 3, b"frame").await, 204);
    // The receiver acknowledges 0 and 1 by asking for 2.
    assert_eq!(relay.get(&s, "up", 2, 0).await.status, 200);
    assert_eq!(relay.post(&s, "up", 4, b"frame").await, 204);
    assert_eq!(relay.post(&s, "up", 5, b"frame").await, 204);
    assert_eq!(relay.post(&s, "up", 6, b"frame").await, 429);

    // Bytes: 1000 per direction.
    assert_eq!(relay.post(&s, "down", 0, &[0; 600]).await, 204);
    assert_eq!(relay.post(&s, "down", 1, &[0; 401]).await, 429);
    assert_eq!(relay.post(&s, "down", 1, &[0; 400]).await, 204);
    assert_eq!(relay.get(&s, "down", 1, 0).await.status, 200);
    assert_eq!(relay.post(&s, "down", 2, &[0; 600]).await, 204);
}

#[tokio::test]
async fn relay_wide_byte_budget() {
    let relay = Relay::start_with(&["--total-bytes", "100000"]);
    let (a, b) = (relay.session().await, relay.session().await);
    assert_eq!(relay.post(&a, "up", 0, &vec![0; 60_000]).await, 204);
    assert_eq!(relay.post(&b, "down", 0, &vec![0; 60_000]).await, 429);
    assert_eq!(relay.delete(&a).await, 204);
    assert_eq!(relay.post(&b, "down", 0, &vec![0; 60_000]).await, 204);
}
