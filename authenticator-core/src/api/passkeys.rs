//! The user's passkeys on the phone: list, delete, rename. A passkey's id is its credential
//! id in base64url without padding, as relying parties show it.
//!
//! Invariants: only descriptive fields change (the vault keeps a passkey's identity); a
//! deleted passkey is gone from the vault at once (secure_delete).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Authenticator, AuthenticatorError, guard};
use crate::vault::Credential;

/// The longest name the user can give a passkey, in characters.
pub const MAX_PASSKEY_NAME: usize = 64;

/// One passkey, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Passkey {
    /// The credential id, base64url without padding.
    pub id: String,
    pub rp_id: String,
    pub rp_name: Option<String>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    /// The name the user gave it on the phone, if any.
    pub name: Option<String>,
    /// Usable without a user name (a "discoverable" credential).
    pub discoverable: bool,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub sign_count: u32,
}

impl From<Credential> for Passkey {
    fn from(c: Credential) -> Self {
        Self {
            id: URL_SAFE_NO_PAD.encode(&c.credential_id),
            rp_id: c.rp_id,
            rp_name: c.rp_name,
            user_name: c.user_name,
            user_display_name: c.user_display_name,
            name: c.label,
            discoverable: c.discoverable,
            created_at: c.created_at,
            sign_count: c.sign_count,
        }
    }
}

#[uniffi::export]
impl Authenticator {
    /// Every passkey, oldest first.
    pub fn passkeys(&self) -> Result<Vec<Passkey>, AuthenticatorError> {
        guard(|| {
            let mut all = self.vault.credentials().list()?;
            all.sort_by_key(|c| c.created_at);
            Ok(all.into_iter().map(Passkey::from).collect())
        })
    }

    /// Deletes a passkey for good (`NotFound` if no passkey has this id).
    pub fn delete_passkey(&self, passkey_id: String) -> Result<(), AuthenticatorError> {
        guard(|| {
            let id = credential_id(&passkey_id)?;
            if self.vault.credentials().delete(&id)? {
                Ok(())
            } else {
                Err(no_passkey())
            }
        })
    }

    /// Gives a passkey the user's own name (1 to 64 characters); an empty name removes it.
    pub fn rename_passkey(
        &self,
        passkey_id: String,
        name: String,
    ) -> Result<(), AuthenticatorError> {
        guard(|| {
            let id = credential_id(&passkey_id)?;
            let name = name.trim();
            if name.chars().count() > MAX_PASSKEY_NAME || name.chars().any(char::is_control) {
                return Err(AuthenticatorError::invalid(format!(
                    "a passkey's name must have at most {MAX_PASSKEY_NAME} characters, without control characters"
                )));
            }
            let label = (!name.is_empty()).then(|| name.to_string());
            if self.vault.credentials().update(&id, |c| c.label = label)? {
                Ok(())
            } else {
                Err(no_passkey())
            }
        })
    }
}

fn credential_id(text: &str) -> Result<Vec<u8>, AuthenticatorError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .filter(|id| !id.is_empty() && id.len() <= 1023)
        .ok_or_else(|| AuthenticatorError::invalid("this is not a passkey id (base64url)"))
}

fn no_passkey() -> AuthenticatorError {
    AuthenticatorError::not_found("no passkey has this id")
}
