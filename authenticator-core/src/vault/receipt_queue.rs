//! OBR receipts on their way to the workspace: each one is queued when the session makes it
//! and removed once the workspace took it, so a receipt whose upload failed (the workspace
//! unreachable past its retries, the app stopped meanwhile) is posted later instead of lost.
//!
//! Invariants:
//! - Bounded: at most [`MAX_QUEUED_RECEIPTS`] rows; past that a new receipt is not queued (the
//!   caller audits it) and the queued ones are kept, oldest first.
//! - Each receipt is sealed with its `seq` in the AAD. Someone who can write the app's files
//!   can delete a row (a receipt then is not re-sent: the workspace learns of the registration
//!   from the admin's tool alone), put back a row already posted (the workspace answers
//!   `already_recorded`), but cannot add or alter one: a row that does not open is reported
//!   as refused by [`ReceiptQueue::pending`], and the caller drops it unposted.
//! - Not a protected record of the state head: a rolled-back queue can only re-send or omit
//!   receipts the phone signed, never make it post anything else.

use rusqlite::params;

use super::record_crypto::Field;
use super::{Vault, VaultError};

const TABLE: &str = "receipt_queue";
/// The most receipts kept waiting: a grant allows at most 25 registrations (obr-grant.md §3,
/// `MAX_REGISTRATIONS`), so this holds the receipts of ten whole grants.
pub const MAX_QUEUED_RECEIPTS: u64 = 256;

fn field(seq: &[u8; 8]) -> Field<'_> {
    Field::new(TABLE, "receipt", seq)
}

/// One queued row: its sequence number and the receipt, or why it was refused.
pub struct QueuedReceipt {
    pub seq: i64,
    pub receipt: Result<Vec<u8>, VaultError>,
}

/// Access to the receipt queue.
pub struct ReceiptQueue<'v> {
    vault: &'v Vault,
}

impl<'v> ReceiptQueue<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    /// Queues `receipt`; `None` if the queue is full (nothing was stored).
    pub fn push(&self, now: u64, receipt: &[u8]) -> Result<Option<i64>, VaultError> {
        self.vault.write(|tx| {
            let (count, last): (i64, i64) = tx.query_row(
                "SELECT count(*), coalesce(max(seq), 0) FROM receipt_queue",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if u64::try_from(count).unwrap_or(u64::MAX) >= MAX_QUEUED_RECEIPTS {
                return Ok(None);
            }
            let seq = last.saturating_add(1);
            let sealed = self
                .vault
                .cipher()
                .seal(field(&seq.to_be_bytes()), receipt)?;
            tx.execute(
                "INSERT INTO receipt_queue (seq, queued_at, receipt) VALUES (?1, ?2, ?3)",
                params![seq, i64::try_from(now).unwrap_or(i64::MAX), sealed],
            )?;
            Ok(Some(seq))
        })
    }

    /// Every queued row, oldest first; a row that does not open is returned as refused.
    pub fn pending(&self) -> Result<Vec<QueuedReceipt>, VaultError> {
        let rows = self.vault.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT seq, receipt FROM receipt_queue ORDER BY seq LIMIT ?1")?;
            let rows = stmt
                .query_map(
                    [i64::try_from(MAX_QUEUED_RECEIPTS).unwrap_or(i64::MAX)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<Result<Vec<(i64, Vec<u8>)>, _>>()?;
            Ok(rows)
        })?;
        Ok(rows
            .into_iter()
            .map(|(seq, sealed)| QueuedReceipt {
                seq,
                receipt: self
                    .vault
                    .cipher()
                    .open(field(&seq.to_be_bytes()), &sealed)
                    .map(|plain| plain.to_vec()),
            })
            .collect())
    }

    /// Removes a row (posted, or refused); false if it was not there.
    pub fn remove(&self, seq: i64) -> Result<bool, VaultError> {
        self.vault
            .read(|conn| Ok(conn.execute("DELETE FROM receipt_queue WHERE seq = ?1", [seq])? > 0))
    }

    /// Number of queued rows.
    pub fn count(&self) -> Result<u64, VaultError> {
        self.vault.read(|conn| {
            let n: i64 = conn.query_row("SELECT count(*) FROM receipt_queue", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestProtector;

    #[test]
    fn the_queue_keeps_receipts_in_order_and_refuses_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path().join("vault.db"), &TestProtector::plain()).unwrap();
        let queue = vault.receipt_queue();
        for i in 0..MAX_QUEUED_RECEIPTS {
            assert_eq!(
                queue.push(7, &i.to_be_bytes()).unwrap(),
                Some(i64::try_from(i).unwrap() + 1)
            );
        }
        assert_eq!(queue.push(7, b"one too many").unwrap(), None);
        assert_eq!(queue.count().unwrap(), MAX_QUEUED_RECEIPTS);
        let pending = queue.pending().unwrap();
        assert_eq!(pending.len() as u64, MAX_QUEUED_RECEIPTS);
        assert_eq!(pending[0].receipt.as_ref().unwrap(), &0u64.to_be_bytes());
        assert!(queue.remove(pending[0].seq).unwrap());
        assert!(!queue.remove(pending[0].seq).unwrap());
        assert_eq!(queue.push(7, b"room again").unwrap(), Some(257));
    }

    /// A row written from outside, or a sealed row moved to another `seq`, does not open.
    #[test]
    fn rows_not_written_by_the_app_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path().join("vault.db"), &TestProtector::plain()).unwrap();
        let queue = vault.receipt_queue();
        queue.push(7, b"genuine").unwrap();
        vault
            .read(|conn| {
                conn.execute_batch(
                    "INSERT INTO receipt_queue (seq, queued_at, receipt) VALUES (5, 0, x'00112233');
                     INSERT INTO receipt_queue (seq, queued_at, receipt)
                         SELECT 6, 0, receipt FROM receipt_queue WHERE seq = 1;",
                )?;
                Ok(())
            })
            .unwrap();
        let pending = queue.pending().unwrap();
        let seen: Vec<(i64, bool)> = pending.iter().map(|r| (r.seq, r.receipt.is_ok())).collect();
        assert_eq!(seen, [(1, true), (5, false), (6, false)]);
        assert!(matches!(
            pending[2].receipt,
            Err(VaultError::RecordTampered {
                table: "receipt_queue",
                column: "receipt"
            })
        ));
    }
}
