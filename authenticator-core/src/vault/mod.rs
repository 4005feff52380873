//! The encrypted passkey vault: one SQLite file holding credentials, pairings, PIN state,
//! settings and the audit trail.
//!
//! Key hierarchy: a random 256-bit vault key, stored only wrapped by the platform
//! [`KeyProtector`]; HKDF derives the field-encryption key and the lookup-hash key from it
//! (`record_crypto`). A sealed canary tells a wrong key from a damaged file.
//!
//! Invariants:
//! - Nothing that identifies a site, a user or a credential is stored in the clear.
//! - A file that is not ours or is damaged is renamed aside, never deleted, and reported; a file
//!   from a newer schema, or one opened with the wrong key, is refused untouched. A new vault
//!   key is made only for an empty file: never over an existing vault.
//! - Durability: WAL with `synchronous=FULL`, so a committed write survives a crash or power
//!   loss; every read-modify-write runs in an IMMEDIATE transaction, so two processes (an app
//!   and its extension) on one file never lose each other's writes.
//! - Rollback: the PIN state, the settings, the pairings, the audit log and the sign-counter
//!   reservation are bound to one sealed, monotonic state head (`head`), written in the same
//!   transaction as each of them and checked on every read of them; an older, missing or added
//!   row, or a cut log, is refused as `Tampered` and never reset or moved aside. Opening checks
//!   the head against the platform's monotonic anchor, if it keeps one, so a whole-file
//!   rollback is `RolledBack`. Opening reads the head, the PIN state, the settings, the
//!   pairings and the audit log's end: never a pass over the passkeys. SQLite's structural
//!   check of a large file, and WAL checkpoints, run from the idle hook (`maintenance`).

mod audit;
mod credentials;
mod error;
mod head;
mod hybrid_links;
mod maintenance;
mod pairings;
mod pin_state;
mod receipt_queue;
mod record_crypto;
mod schema;
mod setting;
mod settings;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use zeroize::Zeroizing;

#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use audit::{AuditEntry, AuditLog};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use credentials::{Credential, CredentialSecrets, Credentials, SignCountBlock};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use error::VaultError;
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use hybrid_links::{HybridLink, HybridLinkSecrets, HybridLinks};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use maintenance::{
    CheckpointCounts, MaintenanceReport, OPEN_CHECK_MAX_PAGES, WAL_REQUEST_PATH_LIMIT,
};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use pairings::{PairingRecord, PairingSecrets, Pairings};
pub(crate) use pin_state::{
    AttemptError, PinMismatches, PinOutcome, PinRefused, install as install_pin, pin_code_points,
    pin_hash,
};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use pin_state::{DEFAULT_MIN_PIN_LENGTH, MAX_PIN_RETRIES, MAX_UV_RETRIES, PinState, PinStore};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use receipt_queue::{MAX_QUEUED_RECEIPTS, QueuedReceipt, ReceiptQueue};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use schema::CURRENT_VERSION as SCHEMA_VERSION;
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use setting::Setting;
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use settings::Settings;

use crate::platform::KeyProtector;
use crate::secret::fill_random;
use record_crypto::{Field, RecordCipher, VAULT_KEY_LEN};
use schema::FileKind;

/// The canary of a vault without a state head (schema 1 and 2), accepted only to migrate it.
const CANARY_V1: &[u8] = b"phone-authenticator vault canary v1";
/// The canary of a vault with a sealed state head: once a vault has a head, a missing head is
/// tampering, not an old vault to migrate (the old canary cannot be sealed again without the
/// key; putting back an old copy of it is a whole-file rollback, seen by the anchor).
const CANARY_V2: &[u8] = b"phone-authenticator vault canary v2: sealed state head";
const CANARY_FIELD: Field<'static> = Field {
    table: "vault_meta",
    column: "canary",
    row: b"1",
};
/// How long a writer waits for the other process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open vault. Cheap to share behind an `Arc`; all access is serialized on one connection.
pub struct Vault {
    conn: Mutex<Connection>,
    cipher: RecordCipher,
    /// For the idle whole-file check, and the benches' look at the file.
    path: PathBuf,
    /// The platform's monotonic anchor, advanced after each protected write (see `head`).
    anchor: Option<Arc<dyn KeyProtector>>,
    /// The last authentic head this process loaded or wrote. A generation is sealed only once
    /// (writes are serialized), so while the file's plain `generation` names it, it is the head
    /// and need not be decrypted again; a changed plain column makes it load anew.
    head_cache: Mutex<Option<Arc<head::Head>>>,
    /// The WAL's size and the checkpoint counters (`maintenance`).
    upkeep: maintenance::Upkeep,
    /// The passkey count and the `data_version` it was counted at (`credentials`).
    count_cache: Mutex<Option<(i64, u64)>>,
}

