//! On-behalf registration carried over the link (proto/obr-grant.md §6), driven in process:
//! the workspace's `obr_request` becomes a pending approval; the phone's runner reaches the
//! "admin tool" (played here with `pc_obr_handshake` and raw frames over `memory_pair`),
//! receives the grant, asks the user and serves only what the grant allows, sending each
//! receipt to the tool and to the receipt sink; every refusal is answered with its code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::obr::{
    KEY_ID, NOW, RELAY, activate, activated_vault, audit_kinds, fixed, make_credential,
};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use authenticator_core::api::poll_workspace;
use authenticator_core::ctap::EngineConfig;
use authenticator_core::link::memory::memory_pair;
use authenticator_core::link::relay::RelayConfig;
use authenticator_core::link::session::{LinkSession, SessionError, obr_psk, pc_obr_handshake};
use authenticator_core::link::{KeyPair, MessageType};
use authenticator_core::obr::approvals as obr_approvals;
use authenticator_core::obr::session::OPERATION_DENIED;
use authenticator_core::obr::{Grant, Operation, Receipt};
use authenticator_core::obr::{
    GrantError, ObrEvent, ObrLinkError, ObrOutcome, ObrRunner, PendingApproval, ReceiptSink,
    Received, RefusalCode, RefusalReport,
};
use authenticator_core::platform::VerificationOutcome;
use authenticator_core::testkit::{Answer, FakeClock, ScriptedUser};
use authenticator_core::vault::{Setting, Vault};
use authenticator_core::workspace::state;
use p256::ecdsa::SigningKey;

/// The admin's approver: verification answered as `approve` says (a refusal is `Declined`);
/// presence is never asked of them.
fn user(approve: bool) -> Arc<ScriptedUser> {
    let user = ScriptedUser::new(Answer::No, if approve { Answer::Yes } else { Answer::No });
    user.set_refused_verification(VerificationOutcome::Declined);
    Arc::new(user)
}

/// The wire code of a refused `obr_request`, or `None` if it was not refused.
fn refusal(received: Received) -> Option<&'static str> {
    match received {
        Received::Refused(code) => Some(code.as_str()),
        _ => None,
    }
}

/// Receipts posted, and refusals reported (grant id, code).
#[derive(Default)]
struct Collected(Mutex<Vec<Vec<u8>>>, Mutex<Vec<([u8; 16], String)>>);

#[async_trait]
impl ReceiptSink for Collected {
    async fn post(&self, receipt: Vec<u8>) -> Result<(), String> {
        self.0.lock().unwrap().push(receipt);
        Ok(())
    }

    async fn post_refusal(&self, grant_id: [u8; 16], code: RefusalCode) -> RefusalReport {
        self.1
            .lock()
            .unwrap()
            .push((grant_id, code.as_str().to_owned()));
        RefusalReport::Recorded
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    vault: Arc<Vault>,
    workspace: SigningKey,
    admin: KeyPair,
    device_pub: Vec<u8>,
    /// The phone's static key in OBR handshakes.
    obr_pub: Vec<u8>,
    receipts: Arc<Collected>,
}

fn setup() -> Setup {
    let (dir, vault, workspace) = activated_vault();
    setup_with(dir, vault, workspace)
}

fn setup_with(dir: tempfile::TempDir, vault: Arc<Vault>, workspace: SigningKey) -> Setup {
    let device = SigningKey::from_slice(state::device_key(&vault).unwrap().expose()).unwrap();
    let obr_pub = state::obr_public_key(&vault).unwrap();
    Setup {
        _dir: dir,
        vault,
        workspace,
        admin: KeyPair::generate().unwrap(),
        device_pub: device
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec(),
        obr_pub,
        receipts: Arc::new(Collected::default()),
    }
}

impl Setup {
    fn workspace_pub(&self) -> Vec<u8> {
        self.workspace
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }
}

fn grant(s: &Setup, id: u8, max: u8, admin: &[u8; 65]) -> Vec<u8> {
    Grant {
        grant_id: [id; 16],
        issued_at: NOW - 10,
        expires_at: NOW + 600,
        workspace_id: "ws1".into(),
        workspace_name: "Acme".into(),
        admin_id: "admin-1".into(),
        admin_name: "Bob Admin".into(),
        admin_static_key: *admin,
        security_key_id: KEY_ID.into(),
        operations: vec![Operation::MakeCredential],
        rp_ids: vec!["crm.example".into()],
        max_registrations: max,
    }
    .sign(&s.workspace)
}

fn receive(s: &Setup, bytes: &[u8]) -> Received {
    obr_approvals::receive_request(&s.vault, NOW, Some(bytes), RELAY, Some(&[1u8; 16])).unwrap()
}

fn pending(s: &Setup, id: u8, max: u8) -> (PendingApproval, Vec<u8>) {
    let bytes = grant(s, id, max, s.admin.public_key());
    match receive(s, &bytes) {
        Received::Pending(p) => (p, bytes),
        other => panic!("not pending: {other:?}"),
    }
}

fn runner(s: &Setup, approve: bool) -> ObrRunner {
    let mut runner = ObrRunner::new(
        s.vault.clone(),
        EngineConfig::default(),
        user(approve),
        fixed(),
        RelayConfig::default(),
    );
    runner.receipts = s.receipts.clone();
    runner.answer_timeout = Duration::from_millis(500);
    runner
}

fn clone_key(k: &KeyPair) -> KeyPair {
    KeyPair::from_scalar_bytes(&k.scalar_bytes()).unwrap()
}

/// Starts the phone's side over an in-process link; returns the tool's end (not yet
/// handshaken) and the phone's task.
fn start(
    runner: ObrRunner,
    approval: PendingApproval,
) -> (
    authenticator_core::link::memory::MemoryLink,
    tokio::task::JoinHandle<Result<ObrOutcome, ObrLinkError>>,
) {
    let (phone_end, tool_end) = memory_pair();
    let phone = tokio::spawn(async move { runner.run_over(Box::new(phone_end), &approval).await });
    (tool_end, phone)
}

async fn tool(
    s: &Setup,
    end: authenticator_core::link::memory::MemoryLink,
    grant_id: u8,
) -> LinkSession {
    let session = pc_obr_handshake(
        Box::new(end),
        clone_key(&s.admin),
        &obr_psk(&[grant_id; 16]),
    )
    .await
    .unwrap();
    assert_eq!(session.peer_static().as_slice(), s.obr_pub.as_slice());
    session
}

/// The common opening: a pending grant `id` for up to `max` registrations, the phone started
/// with a user who approves, the tool's handshake, the grant sent and accepted.
async fn accepted(
    s: &Setup,
    id: u8,
    max: u8,
) -> (
    LinkSession,
    tokio::task::JoinHandle<Result<ObrOutcome, ObrLinkError>>,
) {
    let (approval, bytes) = pending(s, id, max);
    let (end, phone) = start(runner(s, true), approval);
    let tool = tool(s, end, id).await;
    tool.send(MessageType::ObrGrant, &bytes).await.unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::ObrStatus, b"accepted".to_vec())
    );
    (tool, phone)
}

