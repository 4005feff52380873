//! The README's main job: `virtual-phone demo` runs every step and exits 0, and a second run on
//! the same data folder finds the first run's passkeys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn demo(data_dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_virtual-phone"))
        .args(["--data-dir"])
        .arg(data_dir)
        .arg("demo")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_demo_runs_every_step_and_keeps_its_passkeys() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = demo(dir.path());
    assert!(ok, "demo failed: {stderr}\n{stdout}");
    for n in 1..=6 {
        assert!(
            stdout.contains(&format!("[{n}] ")),
            "step {n} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("the vault holds 0 passkey(s)"));
    assert!(stdout.contains("no rp id or user name appears in the file"));
    assert!(stdout.contains("all 3 passkeys and private keys came back intact"));
    let (ok, stdout, _) = demo(dir.path());
    assert!(ok);
    assert!(stdout.contains("the vault holds 3 passkey(s)"), "{stdout}");
}

#[test]
fn a_corrupt_vault_is_reported_and_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vault.db"), vec![0x5a; 8192]).unwrap();
    let (ok, _, stderr) = demo(dir.path());
    assert!(!ok);
    assert!(
        stderr.starts_with(
            "virtual-phone: the vault file is corrupt (not a SQLite database); it was moved aside to "
        ),
        "{stderr}"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("vault.db.unreadable-")),
        "{names:?}"
    );
}