impl Vault {
    /// Opens the vault at `path`, creating it (and a new vault key) only if the file is absent
    /// or empty. Checks the state head against the protector's anchor and brings the anchor
    /// up to date, but does not keep the protector: later writes do not advance the anchor
    /// (use [`Vault::open_anchored`] for a long-lived vault).
    #[cfg(any(test, feature = "testkit"))]
    pub fn open(path: impl AsRef<Path>, protector: &dyn KeyProtector) -> Result<Self, VaultError> {
        Self::open_with(path.as_ref(), protector, None)
    }

    /// Opens the vault as [`Vault::open`] does and keeps `protector` to advance its monotonic
    /// anchor after every protected write, so that a restore of the whole file is detected.
    pub fn open_anchored(
        path: impl AsRef<Path>,
        protector: Arc<dyn KeyProtector>,
    ) -> Result<Self, VaultError> {
        Self::open_with(path.as_ref(), &*protector, Some(protector.clone()))
    }

    fn open_with(
        path: &Path,
        protector: &dyn KeyProtector,
        anchor: Option<Arc<dyn KeyProtector>>,
    ) -> Result<Self, VaultError> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut conn = connect(&path)?;
        let kind = match schema::inspect(&conn) {
            Ok(kind) => kind,
            Err(e) if is_unreadable(&e) => {
                drop(conn);
                return Err(VaultError::Corrupt {
                    reason: describe_sqlite(&e),
                    moved_to: set_aside(&path)?,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let version = match kind {
            FileKind::Foreign { application_id } => {
                drop(conn);
                return Err(VaultError::NotAVault {
                    reason: format!(
                        "a SQLite database of another application (application id {application_id:#x})"
                    ),
                    moved_to: set_aside(&path)?,
                });
            }
            FileKind::Vault { version } if version > schema::CURRENT_VERSION => {
                return Err(VaultError::NewerSchema {
                    found: version,
                    supported: schema::CURRENT_VERSION,
                });
            }
            FileKind::Vault { version } => Some(version),
            FileKind::Empty => None,
        };
        let upkeep = maintenance::Upkeep::default();
        match configure(&conn, &path, version.is_some()) {
            Ok(()) => {}
            Err(Setup::Damaged(reason)) => {
                drop(conn);
                return Err(VaultError::Corrupt {
                    reason,
                    moved_to: set_aside(&path)?,
                });
            }
            Err(Setup::Failed(e)) => return Err(e.into()),
        }
        upkeep.install(&mut conn)?;
        if version.is_none() {
            create(&mut conn, protector)?;
        }
        let cipher = match unlock(&conn, protector) {
            Err(Unlock::Damaged(reason)) => {
                drop(conn);
                return Err(VaultError::Corrupt {
                    reason,
                    moved_to: set_aside(&path)?,
                });
            }
            Err(Unlock::Refused(e)) => return Err(e),
            Ok(cipher) => cipher,
        };
        // Only an old vault takes the write lock here; an up-to-date one opens read-only.
        if version.is_some_and(|v| v < schema::CURRENT_VERSION) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Read again under the lock: the other process may have migrated meanwhile.
            let before: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            schema::migrate(&tx)?;
            if before < schema::HEAD_VERSION {
                head::adopt(&tx, &cipher)?;
                let canary = cipher.seal(CANARY_FIELD, CANARY_V2)?;
                tx.execute("UPDATE vault_meta SET canary = ?1 WHERE id = 1", [canary])?;
            }
            tx.commit()?;
        }
        let generation = verify_state(&mut conn, &cipher)?;
        if let Err(VaultError::RolledBack { .. }) = check_anchor(protector, &cipher, generation) {
            // Another process may have written between the read of the file and the read of
            // the anchor: a writer commits the file before it stores the anchor, so the file
            // read again now is at least at the anchor unless it really was rolled back.
            let generation = verify_state(&mut conn, &cipher)?;
            check_anchor(protector, &cipher, generation)?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            cipher,
            path,
            anchor,
            head_cache: Mutex::new(None),
            upkeep,
            count_cache: Mutex::new(None),
        })
    }

    /// The vault file's path.
    #[cfg(any(test, feature = "testkit"))]
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn credentials(&self) -> Credentials<'_> {
        Credentials::new(self)
    }

