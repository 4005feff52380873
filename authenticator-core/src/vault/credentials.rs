//! Credentials repository: passkeys and their sign counters.
//!
//! Rows are keyed by the keyed hash of the credential id and indexed by the keyed hash of the
//! rp id. `metadata` (ids, names, public key, options) and `secrets` (private key, hmac-secret
//! keys) are sealed separately, so listing passkeys never decrypts a private key. After opening
//! a row the decoded ids are compared with the ones asked for, so a row whose handle was
//! swapped is caught even if its ciphertext was left alone.
//!
//! Sign counters: the engine takes them with [`Credentials::signing_material`] from blocks of the
//! one global reservation kept in the sealed state head (`head`), so a credential row put back
//! from an older copy cannot make a counter go back; the row's plain `sign_count` column is
//! the highest value reserved for that passkey (what the passkeys screen shows), raised once per
//! block. The older per-row `advance_sign_count*` primitives only move the column forward.
//! Listing order is newest first: by the caller's `created_at` (seconds), then by
//! `created_seq`, the row's rowid: a per-vault insertion counter that breaks ties within a
//! second. Being the rowid, it also puts a new row in the table's last leaf, so a
//! registration's durable commit writes that leaf and one leaf of each small index
//! (`credentials_by_handle`, `credentials_by_rp`), not a random, often full leaf of large rows
//! (schema 6; the bench prints the WAL frames per registration).

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::head;
use super::record_crypto::Field;
use super::{Vault, VaultError};
use crate::secret::SecretBytes;

const TABLE: &str = "credentials";
const RP_DOMAIN: &str = "rp id";
const CRED_DOMAIN: &str = "credential id";

/// A passkey's public facts: everything but its secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    #[serde(with = "serde_bytes")]
    pub credential_id: Vec<u8>,
    pub rp_id: String,
    pub rp_name: Option<String>,
    #[serde(with = "serde_bytes")]
    pub user_id: Vec<u8>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    /// COSE algorithm of the key: -7 (ES256) or -8 (EdDSA, Ed25519). Part of the sealed
    /// metadata since v1 (every v1 record says -7), so EdDSA needed no schema migration; the
    /// engine refuses a value it does not know (`ctap/credential_key.rs`).
    pub algorithm: i64,
    /// ES256: the SEC1 uncompressed point (65 bytes); EdDSA: the RFC 8032 public key (32).
    #[serde(with = "serde_bytes")]
    pub public_key: Vec<u8>,
    /// Resident ("discoverable") credential.
    pub discoverable: bool,
    /// credProtect level 1..=3.
    pub cred_protect: u8,
    #[serde(default, with = "serde_bytes")]
    pub cred_blob: Option<Vec<u8>>,
    /// Seconds since the Unix epoch, supplied by the caller's clock.
    pub created_at: u64,
    /// The user's own name for the passkey, set on the phone (`None`: not renamed). Absent from
    /// the sealed record when unset, so older records decode unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Read from its own column; not part of the sealed metadata.
    #[serde(skip)]
    pub sign_count: u32,
}

/// Personal data stays out of logs: only sizes are shown.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("credential_id_len", &self.credential_id.len())
            .field("discoverable", &self.discoverable)
            .field("cred_protect", &self.cred_protect)
            .field("sign_count", &self.sign_count)
            .finish_non_exhaustive()
    }
}

/// A passkey's secrets. Wiped on drop; no `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub struct CredentialSecrets {
    /// The private key of `Credential::algorithm`: the P-256 scalar or the Ed25519 seed (RFC
    /// 8032 §5.1.5), 32 bytes each.
    pub private_key: SecretBytes,
    /// hmac-secret CredRandom for assertions with and without user verification.
    pub cred_random_with_uv: Option<SecretBytes>,
    pub cred_random_without_uv: Option<SecretBytes>,
}

/// One process's block of the global sign-counter reservation: values `last + 1 ..= end` are
/// this process's to hand out while the stored reservation still ends at `end`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SignCountBlock {
    last: u32,
    end: u32,
}

/// Access to the credentials table.
pub struct Credentials<'v> {
    vault: &'v Vault,
}

