//! Tests of the hybrid handshake (`handshake.rs`) and of the KNpsk0/NKpsk0 patterns of
//! `link::noise`: against `snow` (a second Noise implementation, P-256) in both roles and
//! byte for byte with fixed ephemeral keys, our two sides against each other, and every bad
//! message the phone can be sent.
//!
//! Neither Chromium's `v2_handshake_unittest.cc` nor webauthn-rs's `cable/noise.rs` tests hold
//! a handshake vector with fixed keys (both run random handshakes and check the two sides
//! agree), so the byte-exact answers here come from `snow`; the transport's known answers from
//! webauthn-rs and a patched Chromium are in `crypter_tests.rs`.

use proptest::prelude::*;

use super::crypter::Crypter;
use super::frames::{pad, unpad};
use super::handshake::{
    BrowserHandshake, COMPRESSED_KEY_LEN, HandshakeError, MESSAGE_LEN, compressed_identity,
    Responded, decompress_identity, respond,
};
use crate::link::noise::{HandshakeState, HybridPattern, KeyPair, NoiseError, Role};

const KN: &str = "Noise_KNpsk0_P256_AESGCM_SHA256";
const NK: &str = "Noise_NKpsk0_P256_AESGCM_SHA256";
const PSK: [u8; 32] = [0x5a; 32];

fn key(byte: u8) -> KeyPair {
    KeyPair::from_scalar_bytes(&[byte; 32]).expect("valid scalar")
}

fn snow_builder(name: &str, prologue: &'static [u8], psk: &'static [u8; 32]) -> snow::Builder<'static> {
    snow::Builder::new(name.parse().expect("known pattern"))
        .prologue(prologue)
        .expect("prologue")
        .psk(0, psk)
        .expect("psk")
}

/// Leaks a value so snow's builder, which borrows its inputs, can be built in a helper.
fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// A snow browser (KNpsk0 initiator) with `identity`.
fn snow_browser(identity: &KeyPair, prologue: &'static [u8], psk: [u8; 32]) -> snow::HandshakeState {
    let scalar = leak(*identity.scalar_bytes());
    snow_builder(KN, prologue, leak(psk))
        .local_private_key(scalar)
        .expect("key")
        .build_initiator()
        .expect("initiator")
}

/// Our crypter and snow's transport agree both ways, several messages each, counters moving.
fn exchange(ours: &mut Crypter, theirs: &mut snow::TransportState) {
    let mut buf = vec![0u8; 4096];
    for round in 0..3u8 {
        let from_us = vec![round; 40 + usize::from(round)];
        let sealed = ours.encrypt(&from_us).expect("encrypt");
        let n = theirs.read_message(&sealed, &mut buf).expect("snow opens our message");
        assert_eq!(unpad(&buf[..n]).expect("padded"), from_us.as_slice());

        let from_them = vec![0xf0 | round; 7];
        let n = theirs
            .write_message(&pad(&from_them), &mut buf)
            .expect("snow seals");
        assert_eq!(ours.decrypt(&buf[..n]).expect("we open snow's").as_slice(), from_them);
    }
}

#[test]
fn phone_responds_to_snow_browser() {
    let identity = key(7);
    let mut browser = snow_browser(&identity, &[1], PSK);
    let mut buf = [0u8; 256];
    let n = browser.write_message(&[], &mut buf).expect("first message");
    assert_eq!(n, MESSAGE_LEN, "65-byte point and the empty payload's tag");

    let Responded { reply, crypter: mut phone, .. } = respond(&compressed_identity(&identity), &PSK, &buf[..n]).expect("respond");
    assert_eq!(reply.len(), MESSAGE_LEN);
    let mut payload = [0u8; 64];
    let len = browser.read_message(&reply, &mut payload).expect("snow reads the reply");
    assert_eq!(len, 0, "empty payload");
    let mut transport = browser.into_transport_mode().expect("transport");
    exchange(&mut phone, &mut transport);
}

#[test]
fn our_browser_against_snow_phone() {
    let identity = key(9);
    let (browser, first) = BrowserHandshake::start(&identity, &PSK).expect("start");
    assert_eq!(first.len(), MESSAGE_LEN);
    let uncompressed = leak(*identity.public_key());
    let mut phone = snow_builder(KN, &[1], &PSK)
        .remote_public_key(uncompressed)
        .expect("rs")
        .build_responder()
        .expect("responder");
    let mut buf = [0u8; 256];
    assert_eq!(phone.read_message(&first, &mut buf).expect("snow reads"), 0);
    let n = phone.write_message(&[], &mut buf).expect("reply");
    let mut ours = browser.finish(&buf[..n]).expect("finish");
    let mut transport = phone.into_transport_mode().expect("transport");
    exchange(&mut ours, &mut transport);
}

