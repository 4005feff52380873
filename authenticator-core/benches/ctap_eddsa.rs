//! EdDSA (Ed25519) passkeys against the bare signature, in one run (issue 16).
//!
//! Setup: a vault in a tempdir with two non-discoverable passkeys on `bench.example`, both
//! registered through the engine's makeCredential: one Ed25519 (pubKeyCredParams [-8]) and one
//! ES256 ([-7]). The engine runs with `EngineConfig::default()` and a scripted user who approves
//! at once, on a tokio current-thread runtime, driven as a transport drives it (request bytes
//! in, response bytes out).
//!
//! Measured, interleaved in rounds so that load drifting over the run hits every line alike
//! (each round times `BATCH` iterations of each line in turn; the figure is the median over the
//! rounds of the per-iteration time, and a ratio is the median of the per-round ratios):
//! - `bare ed25519 sign`: `ed25519_dalek::SigningKey::sign` (key already loaded) of exactly what
//!   an assertion signs: authData from a real assertion (37 bytes) || clientDataHash (32);
//! - `getAssertion ed25519`: getAssertion with an allowList of the Ed25519 passkey, options
//!   {"up": true}: the vault read and unsealing, the counter (one flush per block of 128),
//!   loading the key (which derives its public key: `ctap/credential_key.rs`) and the signature;
//! - `bare p256 sign` and `getAssertion es256`: the same for ES256, for comparison;
//! - `ed25519 keygen` / `p256 keygen`: what makeCredential spends on a new key without the
//!   pool (32 random bytes and the public key), to decide whether Ed25519 needs a pool.
//!
//! Run: `cargo bench -p authenticator-core --bench ctap_eddsa` (prints, no targets enforced).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authenticator_core::cbor::{self, Value};
use authenticator_core::ctap::{CtapEngine, EngineConfig};
use authenticator_core::platform::SystemClock;
use authenticator_core::request::{Origin, RequestSignals};
use authenticator_core::secret::SecretBytes;
use authenticator_core::testkit::{ScriptedUser, TestProtector};
use authenticator_core::vault::Vault;
use ed25519_dalek::Signer as _;

const RP: &str = "bench.example";
const CDH: [u8; 32] = [0x5a; 32];
const ROUNDS: usize = 200;
const BATCH: u32 = 20;

struct Bench {
    runtime: tokio::runtime::Runtime,
    engine: CtapEngine,
    origin: Origin,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn call(&self, request: &[u8]) -> Vec<u8> {
        self.runtime.block_on(
            self.engine
                .handle(request, &RequestSignals::new(self.origin.clone())),
        )
    }

    fn register(&self, alg: i64) -> Vec<u8> {
        let t = Value::from;
        let params = Value::map([
            (Value::int(1), Value::from(CDH.to_vec())),
            (Value::int(2), Value::map([(t("id"), t(RP))])),
            (
                Value::int(3),
                Value::map([(t("id"), Value::from(vec![alg.unsigned_abs() as u8; 16]))]),
            ),
            (
                Value::int(4),
                Value::Array(vec![Value::map([
                    (t("alg"), Value::int(alg)),
                    (t("type"), t("public-key")),
                ])]),
            ),
        ]);
        let mut request = vec![0x01];
        cbor::encode_into(&params, &mut request);
        let response = self.call(&request);
        assert_eq!(response[0], 0, "makeCredential failed");
        let body = cbor::decode(&response[1..]).unwrap();
        let auth_data = member(&body, 2).as_bytes().unwrap();
        let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
        auth_data[55..55 + len].to_vec()
    }
}

fn member(value: &Value, key: i64) -> &Value {
    &value
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_int() == Some(key))
        .unwrap()
        .1
}

fn get_assertion_request(credential_id: &[u8]) -> Vec<u8> {
    let t = Value::from;
    let params = Value::map([
        (Value::int(1), t(RP)),
        (Value::int(2), Value::from(CDH.to_vec())),
        (
            Value::int(3),
            Value::Array(vec![Value::map([
                (t("id"), Value::from(credential_id.to_vec())),
                (t("type"), t("public-key")),
            ])]),
        ),
        (Value::int(5), Value::map([(t("up"), Value::Bool(true))])),
    ]);
    let mut request = vec![0x02];
    cbor::encode_into(&params, &mut request);
    request
}

