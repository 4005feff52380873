//! Hybrid benchmarks (criterion): what the phone's side of the hybrid handshake costs against
//! the bare elliptic-curve operations it cannot avoid, measured in the same run and process, so
//! that the target "the handshake costs at most 1.1x its elliptic-curve operations" is
//! judged on one machine state. Also the `Crypter`'s cost per getAssertion-sized message.
//!
//! Benches (group `hybrid`):
//! - `bare_p256_ecdh`: one Noise DH (peer point times our scalar, affine x), the calls
//!   `link::noise` makes.
//! - `bare_p256_keygen`: `link::noise::KeyPair::generate` (system randomness, one fixed-base
//!   multiplication, the affine encoding): the phone's ephemeral key.
//! - `bare_p256_decompress`: `p256::PublicKey::from_sec1_bytes` of the QR's 33-byte compressed
//!   identity key (a square root in the field, the on-curve check).
//! - `bare_p256_validate`: `link::noise::parse_public_key` of a 65-byte uncompressed key (the
//!   on-curve check of the browser's ephemeral key).
//! - `phone_respond`: `hybrid::handshake::respond` on a browser's first message, which
//!   decompresses the QR key, reads message 1 and writes the reply: the whole phone side of
//!   `Noise_KNpsk0_P256_AESGCM_SHA256` up to its `Crypter`.
//! - `crypter_request`, `crypter_response`: the browser's `Crypter::encrypt` and the phone's
//!   `decrypt` of a getAssertion request frame (142 bytes: allowList of one 64-byte credential
//!   id), and the phone's `encrypt` and the browser's `decrypt` of a getAssertion answer frame
//!   (205 bytes: credential, 37-byte authData, 72-byte signature).
//! - `symmetric_replica`: the handshake's non-ECC work redone with the same primitives (SHA-256,
//!   HKDF-SHA-256, AES-256-GCM) as KNpsk0's responder does it (see [`symmetric_replica`]), to
//!   show what the rest above the floor is made of.
//!
//! The ECC floor of the phone's side (KNpsk0 responder: `-> psk, e` then `<- e, ee, se`, the
//! initiator's static key a pre-message carried compressed in the QR code): 1 decompression of
//! the QR key, 1 validation of the browser's ephemeral key, 1 key generation, 2 DH (ee, se).
//! `respond` does two more validations than that floor (the decompressed identity is parsed
//! again by `HandshakeState::new_hybrid`, the ephemeral key once by `check_message` and once by
//! `read_message`); the report prints the ratio to the floor (the target) and to the ECC work
//! as implemented. After criterion: an interleaved check (bare operations and `respond`
//! alternating in rounds; the median of per-round ratios does not depend on the load staying
//! the same between criterion's benches, which on a shared 2-core machine it does not), whose
//! median ratio is the verdict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use authenticator_core::cbor::{self, Value};
use authenticator_core::hybrid::crypter::Crypter;
use authenticator_core::hybrid::frames::Frame;
use authenticator_core::hybrid::handshake::{
    BrowserHandshake, COMPRESSED_KEY_LEN, Responded, compressed_identity, respond,
};
use authenticator_core::hybrid::keys::PSK_LEN;
use authenticator_core::link::noise::{KeyPair, parse_public_key};
use criterion::Criterion;
use hkdf::Hkdf;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

mod fixture;
use fixture::{Samples, median, pattern};

const GROUP: &str = "hybrid";
const SAMPLE_SIZE: usize = 30;
/// The target for the handshake against its ECC floor.
const TARGET: f64 = 1.1;

const BARE_ECDH: &str = "bare_p256_ecdh";
const BARE_KEYGEN: &str = "bare_p256_keygen";
const BARE_DECOMPRESS: &str = "bare_p256_decompress";
const BARE_VALIDATE: &str = "bare_p256_validate";
const RESPOND: &str = "phone_respond";
const CRYPTER_REQUEST: &str = "crypter_request";
const CRYPTER_RESPONSE: &str = "crypter_response";
const SYMMETRIC: &str = "symmetric_replica";

/// The floor of the phone's side (module comment): 2 DH, 1 keygen, 1 decompression, 1
/// validation; `respond` validates 2 more times.
const FLOOR_DH: f64 = 2.0;
const FLOOR_VALIDATE: f64 = 1.0;
const EXTRA_VALIDATE: f64 = 2.0;

/// Noise DH with the calls `link::noise` makes.
fn ecdh(secret: &SecretKey, peer: &PublicKey) -> [u8; 32] {
    let scalar = secret.to_nonzero_scalar();
    let shared = (peer.to_projective() * scalar.as_ref()).to_affine();
    shared.x().into()
}