/// The next message that is not a keepalive.
async fn next(tool: &LinkSession) -> Result<(MessageType, Vec<u8>), SessionError> {
    loop {
        match tool.recv().await {
            Ok((MessageType::Keepalive, _)) => continue,
            other => return other,
        }
    }
}

#[tokio::test]
async fn the_phone_shows_its_obr_key_in_the_handshake_never_its_device_key() {
    let s = setup();
    assert_ne!(s.obr_pub, s.device_pub);
    // The key is made once and kept.
    assert_eq!(state::obr_public_key(&s.vault).unwrap(), s.obr_pub);
    let (approval, bytes) = pending(&s, 30, 1);
    let (end, phone) = start(runner(&s, true), approval);
    let session = pc_obr_handshake(Box::new(end), clone_key(&s.admin), &obr_psk(&[30; 16]))
        .await
        .unwrap();
    // A tool that still expected the device key would not recognise the phone.
    assert_eq!(session.peer_static().as_slice(), s.obr_pub.as_slice());
    assert_ne!(session.peer_static().as_slice(), s.device_pub.as_slice());
    session.send(MessageType::ObrGrant, &bytes).await.unwrap();
    assert_eq!(
        next(&session).await.unwrap(),
        (MessageType::ObrStatus, b"accepted".to_vec())
    );
    session.close().await;
    let _ = phone.await.unwrap();
}

#[tokio::test]
async fn an_approved_grant_registers_sends_the_receipt_and_ends_when_the_count_is_used() {
    let s = setup();
    let (approval, bytes) = pending(&s, 1, 1);
    assert_eq!(approval.admin_name, "Bob Admin");
    assert_eq!(obr_approvals::pending(&s.vault, NOW).unwrap().len(), 1);
    let (end, phone) = start(runner(&s, true), approval.clone());
    let tool = tool(&s, end, 1).await;
    tool.send(MessageType::ObrGrant, &bytes).await.unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::ObrStatus, b"accepted".to_vec())
    );

    // Outside the grant: getAssertion and an RP out of scope are refused, nothing stored.
    tool.send(MessageType::Ctap, &[0x02, 0xa0]).await.unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::Ctap, vec![OPERATION_DENIED])
    );
    tool.send(MessageType::Ctap, &make_credential("evil.example"))
        .await
        .unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::Ctap, vec![OPERATION_DENIED])
    );

    tool.send(MessageType::Ctap, &make_credential("crm.example"))
        .await
        .unwrap();
    let (kind, response) = next(&tool).await.unwrap();
    assert_eq!((kind, response[0]), (MessageType::Ctap, 0));
    let (kind, receipt) = next(&tool).await.unwrap();
    assert_eq!(kind, MessageType::Receipt);
    let receipt = Receipt::verify(&receipt, &s.device_pub).unwrap();
    assert_eq!(
        (receipt.grant_id, receipt.index, receipt.rp_id.as_str()),
        ([1; 16], 1, "crm.example")
    );
    // The count is used up: the phone ends the session.
    assert_eq!(next(&tool).await.unwrap_err(), SessionError::PeerShutdown);

    let outcome = phone.await.unwrap().unwrap();
    assert_eq!(outcome.refused, None);
    assert_eq!(outcome.registrations, vec![(1, "crm.example".to_owned())]);
    assert_eq!(outcome.receipts_posted, 1);
    assert_eq!(outcome.end, "every allowed registration was made");
    assert_eq!(s.receipts.0.lock().unwrap().len(), 1);
    assert_eq!(s.vault.credentials().list().unwrap().len(), 1);
    assert!(obr_approvals::pending(&s.vault, NOW).unwrap().is_empty());
    let kinds = audit_kinds(&s.vault);
    for kind in [
        "obr.grant.pending",
        "obr.grant.accepted",
        "obr.registration",
        "obr.session.ended",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not in {kinds:?}");
    }

    // The same grant again (event delivered twice after it ran): refused as replayed.
    assert_eq!(refusal(receive(&s, &bytes)), Some("replayed"));
}

