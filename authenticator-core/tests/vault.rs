//! The vault as its users see it: round trips of every record type, the key hierarchy (wrong
//! key vs. damaged file), tamper detection, damaged and foreign files set aside, newer schemas
//! refused untouched, no identifying data in the clear, and vaults made by the v1 and v5 code
//! still opening.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use authenticator_core::platform::{KeyProtector, KeyProtectorError, SoftwareKeyProtector};
use authenticator_core::secret::SecretBytes;
use authenticator_core::testkit::TestProtector;
use authenticator_core::vault::{
    Credential, CredentialSecrets, PairingRecord, PairingSecrets, SCHEMA_VERSION, Setting, Vault,
    VaultError,
};

const RP: &str = "secret-bank.example";
const USER: &str = "alice.wonderland@corp.example";
const CRED_ID: &[u8] = b"\x8f\x11credential-id-alice-01";

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("vault.db")
    }
    fn protector(&self) -> SoftwareKeyProtector {
        SoftwareKeyProtector::new(self.dir.path().join("device.key"))
    }
    fn open(&self) -> Result<Vault, VaultError> {
        Vault::open(self.db(), &self.protector())
    }
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn credential(id: &[u8], rp: &str, user: &str, created_at: u64) -> Credential {
    Credential {
        credential_id: id.to_vec(),
        rp_id: rp.into(),
        rp_name: Some("Secret Bank".into()),
        user_id: b"user-handle-1".to_vec(),
        user_name: Some(user.into()),
        user_display_name: Some("Alice W.".into()),
        algorithm: -7,
        public_key: vec![4; 65],
        discoverable: true,
        cred_protect: 2,
        cred_blob: Some(b"blob".to_vec()),
        created_at,
        label: None,
        sign_count: 0,
    }
}

fn secrets(seed: u8) -> CredentialSecrets {
    CredentialSecrets {
        private_key: SecretBytes::new(vec![seed; 32]),
        cred_random_with_uv: Some(SecretBytes::new(vec![seed ^ 1; 32])),
        cred_random_without_uv: None,
    }
}

