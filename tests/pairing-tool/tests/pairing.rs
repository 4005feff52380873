//! Pairing over the real relay, the phone played through the core's session functions: one
//! pairing per code, a used or expired code refused at once (its session deleted), a wrong
//! code failing the handshake without spending the code, the files the tool keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use authenticator_core::link::LinkError;
use authenticator_core::link::session::SessionError;
use common::{phone_pair, start_relay, start_tool, tool_command};

const LINE_WAIT: Duration = Duration::from_secs(20);

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn one_pairing_per_code_and_a_used_code_is_refused_at_once() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let mut tool = start_tool(dir.path(), &relay.url, &[]);
    let code = tool.next_code();
    assert!(code.starts_with("PASSKEYPHONE:/"), "{code}");

    let phone = phone_pair(&code, "Test Phone", None).await.unwrap();
    assert_eq!(phone.pc_name.as_deref(), Some("Test PC"));
    assert_eq!(
        tool.proc.expect_line("paired with", LINE_WAIT),
        "paired with Test Phone"
    );
    let next = tool.next_code();
    assert_ne!(next, code, "a new code after a pairing");

    let (code_status, stdout, _) = tool_command(dir.path(), &["status"]);
    assert_eq!(code_status, 0);
    assert!(
        stdout.starts_with("paired with Test Phone (created "),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("relay {}", relay.url)), "{stdout}");
    assert_eq!(mode(&dir.path().join("pairing.json")), 0o600);
    assert_eq!(mode(&dir.path().join("pc-static.key")), 0o600);

    // The used code again: the tool deletes the session, so the phone fails at once rather
    // than after the 10 s handshake timeout.
    let started = Instant::now();
    let err = phone_pair(&code, "Second Phone", None).await.err().unwrap();
    assert!(
        matches!(err, SessionError::Link(LinkError::Closed(_))),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        tool.proc.expect_line("pairing failed:", LINE_WAIT),
        "pairing failed: the pairing code was already used; the phone's session was closed"
    );
    // The first pairing stands.
    let (_, stdout, _) = tool_command(dir.path(), &["status"]);
    assert!(stdout.starts_with("paired with Test Phone"), "{stdout}");

    // The new code pairs another phone, which replaces the first.
    phone_pair(&next, "Other Phone", None).await.unwrap();
    assert_eq!(
        tool.proc.expect_line("paired with", LINE_WAIT),
        "paired with Other Phone"
    );
    let (_, stdout, _) = tool_command(dir.path(), &["status"]);
    assert!(stdout.starts_with("paired with Other Phone"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_code_is_refused_and_replaced() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let mut tool = start_tool(dir.path(), &relay.url, &["--qr-lifetime-secs", "1"]);
    let old = tool.next_code();
    let started = Instant::now();
    let new = tool.next_code();
    assert_ne!(old, new);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Still fresh for the phone's clock (60 s + 30 s skew), but the tool no longer honours it.
    let started = Instant::now();
    let err = phone_pair(&old, "Late Phone", None).await.err().unwrap();
    assert!(
        matches!(err, SessionError::Link(LinkError::Closed(_))),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(
        tool.proc.expect_line("pairing failed:", LINE_WAIT),
        "pairing failed: the pairing code has expired; the phone's session was closed"
    );
    assert_eq!(tool_command(dir.path(), &["status"]).1, "not paired\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_code_fails_the_handshake_and_the_code_stays_valid() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let mut tool = start_tool(dir.path(), &relay.url, &[]);
    let code = tool.next_code();

    let err = phone_pair(&code, "Bad Phone", Some([0x42; 32]))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, SessionError::Link(LinkError::Closed(_))),
        "{err:?}"
    );
    assert_eq!(
        tool.proc.expect_line("pairing failed:", LINE_WAIT),
        "pairing failed: the phone's handshake did not authenticate (wrong or altered pairing code)"
    );
    assert_eq!(tool_command(dir.path(), &["status"]).1, "not paired\n");

    phone_pair(&code, "Good Phone", None).await.unwrap();
    assert_eq!(
        tool.proc.expect_line("paired with", LINE_WAIT),
        "paired with Good Phone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_name_cannot_forge_output_lines() {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let mut tool = start_tool(dir.path(), &relay.url, &[]);
    let code = tool.next_code();
    phone_pair(&code, "Evil\nqr PASSKEYPHONE:/123", None)
        .await
        .unwrap();
    assert_eq!(
        tool.proc.expect_line("paired with", LINE_WAIT),
        "paired with Evil\\nqr PASSKEYPHONE:/123"
    );
}
