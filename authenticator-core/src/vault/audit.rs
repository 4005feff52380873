//! The audit trail: an append-only, sealed log of security-relevant events (on-behalf
//! registrations, grants accepted or refused, resets). Entries are never edited; the sequence
//! number is bound into each entry's AAD, so entries cannot be reordered or swapped unnoticed.
//!
//! Tamper evidence against deletion: the entries form a hash chain (each link hashes the
//! previous link, the entry's seq, its timestamp and its sealed bytes) whose end, with the last
//! seq, is kept in the sealed state head (`head`) and moved in the same transaction as each
//! append. Reading the log recomputes the chain; appending checks that the log still holds
//! exactly seq 1..=head's seq. A cut tail, a deleted or edited row is refused as `Tampered`.

use std::collections::BTreeMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::head::{AUDIT_CHAIN_START, Head, audit_link};
use super::record_crypto::Field;
use super::{Vault, VaultError};

const TABLE: &str = "audit_log";

/// Checks that the log still ends where the head says and has no gap: `count == max(seq) ==
/// head's seq` (entries are numbered from 1 and never removed).
pub(super) fn check_end(conn: &rusqlite::Connection, head: &Head) -> Result<(), VaultError> {
    let (count, last): (i64, i64) = conn
        .prepare_cached("SELECT count(*), coalesce(max(seq), 0) FROM audit_log")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let want = i64::try_from(head.audit_seq).unwrap_or(i64::MAX);
    if last < want {
        return Err(VaultError::Tampered {
            what: format!(
                "audit log was cut (it ends at entry {last}, the sealed state at {want})"
            ),
        });
    }
    if last > want || count != last {
        return Err(VaultError::Tampered {
            what: "audit log has entries deleted or added from outside the app".into(),
        });
    }
    Ok(())
}

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
        let at = i64::try_from(recorded_at).unwrap_or(i64::MAX);
        self.vault.write_protected(|tx, head| {
            check_end(tx, head)?;
            let seq = head.audit_seq.saturating_add(1);
            let row = i64::try_from(seq).unwrap_or(i64::MAX);
            let sealed = self
                .vault
                .cipher()
                .seal_cbor(Field::new(TABLE, "entry", &row.to_be_bytes()), &entry)?;
            tx.execute(
                "INSERT INTO audit_log (seq, recorded_at, entry) VALUES (?1, ?2, ?3)",
                params![row, at, sealed],
            )?;
            head.append_audit(seq, at, &sealed);
            Ok(seq)
        })
    }

    /// Every entry, oldest first.
    pub fn list(&self) -> Result<Vec<AuditEntry>, VaultError> {
        let rows = self.vault.read_verified(|conn, head| {
            let mut stmt =
                conn.prepare_cached("SELECT seq, recorded_at, entry FROM audit_log ORDER BY seq")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<(i64, i64, Vec<u8>)>, _>>()?;
            check_end(conn, head)?;
            let mut chain = AUDIT_CHAIN_START;
            for (seq, at, sealed) in &rows {
                chain = audit_link(&chain, u64::try_from(*seq).unwrap_or(0), *at, sealed);
            }
            if chain.as_slice() != head.audit_hash.as_slice() {
                return Err(VaultError::Tampered {
                    what: "audit log has an entry edited, replaced or deleted".into(),
                });
            }
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
