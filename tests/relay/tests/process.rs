//! The process: the ready line, a clean exit on SIGTERM (even with long-polls waiting), a
//! log that names ids and sizes but never frame bytes, and the load generator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Relay, hex, new_id};

#[tokio::test]
async fn sigterm_stops_cleanly_with_waiters() {
    let relay = Relay::start();
    let s = relay.session().await;
    let waiter = relay.spawn_get(&format!("/v1/sessions/{s}/up/0?wait_ms=30000"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let (status, stdout, log) = tokio::task::spawn_blocking(move || relay.stop())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(stdout, "", "only the ready line goes to stdout");
    assert!(log.contains("stopped"), "{log}");
    // The waiter was woken and told, not cut off.
    let answer = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap();
    assert_eq!(answer.unwrap().0.status, 503);
}

#[tokio::test]
async fn the_log_never_holds_frame_contents() {
    let relay = Relay::start_with(&["--test-faults"]);
    let (s, door) = (relay.session().await, new_id());
    let marker = b"PLAINTEXT-MARKER-d41d8cd98f00b204";
    assert_eq!(relay.knock(&door, &s).await, 204);
    assert_eq!(relay.doors(&[&door], 0).await.status, 200);
    relay
        .arm(serde_json::json!({ "session": s, "dir": "up", "seq": 1, "action": "corrupt" }))
        .await;
    for seq in 0..3 {
        assert_eq!(relay.post(&s, "up", seq, marker).await, 204);
        assert_eq!(relay.get(&s, "up", seq, 0).await.status, 200);
        assert_eq!(relay.post(&s, "down", seq, marker).await, 204);
    }
    assert_eq!(relay.post(&s, "down", 0, b"a conflicting retry").await, 409);
    assert_eq!(relay.get(&s, "down", 0, 0).await.body, marker);
    assert_eq!(relay.delete(&s).await, 204);
    let (status, stdout, log) = relay.stop();
    assert!(status.success());
    assert_eq!(stdout, "");

    // The log says what happened, by shortened id and size...
    assert!(
        log.contains(&format!("session {} created", &s[..8])),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "frame {} up 1: 33 bytes served with fault corrupt",
            &s[..8]
        )),
        "{log}"
    );
    assert!(log.contains("33 bytes stored"), "{log}");
    // ...never the bytes, in any spelling, nor a whole id.
    let text = std::str::from_utf8(marker).unwrap();
    for needle in [
        text,
        &text[..8],
        &hex(marker),
        &hex(&marker[..8]),
        "UExBSU5URVhU",
        "conflicting",
    ] {
        assert!(!log.contains(needle), "{needle:?} in the log:\n{log}");
    }
    for id in [&s, &door] {
        assert!(!log.contains(id.as_str()), "a whole id in the log:\n{log}");
    }
}

#[test]
fn load_generator_runs_a_small_load() {
    let output = Command::new(env!("CARGO_BIN_EXE_relay-load"))
        .args(["--relay", env!("CARGO_BIN_EXE_relay")])
        .args([
            "--sessions",
            "40",
            "--round-trips",
            "5",
            "--active",
            "8",
            "--time-limit-secs",
            "60",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.lines().last() == Some("40 passed, 0 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("40 sessions open at once on the relay, 40 long-polls waiting"),
        "{stdout}"
    );
    // Taking turns, 8 at a time, while every session stays open with its PC's long-poll.
    assert!(
        stdout.contains("(8 sessions active at a time): sessions open >= 40"),
        "{stdout}"
    );
    assert!(stdout.contains("round trips: 200 in"), "{stdout}");
    assert!(stdout.contains("p99"), "{stdout}");
    assert!(stdout.contains("peak RSS (VmHWM)"), "{stdout}");
    assert!(stdout.contains("errors: 0"), "{stdout}");
}

#[test]
fn load_generator_compares_memory_and_redis_behind_nginx() {
    let output = Command::new(env!("CARGO_BIN_EXE_relay-load"))
        .args(["--relay", env!("CARGO_BIN_EXE_relay")])
        .args(["--compare-redis", "--instances", "3"])
        .args([
            "--sessions",
            "20",
            "--round-trips",
            "3",
            "--time-limit-secs",
            "60",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // The three runs (in memory, the floor, Redis mode), each complete, then the comparison.
    assert_eq!(stdout.matches("20 passed, 0 failed").count(), 3, "{stdout}");
    assert_eq!(stdout.matches("round trips: 60 in").count(), 3, "{stdout}");
    assert_eq!(stdout.matches("errors: 0").count(), 3, "{stdout}");
    for i in 0..3 {
        assert!(
            stdout.contains(&format!("redis-mode relay {i}: ")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("redis-server: "), "{stdout}");
    // nginx's master and its 4 workers, all gone once the tool has exited.
    let nginx: Vec<&str> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("nginx processes (stopped): "))
        .expect("the nginx pids")
        .split(' ')
        .collect();
    assert_eq!(nginx.len(), 5, "{stdout}");
    for pid in nginx {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "nginx process {pid} outlived the tool"
        );
    }
    assert!(
        stdout.contains("redis mode / in-memory CPU per round trip: "),
        "{stdout}"
    );
    // The floor made one no-op Redis step per request: 4 per round trip, plus the opening
    // and closing requests and the tool's stats requests (all 20 sessions at once here).
    let floor = stdout
        .lines()
        .find_map(|l| l.strip_prefix("floor (in-memory relay + one no-op step per request, "))
        .expect("the floor line");
    let steps: f64 = floor.split(' ').next().unwrap().parse().unwrap();
    assert!((4.0..8.0).contains(&steps), "{stdout}");
    // Redis mode: each POST and GET is at least one step, however the relays batch them.
    let relays = stdout
        .lines()
        .find_map(|l| {
            l.split_once("the relays' steps (their /metrics): ")
                .map(|(_, r)| r)
        })
        .expect("the relays' steps");
    let steps: f64 = relays.split(' ').next().unwrap().parse().unwrap();
    assert!((4.0..8.0).contains(&steps), "{stdout}");
    assert!(stdout.contains("redis mode / floor: "), "{stdout}");
    assert!(
        stdout.contains("peak RSS per redis-mode instance < 100 MiB: met"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("60 passed, 0 failed"),
        "{stdout}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_without_frame_contents() {
    let relay = Relay::start_with(&["--log-format", "json"]);
    let s = relay.session().await;
    let marker = b"PLAINTEXT-MARKER-json-log-check";
    assert_eq!(relay.post(&s, "up", 0, marker).await, 204);
    assert_eq!(relay.get(&s, "up", 0, 0).await.body, marker);
    assert_eq!(relay.delete(&s).await, 204);
    let (status, _, log) = relay.stop();
    assert!(status.success());
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    let messages: Vec<&str> = records.iter().map(|r| r["msg"].as_str().unwrap()).collect();
    assert!(
        messages.contains(&format!("session {} created", &s[..8]).as_str()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&format!("frame {} up 0: 31 bytes served", &s[..8]).as_str()),
        "{messages:?}"
    );
    assert!(
        records
            .iter()
            .all(|r| r["ts_ms"].as_u64().is_some() && r["pid"].as_u64().is_some())
    );
    assert!(!log.contains("PLAINTEXT"), "{log}");
    assert!(!log.contains(&s), "{log}");
}