#[test]
fn our_two_sides_agree() {
    let identity = KeyPair::generate().expect("key");
    let (browser, first) = BrowserHandshake::start(&identity, &PSK).expect("start");
    let Responded { reply, crypter: mut phone, .. } = respond(&compressed_identity(&identity), &PSK, &first).expect("respond");
    let mut browser = browser.finish(&reply).expect("finish");
    let sealed = phone.encrypt(b"post-handshake").expect("encrypt");
    assert_eq!(browser.decrypt(&sealed).expect("decrypt").as_slice(), b"post-handshake");
    let sealed = browser.encrypt(b"request").expect("encrypt");
    assert_eq!(phone.decrypt(&sealed).expect("decrypt").as_slice(), b"request");
    // Each side writes with the key the other reads with, and not with the one it reads with.
    let own = phone.encrypt(b"x").expect("encrypt");
    assert_eq!(phone.decrypt(&own).err(), Some(super::crypter::CrypterError::Authentication));
}

#[test]
fn messages_match_snow_byte_for_byte_with_fixed_ephemerals() {
    // With every key fixed the handshake is deterministic: both messages and both traffic keys
    // must equal snow's, which pins the prologue, the psk position, MixKey(e), the DH order and
    // Split().
    let identity = key(3);
    let browser_e = key(4);
    let phone_e = key(5);
    let (_browser, our_first) =
        BrowserHandshake::start_with_ephemeral(&identity, key(4), &PSK).expect("start");
    let scalar = leak(*identity.scalar_bytes());
    let e_scalar = leak(*browser_e.scalar_bytes());
    let mut snow_init = snow_builder(KN, &[1], &PSK)
        .local_private_key(scalar)
        .expect("key")
        .fixed_ephemeral_key_for_testing_only(e_scalar)
        .build_initiator()
        .expect("initiator");
    let mut buf = [0u8; 256];
    let n = snow_init.write_message(&[], &mut buf).expect("first");
    assert_eq!(our_first, &buf[..n], "first message");

    let mut ours_resp = HandshakeState::new_hybrid(
        HybridPattern::KNpsk0,
        Role::Responder,
        None,
        Some(identity.public_key()),
        &PSK,
    )
    .expect("responder");
    ours_resp.inject_ephemeral(phone_e);
    assert!(ours_resp.read_message(&our_first).expect("read").is_empty());
    let our_reply = ours_resp.write_message(&[]).expect("reply");
    let (i2r, r2i) = ours_resp.split_keys();

    let uncompressed = leak(*identity.public_key());
    let pe_scalar = leak(*key(5).scalar_bytes());
    let mut snow_resp = snow_builder(KN, &[1], &PSK)
        .remote_public_key(uncompressed)
        .expect("rs")
        .fixed_ephemeral_key_for_testing_only(pe_scalar)
        .build_responder()
        .expect("responder");
    snow_resp.read_message(&our_first, &mut buf).expect("snow reads");
    let n = snow_resp.write_message(&[], &mut buf).expect("snow replies");
    assert_eq!(our_reply, &buf[..n], "reply");
    let (snow_i2r, snow_r2i) = snow_resp.dangerously_get_raw_split();
    assert_eq!((i2r, r2i), (snow_i2r, snow_r2i), "Split() keys in Noise's order");
    assert_eq!(
        ours_resp.into_transport_keys().expect("keys").handshake_hash.as_slice(),
        snow_resp.get_handshake_hash()
    );
}

