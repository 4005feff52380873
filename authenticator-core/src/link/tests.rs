//! Known-answer tests against proto/vectors (made by the independent Python generator) and
//! behaviour tests of the handshakes, the channel and the pairing code.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde_json::Value as Json;

use super::aead::{MAX_MESSAGE_LEN, nonce};
use super::channel::{MAX_PAYLOAD_LEN, pad, unpad};
use super::noise::PROLOGUE;
use super::qr::{MAX_CLOCK_SKEW_SECS, QR_VALIDITY_SECS, digits_decode, digits_encode};
use super::*;

const IK_JSON: &str = include_str!("../../../proto/vectors/noise_ikpsk1.json");
const KK_JSON: &str = include_str!("../../../proto/vectors/noise_kkpsk0.json");
const TRANSPORT_JSON: &str = include_str!("../../../proto/vectors/transport.json");
const LIVENESS_JSON: &str = include_str!("../../../proto/vectors/liveness.json");
const QR_JSON: &str = include_str!("../../../proto/vectors/qr.json");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn field(json: &Json, name: &str) -> Vec<u8> {
    hex(json[name].as_str().unwrap())
}

fn arr32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().unwrap()
}

fn key(json: &Json, name: &str) -> KeyPair {
    KeyPair::from_scalar_bytes(&arr32(&field(json, name))).unwrap()
}

/// Runs a vector's handshake with its fixed keys and checks every byte; with `ahead`, both
/// sides first do the work that needs nothing from the peer (`HandshakeState::precompute`).
fn check_handshake_vector(text: &str, pattern: Pattern, ahead: bool) -> Json {
    let v: Json = serde_json::from_str(text).unwrap();
    assert_eq!(v["protocol_name"], pattern.protocol_name());
    assert_eq!(field(&v, "prologue"), PROLOGUE);
    let psk = arr32(&field(&v, "psk"));
    let phone = key(&v, "initiator_static_private");
    let pc = key(&v, "responder_static_private");
    assert_eq!(
        phone.public_key().to_vec(),
        field(&v, "initiator_static_public")
    );
    assert_eq!(
        pc.public_key().to_vec(),
        field(&v, "responder_static_public")
    );
    let pc_public = *pc.public_key();
    let phone_public = *phone.public_key();

    let mut initiator =
        HandshakeState::new(pattern, Role::Initiator, phone, Some(&pc_public), &psk).unwrap();
    initiator.inject_ephemeral(key(&v, "initiator_ephemeral_private"));
    let responder_rs = (pattern == Pattern::KKpsk0).then_some(&phone_public[..]);
    let mut responder =
        HandshakeState::new(pattern, Role::Responder, pc, responder_rs, &psk).unwrap();
    responder.inject_ephemeral(key(&v, "responder_ephemeral_private"));
    if ahead {
        initiator.precompute().unwrap();
        responder.precompute().unwrap();
    }

    let messages = v["messages"].as_array().unwrap();
    let (m1, m2) = (&messages[0], &messages[1]);
    let msg1 = initiator.write_message(&field(m1, "payload")).unwrap();
    assert_eq!(msg1, field(m1, "message"));
    assert_eq!(
        responder.read_message(&msg1).unwrap().expose(),
        field(m1, "payload")
    );
    let msg2 = responder.write_message(&field(m2, "payload")).unwrap();
    assert_eq!(msg2, field(m2, "message"));
    assert_eq!(
        initiator.read_message(&msg2).unwrap().expose(),
        field(m2, "payload")
    );

    let (k1, k2) = initiator.split_keys();
    assert_eq!(k1.to_vec(), field(&v, "initiator_to_responder_key"));
    assert_eq!(k2.to_vec(), field(&v, "responder_to_initiator_key"));
    assert_eq!(responder.split_keys(), (k1, k2));

    let mut phone_side = initiator.into_outcome().unwrap();
    let mut pc_side = responder.into_outcome().unwrap();
    assert_eq!(
        phone_side.handshake_hash.to_vec(),
        field(&v, "handshake_hash")
    );
    assert_eq!(pc_side.handshake_hash, phone_side.handshake_hash);
    assert_eq!(pc_side.remote_static, phone_public);
    assert_eq!(phone_side.remote_static, pc_public);
    let frame = phone_side.channel.seal(MessageType::Ctap, b"ping").unwrap();
    assert_eq!(
        pc_side.channel.open(&frame).unwrap(),
        (MessageType::Ctap, b"ping".to_vec())
    );
    v
}

