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
use std::path::PathBuf;
use std::time::{Duration, Instant};

use authenticator_core::testkit::TestProtector;
use authenticator_core::vault::Vault;
use criterion::{Criterion, criterion_group, criterion_main};

mod fixture;
use fixture::{CREDENTIALS, RPS, build_vault, credential_id, record};

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
