//! Forwarding CTAP requests from the tool's CTAPHID socket to the paired phone, the phone
//! played through the core's session functions over the real relay: byte-exact requests and
//! answers, keepalives, cancel, a lost phone, no pairing, unpair, restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use authenticator_core::link::channel::MessageType;
use authenticator_core::link::session::LinkSession;
use common::{
    CTAPHID_CANCEL, CTAPHID_KEEPALIVE, Hid, PhonePairing, phone_accept, phone_pair, start_relay,
    start_tool, tool_command,
};

const LINE_WAIT: Duration = Duration::from_secs(20);
const OPERATION_DENIED: u8 = 0x27;
const TIMEOUT: u8 = 0x05;
const OTHER: u8 = 0x7F;
const KEEPALIVE_CANCEL: u8 = 0x2D;

/// A started relay and tool, and a phone paired with it.
async fn paired(dir: &std::path::Path) -> (common::Relay, common::Tool, PhonePairing) {
    let relay = start_relay();
    let mut tool = start_tool(dir, &relay.url, &[]);
    let code = tool.next_code();
    let phone = phone_pair(&code, "Test Phone", None).await.unwrap();
    tool.proc.expect_line("paired with Test Phone", LINE_WAIT);
    (relay, tool, phone)
}

async fn accept(phone: &PhonePairing) -> LinkSession {
    phone_accept(phone, Duration::from_secs(20))
        .await
        .expect("the tool knocked on the phone door")
}