#[test]
fn ikpsk1_vector_is_reproduced() {
    let v = check_handshake_vector(IK_JSON, Pattern::IKpsk1, false);
    // The psk is the one the QR code's secret gives.
    let qr: Json = serde_json::from_str(QR_JSON).unwrap();
    assert_eq!(field(&v, "qr_secret"), field(&qr["pairing"], "qr_secret"));
    assert_eq!(field(&v, "psk"), field(&qr["pairing"], "psk"));
}

#[test]
fn kkpsk0_vector_is_reproduced() {
    check_handshake_vector(KK_JSON, Pattern::KKpsk0, false);
}

/// Work done ahead changes no byte of either handshake.
#[test]
fn vectors_are_reproduced_with_the_work_done_ahead() {
    check_handshake_vector(IK_JSON, Pattern::IKpsk1, true);
    check_handshake_vector(KK_JSON, Pattern::KKpsk0, true);
}

/// Issue 18: a KKpsk0 responder that precomputes while it waits for message 1 has only `es`
/// and `ee` (2 of its 4 DH) left once message 1 arrives, and the keys agree.
#[test]
fn precompute_leaves_only_the_dh_that_need_the_peers_ephemeral() {
    let phone = KeyPair::generate().unwrap();
    let pc = KeyPair::generate().unwrap();
    let (phone_public, pc_public) = (*phone.public_key(), *pc.public_key());
    let psk = [7u8; 32];
    let mut initiator =
        HandshakeState::new(Pattern::KKpsk0, Role::Initiator, phone, Some(&pc_public), &psk)
            .unwrap();
    let mut responder =
        HandshakeState::new(Pattern::KKpsk0, Role::Responder, pc, Some(&phone_public), &psk)
            .unwrap();
    responder.precompute().unwrap();
    assert_eq!(responder.dh_count(), 2, "se and ss");
    let msg1 = initiator.write_message(&[]).unwrap();
    let before = responder.dh_count();
    responder.read_message(&msg1).unwrap();
    let msg2 = responder.write_message(&[]).unwrap();
    assert_eq!(responder.dh_count() - before, 2, "es and ee after message 1");
    initiator.read_message(&msg2).unwrap();
    assert_eq!(initiator.split_keys(), responder.split_keys());
    // Precomputing twice or after the handshake does nothing more.
    responder.precompute().unwrap();
    assert_eq!(responder.dh_count(), 4);
}

#[test]
fn transport_vector_is_reproduced() {
    check_frames_vector(TRANSPORT_JSON);
}

/// §5.8: the acknowledgement is a keepalive "processing" from the phone, sealed like any frame.
#[test]
fn liveness_vector_is_reproduced() {
    check_frames_vector(LIVENESS_JSON);
    let v: Json = serde_json::from_str(LIVENESS_JSON).unwrap();
    let ack = &v["frames"][1];
    assert_eq!(ack["direction"], "initiator_to_responder");
    assert_eq!(ack["message_type"], u64::from(MessageType::Keepalive.to_byte()));
    assert_eq!(field(ack, "payload"), vec![1]);
}

