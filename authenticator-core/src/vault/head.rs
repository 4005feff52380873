//! The vault's sealed state head: one row that binds every record whose rollback would matter.
//!
//! A file-level attacker (a backup restore, a file-system bug, anyone who can write the app's
//! files but cannot use the platform key) cannot forge a sealed field, but could put back an
//! *older* sealed row, delete one, or cut the audit log. The head closes that: it is one sealed
//! record (AES-GCM under the vault key, so it authenticates) holding
//! - `generation`, a counter raised by every write to a protected record;
//! - a digest of the exact sealed bytes of every protected row: the PIN state (retry counters)
//!   every setting (always-UV, enrollment state, the OBR replay list, ...) and every pairing
//!   (a removed PC must stay removed). A row older than the head, a row missing or a row added
//!   is refused as [`VaultError::Tampered`];
//! - the audit log's last sequence number and chain hash: each entry's hash seals the previous
//!   one's, so a cut tail or a deleted middle row is found when the log is read or appended to;
//! - `counter_end`, the end of the one global sign-counter reservation: every assertion's
//!   counter comes from blocks reserved here, so a credential row put back with an old counter
//!   can never yield a counter at or below one already issued (see `ctap/counters.rs`).
//!
//! Invariants: the head is written in the same IMMEDIATE transaction as the protected write it
//! covers (no extra flush); every protected read checks its row against the head read in the
//! same snapshot; nothing is repaired or reset when a check fails, the file is left as it is.
//! The head is O(number of settings), never O(passkeys): opening reads one row.
//!
//! Rolling back the whole file (head included) cannot be seen from inside it: after each
//! protected write the generation is also given to the platform's monotonic anchor
//! ([`KeyProtector::store_anchor`](crate::platform::KeyProtector::store_anchor)), and a file
//! whose generation is below the anchor's is refused as [`VaultError::RolledBack`].

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use super::VaultError;
use super::record_crypto::{Field, RecordCipher};

const FIELD: Field<'static> = Field {
    table: "vault_head",
    column: "state",
    row: b"1",
};
/// The platform anchor's blob is sealed too, so an anchor of another vault (another key) is
/// recognized as foreign rather than misread.
const ANCHOR_FIELD: Field<'static> = Field {
    table: "platform_anchor",
    column: "generation",
    row: b"1",
};
const AUDIT_CHAIN_DOMAIN: &[u8] = b"pkvault audit chain v1";
/// The chain hash before the first audit entry.
pub(crate) const AUDIT_CHAIN_START: [u8; 32] = [0; 32];

/// The head's key for the PIN-state row.
pub(crate) const PIN_STATE: &str = "pin_state";

/// The prefix of the head's keys for pairings.
pub(crate) const PAIRING_PREFIX: &str = "pairings/";

/// The head's key for the pairing with this id.
pub(crate) fn pairing_key(id: &[u8]) -> String {
    format!("{PAIRING_PREFIX}{}", crate::hex::encode(id))
}

/// The head's key for the setting `name`.
pub(crate) fn setting_key(name: &str) -> String {
    format!("settings/{name}")
}

/// The sealed state head. `generation` and `counter_end` are also stored in plain columns so a
/// hot path can compare them without decrypting; the sealed copy is authoritative and both
/// must agree whenever the head is loaded.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Head {
    pub generation: u64,
    pub counter_end: u32,
    pub audit_seq: u64,
    pub audit_hash: ByteBuf,
    /// Record key -> SHA-256 of the row's sealed bytes.
    pub records: BTreeMap<String, ByteBuf>,
}

