//! The `link_handshake` target: the Noise handshakes (`link::noise`, proto/link.md §3) and the
//! session layer's handshake payloads (`link::session`), with the fixed keys of
//! [`link_keys`](crate::link_keys). The first byte (mod 8) picks the mode; the rest is a
//! handshake message or a payload.
//!
//! | mode | what the rest is | what runs |
//! | --- | --- | --- |
//! | 0 | IKpsk1 message 1 | `HandshakeState` responder (PC key, QR psk) `read_message` |
//! | 1 | KKpsk0 message 1 | `HandshakeState` responder (PC key, pairing secret) `read_message` |
//! | 2 | IKpsk1 message 1 payload | the harness's phone seals it; `session::pc_first_pairing` over a memory link |
//! | 3 | IKpsk1 message 2 payload | `session::phone_first_pairing`; the harness's PC seals the payload as its reply |
//! | 4 | KKpsk0 message 1 payload | the harness's phone seals it; `session::pc_reconnect` |
//! | 5 | KKpsk0 message 2 payload | `session::phone_reconnect`; the harness's PC seals the reply |
//! | 6, 7 | message 2 of IKpsk1, KKpsk0 | initiator `read_message` after writing message 1 |
//!
//! Checked: nothing panics. Raw messages: a message that reads is one the harness's keys
//! produced (the responder learns the harness phone's key, and the length is exactly the
//! pattern's); a failed handshake fails every later call with `Failed`, a finished read makes a
//! second read `OutOfOrder`; an initiator never accepts bytes it did not get from the
//! responder (its ephemeral key is fresh each run). Payloads: the session accepts exactly what
//! proto/link.md §3.3-§3.4 allows (a model decides: canonical CBOR map, key 1 an optional name
//! of at most 64 bytes in message 1; `{1: 32-byte secret, ?2: name}` in message 2; `a0` and
//! empty for reconnects), refuses the rest with `BadPayload`, and an accepted handshake gives
//! both ends the same handshake hash, the names and secret that were sent, and a working
//! channel. The sessions run on a current-thread tokio runtime with a paused clock, so a
//! handshake that would wait times out at once (and fails the check).

use std::sync::OnceLock;

use authenticator_core::cbor::{self, Value};
use authenticator_core::link::aead::TAG_LEN;
use authenticator_core::link::channel::MessageType;
use authenticator_core::link::memory::{MemoryLink, memory_pair};
use authenticator_core::link::noise::{HandshakeState, NoiseError, PUBLIC_KEY_LEN, Pattern, Role};
use authenticator_core::link::session::{self, LinkSession, MAX_NAME_BYTES, SessionError};
use authenticator_core::link::transport::Link;
use tokio::runtime::Runtime;

use crate::link_keys::{self, PAIRING_SECRET, QR_PSK};

const PHONE_NAME: &str = "Pixel";
const PC_NAME: &str = "Desk PC";
/// Bytes of an IKpsk1 message 1 around its payload: e, encrypted s, the payload's tag.
const IK_MESSAGE_1_OVERHEAD: usize = PUBLIC_KEY_LEN + PUBLIC_KEY_LEN + TAG_LEN + TAG_LEN;
/// Of a KKpsk0 message 1 (and of any message 2): e and the payload's tag.
const E_MESSAGE_OVERHEAD: usize = PUBLIC_KEY_LEN + TAG_LEN;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a tokio runtime")
    })
}

fn state(pattern: Pattern, role: Role) -> HandshakeState {
    let (local, remote) = match role {
        Role::Initiator => (link_keys::phone(), Some(link_keys::pc_public())),
        Role::Responder => (
            link_keys::pc(),
            (pattern == Pattern::KKpsk0).then(link_keys::phone_public),
        ),
    };
    let psk = match pattern {
        Pattern::IKpsk1 => &QR_PSK,
        Pattern::KKpsk0 => &PAIRING_SECRET,
    };
    HandshakeState::new(pattern, role, local, remote.as_ref().map(|k| &k[..]), psk)
        .expect("the fixed keys make a handshake")
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 8 {
        0 => responder_reads(Pattern::IKpsk1, rest),
        1 => responder_reads(Pattern::KKpsk0, rest),
        2 => runtime().block_on(pc_first_pairing(rest)),
        3 => runtime().block_on(phone_first_pairing(rest)),
        4 => runtime().block_on(pc_reconnect(rest)),
        5 => runtime().block_on(phone_reconnect(rest)),
        6 => initiator_reads(Pattern::IKpsk1, rest),
        _ => initiator_reads(Pattern::KKpsk0, rest),
    }
}