#[tokio::test]
async fn a_denied_grant_is_answered_denied_and_nothing_is_served() {
    let s = setup();
    let (approval, bytes) = pending(&s, 2, 1);
    let (end, phone) = start(runner(&s, false), approval);
    let tool = tool(&s, end, 2).await;
    tool.send(MessageType::ObrGrant, &bytes).await.unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::ObrStatus, b"denied".to_vec())
    );
    assert_eq!(next(&tool).await.unwrap_err(), SessionError::PeerShutdown);
    let outcome = phone.await.unwrap().unwrap();
    assert_eq!(outcome.refused.map(RefusalCode::as_str), Some("denied"));
    assert!(s.vault.credentials().list().unwrap().is_empty());
    assert!(obr_approvals::pending(&s.vault, NOW).unwrap().is_empty());
}

#[tokio::test]
async fn deny_answers_denied_whatever_the_user_and_drops_an_unreachable_approval() {
    let s = setup();
    let (approval, bytes) = pending(&s, 3, 1);
    let (end, phone) = start(runner(&s, true).denying(), approval);
    let tool = tool(&s, end, 3).await;
    tool.send(MessageType::ObrGrant, &bytes).await.unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::ObrStatus, b"denied".to_vec())
    );
    assert_eq!(
        phone
            .await
            .unwrap()
            .unwrap()
            .refused
            .map(RefusalCode::as_str),
        Some("denied")
    );

    let (mut approval, _) = pending(&s, 21, 1);
    approval.relay_url = "https://relay.invalid".into();
    let err = runner(&s, true).deny(&approval).await.unwrap_err();
    assert!(err.unreachable(), "{err}");
    assert!(obr_approvals::pending(&s.vault, NOW).unwrap().is_empty());
    assert!(
        audit_kinds(&s.vault)
            .iter()
            .any(|k| k == "obr.grant.dropped")
    );
}

#[tokio::test]
async fn a_grant_for_another_admin_key_is_refused_as_not_the_approved_grant() {
    let s = setup();
    let (approval, _) = pending(&s, 4, 1);
    let (end, phone) = start(runner(&s, true), approval);
    let tool = tool(&s, end, 4).await;
    // The tool holds the pending grant's key but presents a grant bound to another tool: it is
    // not the approved grant's bytes, so it is refused before it is even verified.
    let other = *KeyPair::generate().unwrap().public_key();
    tool.send(MessageType::ObrGrant, &grant(&s, 4, 1, &other))
        .await
        .unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::ObrStatus, b"grant_mismatch".to_vec())
    );
    let outcome = phone.await.unwrap().unwrap();
    assert_eq!(
        outcome.refused.map(RefusalCode::as_str),
        Some("grant_mismatch")
    );
}

#[tokio::test]
async fn a_tool_without_the_admin_key_or_rejecting_the_device_key_gets_nothing() {
    let s = setup();
    // A tool with another static key cannot complete the handshake.
    let (approval, _) = pending(&s, 5, 1);
    let (end, phone) = start(runner(&s, true), approval);
    let stranger = KeyPair::generate().unwrap();
    assert!(
        pc_obr_handshake(Box::new(end), stranger, &obr_psk(&[5; 16]))
            .await
            .is_err()
    );
    let err = phone.await.unwrap().unwrap_err();
    assert!(matches!(err, ObrLinkError::Handshake(_)), "{err}");
    // Unreachable: the approval stays for a later try.
    assert_eq!(obr_approvals::pending(&s.vault, NOW).unwrap().len(), 1);

    // The right tool expecting another device key ends the session before sending the grant.
    let approval = obr_approvals::pending(&s.vault, NOW).unwrap().remove(0);
    let (end, phone) = start(runner(&s, true), approval);
    let session = pc_obr_handshake(Box::new(end), clone_key(&s.admin), &obr_psk(&[5; 16]))
        .await
        .unwrap();
    let expected = *KeyPair::generate().unwrap().public_key();
    assert_ne!(session.peer_static(), &expected);
    session.close().await;
    let err = phone.await.unwrap().unwrap_err();
    assert!(matches!(err, ObrLinkError::NoGrant(_)), "{err}");
    assert!(s.vault.credentials().list().unwrap().is_empty());
}