struct Fixture {
    /// The QR code's identity key, compressed, and the psk both sides derive.
    identity: [u8; COMPRESSED_KEY_LEN],
    psk: [u8; PSK_LEN],
    /// A browser's first handshake message for that identity and psk.
    message1: Vec<u8>,
    ecdh_secret: SecretKey,
    ecdh_peer: PublicKey,
    /// An uncompressed key to validate (the browser's ephemeral key of `message1`).
    uncompressed: Vec<u8>,
    request_frame: Vec<u8>,
    response_frame: Vec<u8>,
}

/// A getAssertion request as a browser sends it: rp id, client data hash, allowList of one
/// 64-byte credential id, no options.
fn get_assertion_frame() -> Vec<u8> {
    let mut request = vec![0x02];
    request.extend(cbor::encode(&Value::map([
        (Value::int(1), Value::from("hybrid.example")),
        (Value::int(2), Value::Bytes(pattern(5, 32))),
        (
            Value::int(3),
            Value::Array(vec![Value::map([
                (Value::from("id"), Value::Bytes(pattern(6, 64))),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ),
    ])));
    Frame::Ctap(request).encode()
}

/// A getAssertion answer of the same credential: status, credential, authData (37 bytes),
/// signature (72 bytes, a DER ECDSA signature's usual length).
fn get_assertion_answer_frame() -> Vec<u8> {
    let mut answer = vec![0x00];
    answer.extend(cbor::encode(&Value::map([
        (
            Value::int(1),
            Value::map([
                (Value::from("id"), Value::Bytes(pattern(6, 64))),
                (Value::from("type"), Value::from("public-key")),
            ]),
        ),
        (Value::int(2), Value::Bytes(pattern(7, 37))),
        (Value::int(3), Value::Bytes(pattern(8, 72))),
    ])));
    Frame::Ctap(answer).encode()
}

fn fixture() -> Fixture {
    let browser = KeyPair::generate().unwrap();
    let identity = compressed_identity(&browser);
    let psk: [u8; PSK_LEN] = pattern(3, PSK_LEN).try_into().unwrap();
    let (handshake, message1) = BrowserHandshake::start(&browser, &psk).unwrap();
    // The message is valid: the phone answers it and the browser accepts the answer.
    let Responded {
        reply,
        crypter: mut phone,
        ..
    } = respond(&identity, &psk, &message1).unwrap();
    let mut browser_crypter = handshake.finish(&reply).unwrap();
    let sealed = phone.encrypt(b"\x04").unwrap();
    assert_eq!(
        browser_crypter.decrypt(&sealed).unwrap().as_slice(),
        b"\x04"
    );
    let ecdh_secret = SecretKey::from_slice(&pattern(9, 32)).unwrap();
    let ecdh_peer = parse_public_key(&message1[..65]).unwrap();
    Fixture {
        identity,
        psk,
        uncompressed: message1[..65].to_vec(),
        message1,
        ecdh_secret,
        ecdh_peer,
        request_frame: get_assertion_frame(),
        response_frame: get_assertion_answer_frame(),
    }
}

/// A matched pair of crypters (browser, phone) from one handshake.
fn crypters(fx: &Fixture) -> (Crypter, Crypter) {
    let browser = KeyPair::from_scalar_bytes(&pattern(10, 32).try_into().unwrap()).unwrap();
    let identity = compressed_identity(&browser);
    let (handshake, message1) = BrowserHandshake::start(&browser, &fx.psk).unwrap();
    let Responded {
        reply,
        crypter: phone,
        ..
    } = respond(&identity, &fx.psk, &message1).unwrap();
    (handshake.finish(&reply).unwrap(), phone)
}

/// The responder's non-ECC work in `Noise_KNpsk0_P256_AESGCM_SHA256` (Noise rev 34 §5, §9),
/// redone with the same primitives on fixed inputs: hash the protocol name, MixHash(prologue),
/// MixHash(the initiator's static key); reading `psk, e`: MixKeyAndHash(psk) (HKDF, 3 outputs),
/// MixHash(e) and MixKey(e) (HKDF), DecryptAndHash of the empty payload (AES-GCM open of a tag,
/// MixHash); writing `e, ee, se`: MixHash(e), MixKey(e), MixKey(ee), MixKey(se) (3 HKDF),
/// EncryptAndHash of the empty payload; Split (HKDF) and the two AES keys of the `Crypter`.
/// Not the product's code: a measure of what the primitives cost in that order.
fn symmetric_replica(fx: &Fixture, dh: &[u8; 32]) -> [u8; 32] {
    let name = b"Noise_KNpsk0_P256_AESGCM_SHA256";
    let mut h = [0u8; 32];
    h[..name.len()].copy_from_slice(name);
    let mut ck = h;
    let mut k = [0u8; 32];
    let mix_hash = |h: &mut [u8; 32], data: &[u8]| {
        *h = Sha256::new()
            .chain_update(*h)
            .chain_update(data)
            .finalize()
            .into();
    };
    let mix_key = |ck: &mut [u8; 32], k: &mut [u8; 32], ikm: &[u8], outputs: usize| {
        let mut out = [0u8; 96];
        Hkdf::<Sha256>::new(Some(&ck[..]), ikm)
            .expand(&[], &mut out[..32 * outputs])
            .unwrap();
        ck.copy_from_slice(&out[..32]);
        let last = 32 * (outputs - 1);
        k.copy_from_slice(&out[last..last + 32]);
        // MixKeyAndHash's second output, which the caller hashes.
        <[u8; 32]>::try_from(&out[32..64]).unwrap()
    };
    let tag = |k: &[u8; 32], h: &[u8; 32]| {
        Aes256Gcm::new(&(*k).into())
            .encrypt(&[0u8; 12].into(), Payload { msg: &[], aad: h })
            .unwrap()
    };
    mix_hash(&mut h, &[0x01]);
    let identity = &fx.uncompressed;
    mix_hash(&mut h, identity);
    let psk_hash: [u8; 32] = mix_key(&mut ck, &mut k, &fx.psk, 3);
    mix_hash(&mut h, &psk_hash);
    let e = &fx.message1[..65];
    mix_hash(&mut h, e);
    let _: [u8; 32] = mix_key(&mut ck, &mut k, e, 2);
    let t = tag(&k, &h);
    mix_hash(&mut h, &t);
    mix_hash(&mut h, identity);
    let _: [u8; 32] = mix_key(&mut ck, &mut k, identity, 2);
    let _: [u8; 32] = mix_key(&mut ck, &mut k, dh, 2);
    let _: [u8; 32] = mix_key(&mut ck, &mut k, dh, 2);
    let t = tag(&k, &h);
    mix_hash(&mut h, &t);
    let _: [u8; 32] = mix_key(&mut ck, &mut k, &[], 2);
    let read = Aes256Gcm::new(&ck.into());
    let write = Aes256Gcm::new(&k.into());
    black_box((&read, &write));
    h
}

fn run_benches(c: &mut Criterion, fx: &Fixture, samples: &mut Samples) {
    let mut group = c.benchmark_group(GROUP);
    group
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let mut timed = |name: &'static str, f: &mut dyn FnMut()| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    f();
                }
                samples.record(name, iters, started.elapsed())
            })
        });
    };
    timed(BARE_ECDH, &mut || {
        black_box(ecdh(black_box(&fx.ecdh_secret), black_box(&fx.ecdh_peer)));
    });
    timed(BARE_KEYGEN, &mut || {
        black_box(KeyPair::generate().unwrap());
    });
    timed(BARE_DECOMPRESS, &mut || {
        black_box(PublicKey::from_sec1_bytes(black_box(&fx.identity)).unwrap());
    });
    timed(BARE_VALIDATE, &mut || {
        black_box(parse_public_key(black_box(&fx.uncompressed)).unwrap());
    });
    timed(RESPOND, &mut || {
        black_box(respond(black_box(&fx.identity), &fx.psk, black_box(&fx.message1)).unwrap());
    });
    let dh = pattern(11, 32).try_into().unwrap();
    timed(SYMMETRIC, &mut || {
        black_box(symmetric_replica(fx, black_box(&dh)));
    });
    let (mut browser, mut phone) = crypters(fx);
    timed(CRYPTER_REQUEST, &mut || {
        let sealed = browser.encrypt(black_box(&fx.request_frame)).unwrap();
        black_box(phone.decrypt(black_box(&sealed)).unwrap());
    });
    timed(CRYPTER_RESPONSE, &mut || {
        let sealed = phone.encrypt(black_box(&fx.response_frame)).unwrap();
        black_box(browser.decrypt(black_box(&sealed)).unwrap());
    });
    group.finish();
}