fn check_dead(mut state: HandshakeState) {
    assert_eq!(
        state.read_message(&[0; 200]).err(),
        Some(NoiseError::Failed)
    );
    assert_eq!(state.write_message(&[]).err(), Some(NoiseError::Failed));
    assert_eq!(state.into_outcome().err(), Some(NoiseError::Failed));
}

fn responder_reads(pattern: Pattern, message: &[u8]) {
    let mut responder = state(pattern, Role::Responder);
    match responder.read_message(message) {
        Err(_) => check_dead(responder),
        Ok(payload) => {
            let overhead = match pattern {
                Pattern::IKpsk1 => IK_MESSAGE_1_OVERHEAD,
                Pattern::KKpsk0 => E_MESSAGE_OVERHEAD,
            };
            assert_eq!(message.len(), overhead + payload.len(), "message length");
            assert!(!responder.is_finished());
            assert_eq!(
                responder.read_message(message).err(),
                Some(NoiseError::OutOfOrder)
            );
            let reply = responder.write_message(&[]).expect("the reply");
            assert_eq!(reply.len(), E_MESSAGE_OVERHEAD);
            assert!(responder.is_finished());
            let outcome = responder.into_outcome().expect("a finished handshake");
            assert_eq!(
                outcome.remote_static,
                link_keys::phone_public(),
                "a message 1 the harness's phone did not write was accepted"
            );
        }
    }
}

fn initiator_reads(pattern: Pattern, message: &[u8]) {
    let mut initiator = state(pattern, Role::Initiator);
    initiator.write_message(&[0xA0]).expect("message 1");
    assert!(
        initiator.read_message(message).is_err(),
        "the initiator accepted a message 2 nobody wrote for its fresh ephemeral key"
    );
    check_dead(initiator);
}

/// proto/link.md §3.3 message 1 payload: `Some(name)` if acceptable.
fn model_message_1(payload: &[u8]) -> Option<Option<String>> {
    let Ok(Value::Map(entries)) = cbor::decode(payload) else {
        return None;
    };
    let mut name = None;
    for (key, value) in entries {
        match (key.as_int(), value) {
            (Some(1), Value::Text(t)) if t.len() <= MAX_NAME_BYTES => name = Some(t),
            _ => return None,
        }
    }
    Some(name)
}

/// proto/link.md §3.3 message 2 payload: `Some((secret, name))` if acceptable.
fn model_message_2(payload: &[u8]) -> Option<([u8; 32], Option<String>)> {
    let Ok(Value::Map(entries)) = cbor::decode(payload) else {
        return None;
    };
    let (mut secret, mut name) = (None, None);
    for (key, value) in entries {
        match (key.as_int(), value) {
            (Some(1), Value::Bytes(b)) => secret = Some(<[u8; 32]>::try_from(b).ok()?),
            (Some(2), Value::Text(t)) if t.len() <= MAX_NAME_BYTES => name = Some(t),
            _ => return None,
        }
    }
    Some((secret?, name))
}

fn check_refused<T>(result: Result<T, SessionError>, what: &str) {
    match result {
        Err(SessionError::BadPayload(_)) => {}
        Err(e) => panic!("{what}: refused with {e:?}, not BadPayload"),
        Ok(_) => panic!("{what}: accepted a payload proto/link.md refuses"),
    }
}