#[tokio::test]
async fn frames_other_than_ctap_end_the_session() {
    let s = setup();
    // Before the grant: a CTAP request instead.
    let (approval, _) = pending(&s, 6, 2);
    let (end, phone) = start(runner(&s, true), approval);
    let tool_session = tool(&s, end, 6).await;
    tool_session.send(MessageType::Ctap, &[0x04]).await.unwrap();
    let err = phone.await.unwrap().unwrap_err();
    assert!(matches!(err, ObrLinkError::NoGrant(_)), "{err}");

    // After acceptance: a receipt frame from the tool.
    let (approval, bytes7) = pending(&s, 7, 2);
    let (end, phone) = start(runner(&s, true), approval);
    let tool_session = tool(&s, end, 7).await;
    tool_session
        .send(MessageType::ObrGrant, &bytes7)
        .await
        .unwrap();
    assert_eq!(
        next(&tool_session).await.unwrap(),
        (MessageType::ObrStatus, b"accepted".to_vec())
    );
    tool_session
        .send(MessageType::Receipt, &[1, 2, 3])
        .await
        .unwrap();
    let outcome = phone.await.unwrap().unwrap();
    assert!(
        outcome.end.contains("unexpected Receipt"),
        "{}",
        outcome.end
    );
    assert!(outcome.registrations.is_empty());
}

#[tokio::test]
async fn a_stopped_grant_ends_the_running_session_and_is_never_pending_again() {
    let s = setup();
    let (tool, phone) = accepted(&s, 8, 3).await;
    obr_approvals::stop(&s.vault, NOW, &[8; 16]).unwrap();
    assert_eq!(next(&tool).await.unwrap_err(), SessionError::PeerShutdown);
    let outcome = phone.await.unwrap().unwrap();
    assert_eq!(outcome.end, "the workspace stopped the grant");

    // A stop that comes before the request.
    obr_approvals::stop(&s.vault, NOW, &[9; 16]).unwrap();
    let bytes = grant(&s, 9, 1, s.admin.public_key());
    assert_eq!(refusal(receive(&s, &bytes)), Some("stopped"));
}

#[tokio::test]
async fn bad_requests_are_refused_audited_and_not_kept() {
    let s = setup();
    let mut forged = grant(&s, 10, 1, s.admin.public_key());
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(refusal(receive(&s, &forged)), Some("bad_signature"));
    let other_ws = SigningKey::from_slice(&[8u8; 32]).unwrap();
    let foreign = Grant::verify_unbound(
        &grant(&s, 11, 1, s.admin.public_key()),
        s.workspace.verifying_key().to_sec1_point(false).as_bytes(),
        KEY_ID,
        NOW,
        30,
    )
    .unwrap()
    .sign(&other_ws);
    assert_eq!(refusal(receive(&s, &foreign)), Some("kid_mismatch"));
    let good = grant(&s, 12, 1, s.admin.public_key());
    assert_eq!(
        refusal(
            obr_approvals::receive_request(&s.vault, NOW, Some(&good), RELAY, Some(&[1u8; 3]))
                .unwrap()
        ),
        Some("malformed_event")
    );
    assert_eq!(
        refusal(
            obr_approvals::receive_request(
                &s.vault,
                NOW + 3600,
                Some(&good),
                RELAY,
                Some(&[1u8; 16])
            )
            .unwrap()
        ),
        Some("expired")
    );
    assert!(matches!(receive(&s, &good), Received::Pending(_)));
    assert_eq!(receive(&s, &good), Received::AlreadyPending);
    for id in 13..20 {
        assert!(matches!(
            receive(&s, &grant(&s, id, 1, s.admin.public_key())),
            Received::Pending(_)
        ));
    }
    assert_eq!(
        refusal(receive(&s, &grant(&s, 20, 1, s.admin.public_key()))),
        Some("too_many_pending")
    );
    assert_eq!(obr_approvals::pending(&s.vault, NOW).unwrap().len(), 8);
    // Expired ones are dropped when the list is read.
    assert!(
        obr_approvals::pending(&s.vault, NOW + 3600)
            .unwrap()
            .is_empty()
    );
    let refused = audit_kinds(&s.vault)
        .iter()
        .filter(|k| *k == "obr.grant.refused")
        .count();
    assert_eq!(refused, 5);
    let found = obr_approvals::find_pending(&s.vault, NOW, "0c0c0c0c").unwrap();
    assert!(found.is_none(), "expired and dropped above");
}

