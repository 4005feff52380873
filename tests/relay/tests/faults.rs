//! The adversarial test mode (`--test-faults`): each action changes exactly the frame it
//! names (reorder: the two it swaps), labels it with the number asked for, and fires once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Relay, new_id};
use serde_json::{Value, json};

const FRAMES: u64 = 5;

fn frame(seq: u64) -> Vec<u8> {
    (0..80u8)
        .map(|i| i.wrapping_mul(7) ^ u8::try_from(seq).unwrap())
        .collect()
}

/// Stores frames 0..5 on `up`, arms `fault` on `up` 2, reads them all back in order.
async fn delivered_with(action: &str) -> (Relay, Vec<Vec<u8>>) {
    let relay = Relay::start_with(&["--test-faults"]);
    let s = relay.session().await;
    let (status, armed) = relay
        .arm(json!({ "session": s, "dir": "up", "seq": 2, "action": action }))
        .await;
    assert_eq!(status, 201, "{armed}");
    assert!(armed["id"].as_u64().is_some());
    for seq in 0..FRAMES {
        assert_eq!(relay.post(&s, "up", seq, &frame(seq)).await, 204);
        // The other direction carries the same bytes and is never touched.
        assert_eq!(relay.post(&s, "down", seq, &frame(seq)).await, 204);
    }
    let mut delivered = Vec::new();
    for seq in 0..FRAMES {
        let got = relay.get(&s, "up", seq, 1000).await;
        assert_eq!(got.status, 200, "{action} {seq}");
        assert_eq!(got.seq, Some(seq.to_string()), "labelled as asked");
        delivered.push(got.body);
        let down = relay.get(&s, "down", seq, 0).await;
        assert_eq!(down.body, frame(seq));
    }
    (relay, delivered)
}

/// The numbers whose delivered bytes differ from what was stored.
fn changed(delivered: &[Vec<u8>]) -> Vec<u64> {
    (0..FRAMES)
        .filter(|seq| delivered[usize::try_from(*seq).unwrap()] != frame(*seq))
        .collect()
}

async fn assert_fired_once(relay: &Relay) {
    let stats = relay.stats().await;
    assert_eq!(
        (
            stats["faults_fired"].as_u64(),
            stats["faults_armed"].as_u64()
        ),
        (Some(1), Some(0)),
        "{stats}"
    );
}

#[tokio::test]
async fn drop_serves_the_next_frame_in_its_place() {
    let (relay, delivered) = delivered_with("drop").await;
    assert_eq!(changed(&delivered), [2]);
    assert_eq!(delivered[2], frame(3));
    assert_fired_once(&relay).await;
}

#[tokio::test]
async fn duplicate_and_replay_serve_the_earlier_frame_again() {
    for action in ["duplicate", "replay"] {
        let (relay, delivered) = delivered_with(action).await;
        assert_eq!(changed(&delivered), [2], "{action}");
        assert_eq!(delivered[2], frame(1), "{action}");
        assert_fired_once(&relay).await;
    }
}

#[tokio::test]
async fn reorder_swaps_two_frames() {
    let (relay, delivered) = delivered_with("reorder").await;
    assert_eq!(changed(&delivered), [2, 3]);
    assert_eq!((&delivered[2], &delivered[3]), (&frame(3), &frame(2)));
    assert_fired_once(&relay).await;
}

#[tokio::test]
async fn corrupt_flips_one_bit() {
    let (relay, delivered) = delivered_with("corrupt").await;
    assert_eq!(changed(&delivered), [2]);
    let flipped: u32 = delivered[2]
        .iter()
        .zip(frame(2))
        .map(|(a, b)| (a ^ b).count_ones())
        .sum();
    assert_eq!((flipped, delivered[2].len()), (1, 80));
    assert_fired_once(&relay).await;
}

#[tokio::test]
async fn inject_serves_random_bytes_of_the_same_length() {
    let (relay, delivered) = delivered_with("inject").await;
    assert_eq!(changed(&delivered), [2]);
    assert_eq!(delivered[2].len(), 80);
    assert!((0..FRAMES).all(|seq| delivered[2] != frame(seq)));
    assert_fired_once(&relay).await;
}

#[tokio::test]
async fn a_fault_fires_once_even_when_the_get_is_repeated() {
    let relay = Relay::start_with(&["--test-faults"]);
    let s = relay.session().await;
    let (status, _) = relay
        .arm(json!({ "session": s, "dir": "down", "seq": 0, "action": "corrupt" }))
        .await;
    assert_eq!(status, 201);
    assert_eq!(relay.post(&s, "down", 0, &frame(0)).await, 204);
    assert_ne!(relay.get(&s, "down", 0, 0).await.body, frame(0));
    assert_eq!(relay.get(&s, "down", 0, 0).await.body, frame(0));
    assert_fired_once(&relay).await;
}

#[tokio::test]
async fn a_fault_for_the_next_session() {
    let relay = Relay::start_with(&["--test-faults"]);
    let earlier = relay.session().await;
    let (status, _) = relay
        .arm(json!({ "session": null, "dir": "down", "seq": 1, "action": "inject" }))
        .await;
    assert_eq!(status, 201);
    let next = relay.session().await;
    let later = relay.session().await;
    for s in [&earlier, &next, &later] {
        for seq in 0..2 {
            assert_eq!(relay.post(s, "down", seq, &frame(seq)).await, 204);
        }
    }
    for s in [&earlier, &next, &later] {
        let first = relay.get(s, "down", 0, 0).await.body;
        let second = relay.get(s, "down", 1, 0).await.body;
        assert_eq!(first, frame(0));
        assert_eq!(second == frame(1), *s != next, "only the next session");
    }
    assert_fired_once(&relay).await;
}