    pub fn pairings(&self) -> Pairings<'_> {
        Pairings::new(self)
    }

    pub fn hybrid_links(&self) -> HybridLinks<'_> {
        HybridLinks::new(self)
    }

    pub fn pin_state(&self) -> PinStore<'_> {
        PinStore::new(self)
    }

    pub fn settings(&self) -> Settings<'_> {
        Settings::new(self)
    }

    pub fn receipt_queue(&self) -> ReceiptQueue<'_> {
        ReceiptQueue::new(self)
    }

    pub fn audit(&self) -> AuditLog<'_> {
        AuditLog::new(self)
    }

    pub(crate) fn cipher(&self) -> &RecordCipher {
        &self.cipher
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolled back any
        // open transaction when it was dropped.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the connection (reads, and single-statement writes).
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, VaultError>,
    ) -> Result<R, VaultError> {
        let conn = self.lock();
        let out = f(&conn);
        self.bound_wal(&conn);
        out
    }

    /// Runs `f` in an IMMEDIATE transaction and commits if it returns `Ok`.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, VaultError>,
    ) -> Result<R, VaultError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        self.bound_wal(&conn);
        Ok(out)
    }

    /// Runs `f` on one read snapshot with the state head of that snapshot, for reading a
    /// protected record and checking it against the head.
    pub(crate) fn read_verified<R>(
        &self,
        f: impl FnOnce(&Connection, &head::Head) -> Result<R, VaultError>,
    ) -> Result<R, VaultError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let head = self.current_head(&tx)?;
        let out = f(&tx, &head)?;
        tx.commit()?;
        Ok(out)
    }

    /// The head of the snapshot `conn` reads, from the cache when its generation is current.
    fn current_head(&self, conn: &Connection) -> Result<Arc<head::Head>, VaultError> {
        let generation = head::plain_generation(conn)?;
        let cached = self
            .head_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(head) = cached
            && Some(head.generation) == generation
        {
            return Ok(head);
        }
        let head = Arc::new(head::load(conn, &self.cipher)?);
        self.remember_head(head.clone());
        Ok(head)
    }

    fn remember_head(&self, head: Arc<head::Head>) {
        *self
            .head_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(head);
    }

    /// A write to protected records: `f` runs in an IMMEDIATE transaction with the head, checks
    /// the rows it replaces, writes them and records them in the head; the head (one generation
    /// up) is stored in the same transaction, then the platform anchor is advanced.
    pub(crate) fn write_protected<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &mut head::Head) -> Result<R, VaultError>,
    ) -> Result<R, VaultError> {
        let (out, generation) = {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut head = head::Head::clone(&*self.current_head(&tx)?);
            let out = f(&tx, &mut head)?;
            let generation = head::store(&tx, &self.cipher, &mut head)?;
            tx.commit()?;
            self.bound_wal(&conn);
            self.remember_head(Arc::new(head));
            (out, generation)
        };
        self.advance_anchor(generation);
        Ok(out)
    }

    /// Gives `generation` (committed) to the platform anchor. A failure is logged, not returned:
    /// the write is already durable, and an anchor that lags behind the file only weakens the
    /// whole-file rollback check, it never refuses a good vault.
    pub(crate) fn advance_anchor(&self, generation: u64) {
        let Some(protector) = &self.anchor else {
            return;
        };
        let stored = head::anchor_blob(&self.cipher, generation)
            .map_err(|e| e.to_string())
            .and_then(|blob| protector.store_anchor(blob).map_err(|e| e.to_string()));
        if let Err(error) = stored {
            tracing::warn!(%error, "the vault's state anchor was not advanced");
        }
    }
}