#[tokio::test]
async fn a_pending_grant_found_invalid_before_connecting_is_reported_but_a_stopped_one_is_not() {
    let s = setup();
    let (approval, _) = pending(&s, 21, 1);
    let mut late = runner(&s, true);
    late.clock = Arc::new(FakeClock::at(NOW + 3600));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    late.events = Some(tx);
    let (_end, phone) = start(late, approval);
    let result = phone.await.unwrap();
    assert!(matches!(result, Err(ObrLinkError::Grant(_))), "{result:?}");
    assert_eq!(
        *s.receipts.1.lock().unwrap(),
        vec![([21u8; 16], "expired".to_owned())]
    );
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let id = "15".repeat(16);
    assert_eq!(
        events,
        vec![
            ObrEvent::Refused {
                grant_id: id.clone(),
                code: RefusalCode::Grant(GrantError::Expired)
            },
            ObrEvent::RefusalReported {
                grant_id: id,
                code: RefusalCode::Grant(GrantError::Expired),
                report: RefusalReport::Recorded
            },
        ]
    );
    assert!(audit_kinds(&s.vault).contains(&"obr.refusal.reported".to_owned()));

    let (approval, _) = pending(&s, 22, 1);
    obr_approvals::stop(&s.vault, NOW, &[22; 16]).unwrap();
    let (_end, phone) = start(runner(&s, true), approval);
    assert!(matches!(phone.await.unwrap(), Err(ObrLinkError::Stopped)));
    assert_eq!(
        s.receipts.1.lock().unwrap().len(),
        1,
        "stopped is not reported"
    );
}

/// One request the workspace stub saw: method, path, headers (lower-case names), body.
type Seen = (String, String, Vec<(String, String)>, Vec<u8>);

/// A tiny HTTP/1.1 workspace: the events long-poll returns `events` once (then nothing);
/// `obr-refusals` answers 204, or 404 `unknown_grant` for `unknown_grant_id`; `obr-receipts`
/// answers 201. Every request is recorded.
async fn workspace_stub(
    events: serde_json::Value,
    unknown_grant_id: String,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        let mut events = Some(events);
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = stream.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let mut lines = head.split("\r\n");
            let mut request_line = lines.next().unwrap().split(' ');
            let method = request_line.next().unwrap().to_owned();
            let path = request_line.next().unwrap().to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            while buf.len() < head_end + length {
                let n = stream.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_end..head_end + length].to_vec();
            let answer = if path.contains("/events") {
                let body = events
                    .take()
                    .unwrap_or_else(|| serde_json::json!({"events": [], "next": 0}))
                    .to_string();
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else if path.ends_with("/obr-receipts") {
                let body = r#"{"grant_id":"AAAAAAAAAAAAAAAAAAAAAA","index":1,"registrations":1,"max_registrations":1}"#;
                format!(
                    "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else if path.ends_with("/obr-key") {
                "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned()
            } else if path.ends_with("/obr-refusals") {
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                if json["grant_id"] == unknown_grant_id.as_str() {
                    let body = r#"{"error":"unknown_grant"}"#;
                    format!(
                        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned()
                }
            } else {
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_owned()
            };
            log.lock().unwrap().push((method, path, headers, body));
            stream.write_all(answer.as_bytes()).await.unwrap();
            let _ = stream.shutdown().await;
        }
    });
    (base, seen)
}

#[tokio::test]
async fn requests_refused_on_arrival_are_reported_to_the_workspace_signed_under_the_events_id() {
    use authenticator_core::enroll::Enroller;
    use authenticator_core::workspace::client::signing_input;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use p256::ecdsa::signature::Verifier;

    let s = setup();
    // A forged grant (its own id is 0x0a...), announced under the workspace's id 0x09...
    let mut forged = grant(&s, 10, 1, s.admin.public_key());
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let good = grant(&s, 30, 1, s.admin.public_key());
    let stopped = grant(&s, 31, 1, s.admin.public_key());
    obr_approvals::stop(&s.vault, NOW, &[31; 16]).unwrap();
    let request = |seq: u64, id: Option<[u8; 16]>, grant: &[u8]| {
        serde_json::json!({
            "seq": seq,
            "type": "obr_request",
            "grant_id": id.map(|id| B64.encode(id)),
            "grant": B64.encode(grant),
            "relay_url": RELAY,
            "admin_door": B64.encode([1u8; 16]),
        })
    };
    let events = serde_json::json!({
        "events": [
            request(1, Some([9; 16]), &forged),
            request(2, Some([30; 16]), &good),
            // A grant id the workspace does not know (404 unknown_grant: final, fine).
            request(3, Some([8; 16]), &forged),
            request(4, None, &forged),
            request(5, Some([31; 16]), &stopped),
        ],
        "next": 5,
    });
    let (base, seen) = workspace_stub(events, B64.encode([8u8; 16])).await;
    let mut enrollment = state::load(&s.vault).unwrap().unwrap();
    enrollment.api_base = base;
    state::store(&s.vault, &enrollment).unwrap();
    // The workspace already holds this phone's OBR key (it told it at activation).
    state::set_obr_key_registered(&s.vault, KEY_ID).unwrap();

    let enroller = Enroller {
        vault: &s.vault,
        clock: &FakeClock::at(NOW),
        device_name: "test",
        request_timeout: Duration::from_secs(5),
    };
    let polled = poll_workspace(&enroller, Duration::ZERO).await.unwrap();
    assert_eq!(polled.enrollment.events_seen, 5);
    assert_eq!(polled.obr_requests.len(), 1);
    let refused: Vec<(String, String, bool)> = polled
        .obr_refused
        .iter()
        .map(|r| (r.id(), r.code.as_str().to_owned(), r.report.delivered()))
        .collect();
    assert_eq!(
        refused,
        vec![
            ("09".repeat(16), "bad_signature".into(), true),
            ("08".repeat(16), "bad_signature".into(), true),
            ("unknown".into(), "bad_signature".into(), false),
        ]
    );
    assert_eq!(polled.obr_refused[0].report, RefusalReport::Recorded);
    assert_eq!(polled.obr_refused[1].report, RefusalReport::UnknownGrant);

    let seen = seen.lock().unwrap().clone();
    let posts: Vec<&Seen> = seen.iter().filter(|r| r.0 == "POST").collect();
    assert_eq!(posts.len(), 2, "{seen:?}");
    let (_, path, headers, body) = posts[0];
    assert_eq!(path, &format!("/api/v1/devices/{KEY_ID}/obr-refusals"));
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"grant_id": B64.encode([9u8; 16]), "code": "bad_signature"})
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header("x-security-key-id"), KEY_ID);
    let timestamp: u64 = header("x-timestamp").parse().unwrap();
    let signed = signing_input("POST", path, timestamp, &posts[0].3);
    let signature =
        p256::ecdsa::DerSignature::from_bytes(&B64.decode(header("x-signature")).unwrap()).unwrap();
    let device = p256::ecdsa::VerifyingKey::from_sec1_bytes(&s.device_pub).unwrap();
    device.verify(signed.as_bytes(), &signature).unwrap();

    let audit = s.vault.audit().list().unwrap();
    let kinds: Vec<&str> = audit
        .iter()
        .filter(|e| e.kind.starts_with("obr.refusal."))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "obr.refusal.reported",
            "obr.refusal.reported",
            "obr.refusal.unreported"
        ]
    );
}

