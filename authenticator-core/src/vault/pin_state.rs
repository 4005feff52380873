//! The authenticator's client PIN state: the PIN hash, retry counters and PIN policy.
//!
//! One sealed row. Every change goes through [`PinStore::update`], a read-modify-write in one
//! IMMEDIATE transaction, durable when it returns: the CTAP engine decrements the retry counter
//! through it *before* comparing a PIN, so killing the app mid-check cannot refund a guess.
//!
//! The row is a protected record (`head`): an older copy put back (spent retries returned,
//! an offline PIN guessing aid) or a deleted row (back to "no PIN") is refused as `Tampered`
//! on every read and before every update; the head moves in the same transaction as the row.

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use super::head::PIN_STATE;
use super::record_crypto::Field;
use super::{Vault, VaultError};
use crate::secret::SecretBytes;

const FIELD: Field<'static> = Field {
    table: "pin_state",
    column: "state",
    row: b"1",
};

/// How an error names the PIN-state row.
pub(super) const WHAT: &str = "PIN state (PIN retry counters)";

fn select(conn: &rusqlite::Connection) -> Result<Option<Vec<u8>>, VaultError> {
    Ok(conn
        .prepare_cached("SELECT state FROM pin_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// CTAP 2.1 §6.5.2.2: the PIN retry counter starts at 8.
pub const MAX_PIN_RETRIES: u8 = 8;
/// Built-in user verification attempts before it is blocked (CTAP 2.1 §6.5.2.2, maxUvRetries).
pub const MAX_UV_RETRIES: u8 = 8;
/// CTAP 2.1 §6.5.2.2: the default minimum PIN length in code points.
pub const DEFAULT_MIN_PIN_LENGTH: u8 = 4;

/// The client PIN state. Wiped on drop (the hash is a `SecretBytes`); no `Debug`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PinState {
    /// LEFT(SHA-256(PIN), 16), or `None` when no PIN is set.
    pub pin_hash: Option<SecretBytes>,
    /// Length of the current PIN in Unicode code points (for getInfo's minPINLength checks).
    pub pin_code_points: u8,
    pub pin_retries: u8,
    pub uv_retries: u8,
    /// The next PIN use must be a change (CTAP 2.1 forcePINChange).
    pub force_change: bool,
    pub min_pin_length: u8,
    /// RP ids allowed to read the minimum PIN length (minPinLength extension).
    pub min_pin_length_rp_ids: Vec<String>,
}

impl Default for PinState {
    fn default() -> Self {
        Self {
            pin_hash: None,
            pin_code_points: 0,
            pin_retries: MAX_PIN_RETRIES,
            uv_retries: MAX_UV_RETRIES,
            force_change: false,
            min_pin_length: DEFAULT_MIN_PIN_LENGTH,
            min_pin_length_rp_ids: Vec::new(),
        }
    }
}

/// Access to the PIN state.
pub struct PinStore<'v> {
    vault: &'v Vault,
}

impl<'v> PinStore<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    /// The current state (the default state when none was ever stored).
    pub fn load(&self) -> Result<PinState, VaultError> {
        let sealed = self.vault.read_verified(|conn, head| {
            let sealed = select(conn)?;
            head.check(PIN_STATE, sealed.as_deref(), WHAT)?;
            Ok(sealed)
        })?;
        match sealed {
            Some(s) => self.vault.cipher().open_cbor(FIELD, &s),
            None => Ok(PinState::default()),
        }
    }

    /// Applies `change` to the state and stores it durably, atomically with respect to other
    /// processes. Returns the new state and what `change` returned.
    pub fn update<R>(
        &self,
        change: impl FnOnce(&mut PinState) -> R,
    ) -> Result<(PinState, R), VaultError> {
        self.vault.write_protected(|tx, head| {
            let sealed = select(tx)?;
            head.check(PIN_STATE, sealed.as_deref(), WHAT)?;
            let mut state = match sealed {
                Some(s) => self.vault.cipher().open_cbor(FIELD, &s)?,
                None => PinState::default(),
            };
            let out = change(&mut state);
            let sealed = self.vault.cipher().seal_cbor(FIELD, &state)?;
            tx.execute(
                "INSERT INTO pin_state (id, state) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                [&sealed],
            )?;
            head.put(PIN_STATE, Some(&sealed));
            Ok((state, out))
        })
    }

    /// Back to no PIN and full retries (authenticatorReset).
    pub fn reset(&self) -> Result<(), VaultError> {
        self.vault.write_protected(|tx, head| {
            head.check(PIN_STATE, select(tx)?.as_deref(), WHAT)?;
            tx.execute("DELETE FROM pin_state", [])?;
            head.put(PIN_STATE, None);
            Ok(())
        })
    }
}
