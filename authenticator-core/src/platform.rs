//! Platform services that the apps implement and hand to the core (uniffi foreign traits).
//!
//! `KeyProtector` is the platform key store: Android Keystore (StrongBox when available), the
//! iOS Secure Enclave, or on desktops and in tests the clearly named
//! [`SoftwareKeyProtector`]. Its errors tell a key that is *temporarily unavailable* (device
//! locked, before first unlock: retry later) from one that is *permanently lost* (restored
//! backup, invalidated key: recovery required). The core never answers either by making a new
//! vault key over an existing vault.

mod software_protector;

pub use software_protector::SoftwareKeyProtector;

/// Why the platform key store could not wrap or unwrap a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyProtectorError {
    /// The key exists but cannot be used now (device locked, before first unlock). Retry later.
    #[error("the device key is temporarily unavailable ({reason}); try again after unlocking")]
    TemporarilyUnavailable { reason: String },
    /// The key is gone for good (app data restored to another device, key invalidated).
    #[error("the device key is permanently lost ({reason}); the vault needs recovery")]
    PermanentlyLost { reason: String },
    /// The blob was wrapped by a different key than this device's.
    #[error("the wrapped secret belongs to a different device key")]
    WrongKey,
    /// Anything else, including an exception thrown by the app's implementation.
    #[error("the key protector failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyProtectorError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed {
            reason: error.reason,
        }
    }
}

/// What protects the vault key, for the settings screen and for support.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyProtectionInfo {
    /// True when the wrapping key lives in secure hardware (StrongBox, TEE, Secure Enclave).
    pub hardware_backed: bool,
    /// A short name of the mechanism, such as "android-strongbox" or "software-key-file".
    pub kind: String,
}

/// The platform key store: wraps the vault key so that it is stored only in wrapped form.
///
/// `unwrap` returns the secret that `wrap` was given, or an error; implementations should use
/// authenticated encryption so that a blob from another key gives `WrongKey`.
#[uniffi::export(foreign)]
pub trait KeyProtector: Send + Sync {
    /// Encrypts `secret` under the device key; the result is safe to store anywhere.
    fn wrap(&self, secret: Vec<u8>) -> Result<Vec<u8>, KeyProtectorError>;
    /// Decrypts a blob made by `wrap` on this device.
    fn unwrap(&self, blob: Vec<u8>) -> Result<Vec<u8>, KeyProtectorError>;
    /// Describes the protection, without touching the key.
    fn info(&self) -> KeyProtectionInfo;
}
