//! The phone's enrollment state, kept sealed in the vault's settings (`enroll.state`) so that
//! the app, its extension and the CTAP engine all see the same status.
//!
//! No record means "unactivated". The device identity key (P-256) lives in its own sealed
//! setting, made once and kept across re-activations so the workspace sees the same device.

use serde::{Deserialize, Serialize};

use crate::secret::SecretBytes;
use crate::vault::{Vault, VaultError};

const SETTING_STATE: &str = "enroll.state";
const SETTING_DEVICE_KEY: &str = "enroll.device_key";

/// The security key's status as the workspace sees it (the seeds' user list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Activated, waiting for the client PIN.
    Pending,
    Active,
    Suspended,
    Revoked,
    /// Too many wrong client PINs: the administrator must assign the key again.
    Locked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Locked => "locked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "revoked" => Self::Revoked,
            "locked" => Self::Locked,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinPolicy {
    pub client_pin: bool,
    pub force_change: bool,
    pub min_length: u8,
}

/// What activation established.
#[derive(Clone, Serialize, Deserialize)]
pub struct Enrollment {
    pub status: KeyStatus,
    /// "https://host" (or a loopback http base accepted by a test setting).
    pub api_base: String,
    /// SHA-256 of the activation code: recognises the same link again without keeping it.
    #[serde(with = "serde_bytes")]
    pub code_hash: Vec<u8>,
    pub security_key_id: String,
    pub user_id: String,
    pub user_email: String,
    pub user_display_name: String,
    pub workspace_id: String,
    pub workspace_name: String,
    /// The workspace's grant-signing key (SEC1), pinned for on-behalf registration.
    #[serde(with = "serde_bytes")]
    pub grant_signing_key: Vec<u8>,
    pub relay_url: String,
    pub pin_policy: PinPolicy,
    #[serde(default, with = "serde_bytes")]
    pub pin_nonce: Option<Vec<u8>>,
    /// Last event sequence number seen in the workspace's inbox.
    pub events_seen: u64,
    pub revocation_acknowledged: bool,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("status", &self.status)
            .field("security_key_id", &self.security_key_id)
            .finish_non_exhaustive()
    }
}

pub fn load(vault: &Vault) -> Result<Option<Enrollment>, VaultError> {
    vault.settings().get(SETTING_STATE)
}

pub fn store(vault: &Vault, enrollment: &Enrollment) -> Result<(), VaultError> {
    vault.settings().set(SETTING_STATE, enrollment)
}

/// The CTAP engine serves requests only for an unactivated (standalone) or active key: a
/// pending, suspended, revoked or locked workspace key refuses them.
pub fn serving_allowed(vault: &Vault) -> Result<bool, VaultError> {
    Ok(match load(vault)? {
        None => true,
        Some(e) => e.status == KeyStatus::Active,
    })
}

/// The device identity key's private scalar, made on first use.
pub fn device_key(vault: &Vault) -> Result<SecretBytes, VaultError> {
    if let Some(key) = vault.settings().get::<SecretBytes>(SETTING_DEVICE_KEY)? {
        return Ok(key);
    }
    loop {
        let candidate = SecretBytes::random(32)?;
        if p256::ecdsa::SigningKey::from_slice(candidate.expose()).is_ok() {
            vault.settings().set(SETTING_DEVICE_KEY, &candidate)?;
            return Ok(candidate);
        }
    }
}