fn micros(seconds: f64) -> String {
    format!("{:.1} us", seconds * 1e6)
}

/// The ECC floor and the ECC work as `respond` does it, from per-operation times.
fn floors(dh: f64, keygen: f64, decompress: f64, validate: f64) -> (f64, f64) {
    let floor = FLOOR_DH * dh + keygen + decompress + FLOOR_VALIDATE * validate;
    (floor, floor + EXTRA_VALIDATE * validate)
}

fn report(samples: &Samples, fx: &Fixture) {
    println!();
    println!("== hybrid report (medians of this run's criterion samples) ==");
    for bench in [
        BARE_ECDH,
        BARE_KEYGEN,
        BARE_DECOMPRESS,
        BARE_VALIDATE,
        RESPOND,
        SYMMETRIC,
        CRYPTER_REQUEST,
        CRYPTER_RESPONSE,
    ] {
        match samples.median(bench) {
            Some(m) => println!("{GROUP}/{bench:<24} median {:>12}", micros(m)),
            None => println!("{GROUP}/{bench:<24} not run"),
        }
    }
    let medians = [
        BARE_ECDH,
        BARE_KEYGEN,
        BARE_DECOMPRESS,
        BARE_VALIDATE,
        RESPOND,
    ]
    .map(|bench| samples.median(bench));
    let [
        Some(dh),
        Some(keygen),
        Some(decompress),
        Some(validate),
        Some(respond),
    ] = medians
    else {
        println!("(a bare operation or respond was filtered out: no ratios)");
        return;
    };
    let (floor, implemented) = floors(dh, keygen, decompress, validate);
    println!(
        "ECC floor (2 ECDH + keygen + decompress + validate) = {} = {:.2}x bare ECDH",
        micros(floor),
        floor / dh
    );
    println!(
        "phone_respond / ECC floor = {:.3}x (rest {}), / ECC as implemented (+2 validations) \
         = {:.3}x, / bare ECDH = {:.2}x",
        respond / floor,
        micros(respond - floor),
        respond / implemented,
        respond / dh
    );
    if let Some(s) = samples.median(SYMMETRIC) {
        println!(
            "symmetric_replica = {} = {:.3}x the floor (SHA-256, HKDF, AES-GCM of the handshake)",
            micros(s),
            s / floor
        );
    }
    for (bench, frame) in [
        (CRYPTER_REQUEST, &fx.request_frame),
        (CRYPTER_RESPONSE, &fx.response_frame),
    ] {
        if let Some(m) = samples.median(bench) {
            println!(
                "{bench}: {}-byte frame ({} padded) sealed and opened in {} = {:.4}x the handshake",
                frame.len(),
                authenticator_core::hybrid::frames::pad(frame).len(),
                micros(m),
                m / respond
            );
        }
    }
}

