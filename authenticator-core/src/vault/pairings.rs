//! Pairing records: the PCs this phone has paired with (their static keys and shared secrets).
//!
//! The pairing id is random and says nothing about the PC; the PC's name, static public key and
//! relay routing id are sealed in `metadata`, the phone's own static private key and the
//! per-pairing secret in `secrets`, so listing paired PCs never decrypts a secret.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

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
        self.vault.read(|conn| {
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
                Ok(_) => Ok(()),
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
        let rows = self.vault.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT pairing_id, metadata, created_at, last_used_at FROM pairings
                 ORDER BY last_used_at DESC, pairing_id",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<(Vec<u8>, Vec<u8>, i64, i64)>, _>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(id, sealed, c, u)| self.decode(&id, &sealed, c, u))
            .collect()
    }

    pub fn get(&self, pairing_id: &[u8]) -> Result<Option<PairingRecord>, VaultError> {
        let row: Option<(Vec<u8>, i64, i64)> = self.vault.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT metadata, created_at, last_used_at FROM pairings WHERE pairing_id = ?1",
                    [pairing_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?)
        })?;
        row.map(|(sealed, c, u)| self.decode(pairing_id, &sealed, c, u))
            .transpose()
    }

    pub fn secrets(&self, pairing_id: &[u8]) -> Result<Option<PairingSecrets>, VaultError> {
        let sealed: Option<Vec<u8>> = self.vault.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT secrets FROM pairings WHERE pairing_id = ?1",
                    [pairing_id],
                    |r| r.get(0),
                )
                .optional()?)
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
        self.vault.read(|conn| {
            Ok(conn.execute("DELETE FROM pairings WHERE pairing_id = ?1", [pairing_id])? > 0)
        })
    }
}
