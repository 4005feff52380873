//! The README's main job: `virtual-phone demo` registers a passkey and signs in, each answer
//! verified as a relying party would, and a second run on the same data folder finds the first
//! run's passkey.
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
fn the_demo_registers_and_signs_in_and_keeps_its_passkey() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = demo(dir.path());
    assert!(ok, "demo failed: {stderr}\n{stdout}");
    for n in 1..=8 {
        assert!(
            stdout.contains(&format!("[{n}] ")),
            "step {n} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("the vault holds 0 passkey(s)"));
    assert!(stdout.contains("the relying party verified the packed attestation"));
    assert_eq!(
        stdout
            .matches("the relying party verified the signature")
            .count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("no rp id, user name or credential id appears in the file"));
    assert!(stdout.contains("[8] done: registration and sign-in verified end to end"));
    // The same phone again: the first run's passkey is still there.
    let (ok, stdout, stderr) = demo(dir.path());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("the vault holds 1 passkey(s)"), "{stdout}");
}

#[test]
fn a_corrupt_vault_is_reported_and_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vault.db"), vec![0x5a; 8192]).unwrap();
    let (ok, _, stderr) = demo(dir.path());
    assert!(!ok);
    assert!(
        stderr.contains(
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