fn per_iteration(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..BATCH {
        f();
    }
    start.elapsed() / BATCH
}

fn median_duration(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let vault =
        Arc::new(Vault::open(dir.path().join("vault.db"), &TestProtector::sealing()).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = runtime.block_on(async {
        CtapEngine::new(
            vault,
            Arc::new(authenticator_core::ctap::AlwaysServe),
            ScriptedUser::approving(),
            Arc::new(SystemClock),
            EngineConfig::default(),
        )
        .unwrap()
    });
    let bench = Bench {
        runtime,
        engine,
        origin: Origin::app(),
        _dir: dir,
    };
    let ed25519_id = bench.register(-8);
    let es256_id = bench.register(-7);
    let ed25519_request = get_assertion_request(&ed25519_id);
    let es256_request = get_assertion_request(&es256_id);

    // What an assertion signs, from a real one.
    let response = bench.call(&ed25519_request);
    assert_eq!(response[0], 0, "getAssertion failed");
    let body = cbor::decode(&response[1..]).unwrap();
    let mut message = member(&body, 2).as_bytes().unwrap().to_vec();
    message.extend_from_slice(&CDH);

    let seed: [u8; 32] = SecretBytes::random(32)
        .unwrap()
        .expose()
        .try_into()
        .unwrap();
    let ed_key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let p256_key = loop {
        if let Ok(key) =
            p256::ecdsa::SigningKey::from_slice(SecretBytes::random(32).unwrap().expose())
        {
            break key;
        }
    };

    let mut lines: [(&str, Vec<Duration>); 6] = Default::default();
    let names = [
        "bare ed25519 sign",
        "getAssertion ed25519",
        "bare p256 sign",
        "getAssertion es256",
        "ed25519 keygen",
        "p256 keygen",
    ];
    for (line, name) in lines.iter_mut().zip(names) {
        line.0 = name;
    }
    for _ in 0..ROUNDS {
        lines[0].1.push(per_iteration(|| {
            black_box(ed_key.sign(black_box(&message)));
        }));
        lines[1].1.push(per_iteration(|| {
            let r = bench.call(black_box(&ed25519_request));
            assert_eq!(r[0], 0);
        }));
        lines[2].1.push(per_iteration(|| {
            let s: p256::ecdsa::Signature =
                p256::ecdsa::signature::Signer::sign(&p256_key, black_box(&message));
            black_box(s);
        }));
        lines[3].1.push(per_iteration(|| {
            let r = bench.call(black_box(&es256_request));
            assert_eq!(r[0], 0);
        }));
        lines[4].1.push(per_iteration(|| {
            let seed = SecretBytes::random(32).unwrap();
            let key = ed25519_dalek::SigningKey::from_bytes(seed.expose().try_into().unwrap());
            black_box(key.verifying_key());
        }));
        lines[5].1.push(per_iteration(|| {
            let seed = SecretBytes::random(32).unwrap();
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(seed.expose()) {
                black_box(key.verifying_key());
            }
        }));
    }

    println!(
        "ctap_eddsa: {ROUNDS} interleaved rounds of {BATCH} iterations each; medians per iteration"
    );
    for (name, samples) in &lines {
        println!(
            "  {name:<24} {:>10.1} µs",
            median_duration(samples.clone()).as_secs_f64() * 1e6
        );
    }
    let ratio = |a: usize, b: usize| {
        median(
            lines[a]
                .1
                .iter()
                .zip(&lines[b].1)
                .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
                .collect(),
        )
    };
    println!(
        "  getAssertion ed25519 / bare ed25519 sign: {:.2}x (median of per-round ratios)",
        ratio(1, 0)
    );
    println!(
        "  getAssertion es256 / bare p256 sign:      {:.2}x",
        ratio(3, 2)
    );
    println!(
        "  getAssertion ed25519 / getAssertion es256: {:.2}x",
        ratio(1, 3)
    );
    println!(
        "  ed25519 keygen / p256 keygen:              {:.2}x",
        ratio(4, 5)
    );
}