impl<'v> Credentials<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    fn cred_handle(&self, credential_id: &[u8]) -> [u8; 16] {
        self.vault
            .cipher()
            .lookup_handle(CRED_DOMAIN, credential_id)
    }

    /// Stores a new passkey. A second passkey with the same credential id is refused.
    pub fn insert(
        &self,
        credential: &Credential,
        secrets: &CredentialSecrets,
    ) -> Result<(), VaultError> {
        let cipher = self.vault.cipher();
        let handle = self.cred_handle(&credential.credential_id);
        let rp_handle = cipher.lookup_handle(RP_DOMAIN, credential.rp_id.as_bytes());
        let metadata = cipher.seal_cbor(Field::new(TABLE, "metadata", &handle), credential)?;
        let sealed_secrets = cipher.seal_cbor(Field::new(TABLE, "secrets", &handle), secrets)?;
        let created_at = i64::try_from(credential.created_at).unwrap_or(i64::MAX);
        self.vault.read(|conn| {
            // `created_seq` is left to SQLite: the rowid after the highest, read from the last
            // leaf that this insert writes anyway.
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO credentials (cred_handle, rp_handle, created_at, sign_count, metadata, secrets, discoverable)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![handle, rp_handle, created_at, credential.sign_count, metadata, sealed_secrets, credential.discoverable]);
            match inserted {
                Ok(_) => {
                    self.adjust_count(|n| n.saturating_add(1));
                    Ok(())
                }
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    Err(VaultError::DuplicateCredential)
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn decode(
        &self,
        handle: &[u8],
        sealed: &[u8],
        sign_count: i64,
    ) -> Result<Credential, VaultError> {
        let mut credential: Credential = self
            .vault
            .cipher()
            .open_cbor(Field::new(TABLE, "metadata", handle), sealed)?;
        if self.cred_handle(&credential.credential_id) != handle {
            return Err(VaultError::RecordTampered {
                table: TABLE,
                column: "cred_handle",
            });
        }
        credential.sign_count = u32::try_from(sign_count).unwrap_or(u32::MAX);
        Ok(credential)
    }

    /// The passkey with this credential id, if any.
    pub fn get(&self, credential_id: &[u8]) -> Result<Option<Credential>, VaultError> {
        let handle = self.cred_handle(credential_id);
        let row: Option<(Vec<u8>, i64)> = self.vault.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT metadata, sign_count FROM credentials WHERE cred_handle = ?1",
                )?
                .query_row([&handle[..]], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })?;
        row.map(|(sealed, count)| self.decode(&handle, &sealed, count))
            .transpose()
    }

    /// The passkeys for `rp_id`, newest first.
    pub fn for_rp(&self, rp_id: &str) -> Result<Vec<Credential>, VaultError> {
        self.for_rp_where(rp_id, false)
    }

    /// The discoverable passkeys for `rp_id`, newest first, without decrypting the others.
    pub fn discoverable_for_rp(&self, rp_id: &str) -> Result<Vec<Credential>, VaultError> {
        Ok(self
            .for_rp_where(rp_id, true)?
            .into_iter()
            .filter(|c| c.discoverable)
            .collect())
    }

    fn for_rp_where(
        &self,
        rp_id: &str,
        discoverable_only: bool,
    ) -> Result<Vec<Credential>, VaultError> {
        let rp_handle = self
            .vault
            .cipher()
            .lookup_handle(RP_DOMAIN, rp_id.as_bytes());
        let rows = self.vault.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT cred_handle, metadata, sign_count FROM credentials
                 WHERE rp_handle = ?1 AND (?2 = 0 OR discoverable IS NOT 0)
                 ORDER BY created_at DESC, created_seq DESC",
            )?;
            let rows = stmt
                .query_map(params![&rp_handle[..], discoverable_only], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<Vec<(Vec<u8>, Vec<u8>, i64)>, _>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(handle, sealed, count)| {
                let credential = self.decode(&handle, &sealed, count)?;
                if credential.rp_id != rp_id {
                    return Err(VaultError::RecordTampered {
                        table: TABLE,
                        column: "rp_handle",
                    });
                }
                Ok(credential)
            })
            .collect()
    }

    /// Every passkey, newest first (for the passkeys screen and credential management).
    pub fn list(&self) -> Result<Vec<Credential>, VaultError> {
        let rows = self.vault.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT cred_handle, metadata, sign_count FROM credentials
                 ORDER BY created_at DESC, created_seq DESC",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<(Vec<u8>, Vec<u8>, i64)>, _>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(handle, sealed, count)| self.decode(&handle, &sealed, count))
            .collect()
    }

    /// The secrets of one passkey, opened only when it is about to be used.
    #[cfg(any(test, feature = "testkit"))]
    pub fn secrets(&self, credential_id: &[u8]) -> Result<Option<CredentialSecrets>, VaultError> {
        let handle = self.cred_handle(credential_id);
        let sealed: Option<Vec<u8>> = self.vault.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT secrets FROM credentials WHERE cred_handle = ?1")?
                .query_row([&handle[..]], |r| r.get(0))
                .optional()?)
        })?;
        sealed
            .map(|s| {
                self.vault
                    .cipher()
                    .open_cbor(Field::new(TABLE, "secrets", &handle), &s)
            })
            .transpose()
    }

    /// Number of stored passkeys. Counted once (a pass over the table) and then kept up to date
    /// by this vault's own inserts and deletes; counted again when another connection (the
    /// app's extension) committed since, as `PRAGMA data_version` tells.
    pub fn count(&self) -> Result<u64, VaultError> {
        self.vault.read(|conn| {
            let version: i64 = conn
                .prepare_cached("PRAGMA data_version")?
                .query_row([], |r| r.get(0))?;
            let mut cache = self.count_cache();
            if let Some((at, n)) = *cache
                && at == version
            {
                return Ok(n);
            }
            let n: i64 = conn.query_row("SELECT count(*) FROM credentials", [], |r| r.get(0))?;
            let n = u64::try_from(n).unwrap_or(0);
            *cache = Some((version, n));
            Ok(n)
        })
    }

    fn count_cache(&self) -> std::sync::MutexGuard<'_, Option<(i64, u64)>> {
        self.vault
            .count_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies one of this connection's own changes to the cached count (it does not move
    /// `data_version`); called with the connection's lock held, right after the change.
    fn adjust_count(&self, change: impl FnOnce(u64) -> u64) {
        if let Some((_, n)) = self.count_cache().as_mut() {
            *n = change(*n);
        }
    }

    /// Replaces the user fields and rp name of a stored passkey (rename, updateUserInformation).
    /// Returns false if there is no such passkey.
    pub fn update(
        &self,
        credential_id: &[u8],
        change: impl FnOnce(&mut Credential),
    ) -> Result<bool, VaultError> {
        let handle = self.cred_handle(credential_id);
        self.vault.write(|tx| {
            let row: Option<(Vec<u8>, i64)> = tx
                .query_row(
                    "SELECT metadata, sign_count FROM credentials WHERE cred_handle = ?1",
                    [&handle[..]],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((sealed, count)) = row else {
                return Ok(false);
            };
            let mut credential = self.decode(&handle, &sealed, count)?;
            let (id, rp) = (credential.credential_id.clone(), credential.rp_id.clone());
            change(&mut credential);
            // The identity of a passkey is not editable: only its descriptive fields are.
            credential.credential_id = id;
            credential.rp_id = rp;
            let metadata = self
                .vault
                .cipher()
                .seal_cbor(Field::new(TABLE, "metadata", &handle), &credential)?;
            tx.execute(
                "UPDATE credentials SET metadata = ?1 WHERE cred_handle = ?2",
                params![metadata, handle],
            )?;
            Ok(true)
        })
    }

    /// Advances the sign counter by one and returns the new value; durable when it returns.
    /// `None` if there is no such passkey.
    #[cfg(any(test, feature = "testkit"))]
    pub fn advance_sign_count(&self, credential_id: &[u8]) -> Result<Option<u32>, VaultError> {
        self.advance_sign_count_by(credential_id, 1)
    }

    /// Advances the sign counter by `step` (a reserved block of counter values).
    #[cfg(any(test, feature = "testkit"))]
    pub fn advance_sign_count_by(
        &self,
        credential_id: &[u8],
        step: u32,
    ) -> Result<Option<u32>, VaultError> {
        let handle = self.cred_handle(credential_id);
        self.vault.read(|conn| {
            let value: Option<i64> = conn
                .prepare_cached(
                    "UPDATE credentials SET sign_count = min(sign_count + ?1, 4294967295)
                     WHERE cred_handle = ?2 RETURNING sign_count",
                )?
                .query_row(params![step, handle], |r| r.get(0))
                .optional()?;
            Ok(value.map(|v| u32::try_from(v).unwrap_or(u32::MAX)))
        })
    }

    /// What an assertion needs from a passkey's row: its secrets and the next signature
    /// counter (CTAP 2.1 §6.1.1: it only goes up). `None` if there is no such passkey.
    ///
    /// The counter comes from `block`, the caller's share of the one global reservation kept in
    /// the sealed state head. `block`'s next value is used only if no process reserved after it
    /// (the stored end is still `block`'s) and the value is above the passkey's stored mark;
    /// otherwise a new block of `step` values is reserved above both, in an IMMEDIATE
    /// transaction that decides again on what it reads. So no value at or below one already
    /// issued for a passkey is handed out again, even if its row was put back from an older
    /// copy. A flush happens once per block and once per passkey per block.
    ///
    /// The common case (the block is still the latest reservation and the row already carries
    /// its mark) writes nothing, so it takes no write lock: one SELECT reads the secrets, the
    /// row's mark and the stored end in one snapshot, at the moment of use. That snapshot orders
    /// this use before any reservation another process commits later, and such a reservation
    /// starts above this block's end, so the value is below every value issued after it.
    pub fn signing_material(
        &self,
        credential_id: &[u8],
        block: &mut SignCountBlock,
        step: u32,
    ) -> Result<Option<(CredentialSecrets, u32)>, VaultError> {
        let handle = self.cred_handle(credential_id);
        let row: Option<(Vec<u8>, i64, i64)> = self.vault.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT c.secrets, c.sign_count, h.counter_end FROM credentials c, vault_head h
                     WHERE c.cred_handle = ?1 AND h.id = 1",
                )?
                .query_row([&handle[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?)
        })?;
        let Some((sealed, mark, stored_end)) = row else {
            return Ok(None);
        };
        let secrets: CredentialSecrets = self
            .vault
            .cipher()
            .open_cbor(Field::new(TABLE, "secrets", &handle), &sealed)?;
        let end = i64::from(block.end);
        if block.last < block.end && mark == end && stored_end == end {
            block.last += 1;
            return Ok(Some((secrets, block.last)));
        }
        Ok(self
            .reserve_sign_count(&handle, block, step)?
            .map(|count| (secrets, count)))
    }

    /// The write path of [`signing_material`](Self::signing_material): one IMMEDIATE
    /// transaction reads the row's mark and the stored end again, uses `block` if it still may,
    /// or reserves a new block above both; then raises the row's mark to the block's end.
    fn reserve_sign_count(
        &self,
        handle: &[u8],
        block: &mut SignCountBlock,
        step: u32,
    ) -> Result<Option<u32>, VaultError> {
        let cipher = self.vault.cipher();
        let mut reserved = None;
        let value = self.vault.write(|tx| {
            let stored: Option<i64> = tx
                .prepare_cached("SELECT sign_count FROM credentials WHERE cred_handle = ?1")?
                .query_row([handle], |r| r.get(0))
                .optional()?;
            let Some(stored) = stored else {
                return Ok(None);
            };
            let stored = u32::try_from(stored).unwrap_or(u32::MAX);
            let current_end = head::counter_end(tx)?;
            // `stored == end`: this process marked the row for this block (ends are unique: the
            // reservation only grows). `stored <= last`: the next value is above the mark.
            let usable = current_end == Some(block.end)
                && block.last < block.end
                && (stored == block.end || stored <= block.last);
            if usable {
                block.last += 1;
            } else {
                let mut head = head::load(tx, cipher)?;
                let base = head.counter_end.max(stored);
                let end = base.saturating_add(step.max(1));
                head.counter_end = end;
                reserved = Some(head::store(tx, cipher, &mut head)?);
                *block = SignCountBlock {
                    last: base.saturating_add(1).min(end),
                    end,
                };
            }
            if stored < block.end {
                tx.prepare_cached("UPDATE credentials SET sign_count = ?1 WHERE cred_handle = ?2")?
                    .execute(params![block.end, handle])?;
            }
            Ok(Some(block.last))
        })?;
        if let Some(generation) = reserved {
            self.vault.advance_anchor(generation);
        }
        Ok(value)
    }

    /// Deletes one passkey; false if there was none.
    pub fn delete(&self, credential_id: &[u8]) -> Result<bool, VaultError> {
        let handle = self.cred_handle(credential_id);
        self.vault.read(|conn| {
            let deleted = conn.execute(
                "DELETE FROM credentials WHERE cred_handle = ?1",
                [&handle[..]],
            )? > 0;
            if deleted {
                self.adjust_count(|n| n.saturating_sub(1));
            }
            Ok(deleted)
        })
    }

    /// Deletes every passkey (authenticatorReset). Returns how many there were.
    pub fn delete_all(&self) -> Result<u64, VaultError> {
        self.vault.read(|conn| {
            let n = conn.execute("DELETE FROM credentials", [])?;
            self.adjust_count(|_| 0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}