impl Head {
    /// Checks that `sealed` (the row as read now, `None` if absent) is the version the head
    /// sealed under `key`. `what` names the record for the error.
    pub fn check(&self, key: &str, sealed: Option<&[u8]>, what: &str) -> Result<(), VaultError> {
        match (self.records.get(key), sealed) {
            (None, None) => Ok(()),
            (Some(want), Some(row)) if want.as_slice() == digest(row).as_slice() => Ok(()),
            (Some(_), None) => Err(VaultError::Tampered {
                what: format!("{what} was deleted"),
            }),
            (None, Some(_)) => Err(VaultError::Tampered {
                what: format!("{what} was added from outside the app"),
            }),
            (Some(_), Some(_)) => Err(VaultError::Tampered {
                what: format!("{what} was replaced by an older or foreign copy"),
            }),
        }
    }

    /// Records `sealed` as the current version of `key` (`None`: the row was removed).
    pub fn put(&mut self, key: &str, sealed: Option<&[u8]>) {
        match sealed {
            Some(row) => {
                self.records
                    .insert(key.to_owned(), ByteBuf::from(digest(row).to_vec()));
            }
            None => {
                self.records.remove(key);
            }
        }
    }

    /// Extends the audit chain by one entry.
    pub fn append_audit(&mut self, seq: u64, recorded_at: i64, sealed: &[u8]) {
        self.audit_hash = ByteBuf::from(
            audit_link(self.audit_hash.as_slice(), seq, recorded_at, sealed).to_vec(),
        );
        self.audit_seq = seq;
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// One link of the audit chain: the hash of the previous link, the entry's position, its
/// plain timestamp (so that editing it is noticed too) and its sealed bytes.
pub(crate) fn audit_link(previous: &[u8], seq: u64, recorded_at: i64, sealed: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(AUDIT_CHAIN_DOMAIN);
    h.update(previous);
    h.update(seq.to_be_bytes());
    h.update(recorded_at.to_be_bytes());
    h.update(sealed);
    h.finalize().into()
}

/// The head as stored, checked against its plain columns. A missing head in a vault that must
/// have one is tampering.
pub(crate) fn load(conn: &Connection, cipher: &RecordCipher) -> Result<Head, VaultError> {
    let row: Option<(i64, i64, Vec<u8>)> = conn
        .prepare_cached("SELECT generation, counter_end, state FROM vault_head WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((generation, counter_end, sealed)) = row else {
        return Err(VaultError::Tampered {
            what: "sealed state head was deleted".into(),
        });
    };
    let head: Head = cipher.open_cbor(FIELD, &sealed)?;
    if i64::try_from(head.generation).ok() != Some(generation)
        || i64::from(head.counter_end) != counter_end
    {
        return Err(VaultError::Tampered {
            what: "sealed state head does not match its plain columns".into(),
        });
    }
    Ok(head)
}

/// The plain copy of the generation; `None` if the head is gone.
pub(crate) fn plain_generation(conn: &Connection) -> Result<Option<u64>, VaultError> {
    let generation: Option<i64> = conn
        .prepare_cached("SELECT generation FROM vault_head WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(generation.map(|g| u64::try_from(g).unwrap_or(0)))
}

/// The plain copy of the counter reservation's end (see [`Head`]); `None` if the head is gone.
pub(crate) fn counter_end(conn: &Connection) -> Result<Option<u32>, VaultError> {
    let end: Option<i64> = conn
        .prepare_cached("SELECT counter_end FROM vault_head WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(end.map(|e| u32::try_from(e).unwrap_or(u32::MAX)))
}

/// Raises the generation and stores the head. Call inside the IMMEDIATE transaction that made
/// the protected write.
pub(crate) fn store(
    conn: &Connection,
    cipher: &RecordCipher,
    head: &mut Head,
) -> Result<u64, VaultError> {
    head.generation = head.generation.saturating_add(1);
    let sealed = cipher.seal_cbor(FIELD, &*head)?;
    conn.prepare_cached(
        "INSERT INTO vault_head (id, generation, counter_end, state) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET generation = excluded.generation,
             counter_end = excluded.counter_end, state = excluded.state",
    )?
    .execute(params![
        i64::try_from(head.generation).unwrap_or(i64::MAX),
        i64::from(head.counter_end),
        sealed
    ])?;
    Ok(head.generation)
}

/// Makes the first head of a vault from what the file holds now: used once, for a new vault and
/// when an older vault is migrated (trust on first use: the file is taken as it is at upgrade).
pub(crate) fn adopt(conn: &Connection, cipher: &RecordCipher) -> Result<u64, VaultError> {
    let mut head = Head {
        generation: 0,
        counter_end: 0,
        audit_seq: 0,
        audit_hash: ByteBuf::from(AUDIT_CHAIN_START.to_vec()),
        records: BTreeMap::new(),
    };
    let pin: Option<Vec<u8>> = conn
        .query_row("SELECT state FROM pin_state WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    head.put(PIN_STATE, pin.as_deref());
    let mut stmt = conn.prepare("SELECT name, value FROM settings")?;
    let settings = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(String, Vec<u8>)>, _>>()?;
    for (name, value) in settings {
        head.put(&setting_key(&name), Some(&value));
    }
    let mut stmt = conn.prepare("SELECT pairing_id, metadata FROM pairings")?;
    let pairings = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(Vec<u8>, Vec<u8>)>, _>>()?;
    for (id, metadata) in pairings {
        head.put(&pairing_key(&id), Some(&metadata));
    }
    let mut stmt = conn.prepare("SELECT seq, recorded_at, entry FROM audit_log ORDER BY seq")?;
    let entries = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<(i64, i64, Vec<u8>)>, _>>()?;
    for (seq, at, entry) in entries {
        head.append_audit(u64::try_from(seq).unwrap_or(0), at, &entry);
    }
    let highest: i64 = conn.query_row(
        "SELECT coalesce(max(sign_count), 0) FROM credentials",
        [],
        |r| r.get(0),
    )?;
    head.counter_end = u32::try_from(highest).unwrap_or(u32::MAX);
    store(conn, cipher, &mut head)
}

/// The sealed blob given to the platform anchor for `generation`.
pub(crate) fn anchor_blob(cipher: &RecordCipher, generation: u64) -> Result<Vec<u8>, VaultError> {
    cipher.seal_cbor(ANCHOR_FIELD, &generation)
}

/// The generation in an anchor blob, or `None` if it is not this vault's (another key).
pub(crate) fn anchored_generation(cipher: &RecordCipher, blob: &[u8]) -> Option<u64> {
    cipher.open_cbor(ANCHOR_FIELD, blob).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_chain_depends_on_order_position_time_and_bytes() {
        let a = audit_link(&AUDIT_CHAIN_START, 1, 10, b"x");
        assert_ne!(a, audit_link(&AUDIT_CHAIN_START, 2, 10, b"x"));
        assert_ne!(a, audit_link(&AUDIT_CHAIN_START, 1, 11, b"x"));
        assert_ne!(a, audit_link(&AUDIT_CHAIN_START, 1, 10, b"y"));
        assert_ne!(a, audit_link(&[1; 32], 1, 10, b"x"));
    }

    #[test]
    fn a_record_check_tells_deleted_added_and_replaced() {
        let mut head = Head {
            generation: 1,
            counter_end: 0,
            audit_seq: 0,
            audit_hash: ByteBuf::from(AUDIT_CHAIN_START.to_vec()),
            records: BTreeMap::new(),
        };
        assert!(head.check("k", None, "the record").is_ok());
        head.put("k", Some(b"new"));
        assert!(head.check("k", Some(b"new"), "the record").is_ok());
        let said = |r: Result<(), VaultError>| r.unwrap_err().to_string();
        assert!(said(head.check("k", Some(b"old"), "the record")).contains("older"));
        assert!(said(head.check("k", None, "the record")).contains("deleted"));
        assert!(said(head.check("j", Some(b"x"), "the record")).contains("added"));
    }
}