/// The next CTAP request on the phone's session.
async fn next_request(session: &LinkSession) -> Vec<u8> {
    match session.recv().await.unwrap() {
        (MessageType::Ctap, request) => request,
        other => panic!("expected a CTAP request, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_and_answers_are_byte_exact_with_keepalives_and_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, tool, phone) = paired(dir.path()).await;

    let big_request: Vec<u8> = std::iter::once(0x01)
        .chain((0..3000u32).map(|i| (i % 251) as u8))
        .collect();
    let big_answer: Vec<u8> = std::iter::once(0x00)
        .chain((0..7000u32).map(|i| (i % 241) as u8))
        .collect();
    let phone_side = tokio::spawn({
        let (big_request, big_answer) = (big_request.clone(), big_answer.clone());
        async move {
            // One session serves every request: the tool reuses it.
            let session = accept(&phone).await;
            assert_eq!(next_request(&session).await, vec![0x04]);
            session
                .send(MessageType::Ctap, &[0x00, 0xa0])
                .await
                .unwrap();

            assert_eq!(next_request(&session).await, big_request);
            session.send(MessageType::Ctap, &big_answer).await.unwrap();

            // Waiting for the user: "user presence needed" keepalives, then the answer.
            assert_eq!(
                next_request(&session).await,
                vec![0x02, 0xa1, 0x01, 0x61, 0x78]
            );
            for _ in 0..4 {
                session.send(MessageType::Keepalive, &[2]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            session
                .send(MessageType::Ctap, &[0x00, 0xa1, 0x01, 0x02])
                .await
                .unwrap();

            // Cancelled by the client: one cancel frame, then the engine's answer.
            assert_eq!(next_request(&session).await, vec![0x06, 0xa0]);
            session.send(MessageType::Keepalive, &[2]).await.unwrap();
            let cancel = loop {
                tokio::select! {
                    message = session.recv() => break message.unwrap(),
                    () = tokio::time::sleep(Duration::from_millis(300)) => {
                        session.send(MessageType::Keepalive, &[2]).await.unwrap();
                    }
                }
            };
            assert_eq!(cancel, (MessageType::Cancel, vec![]));
            session
                .send(MessageType::Ctap, &[KEEPALIVE_CANCEL])
                .await
                .unwrap();
            // Nothing else follows: the next message is the next request.
            assert_eq!(next_request(&session).await, vec![0x04]);
            session
                .send(MessageType::Ctap, &[0x00, 0xa0])
                .await
                .unwrap();
            session
        }
    });

    let mut hid = Hid::connect(tool.ctaphid).await;
    let (answer, _) = hid.cbor(&[0x04]).await;
    assert_eq!(answer, vec![0x00, 0xa0]);

    let (answer, _) = hid.cbor(&big_request).await;
    assert_eq!(answer, big_answer);

    let (answer, keepalives) = hid.cbor(&[0x02, 0xa1, 0x01, 0x61, 0x78]).await;
    assert_eq!(answer, vec![0x00, 0xa1, 0x01, 0x02]);
    assert!(keepalives.contains(&2), "{keepalives:?}");

    hid.send(common::CTAPHID_CBOR, &[0x06, 0xa0]).await;
    loop {
        let (cmd, data) = hid.recv().await;
        assert_eq!(cmd, CTAPHID_KEEPALIVE);
        if data == [2] {
            break;
        }
    }
    hid.send(CTAPHID_CANCEL, &[]).await;
    let (answer, _) = hid.answer().await;
    assert_eq!(answer, vec![KEEPALIVE_CANCEL]);

    // A second client connection is served by the same phone session.
    let mut other = Hid::connect(tool.ctaphid).await;
    assert_eq!(other.cbor(&[0x04]).await.0, vec![0x00, 0xa0]);
    let session = phone_side.await.unwrap();
    drop(session);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_or_vanished_phone_gets_the_documented_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, tool, phone) = paired(dir.path()).await;
    let mut hid = Hid::connect(tool.ctaphid).await;

    // Nobody answers the knock: CTAP1_ERR_TIMEOUT ("phone unreachable") after the 2.5 s
    // knock answer limit (proto/link.md §5.8; it was the 10 s handshake limit before issue
    // 18), with PROCESSING keepalives meanwhile.
    let started = Instant::now();
    let (answer, keepalives) = hid.cbor(&[0x04]).await;
    assert_eq!(answer, vec![TIMEOUT]);
    assert!(
        started.elapsed() >= Duration::from_millis(2400)
            && started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(keepalives.iter().all(|&s| s == 1) && keepalives.len() > 10);

    // The phone takes the request, then its session is deleted: CTAP1_ERR_OTHER at once.
    let phone_side = tokio::spawn(async move {
        let session = accept(&phone).await;
        next_request(&session).await;
        session.close().await;
        // Then the phone takes the request and goes silent (no shutdown, no keepalive).
        let session = accept(&phone).await;
        next_request(&session).await;
        (phone, session)
    });
    let (answer, _) = hid.cbor(&[0x04]).await;
    assert_eq!(answer, vec![OTHER]);

    let started = Instant::now();
    let (answer, _) = hid.cbor(&[0x04]).await;
    assert_eq!(answer, vec![OTHER]);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(15), "{waited:?}");
    assert!(waited < Duration::from_secs(25), "{waited:?}");
    let (phone, _silent) = phone_side.await.unwrap();

    // The broken session is dropped; the next request opens a new one.
    let phone_side = tokio::spawn(async move {
        let session = accept(&phone).await;
        assert_eq!(next_request(&session).await, vec![0x04]);
        session
            .send(MessageType::Ctap, &[0x00, 0xa0])
            .await
            .unwrap();
        session
    });
    assert_eq!(hid.cbor(&[0x04]).await.0, vec![0x00, 0xa0]);
    phone_side.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn no_pairing_unpair_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay();
    let mut tool = start_tool(dir.path(), &relay.url, &[]);
    let mut hid = Hid::connect(tool.ctaphid).await;
    assert_eq!(hid.cbor(&[0x04]).await.0, vec![OPERATION_DENIED]);

    let code = tool.next_code();
    let phone = phone_pair(&code, "Test Phone", None).await.unwrap();
    tool.proc.expect_line("paired with Test Phone", LINE_WAIT);

    // A restarted tool keeps its key and its pairing.
    drop(hid);
    drop(tool);
    let tool = start_tool(dir.path(), &relay.url, &[]);
    let phone_side = tokio::spawn(async move {
        let session = accept(&phone).await;
        assert_eq!(next_request(&session).await, vec![0x04]);
        session
            .send(MessageType::Ctap, &[0x00, 0xa0])
            .await
            .unwrap();
        // The tool ends the session when the pairing goes away.
        let end = session.recv().await.err().unwrap();
        (phone, end)
    });
    let mut hid = Hid::connect(tool.ctaphid).await;
    assert_eq!(hid.cbor(&[0x04]).await.0, vec![0x00, 0xa0]);

    let (code, stdout, _) = tool_command(dir.path(), &["unpair"]);
    assert_eq!((code, stdout.as_str()), (0, "unpaired Test Phone\n"));
    assert_eq!(tool_command(dir.path(), &["status"]).1, "not paired\n");
    assert_eq!(hid.cbor(&[0x04]).await.0, vec![OPERATION_DENIED]);
    let (_phone, end) = phone_side.await.unwrap();
    assert_eq!(end.to_string(), "the peer ended the session");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_is_ended_with_shutdown_and_reopened_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay();
    let mut tool = start_tool(dir.path(), &relay.url, &["--session-idle-secs", "2"]);
    let code = tool.next_code();
    let phone = phone_pair(&code, "Test Phone", None).await.unwrap();
    tool.proc.expect_line("paired with Test Phone", LINE_WAIT);

    let phone_side = tokio::spawn(async move {
        let session = accept(&phone).await;
        assert_eq!(next_request(&session).await, vec![0x04]);
        session
            .send(MessageType::Ctap, &[0x00, 0xa0])
            .await
            .unwrap();
        let started = Instant::now();
        let end = session.recv().await.err().unwrap();
        (phone, end, started.elapsed())
    });
    let mut hid = Hid::connect(tool.ctaphid).await;
    assert_eq!(hid.cbor(&[0x04]).await.0, vec![0x00, 0xa0]);
    let (phone, end, idle) = phone_side.await.unwrap();
    assert_eq!(end.to_string(), "the peer ended the session");
    assert!(
        idle >= Duration::from_millis(1500) && idle < Duration::from_secs(10),
        "{idle:?}"
    );

    let phone_side = tokio::spawn(async move {
        let session = accept(&phone).await;
        assert_eq!(next_request(&session).await, vec![0x04]);
        session
            .send(MessageType::Ctap, &[0x00, 0xa0])
            .await
            .unwrap();
        session
    });
    assert_eq!(hid.cbor(&[0x04]).await.0, vec![0x00, 0xa0]);
    phone_side.await.unwrap();
}
