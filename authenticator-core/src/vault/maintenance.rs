//! What the vault keeps off the timed request path, and the idle hook that does it.
//!
//! - WAL checkpoints. SQLite's automatic checkpoint runs inside whichever commit crosses 1,000
//!   WAL pages, so one registration in a few hundred paid for copying the log into the file.
//!   The connection's WAL hook replaces it (SQLite runs one or the other, never both): the hook
//!   only records how many frames the log holds, and [`Vault::maintain`] checkpoints when the
//!   app is idle. A commit checkpoints only if the log passed [`WAL_REQUEST_PATH_LIMIT`] frames
//!   (an app that never calls the idle hook): the log stays bounded, and that checkpoint is
//!   counted as one on the request path.
//! - The structural check of the file. Opening checks the whole file only while it is small
//!   (at most [`OPEN_CHECK_MAX_PAGES`] pages) or when an earlier idle check marked it damaged;
//!   otherwise it checks the small tables the open reads (the key, the head, the PIN state, the
//!   settings, the pairings) and the whole file is checked once per open vault by
//!   [`Vault::maintain`], on a read connection of its own so that requests do not wait for it.
//!   Damage found then is reported as [`VaultError::DamageFound`] and marked by a file beside
//!   the vault (`<name>-damaged`), so the next open checks the whole file and moves it aside as
//!   it always did. A sealed record that was altered is caught when it is read, as before
//!   (AES-GCM); what moves to idle time is only SQLite's structural check of the passkeys'
//!   pages (a damaged page is also refused by SQLite whenever a request reads it).
//! - The passkey count is cached (`credentials`) and primed here.
//!
//! Someone who can write the app's files can create the marker: it costs the next open one
//! whole-file check and nothing else (a file that checks clean is kept and unmarked).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rusqlite::{Connection, OpenFlags};

use super::{Setup, Vault, VaultError, describe_sqlite, is_unreadable};

/// A file of at most this many pages (1 MiB at 4 KiB) is checked whole at open: the check's
/// cost stays bounded by this size, however large the vault grows.
pub const OPEN_CHECK_MAX_PAGES: i64 = 256;
/// The WAL size (frames) at which a commit checkpoints after all: 16 times SQLite's default
/// automatic checkpoint (1,000 pages, sqlite.org/wal.html#ckpt), 64 MiB at 4 KiB pages.
pub const WAL_REQUEST_PATH_LIMIT: u64 = 16_000;
/// The tables opening reads, checked at open whatever the file's size.
const OPEN_TABLES: &[&str] = &[
    "sqlite_schema",
    "vault_meta",
    "vault_head",
    "pin_state",
    "settings",
    "pairings",
];
const DAMAGED_SUFFIX: &str = "-damaged";

/// How many checkpoints this open vault ran, and where.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointCounts {
    /// Inside a commit of a request (only past [`WAL_REQUEST_PATH_LIMIT`]).
    pub on_request_path: u64,
    /// From [`Vault::maintain`].
    pub idle: u64,
}

/// What one [`Vault::maintain`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// WAL frames copied into the file.
    pub checkpointed_frames: u64,
    /// The whole file was checked by this call (once per open vault).
    pub checked_whole_file: bool,
    /// The number of stored passkeys (now cached for registrations).
    pub passkeys: u64,
}

/// The WAL's state as the hook saw it, and the counters.
pub(super) struct Upkeep {
    frames: Arc<AtomicU64>,
    /// [`WAL_REQUEST_PATH_LIMIT`]; lowered by a test to reach it with a few commits.
    limit: u64,
    on_request_path: AtomicU64,
    idle: AtomicU64,
    checked_whole_file: AtomicBool,
}

impl Default for Upkeep {
    fn default() -> Self {
        Self {
            frames: Arc::default(),
            limit: WAL_REQUEST_PATH_LIMIT,
            on_request_path: AtomicU64::new(0),
            idle: AtomicU64::new(0),
            checked_whole_file: AtomicBool::new(false),
        }
    }
}

impl Upkeep {
    /// Replaces SQLite's automatic checkpoint on `conn` by a hook that only counts frames.
    pub(super) fn install(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let frames = self.frames.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            frames.store(u64::try_from(pages).unwrap_or(0), Ordering::Relaxed);
            Ok(())
        }))
    }
}

/// The marker an idle check leaves beside a damaged vault.
pub(super) fn damaged_marker(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(DAMAGED_SUFFIX);
    PathBuf::from(name)
}