/// Checks at open that the state head is there and authentic and that the PIN state, every
/// setting and the audit log's end match it (all small: never a pass over the passkeys).
/// Returns the head's generation.
fn verify_state(conn: &mut Connection, cipher: &RecordCipher) -> Result<u64, VaultError> {
    let tx = conn.transaction()?;
    let canary: Vec<u8> = tx.query_row("SELECT canary FROM vault_meta WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    if cipher.open(CANARY_FIELD, &canary)?.as_slice() != CANARY_V2 {
        return Err(VaultError::Tampered {
            what: "canary was replaced by the one of a vault without a state head".into(),
        });
    }
    let head = head::load(&tx, cipher)?;
    let pin: Option<Vec<u8>> = tx
        .query_row("SELECT state FROM pin_state WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    head.check(head::PIN_STATE, pin.as_deref(), pin_state::WHAT)?;
    let rows = {
        let mut stmt = tx.prepare("SELECT name, value FROM settings")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<(String, Vec<u8>)>, _>>()?
    };
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in &rows {
        let key = head::setting_key(name);
        head.check(&key, Some(value), &settings::what(name))?;
        seen.insert(key);
    }
    let pairings = {
        let mut stmt = tx.prepare("SELECT pairing_id, metadata FROM pairings")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<(Vec<u8>, Vec<u8>)>, _>>()?
    };
    for (id, metadata) in &pairings {
        let key = head::pairing_key(id);
        head.check(&key, Some(metadata), "paired computer record")?;
        seen.insert(key);
    }
    hybrid_links::check_on_open(&tx, &head, &mut seen)?;
    if let Some(missing) = head
        .records
        .keys()
        .filter(|k| k.as_str() != head::PIN_STATE)
        .find(|k| !seen.contains(*k))
    {
        let what = match missing.strip_prefix("settings/") {
            Some(name) => settings::what(name),
            None => hybrid_links::what_for_key(missing)
                .unwrap_or("paired computer record")
                .to_owned(),
        };
        return Err(VaultError::Tampered {
            what: format!("{what} was deleted"),
        });
    }
    audit::check_end(&tx, &head)?;
    tx.commit()?;
    Ok(head.generation)
}

/// Refuses a file older than the platform's anchor, then brings the anchor up to the file.
fn check_anchor(
    protector: &dyn KeyProtector,
    cipher: &RecordCipher,
    generation: u64,
) -> Result<(), VaultError> {
    let stored = protector
        .load_anchor()
        .map_err(VaultError::from_unwrap)?
        .and_then(|blob| head::anchored_generation(cipher, &blob));
    match stored {
        Some(anchored) if generation < anchored => Err(VaultError::RolledBack {
            found: generation,
            anchored,
        }),
        Some(anchored) if generation == anchored => Ok(()),
        // None: no anchor yet, the platform keeps none, or it is another vault's (this vault's
        // key does not open it): anchor this vault from here on.
        _ => {
            if let Err(error) = protector.store_anchor(head::anchor_blob(cipher, generation)?) {
                tracing::warn!(%error, "the vault's state anchor was not stored");
            }
            Ok(())
        }
    }
}

fn connect(path: &Path) -> Result<Connection, VaultError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A failure while setting the file up: damage found, or an ordinary error.
enum Setup {
    Damaged(String),
    Failed(rusqlite::Error),
}

impl From<rusqlite::Error> for Setup {
    fn from(e: rusqlite::Error) -> Self {
        if is_unreadable(&e) {
            Self::Damaged(describe_sqlite(&e))
        } else {
            Self::Failed(e)
        }
    }
}

/// Journal and durability settings, and a structural check of an existing file (bounded:
/// see `maintenance`).
fn configure(conn: &Connection, path: &Path, existing: bool) -> Result<(), Setup> {
    let mode = switch_to_wal(conn)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Setup::Damaged(format!("journal mode stays {mode}")));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Deleted passkeys are overwritten, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    if existing {
        maintenance::check_at_open(conn, path)?;
    }
    Ok(())
}