/// The same COSE_Sign1 with its ECDSA signature's `s` replaced by `n - s`: the same grant id
/// and payload, different bytes, and a signature that still verifies (P-256 ECDSA does not
/// insist on low `s`).
fn malleated(grant: &[u8]) -> Vec<u8> {
    use authenticator_core::cbor::{self, Value};
    use p256::ecdsa::Signature;
    let Value::Array(mut items) = cbor::decode(&grant[1..]).unwrap() else {
        unreachable!()
    };
    let Value::Bytes(raw) = &items[3] else {
        unreachable!()
    };
    let signature = Signature::from_slice(raw).unwrap();
    let (r, s) = signature.split_scalars();
    let flipped = Signature::from_scalars(r.to_bytes(), (-s).to_bytes()).unwrap();
    items[3] = Value::Bytes(flipped.to_bytes().to_vec());
    let mut out = vec![grant[0]];
    out.extend(cbor::encode(&Value::Array(items)));
    assert_ne!(out, grant);
    out
}

#[tokio::test]
async fn a_grant_on_the_link_that_is_not_the_approved_one_is_refused_before_the_user_is_asked() {
    let s = setup();
    // Another grant for the same admin key (the workspace issued it too), and the approved
    // grant with a malleated signature: both verify, neither is the approved bytes.
    let other = grant(&s, 21, 25, s.admin.public_key());
    for (id, swap) in [(20u8, other), (22u8, Vec::new())] {
        let (approval, bytes) = pending(&s, id, 1);
        let swap = if swap.is_empty() {
            malleated(&bytes)
        } else {
            swap
        };
        let admin = s.admin.public_key();
        assert!(
            Grant::verify(&swap, &s.workspace_pub(), KEY_ID, admin, NOW, 60).is_ok(),
            "the swapped grant must verify on its own for this test to mean anything"
        );
        let (end, phone) = start(runner(&s, true), approval);
        let tool = tool(&s, end, id).await;
        tool.send(MessageType::ObrGrant, &swap).await.unwrap();
        assert_eq!(
            next(&tool).await.unwrap(),
            (MessageType::ObrStatus, b"grant_mismatch".to_vec())
        );
        assert_eq!(next(&tool).await.unwrap_err(), SessionError::PeerShutdown);
        let outcome = phone.await.unwrap().unwrap();
        assert_eq!(
            outcome.refused.map(RefusalCode::as_str),
            Some("grant_mismatch")
        );
    }
    assert!(s.vault.credentials().list().unwrap().is_empty());
    let kinds = audit_kinds(&s.vault);
    assert!(
        !kinds.iter().any(|k| k == "obr.grant.accepted"),
        "{kinds:?}"
    );
    assert!(obr_approvals::pending(&s.vault, NOW).unwrap().is_empty());
}