#[tokio::test]
async fn drop_holds_the_frame_until_the_following_one_arrives() {
    let relay = Relay::start_with(&["--test-faults"]);
    let s = relay.session().await;
    relay
        .arm(json!({ "session": s, "dir": "up", "seq": 0, "action": "drop" }))
        .await;
    assert_eq!(relay.post(&s, "up", 0, &frame(0)).await, 204);
    // As if frame 0 was lost: nothing to deliver yet.
    assert_eq!(relay.get(&s, "up", 0, 300).await.status, 204);
    let waiter = relay.spawn_get(&format!("/v1/sessions/{s}/up/0?wait_ms=20000"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(relay.post(&s, "up", 1, &frame(1)).await, 204);
    let (got, _) = waiter.await.unwrap();
    assert_eq!((got.seq.as_deref(), got.body), (Some("0"), frame(1)));
}

#[tokio::test]
async fn bad_fault_requests() {
    let relay = Relay::start_with(&["--test-faults"]);
    let s = relay.session().await;
    let bad: [Value; 7] = [
        json!({ "session": s, "dir": "up", "seq": 1, "action": "teleport" }),
        json!({ "session": s, "dir": "left", "seq": 1, "action": "drop" }),
        json!({ "session": "ABC", "dir": "up", "seq": 1, "action": "drop" }),
        json!({ "session": s, "dir": "up", "seq": -1, "action": "drop" }),
        json!({ "session": s, "dir": "up", "seq": 1, "action": "drop", "extra": 1 }),
        json!({ "session": s, "dir": "up", "action": "drop" }),
        json!({ "session": s, "dir": "up", "seq": 0, "action": "duplicate" }),
    ];
    for fault in bad {
        assert_eq!(relay.arm(fault.clone()).await.0, 400, "{fault}");
    }
    let unknown = json!({ "session": new_id(), "dir": "up", "seq": 1, "action": "drop" });
    assert_eq!(relay.arm(unknown).await.0, 404);
    // The frame a duplicate of 2 would replay (1) is already dropped.
    for seq in 0..3 {
        assert_eq!(relay.post(&s, "up", seq, &frame(seq)).await, 204);
    }
    assert_eq!(relay.get(&s, "up", 2, 0).await.status, 200);
    let late = json!({ "session": s, "dir": "up", "seq": 2, "action": "duplicate" });
    assert_eq!(relay.arm(late).await.0, 409);
    // Clearing disarms.
    let armed = json!({ "session": s, "dir": "up", "seq": 3, "action": "corrupt" });
    assert_eq!(relay.arm(armed).await.0, 201);
    let cleared = relay
        .send(relay.http.delete(relay.url("/v1/test/faults")))
        .await;
    assert_eq!(cleared.status, 204);
    assert_eq!(relay.post(&s, "up", 3, &frame(3)).await, 204);
    assert_eq!(relay.get(&s, "up", 3, 0).await.body, frame(3));
}

/// `POST /v1/test/delay` (issue 18, the slow relay of the liveness tests): every frame stored
/// afterwards is served that long after it was stored, frames are not held behind each other,
/// the earlier ones are not touched, and a bad body is refused.
#[tokio::test]
async fn the_slow_relay_serves_each_frame_its_delay_after_it_was_stored() {
    let relay = Relay::start_with(&["--test-faults"]);
    let s = relay.session().await;
    assert_eq!(relay.post(&s, "up", 0, &frame(0)).await, 204);
    let delay = |body: &str| {
        relay.send(
            common::http()
                .post(relay.url("/v1/test/delay"))
                .body(body.to_owned()),
        )
    };
    for bad in ["", "-1", "1.5", "60001", "soon"] {
        let got = delay(bad).await;
        assert_eq!(got.status, 400, "{bad:?}");
        assert_eq!(
            String::from_utf8_lossy(&got.body).trim(),
            "the body is a delay in ms, 0..=60000"
        );
    }
    assert_eq!(delay("600").await.status, 204);
    // Stored before the delay: served at once.
    let started = std::time::Instant::now();
    assert_eq!(relay.get(&s, "up", 0, 1000).await.body, frame(0));
    assert!(started.elapsed() < Duration::from_millis(400));
    // Two frames stored together are both due 600 ms later, not 600 ms apart.
    let started = std::time::Instant::now();
    assert_eq!(relay.post(&s, "up", 1, &frame(1)).await, 204);
    assert_eq!(relay.post(&s, "up", 2, &frame(2)).await, 204);
    assert_eq!(relay.get(&s, "up", 1, 5000).await.body, frame(1));
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(relay.get(&s, "up", 2, 5000).await.body, frame(2));
    let both = started.elapsed();
    assert!(both < Duration::from_millis(1100), "{both:?}");
    // Off again.
    assert_eq!(delay("0").await.status, 204);
    assert_eq!(relay.post(&s, "up", 3, &frame(3)).await, 204);
    let started = std::time::Instant::now();
    assert_eq!(relay.get(&s, "up", 3, 1000).await.body, frame(3));
    assert!(started.elapsed() < Duration::from_millis(400));
}
