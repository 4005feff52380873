//! Small named settings (always-UV, activation state, policy), each value sealed with its name
//! bound into the AAD so that values cannot be swapped between names.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::record_crypto::Field;
use super::{Vault, VaultError};

const TABLE: &str = "settings";

fn field(name: &str) -> Field<'_> {
    Field::new(TABLE, "value", name.as_bytes())
}

/// Access to the settings table.
pub struct Settings<'v> {
    vault: &'v Vault,
}

impl<'v> Settings<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    /// The value stored under `name`, decoded from CBOR.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, VaultError> {
        let sealed: Option<Vec<u8>> = self.vault.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM settings WHERE name = ?1")?
                .query_row([name], |r| r.get(0))
                .optional()?)
        })?;
        sealed
            .map(|s| self.vault.cipher().open_cbor(field(name), &s))
            .transpose()
    }

    /// Stores `value` under `name`, replacing what was there.
    pub fn set<T: Serialize>(&self, name: &str, value: &T) -> Result<(), VaultError> {
        let sealed = self.vault.cipher().seal_cbor(field(name), value)?;
        self.vault.read(|conn| {
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, sealed],
            )?;
            Ok(())
        })
    }

    /// Removes `name`; false if it was not set.
    pub fn remove(&self, name: &str) -> Result<bool, VaultError> {
        self.vault
            .read(|conn| Ok(conn.execute("DELETE FROM settings WHERE name = ?1", [name])? > 0))
    }
}