#[test]
fn nkpsk0_interoperates_with_snow() {
    // NKpsk0 (linking, later): our browser-side initiator (no static key) against a snow phone
    // with a static key, prologue 0x00.
    let phone_static = key(11);
    let mut ours = HandshakeState::new_hybrid(
        HybridPattern::NKpsk0,
        Role::Initiator,
        None,
        Some(phone_static.public_key()),
        &PSK,
    )
    .expect("initiator");
    let first = ours.write_message(&[]).expect("first");
    assert_eq!(first.len(), MESSAGE_LEN);
    let scalar = leak(*phone_static.scalar_bytes());
    let mut snow_phone = snow_builder(NK, &[0], &PSK)
        .local_private_key(scalar)
        .expect("key")
        .build_responder()
        .expect("responder");
    let mut buf = [0u8; 256];
    snow_phone.read_message(&first, &mut buf).expect("snow reads");
    let n = snow_phone.write_message(&[], &mut buf).expect("reply");
    assert!(ours.read_message(&buf[..n]).expect("read").is_empty());
    let keys = ours.into_transport_keys().expect("keys");
    let (i2r, r2i) = snow_phone.dangerously_get_raw_split();
    assert_eq!((*keys.send, *keys.receive), (i2r, r2i));

    // And our responder (with the static key) against a snow initiator.
    let rs = leak(*phone_static.public_key());
    let mut snow_browser = snow_builder(NK, &[0], &PSK)
        .remote_public_key(rs)
        .expect("rs")
        .build_initiator()
        .expect("initiator");
    let n = snow_browser.write_message(&[], &mut buf).expect("first");
    let mut ours =
        HandshakeState::new_hybrid(HybridPattern::NKpsk0, Role::Responder, Some(key(11)), None, &PSK)
            .expect("responder");
    ours.read_message(&buf[..n]).expect("read");
    let reply = ours.write_message(&[]).expect("reply");
    snow_browser.read_message(&reply, &mut buf).expect("snow reads the reply");
    let keys = ours.into_transport_keys().expect("keys");
    let (i2r, r2i) = snow_browser.dangerously_get_raw_split();
    assert_eq!((*keys.receive, *keys.send), (i2r, r2i));
}

#[test]
fn patterns_refuse_static_keys_they_do_not_use() {
    // A KNpsk0 responder has no static key and needs the initiator's.
    assert_eq!(
        HandshakeState::new_hybrid(HybridPattern::KNpsk0, Role::Responder, Some(key(1)), Some(key(2).public_key()), &PSK).err(),
        Some(NoiseError::InvalidPrivateKey)
    );
    assert_eq!(
        HandshakeState::new_hybrid(HybridPattern::KNpsk0, Role::Responder, None, None, &PSK).err(),
        Some(NoiseError::InvalidPublicKey)
    );
    assert_eq!(
        HandshakeState::new_hybrid(HybridPattern::KNpsk0, Role::Initiator, Some(key(1)), Some(key(2).public_key()), &PSK).err(),
        Some(NoiseError::InvalidPublicKey)
    );
    assert_eq!(
        HandshakeState::new_hybrid(HybridPattern::NKpsk0, Role::Initiator, Some(key(1)), Some(key(2).public_key()), &PSK).err(),
        Some(NoiseError::InvalidPrivateKey)
    );
    assert_eq!(HybridPattern::KNpsk0.prologue(), &[1]);
    assert_eq!(HybridPattern::NKpsk0.prologue(), &[0]);
    assert_eq!(HybridPattern::KNpsk0.protocol_name().len(), 31, "zero-padded, not hashed");
}

fn first_message(identity: &KeyPair) -> Vec<u8> {
    BrowserHandshake::start(identity, &PSK).expect("start").1
}

/// One valid first message for identity `key(7)`, made once for the generated cases.
fn shared_first_message() -> &'static [u8] {
    static FIRST: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FIRST.get_or_init(|| first_message(&key(7)))
}

#[test]
fn other_prologue_or_psk_fails_authentication() {
    let identity = key(7);
    let compressed = compressed_identity(&identity);
    let mut buf = [0u8; 256];
    // Prologue 0x00 (the linked-device byte) with the QR pattern.
    let mut wrong_prologue = snow_browser(&identity, &[0], PSK);
    let n = wrong_prologue.write_message(&[], &mut buf).expect("first");
    assert_eq!(respond(&compressed, &PSK, &buf[..n]).err(), Some(HandshakeError::Authentication));
    // Another psk (another QR secret, or another advert's EID).
    let mut wrong_psk = snow_browser(&identity, &[1], [0x5b; 32]);
    let n = wrong_psk.write_message(&[], &mut buf).expect("first");
    assert_eq!(respond(&compressed, &PSK, &buf[..n]).err(), Some(HandshakeError::Authentication));
    // Control: the same snow browser with the right prologue and psk is answered.
    let mut right = snow_browser(&identity, &[1], PSK);
    let n = right.write_message(&[], &mut buf).expect("first");
    assert!(respond(&compressed, &PSK, &buf[..n]).is_ok());
}