/// The files set aside with a damaged vault, besides SQLite's own.
pub(super) const SIDE_FILES: &[&str] = &["-wal", "-shm", DAMAGED_SUFFIX];

/// The structural check at open (see the module header): whole for a small or marked file,
/// the tables the open reads otherwise.
pub(super) fn check_at_open(conn: &Connection, path: &Path) -> Result<(), Setup> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let marker = damaged_marker(path);
    if pages <= OPEN_CHECK_MAX_PAGES || marker.exists() {
        let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if verdict != "ok" {
            return Err(Setup::Damaged(format!("integrity check failed: {verdict}")));
        }
        // Checked clean: a marker (stale, or put there from outside) has done its job.
        let _ = std::fs::remove_file(&marker);
        return Ok(());
    }
    for table in OPEN_TABLES {
        let verdict: String =
            conn.query_row(&format!("PRAGMA quick_check({table})"), [], |r| r.get(0))?;
        if verdict != "ok" {
            return Err(Setup::Damaged(format!("integrity check failed: {verdict}")));
        }
    }
    Ok(())
}

/// Copies the WAL into the file without waiting for anyone (PASSIVE). Returns the frames
/// copied, and records what the log holds after it.
fn checkpoint(conn: &Connection, frames: &AtomicU64) -> Result<u64, VaultError> {
    let (_busy, log, done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let left = if done >= log { 0 } else { log - done };
    frames.store(u64::try_from(left).unwrap_or(0), Ordering::Relaxed);
    Ok(u64::try_from(done).unwrap_or(0))
}

impl Vault {
    /// After a commit on the request path: checkpoints only if the log outgrew its bound.
    pub(super) fn bound_wal(&self, conn: &Connection) {
        if self.upkeep.frames.load(Ordering::Relaxed) <= self.upkeep.limit {
            return;
        }
        match checkpoint(conn, &self.upkeep.frames) {
            Ok(_) => {
                self.upkeep.on_request_path.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(%error, "the vault's log was not checkpointed"),
        }
    }

    /// The idle hook: checkpoints the WAL, checks the whole file once per open vault, and
    /// primes the passkey count. Call it when no request is running (the API does, from
    /// `Authenticator::run_idle_maintenance`); a request that comes meanwhile only waits for
    /// the checkpoint, never for the whole-file check.
    pub fn maintain(&self) -> Result<MaintenanceReport, VaultError> {
        let checkpointed_frames = {
            let conn = self.lock();
            if self.upkeep.frames.load(Ordering::Relaxed) > 0 {
                let done = checkpoint(&conn, &self.upkeep.frames)?;
                self.upkeep.idle.fetch_add(1, Ordering::Relaxed);
                done
            } else {
                0
            }
        };
        let checked_whole_file = !self.upkeep.checked_whole_file.load(Ordering::Relaxed);
        if checked_whole_file {
            self.check_whole_file()?;
            self.upkeep
                .checked_whole_file
                .store(true, Ordering::Relaxed);
        }
        Ok(MaintenanceReport {
            checkpointed_frames,
            checked_whole_file,
            passkeys: self.credentials().count()?,
        })
    }

    /// SQLite's structural check of the whole file, on a read connection of its own.
    fn check_whole_file(&self) -> Result<(), VaultError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let verdict = Connection::open_with_flags(&self.path, flags).and_then(|conn| {
            conn.busy_timeout(super::BUSY_TIMEOUT)?;
            conn.query_row("PRAGMA quick_check(1)", [], |r| r.get::<_, String>(0))
        });
        let reason = match verdict {
            Ok(verdict) if verdict == "ok" => return Ok(()),
            Ok(verdict) => format!("integrity check failed: {verdict}"),
            Err(e) if is_unreadable(&e) => describe_sqlite(&e),
            Err(e) => return Err(e.into()),
        };
        std::fs::write(damaged_marker(&self.path), reason.as_bytes())?;
        tracing::error!("the vault file is damaged; it is moved aside at the next open");
        Err(VaultError::DamageFound { reason })
    }

    /// The checkpoints this open vault ran, and where.
    #[cfg(any(test, feature = "testkit"))]
    pub fn checkpoint_counts(&self) -> CheckpointCounts {
        CheckpointCounts {
            on_request_path: self.upkeep.on_request_path.load(Ordering::Relaxed),
            idle: self.upkeep.idle.load(Ordering::Relaxed),
        }
    }

    /// Frames in the WAL after the last commit or checkpoint of this connection.
    #[cfg(any(test, feature = "testkit"))]
    pub fn wal_frames(&self) -> u64 {
        self.upkeep.frames.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestProtector;

    const PAGE: usize = 4096;

    /// A vault of well over [`OPEN_CHECK_MAX_PAGES`] pages, its passkey rows written straight
    /// into the file (their contents do not matter to SQLite's structural check).
    fn large_vault(dir: &Path, protector: &TestProtector) -> PathBuf {
        let path = dir.join("vault.db");
        drop(Vault::open(&path, protector).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
             INSERT INTO credentials (cred_handle, rp_handle, created_at, sign_count, metadata,
                                      secrets, discoverable, created_seq)
             SELECT randomblob(16), randomblob(16), i, 0, randomblob(300), randomblob(100), 0, i
             FROM n;",
        )
        .unwrap();
        drop(conn);
        let pages = std::fs::metadata(&path).unwrap().len() / PAGE as u64;
        assert!(pages > 2 * OPEN_CHECK_MAX_PAGES as u64, "{pages} pages");
        path
    }

    /// Overwrites page `n` (0-based) of the closed file.
    fn damage_page(path: &Path, n: usize) -> Vec<u8> {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[n * PAGE..(n + 1) * PAGE].fill(0xAA);
        std::fs::write(path, &bytes).unwrap();
        bytes
    }

    /// The open of a large vault does not read its passkeys' pages; the first idle run finds
    /// the damage, marks the file, and the next open moves it aside as a damaged small file
    /// always was.
    #[test]
    fn damage_in_a_large_file_is_found_by_the_idle_check_and_moved_aside_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let protector = TestProtector::plain();
        let path = large_vault(dir.path(), &protector);
        let pages = std::fs::metadata(&path).unwrap().len() as usize / PAGE;
        let damaged = damage_page(&path, pages / 2);

        let vault = Vault::open(&path, &protector).expect("the open reads only small tables");
        let err = vault.maintain().unwrap_err();
        let VaultError::DamageFound { reason } = &err else {
            panic!("expected DamageFound, got {err:?}");
        };
        assert!(reason.starts_with("integrity check failed: "), "{reason}");
        assert_eq!(
            err.to_string(),
            format!(
                "the vault file is damaged ({reason}); it will be moved aside when it is opened next"
            )
        );
        assert!(damaged_marker(&path).exists());
        drop(vault);

        let Err(VaultError::Corrupt { moved_to, .. }) = Vault::open(&path, &protector) else {
            panic!("the marked file must be checked whole and moved aside");
        };
        assert_eq!(std::fs::read(&moved_to).unwrap(), damaged);
        assert!(!damaged_marker(&path).exists());
        assert!(damaged_marker(&moved_to).exists());
        // A new, empty vault opens in its place.
        assert_eq!(
            Vault::open(&path, &protector)
                .unwrap()
                .credentials()
                .count()
                .unwrap(),
            0
        );
    }

    /// A passkey whose sealed record was altered in a large file: the open (which no longer
    /// reads every page) succeeds, and the record is refused when it is read, as before.
    #[test]
    fn an_altered_passkey_in_a_large_file_is_refused_when_it_is_read() {
        use crate::secret::SecretBytes;
        use crate::vault::{Credential, CredentialSecrets};
        let dir = tempfile::tempdir().unwrap();
        let protector = TestProtector::plain();
        let path = large_vault(dir.path(), &protector);
        let credential = Credential {
            credential_id: vec![9; 16],
            rp_id: "example.com".into(),
            rp_name: None,
            user_id: vec![9],
            user_name: None,
            user_display_name: None,
            algorithm: -7,
            public_key: vec![4; 65],
            discoverable: false,
            cred_protect: 1,
            cred_blob: None,
            created_at: 1,
            label: None,
            sign_count: 0,
        };
        let secrets = CredentialSecrets {
            private_key: SecretBytes::new(vec![9; 32]),
            cred_random_with_uv: None,
            cred_random_without_uv: None,
        };
        Vault::open(&path, &protector)
            .unwrap()
            .credentials()
            .insert(&credential, &secrets)
            .unwrap();
        let raw = Connection::open(&path).unwrap();
        // Flips one bit of the newest row's sealed metadata.
        let newest = "WHERE created_seq = (SELECT max(created_seq) FROM credentials)";
        let mut metadata: Vec<u8> = raw
            .query_row(
                &format!("SELECT metadata FROM credentials {newest}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        *metadata.last_mut().unwrap() ^= 1;
        raw.execute(
            &format!("UPDATE credentials SET metadata = ?1 {newest}"),
            [metadata],
        )
        .unwrap();
        drop(raw);
        let vault = Vault::open(&path, &protector).unwrap();
        assert!(matches!(
            vault.credentials().get(&[9; 16]),
            Err(VaultError::RecordTampered {
                table: "credentials",
                column: "metadata"
            })
        ));
    }

    /// Damage in a table the open reads is still found at open, however large the file.
    #[test]
    fn damage_in_what_the_open_reads_is_found_at_open_in_a_large_file() {
        let dir = tempfile::tempdir().unwrap();
        let protector = TestProtector::plain();
        let path = large_vault(dir.path(), &protector);
        // Page 1 (0-based) is the first table's root: vault_meta, made first.
        damage_page(&path, 1);
        assert!(matches!(
            Vault::open(&path, &protector),
            Err(VaultError::Corrupt { .. })
        ));
    }

    /// A marker on a sound file (stale, or put there from outside) costs one whole-file check
    /// and is removed; the vault is kept.
    #[test]
    fn a_marker_on_a_sound_file_costs_one_whole_check_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let protector = TestProtector::plain();
        let path = large_vault(dir.path(), &protector);
        std::fs::write(damaged_marker(&path), b"from outside").unwrap();
        let vault = Vault::open(&path, &protector).unwrap();
        assert!(!damaged_marker(&path).exists());
        assert_eq!(vault.credentials().count().unwrap(), 4000);
        let report = vault.maintain().unwrap();
        assert!(report.checked_whole_file);
        assert_eq!(report.passkeys, 4000);
        // Once per open vault.
        assert!(!vault.maintain().unwrap().checked_whole_file);
    }

    /// An app that never calls the idle hook still has a bounded log: the commit that finds
    /// it past the bound checkpoints, and is counted as a checkpoint on the request path.
    #[test]
    fn a_log_past_its_bound_is_checkpointed_by_the_next_commit_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = Vault::open(dir.path().join("vault.db"), &TestProtector::plain()).unwrap();
        vault.upkeep.limit = 8;
        let mut appended = 0;
        while vault.checkpoint_counts().on_request_path == 0 && appended < 100 {
            appended += 1;
            vault
                .audit()
                .append(appended, "test", Default::default())
                .unwrap();
        }
        assert_eq!(
            vault.checkpoint_counts(),
            CheckpointCounts {
                on_request_path: 1,
                idle: 0
            }
        );
        assert_eq!(vault.wal_frames(), 0);
    }

    /// The cached count follows this vault's own inserts and deletes, and another
    /// connection's (the app's extension) through `data_version`.
    #[test]
    fn the_cached_count_follows_this_and_another_connection() {
        use crate::secret::SecretBytes;
        use crate::vault::{Credential, CredentialSecrets};
        let dir = tempfile::tempdir().unwrap();
        let protector = TestProtector::plain();
        let path = dir.path().join("vault.db");
        let app = Vault::open(&path, &protector).unwrap();
        let extension = Vault::open(&path, &protector).unwrap();
        let passkey = |id: u8| {
            (
                Credential {
                    credential_id: vec![id; 16],
                    rp_id: "example.com".into(),
                    rp_name: None,
                    user_id: vec![id],
                    user_name: None,
                    user_display_name: None,
                    algorithm: -7,
                    public_key: vec![4; 65],
                    discoverable: false,
                    cred_protect: 1,
                    cred_blob: None,
                    created_at: 1,
                    label: None,
                    sign_count: 0,
                },
                CredentialSecrets {
                    private_key: SecretBytes::new(vec![id; 32]),
                    cred_random_with_uv: None,
                    cred_random_without_uv: None,
                },
            )
        };
        assert_eq!(app.credentials().count().unwrap(), 0);
        let (c, s) = passkey(1);
        app.credentials().insert(&c, &s).unwrap();
        assert_eq!(app.credentials().count().unwrap(), 1);
        let (c, s) = passkey(2);
        extension.credentials().insert(&c, &s).unwrap();
        assert_eq!(app.credentials().count().unwrap(), 2);
        assert!(app.credentials().delete(&[1; 16]).unwrap());
        assert!(!app.credentials().delete(&[1; 16]).unwrap());
        assert_eq!(app.credentials().count().unwrap(), 1);
        assert_eq!(extension.credentials().count().unwrap(), 1);
        assert_eq!(app.credentials().delete_all().unwrap(), 1);
        assert_eq!(app.credentials().count().unwrap(), 0);
        assert_eq!(extension.credentials().count().unwrap(), 0);
    }
}
