//! Tests of `linking.rs` and `handshake::respond_linked`: the update frame, its signature, the
//! link-secret derivations and the client payload against known answers computed
//! independently (`linking_vectors.py`, Python `cryptography`: ECDH, HMAC, HKDF, AES), and the
//! NKpsk0 responder against `snow`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use zeroize::Zeroizing;

use super::handshake::{self, HandshakeError, Responded, compressed_identity};
use super::keys::Eid;
use super::linking::*;
use super::session::Operation;
use crate::link::noise::KeyPair;

fn unhex(text: &str) -> Vec<u8> {
    crate::hex::decode(text).unwrap()
}

fn key(byte: u8) -> KeyPair {
    KeyPair::from_scalar_bytes(&[byte; 32]).unwrap()
}

// From linking_vectors.py.
const BROWSER_COMPRESSED: &str = "03d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf3";
const IDENTITY_PUBLIC: &str = "040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed194a7debcb97712d2dda3ca85aa8765a56f45fc758599652f2897c65306e5794";
const SIGNATURE: &str = "90fca389c85a143f6854a67b9e9daae4e39f10c208b1a30441043ee4030474e3";
const UPDATE_FRAME: &str = "02a101a60150c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c002481d1d1d1d1d1d1d1d0358205e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e045841040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed194a7debcb97712d2dda3ca85aa8765a56f45fc758599652f2897c65306e57940565506978656c06582090fca389c85a143f6854a67b9e9daae4e39f10c208b1a30441043ee4030474e3";
const ADVERT: &str = "5edd22c002e108ca6ec121bff69f9ee446ae6bf6";
const PSK: &str = "1d0d50bfb7e439f276a188f8a41e441f216d82e36b3b6445b4f202b24fde3790";
const CLIENT_PAYLOAD: &str = "a301481d1d1d1d1d1d1d1d0250a0a1a2a3a4a5a6a7a8a9aaabacadaeaf03626761";

fn hash() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

#[test]
fn the_update_frame_and_its_signature_match_an_independent_computation() {
    let identity = key(0x11);
    let browser: [u8; 33] = unhex(BROWSER_COMPRESSED).try_into().unwrap();
    assert_eq!(compressed_identity(&key(0x22)), browser);
    assert_eq!(identity.public_key().to_vec(), unhex(IDENTITY_PUBLIC));

    let signature = handshake_signature(&identity, &browser, &hash()).unwrap();
    assert_eq!(signature.to_vec(), unhex(SIGNATURE));

    let info = LinkingInfo {
        contact_id: vec![0xC0; 16],
        link_id: [0x1D; 8],
        link_secret: Zeroizing::new([0x5E; 32]),
        identity_public: *identity.public_key(),
        name: "Pixel".into(),
        signature,
    };
    assert_eq!(info.update_frame().to_vec(), unhex(UPDATE_FRAME));
}

#[test]
fn the_signature_binds_the_handshake_and_both_keys() {
    let identity = key(0x11);
    let browser = compressed_identity(&key(0x22));
    let good = handshake_signature(&identity, &browser, &hash()).unwrap();
    let mut other_hash = hash();
    other_hash[0] ^= 1;
    assert_ne!(handshake_signature(&identity, &browser, &other_hash).unwrap(), good);
    assert_ne!(
        handshake_signature(&identity, &compressed_identity(&key(0x23)), &hash()).unwrap(),
        good
    );
    assert_ne!(handshake_signature(&key(0x12), &browser, &hash()).unwrap(), good);
    let mut off_curve = browser;
    off_curve[1..].fill(0xff);
    assert_eq!(
        handshake_signature(&identity, &off_curve, &hash()).unwrap_err(),
        LinkError::BrowserKey
    );
}