#[tokio::test]
async fn overwriting_the_users_passkey_is_refused_told_to_the_tool_reported_and_ends_the_session() {
    let s = setup();
    // The user's own discoverable passkey at crm.example for "user-1" (make_credential's
    // handle), made from their PC.
    let own = {
        let engine = authenticator_core::ctap::CtapEngine::new(
            s.vault.clone(),
            Arc::new(authenticator_core::ctap::AlwaysServe),
            ScriptedUser::approving(),
            fixed(),
            EngineConfig {
                builtin_uv: true,
                ..EngineConfig::default()
            },
        )
        .unwrap();
        let answer = engine
            .handle(
                &make_credential("crm.example"),
                &authenticator_core::request::RequestSignals::new(
                    authenticator_core::request::Origin::app(),
                ),
            )
            .await;
        assert_eq!(answer[0], 0, "{answer:02x?}");
        s.vault.credentials().list().unwrap()[0]
            .credential_id
            .clone()
    };
    let (tool, phone) = accepted(&s, 23, 3).await;
    tool.send(MessageType::Ctap, &make_credential("crm.example"))
        .await
        .unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::Ctap, vec![OPERATION_DENIED])
    );
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::ObrStatus, b"passkey_exists".to_vec())
    );
    assert_eq!(next(&tool).await.unwrap_err(), SessionError::PeerShutdown);
    let outcome = phone.await.unwrap().unwrap();
    assert_eq!(outcome.end, "refused: passkey_exists");
    assert!(outcome.registrations.is_empty());
    let stored = s.vault.credentials().list().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].credential_id, own);
    assert_eq!(
        s.receipts.1.lock().unwrap().as_slice(),
        &[([23; 16], "passkey_exists".to_owned())]
    );
    let kinds = audit_kinds(&s.vault);
    for kind in ["obr.refused", "obr.refusal.reported", "obr.session.ended"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not in {kinds:?}");
    }
}

#[tokio::test]
async fn a_grant_stopped_between_approval_and_accept_is_refused_stopped() {
    let s = setup();
    let (approval, bytes) = pending(&s, 24, 1);
    let mut runner = runner(&s, true);
    // Approves, but the workspace's stop is recorded while the prompt is up.
    let approver = user(true);
    let vault = s.vault.clone();
    approver.on_prompt(move |_| {
        obr_approvals::stop(&vault, NOW, &[24; 16]).unwrap();
    });
    runner.user = approver;
    let (end, phone) = start(runner, approval);
    let tool = tool(&s, end, 24).await;
    tool.send(MessageType::ObrGrant, &bytes).await.unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::ObrStatus, b"stopped".to_vec())
    );
    let outcome = phone.await.unwrap().unwrap();
    assert_eq!(outcome.refused.map(RefusalCode::as_str), Some("stopped"));
    // Nothing is served: a makeCredential now finds the session gone.
    assert!(s.vault.credentials().list().unwrap().is_empty());
    assert!(
        !audit_kinds(&s.vault)
            .iter()
            .any(|k| k == "obr.grant.accepted")
    );
}

/// A vault written by the v1 code (before the OBR key existed), activated: it opens, gets an
/// OBR key of its own on first need, tells the workspace at its next events poll (signed with
/// the device key, once), and its OBR sessions then use that key.
#[tokio::test]
async fn an_old_vault_gets_an_obr_key_registers_it_signed_and_runs_obr_with_it() {
    use authenticator_core::enroll::Enroller;
    use authenticator_core::platform::SoftwareKeyProtector;
    use authenticator_core::secret::SecretBytes;
    use authenticator_core::workspace::client::signing_input;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use p256::ecdsa::signature::Verifier;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vault-v1");
    let dir = tempfile::tempdir().unwrap();
    for file in ["vault.db", "device.key"] {
        std::fs::copy(
            std::path::Path::new(FIXTURE).join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    let protector = SoftwareKeyProtector::new(dir.path().join("device.key"));
    let vault = Arc::new(Vault::open(dir.path().join("vault.db"), &protector).unwrap());
    assert!(
        vault
            .settings()
            .get::<SecretBytes>(Setting::ObrKey)
            .unwrap()
            .is_none(),
        "the v1 fixture has no OBR key"
    );
    let workspace = activate(&vault);
    assert!(!state::obr_key_registered(&vault, KEY_ID).unwrap());
    let s = setup_with(dir, vault, workspace);
    assert_ne!(s.obr_pub, s.device_pub);

    // The next events poll tells the workspace, signed with the device key; then never again.
    let (base, seen) =
        workspace_stub(serde_json::json!({"events": [], "next": 0}), String::new()).await;
    let mut enrollment = state::load(&s.vault).unwrap().unwrap();
    enrollment.api_base = base;
    state::store(&s.vault, &enrollment).unwrap();
    let enroller = Enroller {
        vault: &s.vault,
        clock: &FakeClock::at(NOW),
        device_name: "test",
        request_timeout: Duration::from_secs(5),
    };
    poll_workspace(&enroller, Duration::ZERO).await.unwrap();
    poll_workspace(&enroller, Duration::ZERO).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let posts: Vec<&Seen> = seen.iter().filter(|r| r.0 == "POST").collect();
    assert_eq!(posts.len(), 1, "{seen:?}");
    let (_, path, headers, body) = posts[0];
    assert_eq!(path, &format!("/api/v1/devices/{KEY_ID}/obr-key"));
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "obr_public_key": B64.encode(&s.obr_pub) })
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let timestamp: u64 = header("x-timestamp").parse().unwrap();
    let signed = signing_input("POST", path, timestamp, &posts[0].3);
    let signature =
        p256::ecdsa::DerSignature::from_bytes(&B64.decode(header("x-signature")).unwrap()).unwrap();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&s.device_pub)
        .unwrap()
        .verify(signed.as_bytes(), &signature)
        .unwrap();
    assert!(state::obr_key_registered(&s.vault, KEY_ID).unwrap());
    assert!(audit_kinds(&s.vault).contains(&"enroll.obr_key.registered".to_owned()));

    // OBR runs with that key (the tool helper checks the handshake shows the OBR key).
    let (tool, phone) = accepted(&s, 40, 1).await;
    tool.send(MessageType::Ctap, &make_credential("crm.example"))
        .await
        .unwrap();
    assert_eq!(next(&tool).await.unwrap().1[0], 0);
    let (kind, receipt) = next(&tool).await.unwrap();
    assert_eq!(kind, MessageType::Receipt);
    // Receipts are still signed by the device key.
    Receipt::verify(&receipt, &s.device_pub).unwrap();
    assert_eq!(phone.await.unwrap().unwrap().registrations.len(), 1);
}

