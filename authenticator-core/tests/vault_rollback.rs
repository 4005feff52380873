//! A file-level attacker against the vault (issue 13, item 6): someone who can write the app's
//! files (a backup restore, a file-system bug) but cannot use the platform key edits a real
//! vault file with the `sqlite3` shell: puts back an old PIN-state row (spent PIN retries come
//! back), an old credential row (its sign counter back), deletes or cuts the audit log, deletes
//! the always-UV setting or the OBR replay list, puts a suspended enrollment back to active, or
//! brings back a paired computer the user removed, or restores the whole file from a copy. Each is refused by `Authenticator::open` with
//! `VaultUnreadable` naming the cause, the file is left byte for byte as it was, and once the
//! right row is back the vault opens with everything in it; the credential row cannot make a
//! counter go back. (Needs the `sqlite3` command: `tests/setup.sh` installs it.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use authenticator_core::api::{Authenticator, AuthenticatorError, default_options};
use authenticator_core::cbor::{self, Value};
use authenticator_core::obr::SeenGrants;
use authenticator_core::platform::SoftwareKeyProtector;
use authenticator_core::secret::SecretBytes;
use authenticator_core::testkit::ScriptedUser;
use authenticator_core::vault::{PairingRecord, PairingSecrets, Setting, Vault};
use authenticator_core::workspace::state::{self, KeyStatus};

fn open_phone(dir: &Path) -> Result<Arc<Authenticator>, AuthenticatorError> {
    Authenticator::open(
        dir.to_string_lossy().into_owned(),
        Arc::new(SoftwareKeyProtector::new(dir.join("device.key"))),
        ScriptedUser::approving(),
        None,
        default_options("test phone".into()),
    )
}

fn db(dir: &Path) -> PathBuf {
    dir.join("vault.db")
}

/// Runs `sql` on the closed vault file with the SQLite shell and returns what it printed.
fn sqlite(dir: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .args(["-batch", "-bail"])
        .arg(db(dir))
        .arg(sql)
        .output()
        .expect("the sqlite3 shell is needed (tests/setup.sh installs it)");
    assert!(
        out.status.success(),
        "sqlite3 failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The bytes of every file of the vault and of the anchor, to show that a refusal changed none.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // SQLite's shared-memory index is rebuilt by every reader; it holds no data.
            !name.ends_with("-shm")
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

/// Opening is refused as an unreadable vault whose reason names `cause`, and no file changed.
fn refused(dir: &Path, cause: &str) -> String {
    let before = files(dir);
    let reason = match open_phone(dir) {
        Err(AuthenticatorError::VaultUnreadable { reason }) => reason,
        Err(other) => panic!("expected VaultUnreadable naming {cause}, got {other:?}"),
        Ok(_) => panic!("the tampered vault opened (expected a refusal naming {cause})"),
    };
    assert!(
        reason.contains(cause),
        "the error does not name {cause}: {reason}"
    );
    assert!(
        reason.contains("left as it is for recovery"),
        "the error does not say the file was kept: {reason}"
    );
    assert!(files(dir) == before, "a refused open changed the files");
    reason
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// getAssertion (CTAP 2.1 §6.2) for `rp` with user presence; returns the signature counter.
fn sign_in(phone: &Authenticator, rp: &str) -> u32 {
    let mut request = vec![0x02];
    request.extend(cbor::encode(&Value::map([
        (Value::int(1), Value::from(rp)),
        (Value::int(2), Value::Bytes(vec![2; 32])),
    ])));
    let answer = runtime().block_on(phone.handle_ctap(request));
    assert_eq!(answer[0], 0, "getAssertion failed: {:#04x}", answer[0]);
    let body = cbor::decode(&answer[1..]).unwrap();
    let auth_data = body
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_int() == Some(2))
        .and_then(|(_, v)| v.as_bytes())
        .unwrap()
        .to_vec();
    // authData: rpIdHash (32) || flags (1) || signCount (4, big endian).
    u32::from_be_bytes(auth_data[33..37].try_into().unwrap())
}

fn register(phone: &Authenticator, rp: &str) {
    let answer = runtime().block_on(phone.handle_ctap(common::obr::make_credential(rp)));
    assert_eq!(answer[0], 0, "makeCredential failed: {:#04x}", answer[0]);
}

#[test]
fn an_old_pin_state_row_put_back_is_refused_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let phone = open_phone(dir).unwrap();
    phone.set_pin("1234".into()).unwrap();
    register(&phone, "example.com");
    drop(phone);
    let full_retries = sqlite(dir, "SELECT hex(state) FROM pin_state");

    // Three wrong PINs spend three retries.
    let phone = open_phone(dir).unwrap();
    for left in [7, 6, 5] {
        match phone.change_pin("9999".into(), "5678".into()) {
            Err(AuthenticatorError::PinInvalid { attempts_left, .. }) => {
                assert_eq!(attempts_left, left)
            }
            other => panic!("expected PinInvalid, got {other:?}"),
        }
    }
    drop(phone);
    let spent = sqlite(dir, "SELECT hex(state) FROM pin_state");

    // The attacker puts the row from before the guesses back: refused, not 8 retries again.
    sqlite(
        dir,
        &format!("UPDATE pin_state SET state = X'{full_retries}' WHERE id = 1"),
    );
    refused(dir, "PIN state");
    // Deleting the row (back to "no PIN") is refused too.
    sqlite(dir, "DELETE FROM pin_state");
    refused(dir, "PIN state (PIN retry counters) was deleted");

    // With the true row back everything is there: 5 retries and the passkey.
    sqlite(
        dir,
        &format!("INSERT INTO pin_state (id, state) VALUES (1, X'{spent}')"),
    );
    let phone = open_phone(dir).unwrap();
    assert_eq!(phone.pin_status().unwrap().retries_left, 5);
    assert_eq!(phone.passkeys().unwrap().len(), 1);
}

#[test]
fn a_credential_row_put_back_cannot_make_the_counter_go_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let phone = open_phone(dir).unwrap();
    register(&phone, "example.com");
    let first = sign_in(&phone, "example.com");
    drop(phone);
    let old_row = sqlite(
        dir,
        "SELECT hex(metadata) || '|' || sign_count FROM credentials",
    );
    let (old_metadata, old_count) = old_row.split_once('|').unwrap();

    // A restart (a new counter block) and another sign-in.
    let phone = open_phone(dir).unwrap();
    let second = sign_in(&phone, "example.com");
    assert!(second > first);
    drop(phone);

    // The attacker puts the old row back, with its lower counter mark.
    sqlite(
        dir,
        &format!("UPDATE credentials SET metadata = X'{old_metadata}', sign_count = {old_count}"),
    );
    let phone = open_phone(dir).unwrap();
    let third = sign_in(&phone, "example.com");
    assert!(
        third > second,
        "the counter went back or repeated after the row was put back: {first}, {second}, {third}"
    );
    assert_eq!(phone.passkeys().unwrap().len(), 1);
}

