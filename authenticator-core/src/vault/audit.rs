//! The audit trail: an append-only, sealed log of security-relevant events (on-behalf
//! registrations, grants accepted or refused, resets). Entries are never edited; the sequence
//! number is bound into each entry's AAD, so entries cannot be reordered or swapped unnoticed.

use std::collections::BTreeMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::record_crypto::Field;
use super::{Vault, VaultError};

const TABLE: &str = "audit_log";

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    #[serde(skip)]
    pub seq: u64,
    /// Seconds since the Unix epoch, from the caller's clock.
    #[serde(skip)]
    pub recorded_at: u64,
    /// What happened, such as "obr.registration".
    pub kind: String,
    /// The facts of the event (grant id, admin, rp id, ...).
    pub details: BTreeMap<String, String>,
}

/// Access to the audit trail.
pub struct AuditLog<'v> {
    vault: &'v Vault,
}

impl<'v> AuditLog<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    /// Appends an entry and returns its sequence number.
    pub fn append(
        &self,
        recorded_at: u64,
        kind: &str,
        details: BTreeMap<String, String>,
    ) -> Result<u64, VaultError> {
        let entry = AuditEntry {
            seq: 0,
            recorded_at,
            kind: kind.to_owned(),
            details,
        };
        self.vault.write(|tx| {
            let seq: i64 =
                tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM audit_log", [], |r| {
                    r.get(0)
                })?;
            let sealed = self
                .vault
                .cipher()
                .seal_cbor(Field::new(TABLE, "entry", &seq.to_be_bytes()), &entry)?;
            tx.execute(
                "INSERT INTO audit_log (seq, recorded_at, entry) VALUES (?1, ?2, ?3)",
                params![seq, i64::try_from(recorded_at).unwrap_or(i64::MAX), sealed],
            )?;
            Ok(u64::try_from(seq).unwrap_or(0))
        })
    }

    /// Every entry, oldest first.
    pub fn list(&self) -> Result<Vec<AuditEntry>, VaultError> {
        let rows = self.vault.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT seq, recorded_at, entry FROM audit_log ORDER BY seq")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<(i64, i64, Vec<u8>)>, _>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(seq, at, sealed)| {
                let mut entry: AuditEntry = self
                    .vault
                    .cipher()
                    .open_cbor(Field::new(TABLE, "entry", &seq.to_be_bytes()), &sealed)?;
                entry.seq = u64::try_from(seq).unwrap_or(0);
                entry.recorded_at = u64::try_from(at).unwrap_or(0);
                Ok(entry)
            })
            .collect()
    }
}