/// Runs SQL on the file behind the vault's back (as an attacker or a disk would).
fn raw_sql(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn credentials_round_trip_and_survive_reopening() {
    let s = Setup::new();
    {
        let v = s.open().unwrap();
        v.credentials()
            .insert(&credential(CRED_ID, RP, USER, 10), &secrets(7))
            .unwrap();
        v.credentials()
            .insert(&credential(b"second", RP, "bob", 20), &secrets(8))
            .unwrap();
        v.credentials()
            .insert(
                &credential(b"third", "other.example", "carol", 30),
                &secrets(9),
            )
            .unwrap();
        assert!(matches!(
            v.credentials()
                .insert(&credential(CRED_ID, RP, USER, 40), &secrets(1)),
            Err(VaultError::DuplicateCredential)
        ));
        assert_eq!(
            v.credentials().advance_sign_count(CRED_ID).unwrap(),
            Some(1)
        );
        assert_eq!(
            v.credentials().advance_sign_count_by(CRED_ID, 100).unwrap(),
            Some(101)
        );
        assert_eq!(v.credentials().advance_sign_count(b"nope").unwrap(), None);
    }
    let v = s.open().unwrap();
    let mut expected = credential(CRED_ID, RP, USER, 10);
    expected.sign_count = 101;
    assert_eq!(
        v.credentials().get(CRED_ID).unwrap(),
        Some(expected.clone())
    );
    let for_rp = v.credentials().for_rp(RP).unwrap();
    let ids: Vec<&[u8]> = for_rp.iter().map(|c| c.credential_id.as_slice()).collect();
    assert_eq!(ids, vec![&b"second"[..], CRED_ID], "newest first");
    assert_eq!(v.credentials().for_rp("unknown.example").unwrap(), vec![]);
    assert_eq!(v.credentials().list().unwrap().len(), 3);
    assert_eq!(v.credentials().count().unwrap(), 3);
    let sec = v.credentials().secrets(CRED_ID).unwrap().unwrap();
    assert_eq!(sec.private_key.expose(), &[7; 32]);
    assert_eq!(sec.cred_random_with_uv.unwrap().expose(), &[6; 32]);
    assert!(sec.cred_random_without_uv.is_none());

    assert!(
        v.credentials()
            .update(CRED_ID, |c| {
                c.user_display_name = Some("Alice Liddell".into());
                c.rp_id = "attempt-to-move.example".into();
            })
            .unwrap()
    );
    let updated = v.credentials().get(CRED_ID).unwrap().unwrap();
    assert_eq!(updated.user_display_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(updated.rp_id, RP, "the rp id of a passkey cannot be edited");
    assert!(!v.credentials().update(b"nope", |_| {}).unwrap());

    assert!(v.credentials().delete(b"second").unwrap());
    assert!(!v.credentials().delete(b"second").unwrap());
    assert_eq!(v.credentials().get(b"second").unwrap(), None);
    assert_eq!(v.credentials().delete_all().unwrap(), 2);
    assert_eq!(v.credentials().count().unwrap(), 0);
}

#[test]
fn pairings_pin_state_settings_and_audit_round_trip() {
    let s = Setup::new();
    let pairing = PairingRecord {
        pairing_id: vec![1; 16],
        name: "Alice's laptop".into(),
        peer_public_key: vec![4; 65],
        routing_id: vec![9; 8],
        created_at: 100,
        last_used_at: 100,
    };
    {
        let v = s.open().unwrap();
        let ps = PairingSecrets {
            own_static_private_key: SecretBytes::new(vec![3; 32]),
            pairing_secret: SecretBytes::new(vec![5; 32]),
        };
        v.pairings().insert(&pairing, &ps).unwrap();
        assert!(matches!(
            v.pairings().insert(&pairing, &ps),
            Err(VaultError::DuplicatePairing)
        ));
        assert!(v.pairings().touch(&[1; 16], 150).unwrap());
        assert!(
            v.pairings().touch(&[1; 16], 120).unwrap(),
            "never moves back"
        );

        let (state, ()) = v
            .pin_state()
            .update(|p| {
                p.pin_hash = Some(SecretBytes::new(vec![0xab; 16]));
                p.pin_code_points = 6;
                p.pin_retries -= 1;
                p.force_change = true;
                p.min_pin_length_rp_ids.push("corp.example".into());
            })
            .unwrap();
        assert_eq!(state.pin_retries, 7);

        v.settings().set(Setting::AlwaysUv, &true).unwrap();
        v.settings()
            .set(Setting::ObrStopped, &"any CBOR value")
            .unwrap();
        let mut details = BTreeMap::new();
        details.insert("grant_id".to_string(), "g-1".to_string());
        assert_eq!(
            v.audit()
                .append(200, "obr.registration", details.clone())
                .unwrap(),
            1
        );
        assert_eq!(
            v.audit()
                .append(201, "obr.denied", BTreeMap::new())
                .unwrap(),
            2
        );
    }
    let v = s.open().unwrap();
    let listed = v.pairings().list().unwrap();
    let mut expected = pairing.clone();
    expected.last_used_at = 150;
    assert_eq!(listed, vec![expected.clone()]);
    assert_eq!(v.pairings().get(&[1; 16]).unwrap(), Some(expected));
    let ps = v.pairings().secrets(&[1; 16]).unwrap().unwrap();
    assert_eq!(ps.pairing_secret.expose(), &[5; 32]);
    assert_eq!(ps.own_static_private_key.expose(), &[3; 32]);
    assert!(v.pairings().remove(&[1; 16]).unwrap());
    assert!(!v.pairings().remove(&[1; 16]).unwrap());
    assert!(v.pairings().secrets(&[1; 16]).unwrap().is_none());

    let pin = v.pin_state().load().unwrap();
    assert_eq!(pin.pin_hash.unwrap().expose(), &[0xab; 16]);
    assert_eq!(
        (pin.pin_retries, pin.pin_code_points, pin.force_change),
        (7, 6, true)
    );
    assert_eq!(pin.min_pin_length_rp_ids, vec!["corp.example".to_string()]);
    v.pin_state().reset().unwrap();
    let fresh = v.pin_state().load().unwrap();
    assert!(fresh.pin_hash.is_none());
    assert_eq!((fresh.pin_retries, fresh.min_pin_length), (8, 4));

    assert_eq!(
        v.settings().get::<bool>(Setting::AlwaysUv).unwrap(),
        Some(true)
    );
    assert_eq!(
        v.settings()
            .get::<String>(Setting::ObrStopped)
            .unwrap()
            .as_deref(),
        Some("any CBOR value")
    );
    assert_eq!(v.settings().get::<bool>(Setting::ObrPending).unwrap(), None);
    assert!(v.settings().remove(Setting::AlwaysUv).unwrap());
    assert_eq!(v.settings().get::<bool>(Setting::AlwaysUv).unwrap(), None);

    let log = v.audit().list().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].seq, log[0].recorded_at, log[0].kind.as_str()),
        (1, 200, "obr.registration")
    );
    assert_eq!(log[0].details["grant_id"], "g-1");
    assert_eq!((log[1].seq, log[1].kind.as_str()), (2, "obr.denied"));
}