fn check_frames_vector(json: &str) {
    let v: Json = serde_json::from_str(json).unwrap();
    let k1 = arr32(&field(&v, "initiator_to_responder_key"));
    let k2 = arr32(&field(&v, "responder_to_initiator_key"));
    let mut phone = SecureChannel::new(&k1, &k2);
    let mut pc = SecureChannel::new(&k2, &k1);
    for frame in v["frames"].as_array().unwrap() {
        let message_type =
            MessageType::from_byte(u8::try_from(frame["message_type"].as_u64().unwrap()).unwrap())
                .unwrap();
        let payload = field(frame, "payload");
        let padded = pad(message_type.to_byte(), &payload);
        assert_eq!(padded.to_vec(), field(frame, "padded_plaintext"));
        assert_eq!(
            unpad(&padded).unwrap(),
            (message_type.to_byte(), &payload[..])
        );
        let (sender, receiver) = match frame["direction"].as_str().unwrap() {
            "initiator_to_responder" => (&mut phone, &mut pc),
            _ => (&mut pc, &mut phone),
        };
        let sealed = sender.seal(message_type, &payload).unwrap();
        assert_eq!(sealed, field(frame, "frame"));
        assert_eq!(receiver.open(&sealed).unwrap(), (message_type, payload));
    }
}

#[test]
fn qr_vectors_are_reproduced() {
    let v: Json = serde_json::from_str(QR_JSON).unwrap();
    assert_eq!(v["scheme"], qr::QR_SCHEME);
    for case in v["digit_encoding"].as_array().unwrap() {
        let bytes = field(case, "bytes");
        let digits = case["digits"].as_str().unwrap();
        assert_eq!(digits_encode(&bytes), digits, "{}", case["comment"]);
        assert_eq!(digits_decode(digits).unwrap(), bytes, "{}", case["comment"]);
    }
    let p = &v["pairing"];
    let issued_at = p["issued_at"].as_u64().unwrap();
    let pc = key(p, "pc_static_private");
    let secret: [u8; 16] = field(p, "qr_secret").try_into().unwrap();
    let pairing =
        QrPairing::from_parts(pc.public_key(), secret, field(p, "routing"), issued_at).unwrap();
    assert_eq!(
        pairing.pc_static_compressed().to_vec(),
        field(p, "pc_static_public_compressed")
    );
    assert_eq!(pairing.to_cbor(), field(p, "cbor"));
    let uri = p["uri"].as_str().unwrap();
    assert_eq!(pairing.to_uri(), uri);
    assert_eq!(pairing.psk().to_vec(), field(p, "psk"));

    let parsed = QrPairing::parse(uri, issued_at + 5).unwrap();
    assert_eq!(parsed.pc_static_uncompressed(), *pc.public_key());
    assert_eq!(parsed.routing(), &field(p, "routing")[..]);
    assert_eq!(parsed.issued_at(), issued_at);
    assert_eq!(parsed.psk().to_vec(), field(p, "psk"));
    // Schemes are case-insensitive.
    let lower = uri.replacen(qr::QR_SCHEME, "passkeyphone", 1);
    assert!(QrPairing::parse(&lower, issued_at).is_ok());
}

/// Both handshakes between two Rust parties with random keys; returns the two channels.
fn pair(
    pattern: Pattern,
    psk_i: [u8; 32],
    psk_r: [u8; 32],
) -> Result<(SecureChannel, SecureChannel), NoiseError> {
    let phone = KeyPair::generate().unwrap();
    let pc = KeyPair::generate().unwrap();
    let (phone_public, pc_public) = (*phone.public_key(), *pc.public_key());
    let mut initiator =
        HandshakeState::new(pattern, Role::Initiator, phone, Some(&pc_public), &psk_i).unwrap();
    let rs = (pattern == Pattern::KKpsk0).then_some(&phone_public[..]);
    let mut responder = HandshakeState::new(pattern, Role::Responder, pc, rs, &psk_r).unwrap();
    let m1 = initiator.write_message(b"hello").unwrap();
    assert_eq!(responder.read_message(&m1)?.expose(), b"hello");
    let m2 = responder.write_message(b"").unwrap();
    assert!(initiator.read_message(&m2)?.is_empty());
    let a = initiator.into_outcome().unwrap();
    let b = responder.into_outcome().unwrap();
    assert_eq!(a.handshake_hash, b.handshake_hash);
    assert_eq!(b.remote_static, phone_public);
    Ok((a.channel, b.channel))
}