#[test]
fn the_link_secret_derives_the_advert_and_psk_of_an_independent_computation() {
    let secret = LinkSecret::new(Zeroizing::new([0x5E; 32]));
    let nonce: [u8; 16] = std::array::from_fn(|i| 0xA0 + i as u8);
    let eid = Eid {
        nonce: [0x33; 10],
        routing_id: [0; 3],
        tunnel_server_id: 0,
    };
    assert_eq!(secret.encrypt_advert(&nonce, &eid).to_vec(), unhex(ADVERT));
    assert_eq!(secret.psk(&eid).to_vec(), unhex(PSK));
    assert_eq!(secret.decrypt_advert(&nonce, &unhex(ADVERT)).unwrap(), eid);
    // Another nonce (another reconnect) reads nothing.
    let mut other = nonce;
    other[0] ^= 1;
    assert!(secret.decrypt_advert(&other, &unhex(ADVERT)).is_err());
}

#[test]
fn the_client_payload_reads_pxps_bytes_and_refuses_each_malformed_one_by_name() {
    let expected = ClientPayload {
        link_id: [0x1D; 8],
        client_nonce: std::array::from_fn(|i| 0xA0 + i as u8),
        hint: Operation::GetAssertion,
    };
    assert_eq!(ClientPayload::from_hex(CLIENT_PAYLOAD.as_bytes()).unwrap(), expected);
    assert_eq!(
        ClientPayload::from_hex(CLIENT_PAYLOAD.to_uppercase().as_bytes()).unwrap(),
        expected
    );
    assert_eq!(expected.to_hex(), CLIENT_PAYLOAD);
    let mc = ClientPayload {
        hint: Operation::MakeCredential,
        ..expected.clone()
    };
    assert_eq!(ClientPayload::from_hex(mc.to_hex().as_bytes()).unwrap(), mc);

    let err = |text: &str| ClientPayload::from_hex(text.as_bytes()).unwrap_err().to_string();
    assert_eq!(err("zz"), "the client payload is not hex");
    assert_eq!(err("a30"), "the client payload is not hex");
    // Link id of 7 bytes.
    assert_eq!(
        err("a301471d1d1d1d1d1d1d0250a0a1a2a3a4a5a6a7a8a9aaabacadaeaf03626761"),
        "the client payload's link id is not 8 bytes"
    );
    // Nonce of 15 bytes.
    assert_eq!(
        err("a301481d1d1d1d1d1d1d1d024fa0a1a2a3a4a5a6a7a8a9aaabacadae03626761"),
        "the client payload's nonce is not 16 bytes"
    );
    // Hint "xx".
    assert_eq!(
        err("a301481d1d1d1d1d1d1d1d0250a0a1a2a3a4a5a6a7a8a9aaabacadaeaf03627878"),
        "the client payload's hint is neither \"ga\" nor \"mc\""
    );
    // No hint.
    assert_eq!(
        err("a201481d1d1d1d1d1d1d1d0250a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"),
        "the client payload is not a CBOR map of the expected shape: required parameter 3 is missing"
    );
    assert!(err("01").starts_with("the client payload is not a CBOR map of the expected shape"));
}

#[test]
fn the_linked_responder_interoperates_with_snow_and_returns_its_handshake_hash() {
    let identity = key(0x11);
    let psk = [0x42u8; 32];
    let public: &'static [u8; 65] = Box::leak(Box::new(*identity.public_key()));
    let psk_static: &'static [u8; 32] = Box::leak(Box::new(psk));
    let mut browser = snow::Builder::new("Noise_NKpsk0_P256_AESGCM_SHA256".parse().unwrap())
        .prologue(&[0])
        .unwrap()
        .psk(0, psk_static)
        .unwrap()
        .remote_public_key(public)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = browser.write_message(&[], &mut buf).unwrap();
    let first = buf[..n].to_vec();
    let Responded {
        reply,
        handshake_hash,
        ..
    } = handshake::respond_linked(&identity, &psk, &first).unwrap();
    browser.read_message(&reply, &mut buf).unwrap();
    assert_eq!(browser.get_handshake_hash(), &handshake_hash[..]);

    // A browser with another link secret (another psk), or that took another identity key.
    assert!(matches!(
        handshake::respond_linked(&identity, &[0x43; 32], &first),
        Err(HandshakeError::Authentication)
    ));
    assert!(matches!(
        handshake::respond_linked(&key(0x12), &psk, &first),
        Err(HandshakeError::Authentication)
    ));
    assert!(matches!(
        handshake::respond_linked(&identity, &psk, &first[..80]),
        Err(HandshakeError::WrongLength { actual: 80 })
    ));
}