#[test]
fn another_key_file_is_wrong_key_and_leaves_the_vault_untouched() {
    let s = Setup::new();
    drop(s.open().unwrap());
    let before = fs::read(s.db()).unwrap();
    let other = SoftwareKeyProtector::new(s.dir.path().join("other.key"));
    other.wrap(vec![0]).unwrap(); // give it a key of its own
    assert!(matches!(
        Vault::open(s.db(), &other),
        Err(VaultError::WrongKey)
    ));
    assert_eq!(fs::read(s.db()).unwrap(), before);
    assert!(s.open().is_ok(), "the right key still opens it");
}

#[test]
fn a_key_that_fails_the_canary_is_wrong_key_not_corrupt() {
    let s = Setup::new();
    drop(s.open().unwrap());
    assert!(matches!(
        // A key store that "unwraps" to a fixed key, as a buggy or foreign one might.
        Vault::open(
            s.db(),
            &TestProtector::unwrapping_to([0x42; 32]).without_anchor()
        ),
        Err(VaultError::WrongKey)
    ));
    assert_eq!(
        s.files(),
        vec!["device.key", "device.key.anchor", "vault.db"]
    );
    assert!(s.open().is_ok());
}

/// A key store that answers every call with `error`.
fn failing(error: KeyProtectorError) -> TestProtector {
    let protector = TestProtector::plain().without_anchor();
    protector.fail_with(Some(error));
    protector
}

#[test]
fn an_unavailable_or_lost_device_key_never_replaces_the_vault_key() {
    let s = Setup::new();
    {
        let v = s.open().unwrap();
        v.credentials()
            .insert(&credential(CRED_ID, RP, USER, 1), &secrets(1))
            .unwrap();
    }
    let locked = failing(KeyProtectorError::TemporarilyUnavailable {
        reason: "device locked".into(),
    });
    let err = Vault::open(s.db(), &locked).err().unwrap();
    assert!(matches!(err, VaultError::KeyUnavailable { .. }));
    assert_eq!(
        err.to_string(),
        "the vault key is temporarily unavailable (device locked); try again after unlocking"
    );
    let lost = failing(KeyProtectorError::PermanentlyLost {
        reason: "key invalidated".into(),
    });
    assert!(matches!(
        Vault::open(s.db(), &lost),
        Err(VaultError::KeyLost { .. })
    ));
    // A missing key file is "lost" too, and no new key file appears.
    fs::rename(
        s.dir.path().join("device.key"),
        s.dir.path().join("kept.key"),
    )
    .unwrap();
    assert!(matches!(s.open(), Err(VaultError::KeyLost { .. })));
    assert_eq!(s.files(), vec!["device.key.anchor", "kept.key", "vault.db"]);
    fs::rename(
        s.dir.path().join("kept.key"),
        s.dir.path().join("device.key"),
    )
    .unwrap();
    assert_eq!(s.open().unwrap().credentials().count().unwrap(), 1);
    // And a new vault cannot be made while the key store is locked.
    let fresh = s.dir.path().join("new.db");
    assert!(matches!(
        Vault::open(&fresh, &locked),
        Err(VaultError::KeyUnavailable { .. })
    ));
}