#[test]
fn random_handshakes_give_working_channels() {
    for pattern in [Pattern::IKpsk1, Pattern::KKpsk0] {
        let psk = [7u8; 32];
        let (mut phone, mut pc) = pair(pattern, psk, psk).unwrap();
        for i in 0..5u8 {
            let request = vec![i; usize::from(i) * 20];
            let frame = phone.seal(MessageType::Ctap, &request).unwrap();
            assert_eq!(pc.open(&frame).unwrap(), (MessageType::Ctap, request));
            let frame = pc.seal(MessageType::Keepalive, &[i]).unwrap();
            assert_eq!(
                phone.open(&frame).unwrap(),
                (MessageType::Keepalive, vec![i])
            );
        }
    }
}

#[test]
fn wrong_psk_fails_authentication() {
    for pattern in [Pattern::IKpsk1, Pattern::KKpsk0] {
        assert_eq!(
            pair(pattern, [1; 32], [2; 32]).err(),
            Some(NoiseError::Authentication),
            "{pattern:?}"
        );
    }
}

#[test]
fn wrong_static_keys_fail_authentication() {
    let psk = [3u8; 32];
    let phone = KeyPair::generate().unwrap();
    let pc = KeyPair::generate().unwrap();
    let impostor = KeyPair::generate().unwrap();

    // IK: the phone expects another PC key than the responder holds.
    let mut initiator = HandshakeState::new(
        Pattern::IKpsk1,
        Role::Initiator,
        KeyPair::generate().unwrap(),
        Some(impostor.public_key()),
        &psk,
    )
    .unwrap();
    let mut responder = HandshakeState::new(
        Pattern::IKpsk1,
        Role::Responder,
        KeyPair::from_scalar_bytes(&pc.scalar_bytes()).unwrap(),
        None,
        &psk,
    )
    .unwrap();
    let m1 = initiator.write_message(b"").unwrap();
    assert_eq!(
        responder.read_message(&m1).err(),
        Some(NoiseError::Authentication)
    );
    // A failed handshake stays failed.
    assert_eq!(responder.read_message(&m1).err(), Some(NoiseError::Failed));
    assert_eq!(responder.write_message(b"").err(), Some(NoiseError::Failed));
    assert!(responder.into_outcome().is_err());

    // KK: the PC expects another phone than the one that connects.
    let mut initiator = HandshakeState::new(
        Pattern::KKpsk0,
        Role::Initiator,
        KeyPair::from_scalar_bytes(&phone.scalar_bytes()).unwrap(),
        Some(pc.public_key()),
        &psk,
    )
    .unwrap();
    let mut responder = HandshakeState::new(
        Pattern::KKpsk0,
        Role::Responder,
        pc,
        Some(impostor.public_key()),
        &psk,
    )
    .unwrap();
    let m1 = initiator.write_message(b"").unwrap();
    assert_eq!(
        responder.read_message(&m1).err(),
        Some(NoiseError::Authentication)
    );
}