/// Switching a new file to WAL needs a moment of exclusive access, and SQLite answers BUSY at
/// once (without its busy handler) while another process does the same: retry until the busy
/// timeout.
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Makes the schema and a new vault key in an empty file. If another process created the vault
/// meanwhile, keeps theirs.
fn create(conn: &mut Connection, protector: &dyn KeyProtector) -> Result<(), VaultError> {
    let mut vault_key = Zeroizing::new([0u8; VAULT_KEY_LEN]);
    fill_random(vault_key.as_mut())?;
    let wrapped = protector
        .wrap(vault_key.to_vec())
        .map_err(VaultError::from_wrap)?;
    // A protector that cannot give the key back would leave a vault that never opens: check
    // the round trip before anything is stored.
    let unwrapped = Zeroizing::new(
        protector
            .unwrap(wrapped.clone())
            .map_err(VaultError::from_wrap)?,
    );
    if !crate::secret::constant_time_eq(&unwrapped, vault_key.as_ref()) {
        return Err(VaultError::KeyProtector {
            reason: "it did not give back the secret it wrapped; nothing was stored".into(),
        });
    }
    let cipher = RecordCipher::new(&vault_key);
    let canary = cipher.seal(CANARY_FIELD, CANARY_V2)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if matches!(schema::inspect(&tx)?, FileKind::Empty) {
        schema::migrate(&tx)?;
        tx.execute(
            "INSERT INTO vault_meta (id, wrapped_key, canary) VALUES (1, ?1, ?2)",
            (&wrapped, &canary),
        )?;
        head::adopt(&tx, &cipher)?;
    }
    tx.commit()?;
    Ok(())
}

enum Unlock {
    /// The file is ours but its key material is missing or unreadable.
    Damaged(String),
    /// The key could not be had or is wrong; the file stays as it is.
    Refused(VaultError),
}

impl From<rusqlite::Error> for Unlock {
    fn from(e: rusqlite::Error) -> Self {
        if is_unreadable(&e) {
            Self::Damaged(describe_sqlite(&e))
        } else {
            Self::Refused(e.into())
        }
    }
}

fn unlock(conn: &Connection, protector: &dyn KeyProtector) -> Result<RecordCipher, Unlock> {
    let meta: Option<(Vec<u8>, Vec<u8>)> = conn
        .query_row(
            "SELECT wrapped_key, canary FROM vault_meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((wrapped, canary)) = meta else {
        return Err(Unlock::Damaged("the vault key record is missing".into()));
    };
    let unwrapped = Zeroizing::new(
        protector
            .unwrap(wrapped)
            .map_err(|e| Unlock::Refused(VaultError::from_unwrap(e)))?,
    );
    let key: Zeroizing<[u8; VAULT_KEY_LEN]> = Zeroizing::new(
        unwrapped
            .as_slice()
            .try_into()
            .map_err(|_| Unlock::Refused(VaultError::WrongKey))?,
    );
    let cipher = RecordCipher::new(&key);
    match cipher.open(CANARY_FIELD, &canary) {
        Ok(text) if text.as_slice() == CANARY_V2 || text.as_slice() == CANARY_V1 => Ok(cipher),
        _ => Err(Unlock::Refused(VaultError::WrongKey)),
    }
}

fn is_unreadable(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

fn describe_sqlite(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "not a SQLite database".into(),
        Some(ErrorCode::DatabaseCorrupt) => "the database structure is damaged".into(),
        _ => e.to_string(),
    }
}

/// Renames the file (and its WAL, shared-memory and damage-marker files) to `<name>.unreadable-<time>[-n]`,
/// so that nothing is lost and a new vault can be made in its place.
fn set_aside(path: &Path) -> Result<PathBuf, VaultError> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vault".into());
    let mut n = 0u32;
    let target = loop {
        let candidate = if n == 0 {
            path.with_file_name(format!("{name}.unreadable-{stamp}"))
        } else {
            path.with_file_name(format!("{name}.unreadable-{stamp}-{n}"))
        };
        if !candidate.exists() {
            break candidate;
        }
        n += 1;
    };
    fs::rename(path, &target)?;
    for suffix in maintenance::SIDE_FILES {
        let side = path.with_file_name(format!("{name}{suffix}"));
        if side.exists() {
            let moved = target.with_file_name(format!(
                "{}{suffix}",
                target
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            fs::rename(side, moved)?;
        }
    }
    Ok(target)
}
