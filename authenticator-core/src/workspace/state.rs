//! The phone's enrollment state, kept sealed in the vault's settings (`enroll.state`) so that
//! the app, its extension and the CTAP engine all see the same status.
//!
//! No record means "unactivated". The device identity key (P-256) lives in its own sealed
//! setting, made once and kept across re-activations so the workspace sees the same device.
//!
//! The OBR key (P-256) is the phone's static Noise key in on-behalf registration sessions
//! (obr-grant.md §6) and nothing else; the device key signs workspace requests and receipts
//! and is never a Noise key (issue 13: one key, one job). It lives in its own sealed setting,
//! made on first use, so a vault from before it existed gets one the first time it is needed
//! (no schema change). The workspace learns it at activation (redeem) or, for a phone
//! activated before, by a request signed with the device key; which key id it was registered
//! for is remembered (`enroll.obr_key_registered`) so a re-activation registers it again.

use serde::{Deserialize, Serialize};

use crate::secret::SecretBytes;
use crate::vault::{Setting, Vault, VaultError};

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
    vault.settings().get(Setting::EnrollmentState)
}

pub fn store(vault: &Vault, enrollment: &Enrollment) -> Result<(), VaultError> {
    vault.settings().set(Setting::EnrollmentState, enrollment)
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
    p256_scalar(vault, Setting::DeviceKey)
}

/// The OBR key's private scalar (the phone's static key in OBR Noise handshakes), made on
/// first use.
pub fn obr_key(vault: &Vault) -> Result<SecretBytes, VaultError> {
    p256_scalar(vault, Setting::ObrKey)
}

/// The OBR key's public half, SEC1 uncompressed (65 bytes), as told to the workspace.
pub fn obr_public_key(vault: &Vault) -> Result<Vec<u8>, VaultError> {
    let scalar = obr_key(vault)?;
    let key = p256::ecdsa::SigningKey::from_slice(scalar.expose())
        .map_err(|_| VaultError::RecordMalformed { table: "settings" })?;
    Ok(key.verifying_key().to_sec1_point(false).as_bytes().to_vec())
}

/// Which security key id the workspace holds the OBR key for.
#[derive(Serialize, Deserialize)]
struct ObrKeyRegistration {
    security_key_id: String,
    #[serde(with = "serde_bytes")]
    public_key: Vec<u8>,
}

/// Whether the workspace of `security_key_id` was told the current OBR key.
pub fn obr_key_registered(vault: &Vault, security_key_id: &str) -> Result<bool, VaultError> {
    let Some(registered) = vault
        .settings()
        .get::<ObrKeyRegistration>(Setting::ObrKeyRegistered)?
    else {
        return Ok(false);
    };
    Ok(registered.security_key_id == security_key_id
        && registered.public_key == obr_public_key(vault)?)
}

/// Remembers that the workspace of `security_key_id` holds the current OBR key.
pub fn set_obr_key_registered(vault: &Vault, security_key_id: &str) -> Result<(), VaultError> {
    let registration = ObrKeyRegistration {
        security_key_id: security_key_id.to_owned(),
        public_key: obr_public_key(vault)?,
    };
    vault
        .settings()
        .set(Setting::ObrKeyRegistered, &registration)
}

/// A P-256 private scalar kept sealed under `setting`, made on first use.
fn p256_scalar(vault: &Vault, setting: Setting) -> Result<SecretBytes, VaultError> {
    if let Some(key) = vault.settings().get::<SecretBytes>(setting)? {
        return Ok(key);
    }
    loop {
        let candidate = SecretBytes::random(32)?;
        if p256::ecdsa::SigningKey::from_slice(candidate.expose()).is_ok() {
            vault.settings().set(setting, &candidate)?;
            return Ok(candidate);
        }
    }
}