#[test]
fn handshake_refuses_bad_calls_and_messages() {
    let psk = [0u8; 32];
    let pc = KeyPair::generate().unwrap();
    let pc_scalar = pc.scalar_bytes();
    assert_eq!(
        KeyPair::from_scalar_bytes(&[0; 32]).err(),
        Some(NoiseError::InvalidPrivateKey)
    );
    assert_eq!(
        KeyPair::from_scalar_bytes(&[0xff; 32]).err(),
        Some(NoiseError::InvalidPrivateKey)
    );
    let pc_public = *pc.public_key();
    // An IK responder must not be given a remote key, an initiator must.
    assert!(
        HandshakeState::new(
            Pattern::IKpsk1,
            Role::Responder,
            KeyPair::generate().unwrap(),
            Some(&pc_public),
            &psk
        )
        .is_err()
    );
    assert!(
        HandshakeState::new(
            Pattern::KKpsk0,
            Role::Initiator,
            KeyPair::generate().unwrap(),
            None,
            &psk
        )
        .is_err()
    );
    // Not a valid point.
    let mut bad = pc_public;
    bad[64] ^= 1;
    assert_eq!(
        HandshakeState::new(
            Pattern::IKpsk1,
            Role::Initiator,
            KeyPair::generate().unwrap(),
            Some(&bad),
            &psk
        )
        .err(),
        Some(NoiseError::InvalidPublicKey)
    );

    let mut responder =
        HandshakeState::new(Pattern::IKpsk1, Role::Responder, pc, None, &psk).unwrap();
    assert_eq!(
        responder.write_message(b"").err(),
        Some(NoiseError::OutOfOrder)
    );
    let mut initiator = HandshakeState::new(
        Pattern::IKpsk1,
        Role::Initiator,
        KeyPair::generate().unwrap(),
        Some(&pc_public),
        &psk,
    )
    .unwrap();
    assert_eq!(
        initiator.read_message(&[0; 200]).err(),
        Some(NoiseError::OutOfOrder)
    );
    let m1 = initiator.write_message(b"").unwrap();
    assert_eq!(m1.len(), 65 + 81 + 16);
    // Truncated, and an ephemeral that is not on the curve.
    let fresh = || {
        HandshakeState::new(
            Pattern::IKpsk1,
            Role::Responder,
            KeyPair::from_scalar_bytes(&pc_scalar).unwrap(),
            None,
            &psk,
        )
        .unwrap()
    };
    assert!(fresh().read_message(&m1).is_ok());
    assert_eq!(
        fresh().read_message(&m1[..m1.len() - 1]).err(),
        Some(NoiseError::InvalidLength)
    );
    let mut extended = m1.clone();
    extended.push(0);
    assert_eq!(
        fresh().read_message(&extended).err(),
        Some(NoiseError::Authentication)
    );
    assert_eq!(
        fresh().read_message(&m1[..100]).err(),
        Some(NoiseError::InvalidLength)
    );
    let mut off_curve = m1.clone();
    off_curve[64] ^= 1;
    assert_eq!(
        fresh().read_message(&off_curve).err(),
        Some(NoiseError::InvalidPublicKey)
    );
    assert_eq!(
        fresh().read_message(&[]).err(),
        Some(NoiseError::InvalidLength)
    );
}

fn channels() -> (SecureChannel, SecureChannel) {
    (
        SecureChannel::new(&[1; 32], &[2; 32]),
        SecureChannel::new(&[2; 32], &[1; 32]),
    )
}

fn assert_poisoned(channel: &mut SecureChannel, peer: &mut SecureChannel) {
    assert!(channel.is_poisoned());
    let good = peer.seal(MessageType::Ctap, b"x").unwrap();
    assert_eq!(channel.open(&good).err(), Some(ChannelError::Poisoned));
    assert_eq!(
        channel.seal(MessageType::Ctap, b"x").err(),
        Some(ChannelError::Poisoned)
    );
}

#[test]
fn replayed_frame_poisons_the_channel() {
    let (mut a, mut b) = channels();
    let frame = a.seal(MessageType::Ctap, b"one").unwrap();
    b.open(&frame).unwrap();
    assert_eq!(b.open(&frame).err(), Some(ChannelError::Authentication));
    assert_poisoned(&mut b, &mut a);
}

#[test]
fn reordered_or_lost_frame_poisons_the_channel() {
    let (mut a, mut b) = channels();
    let first = a.seal(MessageType::Ctap, b"one").unwrap();
    let second = a.seal(MessageType::Ctap, b"two").unwrap();
    assert_eq!(b.open(&second).err(), Some(ChannelError::Authentication));
    assert_eq!(b.open(&first).err(), Some(ChannelError::Poisoned));
}

