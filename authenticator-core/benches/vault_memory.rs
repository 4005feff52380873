#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Peak resident memory of opening a vault of 10,000 credentials (target: <= 25 MB, 25,600 KiB).
//!
//! Plain `main` (harness = false). The parent re-executes this binary as child processes so
//! that each peak is a fresh process's own:
//! - `build DIR`: makes the 10,000-credential vault (same shape as the `vault` bench);
//! - `baseline`: does nothing, to show what the process itself costs;
//! - `open DIR`: opens the vault, runs one `for_rp` lookup, and reports.
//!
//! Each child prints its peak resident set (`VmHWM` in `/proc/self/status`, KiB; Linux only, no
//! unsafe code). The parent prints both peaks, their difference, and PASS/FAIL of the open
//! process's peak against the target. The vault uses the test kit's plain protector (the key
//! in the clear, no anchor), so no key store is loaded. Unknown arguments (cargo passes `--bench`) are ignored.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use authenticator_core::secret::SecretBytes;
use authenticator_core::testkit::TestProtector;
use authenticator_core::vault::{Credential, CredentialSecrets, Vault};

const CREDENTIALS: u64 = 10_000;
const RPS: u64 = 1_000;
const TARGET_KIB: u64 = 25 * 1024;
const CHILD_FLAG: &str = "--vault-memory-child";

/// A deterministic byte stream (splitmix64).
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

/// A real-sized passkey record for credential `i` (as in the `vault` bench).
fn record(i: u64) -> (Credential, CredentialSecrets) {
    let mut public_key = vec![0x04];
    public_key.extend_from_slice(&pattern(i ^ 0x5055_424B, 64));
    let credential = Credential {
        credential_id: credential_id(i),
        rp_id: format!("rp-{}.example", i % RPS),
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

/// A line of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn report_peak() {
    println!("peak_rss_kib={}", status_kib("VmHWM"));
}

fn child(mode: &str, dir: Option<&str>) {
    let path = dir.map(|d| Path::new(d).join("vault.db"));
    match (mode, path) {
        ("baseline", _) => report_peak(),
        ("build", Some(path)) => {
            let vault = Vault::open(&path, &TestProtector::plain().without_anchor()).unwrap();
            let credentials = vault.credentials();
            for i in 0..CREDENTIALS {
                let (credential, secrets) = record(i);
                credentials.insert(&credential, &secrets).unwrap();
            }
            assert_eq!(credentials.count().unwrap(), CREDENTIALS);
        }
        ("open", Some(path)) => {
            let vault = Vault::open(&path, &TestProtector::plain().without_anchor()).unwrap();
            let found = vault.credentials().for_rp("rp-7.example").unwrap();
            assert_eq!(found.len(), 10);
            report_peak();
            drop(vault);
        }
        _ => panic!("unknown child mode {mode}"),
    }
}

/// Runs this binary as a child in `mode` and returns its reported peak, if it reports one.
fn run_child(args: &[&str]) -> Option<u64> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .arg(CHILD_FLAG)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kib=")?.trim().parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == CHILD_FLAG) {
        let mode = args.get(at + 1).map(String::as_str).unwrap_or("");
        child(mode, args.get(at + 2).map(String::as_str));
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let started = Instant::now();
    run_child(&["build", dir_arg]);
    let file_kib = std::fs::metadata(dir.path().join("vault.db"))
        .map(|m| m.len() / 1024)
        .unwrap_or(0);
    println!(
        "vault_memory: built {CREDENTIALS} credentials in {:.1} s (file {file_kib} KiB)",
        started.elapsed().as_secs_f64()
    );

    let baseline = run_child(&["baseline"]).unwrap();
    let open = run_child(&["open", dir_arg]).unwrap();
    let verdict = if open <= TARGET_KIB { "PASS" } else { "FAIL" };
    println!("baseline process peak RSS: {baseline} KiB");
    println!("open 10,000 + for_rp peak RSS: {open} KiB");
    println!(
        "difference (open - baseline): {} KiB",
        open.saturating_sub(baseline)
    );
    println!("target: open process peak RSS <= {TARGET_KIB} KiB (25 MB): {verdict}");
}