/// Rounds that alternate the bare operations with `respond`; returns the median of the
/// per-round ratios to the floor (the verdict's figure).
fn interleaved(fx: &Fixture) -> f64 {
    const ROUNDS: usize = 31;
    const PER_ROUND: u32 = 40;
    let each = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..PER_ROUND {
            f();
        }
        started.elapsed().as_secs_f64() / f64::from(PER_ROUND)
    };
    let bare = || {
        let dh = each(&mut || {
            black_box(ecdh(black_box(&fx.ecdh_secret), black_box(&fx.ecdh_peer)));
        });
        let keygen = each(&mut || {
            black_box(KeyPair::generate().unwrap());
        });
        let decompress = each(&mut || {
            black_box(PublicKey::from_sec1_bytes(black_box(&fx.identity)).unwrap());
        });
        let validate = each(&mut || {
            black_box(parse_public_key(black_box(&fx.uncompressed)).unwrap());
        });
        floors(dh, keygen, decompress, validate)
    };
    let mut to_floor = Vec::with_capacity(ROUNDS);
    let mut to_implemented = Vec::with_capacity(ROUNDS);
    let mut rest = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let before = bare();
        let respond = each(&mut || {
            black_box(respond(black_box(&fx.identity), &fx.psk, black_box(&fx.message1)).unwrap());
        });
        let after = bare();
        let floor = (before.0 + after.0) / 2.0;
        let implemented = (before.1 + after.1) / 2.0;
        to_floor.push(respond / floor);
        to_implemented.push(respond / implemented);
        rest.push(respond - floor);
    }
    let ratio = median(&mut to_floor);
    let implemented = median(&mut to_implemented);
    let rest = median(&mut rest);
    println!();
    println!(
        "== interleaved check ({ROUNDS} rounds: the bare operations, {PER_ROUND} respond, the \
         bare operations again; medians of per-round figures) =="
    );
    println!(
        "phone_respond / ECC floor = {ratio:.3}x (rounds: min {:.3}x, max {:.3}x); rest above \
         the floor {}",
        to_floor[0],
        to_floor[ROUNDS - 1],
        micros(rest)
    );
    println!(
        "phone_respond / ECC as implemented (+2 validations) = {implemented:.3}x (rounds: min \
         {:.3}x, max {:.3}x)",
        to_implemented[0],
        to_implemented[ROUNDS - 1]
    );
    ratio
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let fx = fixture();
    let mut samples = Samples::new(SAMPLE_SIZE);
    run_benches(&mut criterion, &fx, &mut samples);
    criterion.final_summary();
    report(&samples, &fx);
    // `cargo test --benches` runs each bench once without `--bench`: no interleaved check.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let ratio = interleaved(&fx);
    println!(
        "target \"the handshake costs at most {TARGET}x its elliptic-curve operations\" \
         (interleaved median): {}",
        if ratio <= TARGET { "PASS" } else { "MISS" }
    );
}
