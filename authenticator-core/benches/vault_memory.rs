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

use authenticator_core::testkit::TestProtector;
use authenticator_core::vault::Vault;

mod fixture;
use fixture::{CREDENTIALS, build_vault};

const TARGET_KIB: u64 = 25 * 1024;
const CHILD_FLAG: &str = "--vault-memory-child";

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
            build_vault(&path);
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
