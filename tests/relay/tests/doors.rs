//! Doors and knocks (link.md §5.4, §5.5): a knock is consumed by exactly one door GET,
//! oldest first across the doors named, wakes a waiting GET at once, is bounded per door,
//! and expires.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Relay, assert_one_line, new_id, unhex};

fn knock_body(door: &str, session: &str) -> Vec<u8> {
    [unhex(door), unhex(session)].concat()
}

#[tokio::test]
async fn a_knock_is_consumed_once() {
    let relay = Relay::start();
    let door = new_id();
    let (a, b) = (relay.session().await, relay.session().await);
    assert_eq!(relay.knock(&door, &a).await, 204);
    assert_eq!(relay.knock(&door, &b).await, 204);
    let first = relay.doors(&[&door], 0).await;
    assert_eq!((first.status, first.body), (200, knock_body(&door, &a)));
    let second = relay.doors(&[&door], 1000).await;
    assert_eq!((second.status, second.body), (200, knock_body(&door, &b)));
    let started = Instant::now();
    let none = relay.doors(&[&door], 300).await;
    assert_eq!((none.status, none.body.len()), (204, 0));
    assert!(started.elapsed() >= Duration::from_millis(290));
}

#[tokio::test]
async fn several_doors_give_the_oldest_knock() {
    let relay = Relay::start();
    let doors: Vec<String> = (0..3).map(|_| new_id()).collect();
    let sessions: Vec<String> = vec![relay.session().await, relay.session().await];
    let other_door = new_id();
    assert_eq!(relay.knock(&other_door, &sessions[0]).await, 204);
    assert_eq!(relay.knock(&doors[2], &sessions[1]).await, 204);
    assert_eq!(relay.knock(&doors[0], &sessions[0]).await, 204);
    let refs: Vec<&str> = doors.iter().map(String::as_str).collect();
    let got = relay.doors(&refs, 0).await;
    assert_eq!(got.body, knock_body(&doors[2], &sessions[1]));
    let got = relay.doors(&refs, 0).await;
    assert_eq!(got.body, knock_body(&doors[0], &sessions[0]));
    assert_eq!(relay.doors(&refs, 0).await.status, 204);
    // The knock on the door nobody asked about is still there.
    let got = relay.doors(&[&other_door], 0).await;
    assert_eq!(got.body, knock_body(&other_door, &sessions[0]));
}

#[tokio::test]
async fn a_knock_wakes_a_waiting_door_get() {
    let relay = Relay::start();
    let (door, unrelated) = (new_id(), new_id());
    let session = relay.session().await;
    let waiter = relay.spawn_get(&format!(
        "/v1/doors?door={unrelated}&door={door}&wait_ms=20000"
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.knock(&door, &session).await, 204);
    let (got, waited) = waiter.await.unwrap();
    assert_eq!((got.status, got.body), (200, knock_body(&door, &session)));
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "not woken: {waited:?}");
}

#[tokio::test]
async fn two_waiters_one_knock() {
    let relay = Relay::start();
    let door = new_id();
    let session = relay.session().await;
    let path = format!("/v1/doors?door={door}&wait_ms=1500");
    let (one, two) = (relay.spawn_get(&path), relay.spawn_get(&path));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.knock(&door, &session).await, 204);
    let mut statuses = [one.await.unwrap().0.status, two.await.unwrap().0.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 204]);
}

#[tokio::test]
async fn door_queue_is_bounded() {
    let relay = Relay::start_with(&["--door-knocks", "3"]);
    let door = new_id();
    let session = relay.session().await;
    for _ in 0..3 {
        assert_eq!(relay.knock(&door, &session).await, 204);
    }
    let full = relay
        .send(
            relay
                .http
                .post(relay.url(&format!("/v1/doors/{door}/knock")))
                .body(unhex(&session)),
        )
        .await;
    assert_eq!(full.status, 429);
    assert_one_line(&full);
    // Another door is not affected; consuming one makes room.
    assert_eq!(relay.knock(&new_id(), &session).await, 204);
    assert_eq!(relay.doors(&[&door], 0).await.status, 200);
    assert_eq!(relay.knock(&door, &session).await, 204);
}

#[tokio::test]
async fn knocks_expire_and_die_with_their_session() {
    let relay = Relay::start_with(&["--knock-ttl-secs", "1", "--test-faults"]);
    let (door, gone) = (new_id(), new_id());
    let (a, b) = (relay.session().await, relay.session().await);
    assert_eq!(relay.knock(&gone, &b).await, 204);
    assert_eq!(relay.delete(&b).await, 204);
    assert_eq!(relay.doors(&[&gone], 0).await.status, 204);

    assert_eq!(relay.knock(&door, &a).await, 204);
    assert_eq!(relay.stats().await["knocks"], 1);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // The sweeper removed it without anyone asking.
    assert_eq!(relay.stats().await["knocks"], 0);
    assert_eq!(relay.doors(&[&door], 0).await.status, 204);
    let stats = relay.stats().await;
    assert_eq!(stats["doors"], 0);
    assert_eq!(stats["knocks_delivered"], 0);
}

#[tokio::test]
async fn wait_is_clamped_to_max_wait() {
    let relay = Relay::start_with(&["--max-wait-ms", "400"]);
    let session = relay.session().await;
    let started = Instant::now();
    assert_eq!(relay.doors(&[&new_id()], 600_000).await.status, 204);
    assert_eq!(relay.get(&session, "up", 0, 99_999_999).await.status, 204);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(780), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn a_deleted_session_withdraws_its_knocks_at_once() {
    let relay = Relay::start_with(&["--door-knocks", "2", "--test-faults"]);
    let (door, other) = (new_id(), new_id());
    let (phone, gone) = (relay.session().await, relay.session().await);
    assert_eq!(relay.knock(&door, &gone).await, 204);
    assert_eq!(relay.knock(&door, &gone).await, 204);
    assert_eq!(relay.knock(&other, &gone).await, 204);
    assert_eq!(relay.knock(&door, &phone).await, 429);
    assert_eq!(relay.delete(&gone).await, 204);
    // Gone from the relay's count before any door GET or sweep looks at them.
    let stats = relay.stats().await;
    assert_eq!(
        (stats["knocks"].as_u64(), stats["knocks_withdrawn"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(stats["doors"], 0);
    // The door has room again, and its next knock is the live one.
    assert_eq!(relay.knock(&door, &phone).await, 204);
    let got = relay.doors(&[&door, &other], 0).await;
    assert_eq!((got.status, got.body), (200, knock_body(&door, &phone)));
}
