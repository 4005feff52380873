//! The README's main job: `virtual-phone demo` activates the phone at the emulated workspace
//! with a client PIN, registers a passkey with that PIN and signs in, each answer verified as a
//! relying party would. (Needs the workspace-server binary beside the virtual phone's.)
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
fn the_demo_activates_registers_with_the_pin_and_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = demo(dir.path());
    assert!(ok, "demo failed: {stderr}\n{stdout}");
    for n in 1..=15 {
        assert!(
            stdout.contains(&format!("[{n}] ")),
            "step {n} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("the administrator sees the key as pending"));
    assert!(stdout.contains("status active; the administrator sees the key as active"));
    assert!(stdout.contains("client PIN set: true"));
    assert!(stdout.contains("the PC's client got a PIN token from the phone with the emailed PIN"));
    assert!(stdout.contains("the relying party verified the packed attestation"));
    assert_eq!(
        stdout
            .matches("the relying party verified the signature")
            .count(),
        5,
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "phone: paired with \"Alice's laptop\"; the PC: paired with \"Alice's phone\""
        )
    );
    assert!(stdout.contains(
        "[12] signing in from the PC's browser: CTAPHID -> pairing tool -> relay -> phone"
    ));
    assert!(stdout.contains("no rp id, user name or credential id appears in the file"));
    assert!(stdout.contains("[15] done: activated with the client PIN"));
    assert!(stdout.contains("obr: registered crm.acme.example (1/1)"));
    assert!(
        stdout.contains("the admin's tool verified the phone's signed receipt: 1 crm.acme.example")
    );
    assert!(stdout.contains("the phone's audit trail lists 1 on-behalf registration(s)"));
    assert!(stdout.contains("phone: 1 registration(s), 1 receipt(s) posted to the workspace"));
    // The same folder again: the phone is already activated, and the demo says so.
    let (ok, _, stderr) = demo(dir.path());
    assert!(!ok);
    assert!(
        stderr.contains("already holds a phone activated for Acme Corp by an earlier run"),
        "{stderr}"
    );
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