/// A vault in `dir` with three audit entries, closed.
fn vault_with_audit(dir: &Path) {
    let vault = Vault::open(db(dir), &SoftwareKeyProtector::new(dir.join("device.key"))).unwrap();
    for (i, rp) in ["a.example", "b.example", "c.example"].iter().enumerate() {
        let details = [("rp_id".to_owned(), (*rp).to_owned())].into();
        vault
            .audit()
            .append(1_800_000_000 + i as u64, "obr.registration", details)
            .unwrap();
    }
}

#[test]
fn a_deleted_audit_entry_or_a_cut_log_is_refused_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    vault_with_audit(dir);
    let row = |seq: u32| {
        sqlite(
            dir,
            &format!(
                "SELECT recorded_at || ', X''' || hex(entry) || '''' FROM audit_log WHERE seq = {seq}"
            ),
        )
    };
    let (second, third) = (row(2), row(3));

    sqlite(dir, "DELETE FROM audit_log WHERE seq = 2");
    refused(dir, "audit log has entries deleted");
    sqlite(
        dir,
        &format!("INSERT INTO audit_log (seq, recorded_at, entry) VALUES (2, {second})"),
    );

    sqlite(dir, "DELETE FROM audit_log WHERE seq = 3");
    refused(dir, "audit log was cut");
    sqlite(
        dir,
        &format!("INSERT INTO audit_log (seq, recorded_at, entry) VALUES (3, {third})"),
    );

    // Renumbering to hide a deleted entry breaks the sealed entries themselves; editing a
    // plain timestamp breaks the chain.
    sqlite(dir, "UPDATE audit_log SET recorded_at = 1 WHERE seq = 1");
    let phone = open_phone(dir).unwrap();
    match phone.audit_log() {
        Err(AuthenticatorError::VaultUnreadable { reason }) => {
            assert!(reason.contains("audit log has an entry edited"), "{reason}")
        }
        other => panic!("an edited audit entry was read: ok={}", other.is_ok()),
    }
    drop(phone);
    sqlite(
        dir,
        "UPDATE audit_log SET recorded_at = 1800000000 WHERE seq = 1",
    );

    let phone = open_phone(dir).unwrap();
    let log = phone.audit_log().unwrap();
    assert_eq!(log.len(), 3, "every entry is still there");
}

/// An activated phone's vault with always-UV on and an OBR replay list, closed.
fn activated_with_settings() -> tempfile::TempDir {
    let (tmp, vault, _) = common::obr::activated_vault();
    vault.settings().set(Setting::AlwaysUv, &true).unwrap();
    vault
        .settings()
        .set(Setting::ObrSeenGrants, &SeenGrants::default())
        .unwrap();
    drop(vault);
    tmp
}

