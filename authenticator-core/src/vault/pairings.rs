//! Pairing records: the PCs this phone has paired with (their static keys and shared secrets).
//!
//! The pairing id is random and says nothing about the PC; the PC's name, static public key and
//! relay routing id are sealed in `metadata`, the phone's own static private key and the
//! per-pairing secret in `secrets`, so listing paired PCs never decrypts a secret.
//!
//! Pairings are protected records (`head`), keyed by their id and bound by their sealed
//! `metadata` (a pairing is never edited, only added and removed; the AAD ties `secrets` to the
//! same id): a PC the user removed cannot be brought back by putting its old row back, since
//! every read checks the row against the state head. `last_used_at` is a plain, unprotected
//! display hint.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::head::{Head, pairing_key};
use super::record_crypto::Field;
use super::{Vault, VaultError};
use crate::secret::SecretBytes;

const TABLE: &str = "pairings";

/// A paired PC, as shown in "paired computers".
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PairingRecord {
    #[serde(with = "serde_bytes")]
    pub pairing_id: Vec<u8>,
    /// The PC's name as the user or the pairing tool gave it.
    pub name: String,
    /// The PC's static P-256 public key (SEC1).
    #[serde(with = "serde_bytes")]
    pub peer_public_key: Vec<u8>,
    /// Routing information for the cloud relay.
    #[serde(with = "serde_bytes")]
    pub routing_id: Vec<u8>,
    #[serde(skip)]
    pub created_at: u64,
    #[serde(skip)]
    pub last_used_at: u64,
}

impl std::fmt::Debug for PairingRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairingRecord")
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// A pairing's secrets. Wiped on drop; no `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub struct PairingSecrets {
    /// The phone's static P-256 private key for this pairing.
    pub own_static_private_key: SecretBytes,
    /// The secret both sides keep for reconnects.
    pub pairing_secret: SecretBytes,
}

/// Access to the pairings table.
pub struct Pairings<'v> {
    vault: &'v Vault,
}

/// How an error names a pairing (the random id says nothing about the PC).
fn what() -> &'static str {
    "paired computer record"
}

/// Checks one row (its sealed metadata, `None` if absent) against the head.
fn check(head: &Head, id: &[u8], metadata: Option<&[u8]>) -> Result<(), VaultError> {
    head.check(&pairing_key(id), metadata, what())
}

fn select_metadata(conn: &rusqlite::Connection, id: &[u8]) -> Result<Option<Vec<u8>>, VaultError> {
    Ok(conn
        .prepare_cached("SELECT metadata FROM pairings WHERE pairing_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

fn to_i64(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

impl<'v> Pairings<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    pub fn insert(
        &self,
        record: &PairingRecord,
        secrets: &PairingSecrets,
    ) -> Result<(), VaultError> {
        let cipher = self.vault.cipher();
        let id = &record.pairing_id;
        let metadata = cipher.seal_cbor(Field::new(TABLE, "metadata", id), record)?;
        let sealed = cipher.seal_cbor(Field::new(TABLE, "secrets", id), secrets)?;
        self.vault.write_protected(|conn, head| {
            match conn.execute(
                "INSERT INTO pairings (pairing_id, created_at, last_used_at, metadata, secrets)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id,
                    to_i64(record.created_at),
                    to_i64(record.last_used_at),
                    metadata,
                    sealed
                ],
            ) {
                Ok(_) => {
                    check(head, id, None)?;
                    head.put(&pairing_key(id), Some(&metadata));
                    Ok(())
                }
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                {
                    Err(VaultError::DuplicatePairing)
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn decode(
        &self,
        id: &[u8],
        sealed: &[u8],
        created: i64,
        used: i64,
    ) -> Result<PairingRecord, VaultError> {
        let mut record: PairingRecord = self
            .vault
            .cipher()
            .open_cbor(Field::new(TABLE, "metadata", id), sealed)?;
        record.created_at = u64::try_from(created).unwrap_or(0);
        record.last_used_at = u64::try_from(used).unwrap_or(0);
        Ok(record)
    }

    /// Paired PCs, most recently used first.
    pub fn list(&self) -> Result<Vec<PairingRecord>, VaultError> {
        let rows = self.vault.read_verified(|conn, head| {
            let mut stmt = conn.prepare_cached(
                "SELECT pairing_id, metadata, created_at, last_used_at FROM pairings
                 ORDER BY last_used_at DESC, pairing_id",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<(Vec<u8>, Vec<u8>, i64, i64)>, _>>()?;
            for (id, metadata, _, _) in &rows {
                check(head, id, Some(metadata))?;
            }
            let listed = head
                .records
                .keys()
                .filter(|k| k.starts_with(super::head::PAIRING_PREFIX))
                .count();
            if listed != rows.len() {
                return Err(VaultError::Tampered {
                    what: format!("{} was deleted", what()),
                });
            }
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(id, sealed, c, u)| self.decode(&id, &sealed, c, u))
            .collect()
    }

    pub fn get(&self, pairing_id: &[u8]) -> Result<Option<PairingRecord>, VaultError> {
        let row: Option<(Vec<u8>, i64, i64)> = self.vault.read_verified(|conn, head| {
            let row: Option<(Vec<u8>, i64, i64)> = conn
                .query_row(
                    "SELECT metadata, created_at, last_used_at FROM pairings WHERE pairing_id = ?1",
                    [pairing_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            check(head, pairing_id, row.as_ref().map(|r| r.0.as_slice()))?;
            Ok(row)
        })?;
        row.map(|(sealed, c, u)| self.decode(pairing_id, &sealed, c, u))
            .transpose()
    }

    pub fn secrets(&self, pairing_id: &[u8]) -> Result<Option<PairingSecrets>, VaultError> {
        let sealed: Option<Vec<u8>> = self.vault.read_verified(|conn, head| {
            let row: Option<(Vec<u8>, Vec<u8>)> = conn
                .query_row(
                    "SELECT metadata, secrets FROM pairings WHERE pairing_id = ?1",
                    [pairing_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            check(head, pairing_id, row.as_ref().map(|r| r.0.as_slice()))?;
            Ok(row.map(|r| r.1))
        })?;
        sealed
            .map(|s| {
                self.vault
                    .cipher()
                    .open_cbor(Field::new(TABLE, "secrets", pairing_id), &s)
            })
            .transpose()
    }

    /// Records that the pairing was used at `at`; false if it does not exist.
    pub fn touch(&self, pairing_id: &[u8], at: u64) -> Result<bool, VaultError> {
        self.vault.read(|conn| {
            Ok(conn.execute(
                "UPDATE pairings SET last_used_at = max(last_used_at, ?1) WHERE pairing_id = ?2",
                params![to_i64(at), pairing_id],
            )? > 0)
        })
    }

    /// Forgets a paired PC; false if it was not paired.
    pub fn remove(&self, pairing_id: &[u8]) -> Result<bool, VaultError> {
        self.vault.write_protected(|conn, head| {
            check(
                head,
                pairing_id,
                select_metadata(conn, pairing_id)?.as_deref(),
            )?;
            head.put(&pairing_key(pairing_id), None);
            Ok(conn.execute("DELETE FROM pairings WHERE pairing_id = ?1", [pairing_id])? > 0)
        })
    }
}