/// A sealed message each way between an accepted session and the harness's channel.
async fn check_channel(
    session: &LinkSession,
    harness_end: &MemoryLink,
    harness: HandshakeState,
    role: &str,
) {
    let mut outcome = harness.into_outcome().expect("the harness finished");
    assert_eq!(
        &outcome.handshake_hash,
        session.handshake_hash(),
        "{role}: handshake hashes differ"
    );
    session
        .send(MessageType::Ctap, b"\x04")
        .await
        .expect("session send");
    let frame = harness_end.recv().await.expect("a frame");
    assert_eq!(
        outcome.channel.open(&frame),
        Ok((MessageType::Ctap, b"\x04".to_vec()))
    );
    let frame = outcome
        .channel
        .seal(MessageType::Keepalive, &[2])
        .expect("seal");
    harness_end.send(&frame).await.expect("harness send");
    assert_eq!(
        session.recv().await.expect("session recv"),
        (MessageType::Keepalive, vec![2])
    );
}

async fn pc_first_pairing(payload: &[u8]) {
    let (phone_end, pc_end) = memory_pair();
    let mut phone = state(Pattern::IKpsk1, Role::Initiator);
    let Ok(message) = phone.write_message(payload) else {
        return;
    };
    phone_end.send(&message).await.expect("send");
    let result =
        session::pc_first_pairing(Box::new(pc_end), link_keys::pc(), &QR_PSK, Some(PC_NAME)).await;
    let Some(name) = model_message_1(payload) else {
        return check_refused(result, "pc_first_pairing");
    };
    let (session, hello) = result.expect("pc_first_pairing refused a valid message 1");
    assert_eq!(hello.phone_name, name);
    assert_eq!(hello.phone_static, link_keys::phone_public());
    let reply = phone_end.recv().await.expect("the PC's reply");
    let reply = phone.read_message(&reply).expect("the PC's reply reads");
    let expected = cbor::encode(&Value::map([
        (Value::int(1), Value::Bytes(hello.pairing_secret.to_vec())),
        (Value::int(2), Value::from(PC_NAME)),
    ]));
    assert_eq!(reply.expose(), expected, "the PC's message 2 payload");
    check_channel(&session, &phone_end, phone, "pc_first_pairing").await;
}

async fn phone_first_pairing(payload: &[u8]) {
    let (phone_end, pc_end) = memory_pair();
    let pc_public = link_keys::pc_public();
    let phone = session::phone_first_pairing(
        Box::new(phone_end),
        link_keys::phone(),
        &pc_public,
        &QR_PSK,
        Some(PHONE_NAME),
    );
    let pc = async {
        let mut pc = state(Pattern::IKpsk1, Role::Responder);
        let first = pc_end.recv().await.expect("message 1");
        let hello = pc.read_message(&first).expect("message 1 reads");
        let expected = cbor::encode(&Value::map([(Value::int(1), Value::from(PHONE_NAME))]));
        assert_eq!(hello.expose(), expected, "the phone's message 1 payload");
        let reply = pc.write_message(payload).expect("message 2");
        pc_end.send(&reply).await.expect("send");
        pc
    };
    let (result, pc) = tokio::join!(phone, pc);
    let Some((secret, name)) = model_message_2(payload) else {
        return check_refused(result, "phone_first_pairing");
    };
    let (session, hello) = result.expect("phone_first_pairing refused a valid message 2");
    assert_eq!(*hello.pairing_secret, secret);
    assert_eq!(hello.pc_name, name);
    assert_eq!(session.peer_static(), &pc_public);
    check_channel(&session, &pc_end, pc, "phone_first_pairing").await;
}

async fn pc_reconnect(payload: &[u8]) {
    let (phone_end, pc_end) = memory_pair();
    let mut phone = state(Pattern::KKpsk0, Role::Initiator);
    let Ok(message) = phone.write_message(payload) else {
        return;
    };
    phone_end.send(&message).await.expect("send");
    let phone_public = link_keys::phone_public();
    let result = session::pc_reconnect(
        Box::new(pc_end),
        link_keys::pc(),
        &phone_public,
        &PAIRING_SECRET,
    )
    .await;
    // §3.4: message 1 carries an empty map.
    if payload != [0xA0] {
        return check_refused(result, "pc_reconnect");
    }
    let session = result.expect("pc_reconnect refused a0");
    assert_eq!(session.peer_static(), &phone_public);
    let reply = phone_end.recv().await.expect("the PC's reply");
    let reply = phone.read_message(&reply).expect("the PC's reply reads");
    assert!(reply.is_empty(), "the PC's message 2 payload is not empty");
    check_channel(&session, &phone_end, phone, "pc_reconnect").await;
}