#[test]
fn deleting_always_uv_or_the_obr_replay_list_is_refused_and_nothing_is_lost() {
    let tmp = activated_with_settings();
    let dir = tmp.path();
    for name in ["ctap.always_uv", "obr.seen_grants"] {
        let value = sqlite(
            dir,
            &format!("SELECT hex(value) FROM settings WHERE name = '{name}'"),
        );
        sqlite(dir, &format!("DELETE FROM settings WHERE name = '{name}'"));
        refused(dir, &format!("setting \"{name}\" was deleted"));
        sqlite(
            dir,
            &format!("INSERT INTO settings (name, value) VALUES ('{name}', X'{value}')"),
        );
        let phone = open_phone(dir).unwrap();
        assert!(phone.enrollment().unwrap().is_some());
    }
}

#[test]
fn a_suspended_enrollment_put_back_to_active_or_deleted_is_refused() {
    let (tmp, vault, _) = common::obr::activated_vault();
    let dir = tmp.path().to_path_buf();
    let active = sqlite(
        &dir,
        "SELECT hex(value) FROM settings WHERE name = 'enroll.state'",
    );
    let mut enrollment = state::load(&vault).unwrap().unwrap();
    enrollment.status = KeyStatus::Suspended;
    state::store(&vault, &enrollment).unwrap();
    drop(vault);
    let suspended = sqlite(
        &dir,
        "SELECT hex(value) FROM settings WHERE name = 'enroll.state'",
    );

    sqlite(
        &dir,
        &format!("UPDATE settings SET value = X'{active}' WHERE name = 'enroll.state'"),
    );
    refused(
        &dir,
        "setting \"enroll.state\" was replaced by an older or foreign copy",
    );
    sqlite(&dir, "DELETE FROM settings WHERE name = 'enroll.state'");
    refused(&dir, "setting \"enroll.state\" was deleted");

    sqlite(
        &dir,
        &format!("INSERT INTO settings (name, value) VALUES ('enroll.state', X'{suspended}')"),
    );
    let phone = open_phone(&dir).unwrap();
    assert_eq!(
        phone.enrollment().unwrap().unwrap().status,
        authenticator_core::api::KeyState::Suspended
    );
}

#[test]
fn a_whole_vault_file_restored_from_a_copy_is_refused_by_the_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let phone = open_phone(dir).unwrap();
    phone.set_pin("1234".into()).unwrap();
    register(&phone, "example.com");
    drop(phone);
    let copy = std::fs::read(db(dir)).unwrap();

    let phone = open_phone(dir).unwrap();
    for _ in 0..3 {
        assert!(phone.change_pin("9999".into(), "5678".into()).is_err());
    }
    drop(phone);
    let current = std::fs::read(db(dir)).unwrap();

    // The old file comes back whole (head and all), the anchor beside the key stays.
    std::fs::write(db(dir), &copy).unwrap();
    let reason = refused(dir, "rolled back to an older copy");
    assert!(reason.contains("generation"), "{reason}");

    std::fs::write(db(dir), &current).unwrap();
    let phone = open_phone(dir).unwrap();
    assert_eq!(phone.pin_status().unwrap().retries_left, 5);
    assert_eq!(phone.passkeys().unwrap().len(), 1);
}

#[test]
fn a_removed_paired_computer_put_back_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vault = Vault::open(db(dir), &SoftwareKeyProtector::new(dir.join("device.key"))).unwrap();
    let record = PairingRecord {
        pairing_id: vec![9; 16],
        name: "Stolen laptop".into(),
        peer_public_key: vec![4; 65],
        routing_id: vec![1; 8],
        created_at: 1_800_000_000,
        last_used_at: 1_800_000_000,
    };
    let secrets = PairingSecrets {
        own_static_private_key: SecretBytes::new(vec![5; 32]),
        pairing_secret: SecretBytes::new(vec![6; 32]),
    };
    vault.pairings().insert(&record, &secrets).unwrap();
    let row = sqlite(
        dir,
        "SELECT 'X''' || hex(pairing_id) || ''', ' || created_at || ', ' || last_used_at || \
         ', X''' || hex(metadata) || ''', X''' || hex(secrets) || '''' FROM pairings",
    );
    // The user removes the stolen PC.
    assert!(vault.pairings().remove(&record.pairing_id).unwrap());
    drop(vault);

    sqlite(
        dir,
        &format!(
            "INSERT INTO pairings (pairing_id, created_at, last_used_at, metadata, secrets) \
             VALUES ({row})"
        ),
    );
    refused(dir, "paired computer record was added from outside the app");
    sqlite(dir, "DELETE FROM pairings");
    let phone = open_phone(dir).unwrap();
    assert!(phone.paired_computers().unwrap().is_empty());
}

