//! Small named settings (always-UV, activation state, policy, the OBR replay list), each value
//! sealed with its name bound into the AAD so that values cannot be swapped between names. The
//! names are declared once, in the registry [`Setting`](super::setting::Setting).
//!
//! Every setting is a protected record (`head`): each read checks the row against the sealed
//! state head of the same snapshot, and each write replaces the row and its digest in the head
//! in one transaction. A value put back from an older copy, deleted or added from outside is
//! refused as `Tampered`, never read as "not set".

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::head::setting_key;
use super::record_crypto::Field;
use super::setting::Setting;
use super::{Vault, VaultError};

const TABLE: &str = "settings";

fn field(name: &str) -> Field<'_> {
    Field::new(TABLE, "value", name.as_bytes())
}

/// How an error names the setting (setting names are fixed identifiers, never personal data).
pub(super) fn what(name: &str) -> String {
    format!("setting \"{name}\"")
}

fn select(conn: &rusqlite::Connection, name: &str) -> Result<Option<Vec<u8>>, VaultError> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Access to the settings table.
pub struct Settings<'v> {
    vault: &'v Vault,
}

impl<'v> Settings<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    /// The value stored for `setting`, decoded from CBOR.
    pub fn get<T: DeserializeOwned>(&self, setting: Setting) -> Result<Option<T>, VaultError> {
        self.get_named(setting.name())
    }

    /// The value stored under a name outside the registry: only what an old test fixture
    /// wrote (the v1 vault's `always_uv`); the core itself reads only registered settings.
    #[cfg(any(test, feature = "testkit"))]
    pub fn get_unregistered<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, VaultError> {
        self.get_named(name)
    }

    fn get_named<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, VaultError> {
        let sealed = self.vault.read_verified(|conn, head| {
            let sealed = select(conn, name)?;
            head.check(&setting_key(name), sealed.as_deref(), &what(name))?;
            Ok(sealed)
        })?;
        sealed
            .map(|s| self.vault.cipher().open_cbor(field(name), &s))
            .transpose()
    }

    /// Stores `value` for `setting`, replacing what was there. A stored value that does not
    /// match the head is refused, not overwritten.
    pub fn set<T: Serialize>(&self, setting: Setting, value: &T) -> Result<(), VaultError> {
        let name = setting.name();
        let sealed = self.vault.cipher().seal_cbor(field(name), value)?;
        self.vault.write_protected(|tx, head| {
            let key = setting_key(name);
            head.check(&key, select(tx, name)?.as_deref(), &what(name))?;
            tx.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, sealed],
            )?;
            head.put(&key, Some(&sealed));
            Ok(())
        })
    }

    /// Removes `setting`; false if it was not set.
    pub fn remove(&self, setting: Setting) -> Result<bool, VaultError> {
        let name = setting.name();
        self.vault.write_protected(|tx, head| {
            let key = setting_key(name);
            head.check(&key, select(tx, name)?.as_deref(), &what(name))?;
            head.put(&key, None);
            Ok(tx.execute("DELETE FROM settings WHERE name = ?1", [name])? > 0)
        })
    }
}