#[test]
fn corrupted_frames_poison_the_channel() {
    let (mut a, _) = channels();
    let frame = a.seal(MessageType::Cancel, b"").unwrap();
    for i in [0, frame.len() / 2, frame.len() - 1] {
        let (_, mut b) = channels();
        let mut flipped = frame.clone();
        flipped[i] ^= 0x01;
        assert_eq!(b.open(&flipped).err(), Some(ChannelError::Authentication));
        assert!(b.is_poisoned());
    }
    for bad in [&frame[..frame.len() - 1], &[][..], &frame[..16]] {
        let (_, mut b) = channels();
        assert_eq!(b.open(bad).err(), Some(ChannelError::Authentication));
    }
    // The untouched frame still opens on a fresh channel.
    let (_, mut b) = channels();
    assert_eq!(b.open(&frame).unwrap(), (MessageType::Cancel, vec![]));
}

/// Encrypts a hand-made plaintext as frame 0 under key [1; 32].
fn raw_frame(plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(&[1u8; 32].into())
        .encrypt(
            &Nonce::from(nonce(0)),
            Payload {
                msg: plaintext,
                aad: &[],
            },
        )
        .unwrap()
}

#[test]
fn authentic_but_malformed_frames_are_refused() {
    let mut reserved = pad(1, b"hi").to_vec();
    reserved[0] = 7;
    let (_, mut b) = channels();
    assert_eq!(
        b.open(&raw_frame(&reserved)).err(),
        Some(ChannelError::UnknownMessageType(7))
    );
    assert!(b.is_poisoned());

    let mut plaintexts = Vec::new();
    let mut p = vec![1u8; 32];
    p[31] = 32; // padding length not below 32
    plaintexts.push(p);
    let mut p = pad(1, b"hi").to_vec();
    p[5] = 9; // nonzero padding byte
    plaintexts.push(p);
    let mut p = vec![0u8; 32];
    p[31] = 31; // no room for the type byte
    plaintexts.push(p);
    for plaintext in plaintexts {
        let (_, mut b) = channels();
        assert_eq!(
            b.open(&raw_frame(&plaintext)).err(),
            Some(ChannelError::Padding)
        );
        assert!(b.is_poisoned());
    }
}

#[test]
fn padding_boundaries() {
    // type byte + payload + length byte, rounded up to 32.
    for (payload_len, padded_len) in [
        (0, 32),
        (1, 32),
        (30, 32),
        (31, 64),
        (32, 64),
        (33, 64),
        (62, 64),
        (63, 96),
    ] {
        let payload = vec![0xa5; payload_len];
        let padded = pad(1, &payload);
        assert_eq!(padded.len(), padded_len, "payload {payload_len}");
        assert_eq!(unpad(&padded).unwrap(), (1, &payload[..]));
        let (mut a, mut b) = channels();
        let frame = a.seal(MessageType::Ctap, &payload).unwrap();
        assert_eq!(frame.len(), padded_len + 16);
        assert_eq!(b.open(&frame).unwrap(), (MessageType::Ctap, payload));
    }
    let (mut a, mut b) = channels();
    let big = vec![7u8; MAX_PAYLOAD_LEN];
    let frame = a.seal(MessageType::Ctap, &big).unwrap();
    assert!(frame.len() <= MAX_MESSAGE_LEN);
    assert_eq!(b.open(&frame).unwrap().1, big);
    assert_eq!(
        a.seal(MessageType::Ctap, &[0; MAX_PAYLOAD_LEN + 1]).err(),
        Some(ChannelError::PayloadTooLong)
    );
    assert!(!a.is_poisoned());
}

fn vector_pairing() -> (String, u64) {
    let v: Json = serde_json::from_str(QR_JSON).unwrap();
    (
        v["pairing"]["uri"].as_str().unwrap().to_owned(),
        v["pairing"]["issued_at"].as_u64().unwrap(),
    )
}

#[test]
fn qr_time_window() {
    let (uri, t) = vector_pairing();
    let late = t + QR_VALIDITY_SECS + MAX_CLOCK_SKEW_SECS;
    assert!(QrPairing::parse(&uri, late).is_ok());
    assert_eq!(
        QrPairing::parse(&uri, late + 1).err(),
        Some(QrError::Expired)
    );
    assert!(QrPairing::parse(&uri, t - MAX_CLOCK_SKEW_SECS).is_ok());
    assert_eq!(
        QrPairing::parse(&uri, t - MAX_CLOCK_SKEW_SECS - 1).err(),
        Some(QrError::NotYetValid)
    );
}