#[test]
fn a_row_put_back_while_the_app_runs_is_refused_on_its_next_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let phone = open_phone(dir).unwrap();
    phone.set_pin("1234".into()).unwrap();
    let full_retries = sqlite(dir, "SELECT hex(state) FROM pin_state");
    assert!(phone.change_pin("9999".into(), "5678".into()).is_err());
    // Another process with file access writes while the app keeps the vault open.
    sqlite(
        dir,
        &format!("UPDATE pin_state SET state = X'{full_retries}' WHERE id = 1"),
    );
    match phone.pin_status() {
        Err(AuthenticatorError::VaultUnreadable { reason }) => {
            assert!(reason.contains("PIN state"), "{reason}")
        }
        other => panic!("the old PIN state was read: {other:?}"),
    }
    // And no PIN attempt is served from it.
    assert!(matches!(
        phone.change_pin("1234".into(), "5678".into()),
        Err(AuthenticatorError::VaultUnreadable { .. })
    ));
}

#[test]
fn a_vault_of_the_v1_code_gets_its_state_head_when_it_is_migrated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault-v1");
    std::fs::copy(fixture.join("vault.db"), db(dir)).unwrap();
    std::fs::copy(fixture.join("device.key"), dir.join("device.key")).unwrap();
    // The migration seals a head over what the file holds; the phone reads it all back.
    let phone = open_phone(dir).unwrap();
    assert_eq!(phone.pin_status().unwrap().retries_left, 6);
    assert_eq!(phone.passkeys().unwrap().len(), 1);
    drop(phone);
    // From then on the rows are bound: the v1 vault's always-UV setting cannot be deleted.
    let value = sqlite(
        dir,
        "SELECT hex(value) FROM settings WHERE name = 'always_uv'",
    );
    sqlite(dir, "DELETE FROM settings WHERE name = 'always_uv'");
    refused(dir, "setting \"always_uv\" was deleted");
    sqlite(
        dir,
        &format!("INSERT INTO settings (name, value) VALUES ('always_uv', X'{value}')"),
    );
    // And the migrated passkey keeps its counter mark from the v1 code.
    let phone = open_phone(dir).unwrap();
    assert_eq!(phone.passkeys().unwrap()[0].sign_count, 41);
}

/// A key store whose anchor moves on while this process opens the vault: another process
/// writes the vault (the file first, then the anchor) between this open's read of the file
/// and its read of the anchor, as the phone's `serve` does while a command opens the vault.
struct WritesWhileOpening {
    inner: Arc<authenticator_core::testkit::TestProtector>,
    db: PathBuf,
    armed: std::sync::atomic::AtomicBool,
}

impl authenticator_core::platform::KeyProtector for WritesWhileOpening {
    fn wrap(
        &self,
        secret: Vec<u8>,
    ) -> Result<Vec<u8>, authenticator_core::platform::KeyProtectorError> {
        self.inner.wrap(secret)
    }
    fn unwrap(
        &self,
        blob: Vec<u8>,
    ) -> Result<Vec<u8>, authenticator_core::platform::KeyProtectorError> {
        self.inner.unwrap(blob)
    }
    fn info(
        &self,
    ) -> Result<
        authenticator_core::platform::KeyProtectionInfo,
        authenticator_core::platform::KeyProtectorError,
    > {
        self.inner.info()
    }
    fn load_anchor(
        &self,
    ) -> Result<Option<Vec<u8>>, authenticator_core::platform::KeyProtectorError> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let other = Vault::open_anchored(&self.db, self.inner.clone()).unwrap();
            other.settings().set(Setting::AlwaysUv, &true).unwrap();
        }
        self.inner.load_anchor()
    }
    fn store_anchor(
        &self,
        anchor: Vec<u8>,
    ) -> Result<bool, authenticator_core::platform::KeyProtectorError> {
        self.inner.store_anchor(anchor)
    }
}

#[test]
fn a_write_by_another_process_while_opening_is_not_a_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let inner = Arc::new(authenticator_core::testkit::TestProtector::sealing());
    drop(Vault::open_anchored(db(tmp.path()), inner.clone()).unwrap());
    let racing = Arc::new(WritesWhileOpening {
        inner: inner.clone(),
        db: db(tmp.path()),
        armed: std::sync::atomic::AtomicBool::new(true),
    });
    let vault = Vault::open_anchored(db(tmp.path()), racing.clone())
        .expect("a newer file and anchor written meanwhile are not a rollback");
    assert!(!racing.armed.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(
        vault.settings().get::<bool>(Setting::AlwaysUv).unwrap(),
        Some(true)
    );
}