#[test]
fn wrong_psk_wrong_identity_and_tampering_are_named() {
    let identity = key(7);
    let compressed = compressed_identity(&identity);
    let first = first_message(&identity);
    assert!(respond(&compressed, &PSK, &first).is_ok(), "control");

    assert_eq!(respond(&compressed, &[0; 32], &first).err(), Some(HandshakeError::Authentication));
    // The QR names another identity than the browser's: the identity is hashed first, so the
    // first message's tag already fails.
    let other = compressed_identity(&key(8));
    assert_eq!(respond(&other, &PSK, &first).err(), Some(HandshakeError::Authentication));

    let mut tampered_tag = first.clone();
    tampered_tag[MESSAGE_LEN - 1] ^= 1;
    assert_eq!(respond(&compressed, &PSK, &tampered_tag).err(), Some(HandshakeError::Authentication));
    // Another valid point in place of the browser's ephemeral key.
    let mut swapped_point = first.clone();
    swapped_point[..65].copy_from_slice(key(12).public_key());
    assert_eq!(respond(&compressed, &PSK, &swapped_point).err(), Some(HandshakeError::Authentication));
    let mut not_a_point = first.clone();
    not_a_point[64] ^= 1;
    assert_eq!(respond(&compressed, &PSK, &not_a_point).err(), Some(HandshakeError::InvalidEphemeralKey));
    let mut compressed_prefix = first.clone();
    compressed_prefix[0] = 0x02;
    assert_eq!(respond(&compressed, &PSK, &compressed_prefix).err(), Some(HandshakeError::InvalidEphemeralKey));

    assert_eq!(respond(&compressed, &PSK, &first[..80]).err(), Some(HandshakeError::WrongLength { actual: 80 }));
    assert_eq!(respond(&compressed, &PSK, &[]).err(), Some(HandshakeError::WrongLength { actual: 0 }));
    let mut with_payload = first.clone();
    with_payload.push(0);
    assert_eq!(respond(&compressed, &PSK, &with_payload).err(), Some(HandshakeError::WrongLength { actual: 82 }));

    let mut bad_identity = compressed;
    bad_identity[0] = 0x04;
    assert_eq!(respond(&bad_identity, &PSK, &first).err(), Some(HandshakeError::InvalidIdentityKey));
    // x = p - 1 + 1 is not a field element: not a point.
    let mut off_curve = [0xffu8; COMPRESSED_KEY_LEN];
    off_curve[0] = 0x02;
    assert_eq!(respond(&off_curve, &PSK, &first).err(), Some(HandshakeError::InvalidIdentityKey));
}

#[test]
fn browser_refuses_a_bad_reply() {
    let identity = key(7);
    let compressed = compressed_identity(&identity);
    let (browser, first) = BrowserHandshake::start(&identity, &PSK).expect("start");
    let Responded { mut reply, .. } = respond(&compressed, &PSK, &first).expect("respond");
    reply[70] ^= 0x80;
    assert_eq!(browser.finish(&reply).err(), Some(HandshakeError::Authentication));
    let (browser, _) = BrowserHandshake::start(&identity, &PSK).expect("start");
    assert_eq!(browser.finish(&[0; 81]).err(), Some(HandshakeError::InvalidEphemeralKey));
    let (browser, _) = BrowserHandshake::start(&identity, &PSK).expect("start");
    assert_eq!(browser.finish(&[4; 10]).err(), Some(HandshakeError::WrongLength { actual: 10 }));
}

#[test]
fn compressed_identity_round_trips() {
    for byte in 1..20u8 {
        let identity = key(byte);
        let compressed = compressed_identity(&identity);
        assert_eq!(&decompress_identity(&compressed).expect("point"), identity.public_key());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1200, ..ProptestConfig::default() })]

    /// Any change to a valid first message, and any random message, gets an error (no panic).
    #[test]
    fn malformed_first_messages_get_errors(
        index in 0..MESSAGE_LEN,
        flip in 1..=255u8,
        junk in proptest::collection::vec(any::<u8>(), 0..200),
        cut in 0..MESSAGE_LEN,
    ) {
        let compressed = compressed_identity(&key(7));
        let first = shared_first_message();
        let mut flipped = first.to_vec();
        flipped[index] ^= flip;
        prop_assert!(respond(&compressed, &PSK, &flipped).is_err());
        prop_assert_eq!(
            respond(&compressed, &PSK, &first[..cut]).err(),
            Some(HandshakeError::WrongLength { actual: cut })
        );
        prop_assert!(respond(&compressed, &PSK, &junk).is_err());
        let mut extended = first.to_vec();
        extended.extend_from_slice(&junk);
        prop_assert_eq!(respond(&compressed, &PSK, &extended).is_err(), !junk.is_empty());
    }
}