async fn phone_reconnect(payload: &[u8]) {
    let (phone_end, pc_end) = memory_pair();
    let pc_public = link_keys::pc_public();
    let phone = session::phone_reconnect(
        Box::new(phone_end),
        link_keys::phone(),
        &pc_public,
        &PAIRING_SECRET,
    );
    let pc = async {
        let mut pc = state(Pattern::KKpsk0, Role::Responder);
        let first = pc_end.recv().await.expect("message 1");
        let hello = pc.read_message(&first).expect("message 1 reads");
        assert_eq!(hello.expose(), [0xA0], "the phone's message 1 payload");
        let reply = pc.write_message(payload).expect("message 2");
        pc_end.send(&reply).await.expect("send");
        pc
    };
    let (result, pc) = tokio::join!(phone, pc);
    // §3.4: message 2 is empty.
    if !payload.is_empty() {
        return check_refused(result, "phone_reconnect");
    }
    let session = result.expect("phone_reconnect refused an empty message 2");
    check_channel(&session, &pc_end, pc, "phone_reconnect").await;
}

/// Seeds: valid messages 1 for the raw modes, valid and near-valid payloads for the session
/// modes.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let name_map =
        |key: i64, name: &str| cbor::encode(&Value::map([(Value::int(key), Value::from(name))]));
    let message_1 = |pattern: Pattern, payload: &[u8]| {
        let message = state(pattern, Role::Initiator)
            .write_message(payload)
            .expect("message 1");
        let read = state(pattern, Role::Responder).read_message(&message);
        assert!(read.is_ok(), "the responder refuses a seed");
        message
    };
    let secret_map = |name: Option<&str>| {
        let mut entries = vec![(Value::int(1), Value::Bytes(vec![0x66; 32]))];
        if let Some(n) = name {
            entries.push((Value::int(2), Value::from(n)));
        }
        cbor::encode(&Value::map(entries))
    };
    let long_name = "é".repeat(32);
    let too_long = format!("{long_name}x");
    let seeds: Vec<(&str, u8, Vec<u8>)> = vec![
        (
            "ik_message_1",
            0,
            message_1(Pattern::IKpsk1, &name_map(1, PHONE_NAME)),
        ),
        ("ik_message_1_a0", 0, message_1(Pattern::IKpsk1, &[0xA0])),
        ("kk_message_1", 1, message_1(Pattern::KKpsk0, &[0xA0])),
        ("pc_first_pairing_name", 2, name_map(1, PHONE_NAME)),
        ("pc_first_pairing_a0", 2, vec![0xA0]),
        ("pc_first_pairing_name_64", 2, name_map(1, &long_name)),
        ("pc_first_pairing_name_65", 2, name_map(1, &too_long)),
        ("pc_first_pairing_key_2", 2, name_map(2, PHONE_NAME)),
        ("phone_first_pairing", 3, secret_map(Some(PC_NAME))),
        ("phone_first_pairing_no_name", 3, secret_map(None)),
        (
            "phone_first_pairing_name_64",
            3,
            secret_map(Some(&long_name)),
        ),
        ("pc_reconnect", 4, vec![0xA0]),
        ("pc_reconnect_empty", 4, vec![]),
        ("phone_reconnect", 5, vec![]),
        ("phone_reconnect_a0", 5, vec![0xA0]),
        ("ik_message_2_junk", 6, vec![0x04; PUBLIC_KEY_LEN + TAG_LEN]),
        ("kk_message_2_junk", 7, vec![0x04; PUBLIC_KEY_LEN + TAG_LEN]),
    ];
    seeds
        .into_iter()
        .map(|(name, mode, rest)| (name.to_owned(), [&[mode][..], &rest].concat()))
        .collect()
}