#[test]
fn a_ciphertext_moved_to_another_row_or_column_or_with_a_flipped_bit_is_rejected() {
    let s = Setup::new();
    {
        let v = s.open().unwrap();
        v.credentials()
            .insert(&credential(b"victim", RP, USER, 1), &secrets(1))
            .unwrap();
        v.credentials()
            .insert(&credential(b"attacker", RP, "mallory", 2), &secrets(2))
            .unwrap();
    }
    let tampered = |err: Result<Option<Credential>, VaultError>, column: &str| match err {
        Err(VaultError::RecordTampered { table, column: c }) => {
            assert_eq!((table, c), ("credentials", column));
        }
        other => panic!("expected RecordTampered, got {other:?}"),
    };
    let v = s.open().unwrap();
    let victim_handle = "(SELECT cred_handle FROM credentials ORDER BY created_at LIMIT 1)";
    let attacker_handle = "(SELECT cred_handle FROM credentials ORDER BY created_at DESC LIMIT 1)";

    // Another row: the attacker's metadata copied over the victim's.
    raw_sql(
        &s.db(),
        &format!(
            "UPDATE credentials SET metadata = (SELECT metadata FROM credentials WHERE cred_handle = {attacker_handle})
             WHERE cred_handle = {victim_handle}"
        ),
    );
    tampered(v.credentials().get(b"victim"), "metadata");
    assert!(v.credentials().for_rp(RP).is_err());

    // Another column: the victim's secrets blob placed in its metadata column.
    raw_sql(
        &s.db(),
        &format!("UPDATE credentials SET metadata = secrets WHERE cred_handle = {victim_handle}"),
    );
    tampered(v.credentials().get(b"victim"), "metadata");

    // A flipped bit in the attacker's (otherwise intact) secrets.
    assert!(v.credentials().secrets(b"attacker").unwrap().is_some());
    {
        let conn = rusqlite::Connection::open(s.db()).unwrap();
        let sql = format!("SELECT secrets FROM credentials WHERE cred_handle = {attacker_handle}");
        let mut blob: Vec<u8> = conn.query_row(&sql, [], |r| r.get(0)).unwrap();
        blob[20] ^= 0x01;
        let sql =
            format!("UPDATE credentials SET secrets = ?1 WHERE cred_handle = {attacker_handle}");
        assert_eq!(conn.execute(&sql, [blob]).unwrap(), 1);
    }
    match v.credentials().secrets(b"attacker") {
        Err(VaultError::RecordTampered { table, column }) => {
            assert_eq!((table, column), ("credentials", "secrets"))
        }
        other => panic!("expected RecordTampered, got ok={}", other.is_ok()),
    }
    // Pin state swapped into a setting.
    v.pin_state().update(|p| p.pin_retries = 5).unwrap();
    raw_sql(
        &s.db(),
        "INSERT INTO settings (name, value) SELECT 'ctap.always_uv', state FROM pin_state",
    );
    // Refused before it is even opened: the state head never sealed a row by that name.
    assert!(matches!(
        v.settings().get::<bool>(Setting::AlwaysUv),
        Err(VaultError::Tampered { what }) if what.contains("\"ctap.always_uv\" was added")
    ));
}

#[test]
fn a_swapped_lookup_handle_is_caught_even_with_intact_ciphertexts() {
    let s = Setup::new();
    let v = s.open().unwrap();
    v.credentials()
        .insert(&credential(b"a", RP, USER, 1), &secrets(1))
        .unwrap();
    v.credentials()
        .insert(&credential(b"b", "elsewhere.example", USER, 2), &secrets(2))
        .unwrap();
    // Point credential "b" at RP's rp_handle: it must not show up as an RP passkey.
    raw_sql(
        &s.db(),
        "UPDATE credentials SET rp_handle = (SELECT rp_handle FROM credentials WHERE created_at = 1) WHERE created_at = 2",
    );
    assert!(matches!(
        v.credentials().for_rp(RP),
        Err(VaultError::RecordTampered {
            column: "rp_handle",
            ..
        })
    ));
}