/// A receipt sink whose workspace is unreachable: every post fails after its retries.
struct Unreachable;

#[async_trait]
impl ReceiptSink for Unreachable {
    async fn post(&self, _: Vec<u8>) -> Result<(), String> {
        Err("the workspace could not be reached".into())
    }
}

/// A receipt whose upload failed is queued in the vault, not only audited, and posted (the
/// same bytes, signed by the phone) at the next successful contact with the workspace; rows
/// the app did not write are dropped unposted.
#[tokio::test]
async fn a_receipt_the_workspace_missed_is_posted_when_it_is_back_and_forged_rows_never_are() {
    use authenticator_core::enroll::Enroller;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    let s = setup();
    let (approval, bytes) = pending(&s, 40, 1);
    let mut runner = runner(&s, true);
    runner.receipts = Arc::new(Unreachable);
    let (end, phone) = start(runner, approval);
    let tool = tool(&s, end, 40).await;
    tool.send(MessageType::ObrGrant, &bytes).await.unwrap();
    assert_eq!(
        next(&tool).await.unwrap(),
        (MessageType::ObrStatus, b"accepted".to_vec())
    );
    tool.send(MessageType::Ctap, &make_credential("crm.example"))
        .await
        .unwrap();
    assert_eq!(next(&tool).await.unwrap().1[0], 0);
    let (kind, receipt) = next(&tool).await.unwrap();
    assert_eq!(kind, MessageType::Receipt);
    let outcome = phone.await.unwrap().unwrap();
    assert_eq!(outcome.receipts_posted, 0);
    assert!(
        audit_kinds(&s.vault)
            .iter()
            .any(|k| k == "obr.receipt.unsent")
    );
    assert_eq!(s.vault.receipt_queue().count().unwrap(), 1);

    // Someone who can write the app's files adds a row of their own and a copy of the
    // genuine sealed row under another sequence number.
    let raw = rusqlite::Connection::open(s.vault.path()).unwrap();
    raw.execute_batch(
        "INSERT INTO receipt_queue (seq, queued_at, receipt) VALUES (50, 0, x'd28443a10126a0');
         INSERT INTO receipt_queue (seq, queued_at, receipt)
             SELECT 51, 0, receipt FROM receipt_queue WHERE seq = 1;",
    )
    .unwrap();
    drop(raw);

    // The workspace is back: the next events poll posts the queued receipt.
    let (base, seen) =
        workspace_stub(serde_json::json!({"events": [], "next": 0}), String::new()).await;
    let mut enrollment = state::load(&s.vault).unwrap().unwrap();
    enrollment.api_base = base;
    state::store(&s.vault, &enrollment).unwrap();
    state::set_obr_key_registered(&s.vault, KEY_ID).unwrap();
    let enroller = Enroller {
        vault: &s.vault,
        clock: &FakeClock::at(NOW),
        device_name: "test",
        request_timeout: Duration::from_secs(5),
    };
    let polled = poll_workspace(&enroller, Duration::ZERO).await.unwrap();
    assert_eq!(
        (
            polled.queued_receipts.posted,
            polled.queued_receipts.dropped,
            polled.queued_receipts.left
        ),
        (1, 2, 0)
    );
    let posted: Vec<serde_json::Value> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0 == "POST" && r.1 == format!("/api/v1/devices/{KEY_ID}/obr-receipts"))
        .map(|r| serde_json::from_slice(&r.3).unwrap())
        .collect();
    assert_eq!(
        posted,
        [serde_json::json!({"receipt": B64.encode(&receipt)})]
    );
    assert_eq!(s.vault.receipt_queue().count().unwrap(), 0);
    let dropped: Vec<String> = s
        .vault
        .audit()
        .list()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "obr.receipt.dropped")
        .map(|e| e.details["queued"].clone())
        .collect();
    assert_eq!(dropped, ["50", "51"]);

    // Nothing is posted twice.
    let polled = poll_workspace(&enroller, Duration::ZERO).await.unwrap();
    assert_eq!(polled.queued_receipts.posted, 0);
    assert_eq!(
        seen.lock()
            .unwrap()
            .iter()
            .filter(|r| r.1.ends_with("/obr-receipts"))
            .count(),
        1
    );
}