#[test]
fn qr_refuses_malformed_codes() {
    let (uri, t) = vector_pairing();
    let digits = uri.split_once(":/").unwrap().1.to_owned();
    assert_eq!(
        QrPairing::parse(&format!("FIDO:/{digits}"), t).err(),
        Some(QrError::WrongScheme)
    );
    assert_eq!(
        QrPairing::parse(&digits, t).err(),
        Some(QrError::WrongScheme)
    );
    assert_eq!(
        QrPairing::parse(&format!("{uri}1"), t).err(),
        Some(QrError::BadDigits)
    );
    assert_eq!(
        QrPairing::parse(&format!("{uri}x"), t).err(),
        Some(QrError::BadDigits)
    );
    // A 17-digit chunk above 2^56 - 1, and a 3-digit chunk above 255.
    assert_eq!(
        digits_decode("99999999999999999").err(),
        Some(QrError::BadDigits)
    );
    assert_eq!(digits_decode("256").err(), Some(QrError::BadDigits));
    assert_eq!(digits_decode("1234").err(), Some(QrError::BadDigits));

    let secret = [5u8; 16];
    let pc = KeyPair::generate().unwrap();
    let good = QrPairing::from_parts(pc.public_key(), secret, vec![1, 2], t).unwrap();
    let cbor = good.to_cbor();
    let with = |bytes: &[u8]| format!("PASSKEYPHONE:/{}", digits_encode(bytes));
    assert!(QrPairing::parse(&with(&cbor), t).is_ok());
    // An extra key 5.
    let mut extra = cbor.clone();
    extra[0] = 0xa5;
    extra.extend_from_slice(&[0x05, 0x00]);
    assert_eq!(
        QrPairing::parse(&with(&extra), t).err(),
        Some(QrError::BadContent)
    );
    // Trailing bytes after the map.
    let mut trailing = cbor.clone();
    trailing.push(0);
    assert_eq!(
        QrPairing::parse(&with(&trailing), t).err(),
        Some(QrError::BadContent)
    );
    // A key that is not on the curve: flip the x-coordinate until decompression fails.
    let mut bad_key = cbor.clone();
    let found = (0..=255u8).any(|delta| {
        bad_key[4 + 32] = cbor[4 + 32].wrapping_add(delta);
        QrPairing::parse(&with(&bad_key), t).err() == Some(QrError::BadKey)
    });
    assert!(found);
    // Routing info must not be empty.
    assert!(QrPairing::from_parts(pc.public_key(), secret, vec![], t).is_err());
}

#[test]
fn qr_code_drives_a_first_pairing() {
    // The PC makes a code; the phone scans it and runs IKpsk1 with its psk.
    let pc = KeyPair::generate().unwrap();
    let now = 1_800_000_000;
    let code = QrPairing::generate(pc.public_key(), b"relay.example/t/1".to_vec(), now).unwrap();
    let uri = code.to_uri();
    let scanned = QrPairing::parse(&uri, now + 10).unwrap();
    let psk = scanned.psk();
    let mut phone = HandshakeState::new(
        Pattern::IKpsk1,
        Role::Initiator,
        KeyPair::generate().unwrap(),
        Some(&scanned.pc_static_uncompressed()),
        &psk,
    )
    .unwrap();
    let mut tool =
        HandshakeState::new(Pattern::IKpsk1, Role::Responder, pc, None, &code.psk()).unwrap();
    let m1 = phone.write_message(&[0xa0]).unwrap();
    tool.read_message(&m1).unwrap();
    let m2 = tool.write_message(&[0xa0]).unwrap();
    phone.read_message(&m2).unwrap();
    assert!(phone.is_finished() && tool.is_finished());
}