#[test]
fn random_bytes_are_not_a_vault_and_are_moved_aside_intact() {
    let s = Setup::new();
    let junk: Vec<u8> = (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    fs::write(s.db(), &junk).unwrap();
    let err = s.open().err().unwrap();
    let VaultError::Corrupt { reason, moved_to } = &err else {
        panic!("expected Corrupt, got {err:?}");
    };
    assert_eq!(reason, "not a SQLite database");
    assert!(
        err.to_string().starts_with(
            "the vault file is corrupt (not a SQLite database); it was moved aside to "
        )
    );
    assert_eq!(
        fs::read(moved_to).unwrap(),
        junk,
        "moved, not deleted or changed"
    );
    assert!(!s.db().exists());
    // The app can start over with a fresh vault; the old file stays.
    assert_eq!(s.open().unwrap().credentials().count().unwrap(), 0);
    assert!(moved_to.exists());
}

#[test]
fn another_applications_database_is_moved_aside() {
    let s = Setup::new();
    raw_sql(
        &s.db(),
        "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello');",
    );
    let err = s.open().err().unwrap();
    let VaultError::NotAVault { moved_to, .. } = &err else {
        panic!("expected NotAVault, got {err:?}");
    };
    let conn = rusqlite::Connection::open(moved_to).unwrap();
    let body: String = conn
        .query_row("SELECT body FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "hello");
}

fn vault_with_passkeys(s: &Setup, n: u32) {
    let v = s.open().unwrap();
    for i in 0..n {
        v.credentials()
            .insert(
                &credential(
                    format!("cred-{i}").as_bytes(),
                    &format!("rp{}.example", i % 13),
                    USER,
                    u64::from(i),
                ),
                &secrets(1),
            )
            .unwrap();
    }
}

#[test]
fn a_vault_with_damaged_pages_is_moved_aside_and_reported() {
    let s = Setup::new();
    vault_with_passkeys(&s, 300);
    let mut bytes = fs::read(s.db()).unwrap();
    let page = 4096;
    assert!(
        bytes.len() > 6 * page,
        "need several pages, got {}",
        bytes.len()
    );
    for b in &mut bytes[3 * page..4 * page] {
        *b = 0xAA;
    }
    fs::write(s.db(), &bytes).unwrap();
    match s.open() {
        Err(VaultError::Corrupt { reason, moved_to }) => {
            assert!(!reason.is_empty());
            assert_eq!(fs::read(moved_to).unwrap(), bytes);
        }
        other => panic!("expected Corrupt, got ok={}", other.is_ok()),
    }
}

#[test]
fn a_vault_with_a_damaged_header_is_moved_aside() {
    let s = Setup::new();
    vault_with_passkeys(&s, 5);
    let mut bytes = fs::read(s.db()).unwrap();
    bytes[..16].copy_from_slice(b"definitely-not-!");
    fs::write(s.db(), &bytes).unwrap();
    assert!(matches!(s.open(), Err(VaultError::Corrupt { .. })));
    assert!(
        s.files()
            .iter()
            .any(|f| f.starts_with("vault.db.unreadable-"))
    );
}

#[test]
fn a_vault_from_a_newer_schema_is_refused_untouched() {
    let s = Setup::new();
    vault_with_passkeys(&s, 3);
    raw_sql(&s.db(), "PRAGMA user_version = 99;");
    let before = fs::read(s.db()).unwrap();
    let err = s.open().err().unwrap();
    assert!(
        matches!(err, VaultError::NewerSchema { found: 99, supported } if supported == SCHEMA_VERSION)
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the vault was written by a newer app version (schema 99, this version reads up to {SCHEMA_VERSION}); it was left untouched"
        )
    );
    assert_eq!(fs::read(s.db()).unwrap(), before);
    assert!(!s.files().iter().any(|f| f.contains("unreadable")));
}

#[test]
fn the_file_reveals_no_rp_id_user_name_or_credential_id() {
    let s = Setup::new();
    {
        let v = s.open().unwrap();
        v.credentials()
            .insert(&credential(CRED_ID, RP, USER, 1), &secrets(1))
            .unwrap();
        v.pairings()
            .insert(
                &PairingRecord {
                    pairing_id: vec![1; 16],
                    name: "Alice's Workstation".into(),
                    peer_public_key: vec![4; 65],
                    routing_id: vec![1],
                    created_at: 1,
                    last_used_at: 1,
                },
                &PairingSecrets {
                    own_static_private_key: SecretBytes::new(vec![3; 32]),
                    pairing_secret: SecretBytes::new(vec![5; 32]),
                },
            )
            .unwrap();
        // Look at the live files too, WAL included, before the checkpoint on close.
        for name in s.files() {
            let bytes = fs::read(s.dir.path().join(&name)).unwrap();
            assert_nothing_identifying(&name, &bytes);
        }
        assert!(s.files().contains(&"vault.db-wal".to_string()));
    }
    let bytes = fs::read(s.db()).unwrap();
    assert_nothing_identifying("vault.db", &bytes);
}

fn assert_nothing_identifying(name: &str, bytes: &[u8]) {
    let needles: [&[u8]; 6] = [
        RP.as_bytes(),
        b"secret-bank",
        USER.as_bytes(),
        b"alice",
        CRED_ID,
        b"Workstation",
    ];
    for needle in needles {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{name} contains {:?} in the clear",
            String::from_utf8_lossy(needle)
        );
    }
}

