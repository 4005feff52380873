#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Vault benchmarks (criterion; read the medians from `target/criterion/*/new/estimates.json`).
//!
//! A vault of 10,000 credentials spread over 1,000 rp ids (`rp-{i % 1000}.example`, so ten per
//! rp), each with real-sized fields, is built once through the public API and reused:
//! - `insert_credential`: one more credential into that vault (fresh ids; a durable commit each).
//! - `lookup_rp_among_10000`: `for_rp("rp-7.example")`, ten credentials.          Target <= 100 us.
//! - `get_credential_by_id`, `secrets_by_id`: one credential by its id.
//! - `open_10000`: `Vault::open` of the existing file, no other connection open.  Target <= 30 ms.
//!
//! "Without the protector's own cost": the vault is made and opened with the test kit's
//! `TestProtector::plain().without_anchor()` (BENCH ONLY: the vault key in the clear, no
//! anchor), so `open_10000` measures the vault and not a key file or an AES key wrap. Closing
//! the vault is not timed.
//! Peak memory of the open is measured by the `vault_memory` bench.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use authenticator_core::secret::SecretBytes;
use authenticator_core::testkit::TestProtector;
use authenticator_core::vault::{Credential, CredentialSecrets, Vault};
use criterion::{Criterion, criterion_group, criterion_main};

const CREDENTIALS: u64 = 10_000;
const RPS: u64 = 1_000;

/// A deterministic byte stream (splitmix64) so that ids can be recomputed from `i`.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Credential id of credential `i`: 16..=32 bytes, unique (starts with `i`).
fn credential_id(i: u64) -> Vec<u8> {
    let len = 16 + usize::try_from(i % 17).unwrap();
    let mut id = i.to_le_bytes().to_vec();
    id.extend_from_slice(&pattern(i, len - 8));
    id
}

fn rp_id(i: u64) -> String {
    format!("rp-{}.example", i % RPS)
}

/// A real-sized passkey record for credential `i`.
fn record(i: u64) -> (Credential, CredentialSecrets) {
    let mut public_key = vec![0x04];
    public_key.extend_from_slice(&pattern(i ^ 0x5055_424B, 64));
    let credential = Credential {
        credential_id: credential_id(i),
        rp_id: rp_id(i),
        rp_name: Some(format!("Example Relying Party {}", i % RPS)),
        user_id: pattern(i ^ 0x5553_4552, 32),
        user_name: Some(format!("user{i}@example.com")),
        user_display_name: Some(format!("Example User Number {i}")),
        algorithm: -7,
        public_key,
        discoverable: true,
        cred_protect: 2,
        cred_blob: None,
        created_at: 1_700_000_000 + i,
        label: None,
        sign_count: 0,
    };
    let secrets = CredentialSecrets {
        private_key: SecretBytes::new(pattern(i ^ 0x5052_4956, 32)),
        cred_random_with_uv: Some(SecretBytes::new(pattern(i ^ 0x4352_5731, 32))),
        cred_random_without_uv: Some(SecretBytes::new(pattern(i ^ 0x4352_5730, 32))),
    };
    (credential, secrets)
}

/// Builds the 10,000-credential vault at `path` through the public API.
fn build_vault(path: &Path) {
    let vault = Vault::open(path, &TestProtector::plain().without_anchor()).unwrap();
    let credentials = vault.credentials();
    for i in 0..CREDENTIALS {
        let (credential, secrets) = record(i);
        credentials.insert(&credential, &secrets).unwrap();
    }
    assert_eq!(credentials.count().unwrap(), CREDENTIALS);
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let started = Instant::now();
    build_vault(&path);
    eprintln!(
        "setup: built a vault of {CREDENTIALS} credentials over {RPS} rp ids in {:.1} s ({} KiB)",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path)
            .map(|m| m.len() / 1024)
            .unwrap_or(0),
    );
    Fixture { _dir: dir, path }
}

fn vault_benches(c: &mut Criterion) {
    let fx = fixture();

    // Reads, on the pristine 10k vault.
    {
        let vault = Vault::open(&fx.path, &TestProtector::plain().without_anchor()).unwrap();
        let credentials = vault.credentials();
        assert_eq!(credentials.for_rp("rp-7.example").unwrap().len(), 10);
        let id = credential_id(4_242);
        assert!(credentials.get(&id).unwrap().is_some());

        c.bench_function("lookup_rp_among_10000", |b| {
            b.iter(|| credentials.for_rp(black_box("rp-7.example")).unwrap())
        });
        c.bench_function("get_credential_by_id", |b| {
            b.iter(|| credentials.get(black_box(&id)).unwrap())
        });
        c.bench_function("secrets_by_id", |b| {
            b.iter(|| credentials.secrets(black_box(&id)).unwrap())
        });
    }

    // Open, with no other connection to the file; only `Vault::open` is timed, not the close.
    {
        let mut group = c.benchmark_group("open");
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(8));
        group.bench_function("open_10000", |b| {
            let protector = TestProtector::plain().without_anchor();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let vault = Vault::open(black_box(&fx.path), &protector).unwrap();
                    total += started.elapsed();
                    drop(black_box(vault));
                }
                total
            })
        });
        group.finish();
    }

    // Insert last: it grows the vault (by a few thousand credentials at most).
    {
        let vault = Vault::open(&fx.path, &TestProtector::plain().without_anchor()).unwrap();
        let credentials = vault.credentials();
        let mut next = 1_000_000_000u64;
        let mut group = c.benchmark_group("insert");
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(8));
        group.bench_function("insert_credential", |b| {
            b.iter_batched(
                || {
                    next += 1;
                    record(next)
                },
                |(credential, secrets)| credentials.insert(&credential, &secrets).unwrap(),
                criterion::BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = vault_benches
}
criterion_main!(benches);
