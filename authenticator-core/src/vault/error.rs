//! The vault's error enum. Messages name what failed and what the user or app can do; they
//! never contain key material, rp ids, user names or credential ids.

use std::path::PathBuf;

use crate::platform::KeyProtectorError;
use crate::secret::RandomUnavailable;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The platform key store cannot unwrap the vault key right now (device locked, ...).
    #[error("the vault key is temporarily unavailable ({reason}); try again after unlocking")]
    KeyUnavailable { reason: String },
    /// The platform key that wraps the vault key is gone: the vault cannot be opened on this
    /// device any more. The file is left in place for recovery.
    #[error(
        "the device key protecting the vault is permanently lost ({reason}); the vault file was left untouched for recovery"
    )]
    KeyLost { reason: String },
    /// The key does not open this vault (the canary or the wrapped key does not authenticate).
    /// Nothing was changed.
    #[error("the vault was sealed with a different key; nothing was changed")]
    WrongKey,
    /// The file is damaged; it was renamed to `moved_to` (never deleted) and a new vault can be
    /// created in its place.
    #[error("the vault file is corrupt ({reason}); it was moved aside to {}", moved_to.display())]
    Corrupt { reason: String, moved_to: PathBuf },
    /// Idle maintenance found the open file damaged (`maintenance`): it is marked, so the next
    /// open checks it whole and moves it aside as [`VaultError::Corrupt`]; until then the
    /// records that still read keep working.
    #[error("the vault file is damaged ({reason}); it will be moved aside when it is opened next")]
    DamageFound { reason: String },
    /// The file is not a vault of ours (another app's database, random bytes); it was renamed
    /// to `moved_to`.
    #[error("the file is not a passkey vault ({reason}); it was moved aside to {}", moved_to.display())]
    NotAVault { reason: String, moved_to: PathBuf },
    /// Written by a newer version of the app: refused and left untouched.
    #[error(
        "the vault was written by a newer app version (schema {found}, this version reads up to {supported}); it was left untouched"
    )]
    NewerSchema { found: i64, supported: i64 },
    /// A sealed field failed authentication: tampered with, moved from another row, or damaged.
    #[error("a stored {table}.{column} field failed authentication (tampered or damaged)")]
    RecordTampered {
        table: &'static str,
        column: &'static str,
    },
    /// A sealed field authenticated but does not decode as the record it should be.
    #[error("a stored {table} record could not be decoded")]
    RecordMalformed { table: &'static str },
    /// A protected record does not match the vault's sealed state head: an older copy was put
    /// back, a row was deleted or added, or the audit log was cut. Nothing was changed or
    /// reset; the file is left as it is for recovery.
    #[error(
        "the vault was tampered with: its {what}; nothing was changed and the vault file was left as it is for recovery"
    )]
    Tampered { what: String },
    /// The whole file is older than the state the platform's anchor last recorded (restored
    /// from a backup or an older copy). Nothing was changed.
    #[error(
        "the vault file was rolled back to an older copy (its state is generation {found}, the device recorded {anchored}); nothing was changed and the vault file was left as it is for recovery"
    )]
    RolledBack { found: u64, anchored: u64 },
    #[error("a credential with this credential id already exists")]
    DuplicateCredential,
    #[error("a pairing with this id already exists")]
    DuplicatePairing,
    #[error("the key protector failed: {reason}")]
    KeyProtector { reason: String },
    #[error("vault database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("vault file error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
}

impl VaultError {
    /// Maps the protector's answer when unwrapping an existing vault key.
    pub(crate) fn from_unwrap(error: KeyProtectorError) -> Self {
        match error {
            KeyProtectorError::TemporarilyUnavailable { reason } => Self::KeyUnavailable { reason },
            KeyProtectorError::PermanentlyLost { reason } => Self::KeyLost { reason },
            KeyProtectorError::WrongKey => Self::WrongKey,
            KeyProtectorError::Failed { reason } => Self::KeyProtector { reason },
        }
    }

    /// Maps the protector's answer when wrapping a new vault key.
    pub(crate) fn from_wrap(error: KeyProtectorError) -> Self {
        match error {
            KeyProtectorError::TemporarilyUnavailable { reason } => Self::KeyUnavailable { reason },
            KeyProtectorError::Failed { reason } => Self::KeyProtector { reason },
            other => Self::KeyProtector {
                reason: other.to_string(),
            },
        }
    }
}