#[test]
fn empty_file_becomes_a_new_vault() {
    let s = Setup::new();
    fs::write(s.db(), b"").unwrap();
    assert_eq!(s.open().unwrap().credentials().count().unwrap(), 0);
}

// --- The frozen v1 vault -------------------------------------------------------------------

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vault-v1");

/// What both frozen fixtures hold besides their rows: a PIN hash with 6 retries, and
/// alwaysUv on.
fn fill_pin_and_always_uv(v: &Vault) {
    v.pin_state()
        .update(|p| {
            p.pin_hash = Some(SecretBytes::new(vec![0xab; 16]));
            p.pin_retries = 6;
        })
        .unwrap();
    v.settings().set(Setting::AlwaysUv, &true).unwrap();
}

/// What the v1 fixture holds; the generator below wrote exactly this.
fn fill_v1_fixture(v: &Vault) {
    v.credentials()
        .insert(&credential(CRED_ID, RP, USER, 1_700_000_000), &secrets(7))
        .unwrap();
    v.credentials().advance_sign_count_by(CRED_ID, 41).unwrap();
    v.pairings()
        .insert(
            &PairingRecord {
                pairing_id: vec![1; 16],
                name: "Alice's laptop".into(),
                peer_public_key: vec![4; 65],
                routing_id: vec![9; 8],
                created_at: 1_700_000_001,
                last_used_at: 1_700_000_002,
            },
            &PairingSecrets {
                own_static_private_key: SecretBytes::new(vec![3; 32]),
                pairing_secret: SecretBytes::new(vec![5; 32]),
            },
        )
        .unwrap();
    fill_pin_and_always_uv(v);
    v.audit()
        .append(
            1_700_000_003,
            "obr.registration",
            BTreeMap::from([("rp_id".to_string(), RP.to_string())]),
        )
        .unwrap();
}

/// Regenerates the frozen fixture. Run only when deliberately freezing a new version:
/// `cargo test -p authenticator-core --test vault -- --ignored write_v1_fixture`
#[test]
#[ignore = "writes tests/fixtures/vault-v1; run by hand only when freezing a schema"]
fn write_v1_fixture() {
    freeze_fixture(Path::new(FIXTURE), fill_v1_fixture);
}

/// Writes a fixture afresh in `dir`: a new vault filled by `fill`, and only its file and device
/// key kept (the anchor is the platform's, not the file's: each test anchors its copy afresh).
fn freeze_fixture(dir: &Path, fill: fn(&Vault)) {
    fs::create_dir_all(dir).unwrap();
    let _ = fs::remove_file(dir.join("vault.db"));
    let _ = fs::remove_file(dir.join("device.key"));
    {
        let v = Vault::open(
            dir.join("vault.db"),
            &SoftwareKeyProtector::new(dir.join("device.key")),
        )
        .unwrap();
        fill(&v);
    }
    for entry in fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy();
        if name != "vault.db" && name != "device.key" {
            fs::remove_file(dir.join(name.as_ref())).unwrap();
        }
    }
}

