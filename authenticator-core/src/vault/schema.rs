//! The vault's SQLite schema and its numbered migrations.
//!
//! `PRAGMA application_id` marks the file as ours; `PRAGMA user_version` is the schema version.
//! Migrations run in order inside one IMMEDIATE transaction, so a crash leaves either the old or
//! the new version. A file whose version is newer than `CURRENT_VERSION` is refused before
//! anything is written. Released migration files are frozen; tests open a vault made by the
//! v1 code (`tests/fixtures/vault-v1`) and by the v5 code (`tests/fixtures/vault-v5`) to prove
//! old vaults still open and migrate.
//! `vault_meta` is read before migrating (to check the key), so it must keep its v1 shape.

use rusqlite::{Connection, Transaction};

use super::VaultError;

/// "PKV1" — identifies our files among SQLite databases.
pub(crate) const APPLICATION_ID: i32 = 0x504B_5631;

/// Migration `i` (0-based) takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_creation_order.sql"),
    include_str!("migrations/003_state_head.sql"),
    include_str!("migrations/004_receipt_queue.sql"),
    include_str!("migrations/005_hybrid_links.sql"),
    include_str!("migrations/006_creation_order_rowid.sql"),
];
/// The first schema version with the sealed state head (`vault/head.rs`).
pub(crate) const HEAD_VERSION: i64 = 3;

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// What an existing file turned out to be.
pub(crate) enum FileKind {
    /// Empty database: no tables and no application id (a new file).
    Empty,
    /// One of ours, at this schema version.
    Vault { version: i64 },
    /// Some other SQLite database.
    Foreign { application_id: i32 },
}

/// Reads the three facts in one statement, so they come from one snapshot: another process
/// creating the vault at this moment is seen either not at all or completely (read as three
/// statements, a half-seen creation looked like another application's database).
pub(crate) fn inspect(conn: &Connection) -> rusqlite::Result<FileKind> {
    let (application_id, version, objects): (i32, i64, i64) = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id()),
                (SELECT user_version FROM pragma_user_version()),
                (SELECT count(*) FROM sqlite_schema)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(match application_id {
        APPLICATION_ID => FileKind::Vault { version },
        0 if objects == 0 && version == 0 => FileKind::Empty,
        other => FileKind::Foreign {
            application_id: other,
        },
    })
}

/// Brings the schema inside `tx` from its current version to `CURRENT_VERSION`.
pub(crate) fn migrate(tx: &Transaction<'_>) -> Result<(), VaultError> {
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > CURRENT_VERSION {
        return Err(VaultError::NewerSchema {
            found: version,
            supported: CURRENT_VERSION,
        });
    }
    let start = usize::try_from(version).unwrap_or(0);
    for sql in MIGRATIONS.iter().skip(start) {
        tx.execute_batch(sql)?;
    }
    if version < CURRENT_VERSION {
        tx.pragma_update(None, "user_version", CURRENT_VERSION)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    Ok(())
}