#[test]
fn a_vault_written_by_the_v1_code_opens_and_reads_back() {
    let s = Setup::new();
    fs::copy(Path::new(FIXTURE).join("vault.db"), s.db()).unwrap();
    fs::copy(
        Path::new(FIXTURE).join("device.key"),
        s.dir.path().join("device.key"),
    )
    .unwrap();
    let v = s.open().unwrap();
    let mut expected = credential(CRED_ID, RP, USER, 1_700_000_000);
    expected.sign_count = 41;
    assert_eq!(v.credentials().for_rp(RP).unwrap(), vec![expected.clone()]);
    // Migrated rows have no plain discoverable flag yet: the search still finds them.
    assert_eq!(
        v.credentials().discoverable_for_rp(RP).unwrap(),
        vec![expected]
    );
    assert_eq!(
        v.credentials()
            .secrets(CRED_ID)
            .unwrap()
            .unwrap()
            .private_key
            .expose(),
        &[7; 32]
    );
    let pairing = v.pairings().get(&[1; 16]).unwrap().unwrap();
    assert_eq!(
        (pairing.name.as_str(), pairing.last_used_at),
        ("Alice's laptop", 1_700_000_002)
    );
    let pin = v.pin_state().load().unwrap();
    assert_eq!(
        (pin.pin_retries, pin.pin_hash.unwrap().expose().to_vec()),
        (6, vec![0xab; 16])
    );
    // The v1 fixture's setting name is outside today's registry ("always_uv").
    assert_eq!(
        v.settings().get_unregistered::<bool>("always_uv").unwrap(),
        Some(true)
    );
    assert_eq!(v.audit().list().unwrap()[0].details["rp_id"], RP);
    // And it keeps working: writes after the migration land.
    v.credentials()
        .insert(&credential(b"new", RP, USER, 1_800_000_000), &secrets(1))
        .unwrap();
    assert_eq!(v.credentials().count().unwrap(), 2);
    let version: i64 = rusqlite::Connection::open(s.db())
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn discoverable_lookup_skips_server_side_passkeys_and_trusts_only_the_sealed_flag() {
    let s = Setup::new();
    let v = s.open().unwrap();
    let mut server_side = credential(b"server-side", RP, USER, 1);
    server_side.discoverable = false;
    v.credentials().insert(&server_side, &secrets(1)).unwrap();
    v.credentials()
        .insert(&credential(b"resident", RP, USER, 2), &secrets(2))
        .unwrap();
    let ids = |list: Vec<Credential>| -> Vec<Vec<u8>> {
        list.into_iter().map(|c| c.credential_id).collect()
    };
    assert_eq!(
        ids(v.credentials().discoverable_for_rp(RP).unwrap()),
        vec![b"resident".to_vec()]
    );
    assert_eq!(v.credentials().for_rp(RP).unwrap().len(), 2);
    // Flipping the plain column cannot make a server-side passkey discoverable.
    raw_sql(&s.db(), "UPDATE credentials SET discoverable = 1");
    assert_eq!(
        ids(v.credentials().discoverable_for_rp(RP).unwrap()),
        vec![b"resident".to_vec()]
    );
}

#[test]
fn passkeys_made_within_one_second_are_listed_newest_first() {
    let s = Setup::new();
    let v = s.open().unwrap();
    for i in 0..20u8 {
        v.credentials()
            .insert(&credential(&[i; 16], RP, USER, 1_000), &secrets(i))
            .unwrap();
    }
    let order: Vec<u8> = v
        .credentials()
        .for_rp(RP)
        .unwrap()
        .iter()
        .map(|c| c.credential_id[0])
        .collect();
    assert_eq!(order, (0..20u8).rev().collect::<Vec<_>>());
}

// --- The frozen v5 vault (the schema before registrations stopped writing a creation-order
// index) ----------------------------------------------------------------------------------

const FIXTURE_V5: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vault-v5");
/// The second at which the v5 fixture made three passkeys of `RP` (order within a second).
const SAME_SECOND: u64 = 1_700_000_100;
const OTHER_RP: &str = "other-shop.example";

/// What the v5 fixture holds: one passkey of `RP` from an earlier second, three of `RP` made
/// within `SAME_SECOND` (in the order 0, 1, 2), one of `OTHER_RP` in that second, a counter
/// block, a PIN and a setting (both bound to the state head).
fn fill_v5_fixture(v: &Vault) {
    let c = v.credentials();
    c.insert(&credential(CRED_ID, RP, USER, 1_700_000_000), &secrets(7))
        .unwrap();
    for i in 0..3u8 {
        c.insert(&credential(&[i; 16], RP, USER, SAME_SECOND), &secrets(i))
            .unwrap();
    }
    c.insert(
        &credential(b"other-shop-1", OTHER_RP, USER, SAME_SECOND),
        &secrets(9),
    )
    .unwrap();
    c.advance_sign_count_by(CRED_ID, 41).unwrap();
    fill_pin_and_always_uv(v);
}

/// Regenerates the v5 fixture. It was written by the schema-5 code (commit b8d9ec6); run it
/// again only to freeze a new fixture, from a checkout of the schema it is meant to freeze:
/// `cargo test -p authenticator-core --test vault -- --ignored write_v5_fixture`
#[test]
#[ignore = "writes tests/fixtures/vault-v5; run by hand only when freezing a schema"]
fn write_v5_fixture() {
    freeze_fixture(Path::new(FIXTURE_V5), fill_v5_fixture);
}

/// A vault of the previous schema (5: rows keyed by `cred_handle`, a `credentials_by_seq`
/// index) opens, migrates to rows in creation order, keeps its passkeys' order and records,
/// refuses a duplicate, and orders a passkey made after the upgrade within the same second as
/// the newest.
#[test]
fn a_vault_written_by_the_v5_code_migrates_and_keeps_its_order() {
    let s = Setup::new();
    for name in ["vault.db", "device.key"] {
        fs::copy(Path::new(FIXTURE_V5).join(name), s.dir.path().join(name)).unwrap();
    }
    let version = |db: &Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    };
    assert_eq!(version(&s.db()), 5, "the fixture is a schema-5 vault");
    let v = s.open().unwrap();
    assert_eq!(version(&s.db()), SCHEMA_VERSION);
    let indexes: Vec<String> = {
        let conn = rusqlite::Connection::open(s.db()).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'credentials'
                 AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(indexes, ["credentials_by_handle", "credentials_by_rp"]);

    let ids = |list: Vec<Credential>| -> Vec<Vec<u8>> {
        list.into_iter().map(|c| c.credential_id).collect()
    };
    let older = vec![[2u8; 16].to_vec(), [1; 16].to_vec(), [0; 16].to_vec()];
    let mut expected = older.clone();
    expected.push(CRED_ID.to_vec());
    assert_eq!(ids(v.credentials().for_rp(RP).unwrap()), expected);
    assert_eq!(
        v.credentials().get(CRED_ID).unwrap().unwrap().sign_count,
        41
    );
    assert_eq!(v.pin_state().load().unwrap().pin_retries, 6);
    assert_eq!(
        v.settings().get::<bool>(Setting::AlwaysUv).unwrap(),
        Some(true)
    );

    // Made after the upgrade, in the same second: the newest of its site.
    v.credentials()
        .insert(
            &credential(b"after-upgrade", RP, USER, SAME_SECOND),
            &secrets(3),
        )
        .unwrap();
    let mut expected = vec![b"after-upgrade".to_vec()];
    expected.extend(older);
    expected.push(CRED_ID.to_vec());
    assert_eq!(ids(v.credentials().for_rp(RP).unwrap()), expected);
    assert!(matches!(
        v.credentials().insert(
            &credential(&[1; 16], RP, USER, SAME_SECOND + 1),
            &secrets(4)
        ),
        Err(VaultError::DuplicateCredential)
    ));
    assert_eq!(v.credentials().count().unwrap(), 6);
    assert_eq!(
        ids(v.credentials().for_rp(OTHER_RP).unwrap()),
        vec![b"other-shop-1".to_vec()]
    );
    drop(v);
    // And it opens again as an up-to-date vault.
    assert_eq!(s.open().unwrap().credentials().list().unwrap().len(), 6);
}
