//! The one public error of the exported surface. Every internal error (vault, enrollment,
//! pairing, OBR, key protector) maps to one flat variant that tells the app what it can do;
//! `reason` is a whole sentence for the user. Like the errors it comes from, it never holds a
//! PIN, key material, an activation code or a credential id.

use crate::enroll::EnrollError;
use crate::link::pairing::PairError;
use crate::obr::ObrLinkError;
use crate::platform::KeyProtectorError;
use crate::vault::VaultError;
use crate::workspace::WorkspaceError;

/// Why an [`Authenticator`](super::Authenticator) call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthenticatorError {
    /// The argument is malformed or breaks a rule (a link, a QR text, an id, a PIN's length).
    #[error("{reason}")]
    InvalidInput { reason: String },
    /// The device key cannot be used now (locked, before first unlock): try again later.
    #[error("{reason}")]
    KeyTemporarilyUnavailable { reason: String },
    /// The device key protecting the vault is gone (restored backup, invalidated key): the
    /// vault needs recovery. The core never makes a new key over an existing vault.
    #[error("{reason}")]
    KeyPermanentlyLost { reason: String },
    /// The app's key protector failed (an error or exception of its own, or it did not give
    /// back the secret it wrapped). Trying again may help; otherwise it is a bug to report.
    #[error("{reason}")]
    KeyStoreFailed { reason: String },
    /// The vault cannot be read: another key, a damaged or foreign file (moved aside, never
    /// deleted), a newer app's vault, a tampered record, or a protected record (PIN state,
    /// settings, audit log) or the whole file rolled back to an older copy.
    #[error("{reason}")]
    VaultUnreadable { reason: String },
    /// The database or a file failed (disk full, I/O error).
    #[error("{reason}")]
    Storage { reason: String },
    /// The phone is not activated with a workspace yet.
    #[error("{reason}")]
    NotActivated { reason: String },
    /// The call does not fit the current state (already activated, no PIN expected, a PIN is
    /// already set, ...).
    #[error("{reason}")]
    InvalidState { reason: String },
    /// Wrong PIN; `attempts_left` more tries before it is blocked.
    #[error("{reason}")]
    PinInvalid { attempts_left: u32, reason: String },
    /// Too many wrong PINs.
    #[error("{reason}")]
    PinBlocked { reason: String },
    /// The workspace or the computer refused (expired or used link or code, revoked
    /// assignment, locked activation, denied grant, ...).
    #[error("{reason}")]
    Refused { reason: String },
    /// The workspace, relay or computer could not be reached, or the connection failed:
    /// try again.
    #[error("{reason}")]
    Network { reason: String },
    /// Nothing has this id (passkey, paired computer, approval).
    #[error("{reason}")]
    NotFound { reason: String },
    /// This build or platform cannot do it (e.g. Bluetooth in a library built without it).
    #[error("{reason}")]
    Unsupported { reason: String },
    /// A bug in the core, caught at the boundary; the app may report it.
    #[error("{reason}")]
    Internal { reason: String },
    /// The peer could not prove who it is (a hybrid browser that did not show the scanned
    /// code, or a message altered on the way): nothing was served.
    #[error("{reason}")]
    HandshakeFailed { reason: String },
    /// Something did not happen in time (no browser joined, no request came, the user did
    /// not answer).
    #[error("{reason}")]
    TimedOut { reason: String },
    /// The user said no.
    #[error("{reason}")]
    Declined { reason: String },
    /// The operation was cancelled (by the app, the user, or the other side).
    #[error("{reason}")]
    Cancelled { reason: String },
    /// Bluetooth could not be used (off, not available, permission not granted).
    #[error("{reason}")]
    Bluetooth { reason: String },
}

/// Shorthands for building errors from any message.
impl AuthenticatorError {
    pub(crate) fn invalid(reason: impl ToString) -> Self {
        Self::InvalidInput {
            reason: reason.to_string(),
        }
    }

    pub(crate) fn not_found(reason: impl ToString) -> Self {
        Self::NotFound {
            reason: reason.to_string(),
        }
    }

    pub(crate) fn internal(reason: impl ToString) -> Self {
        Self::Internal {
            reason: reason.to_string(),
        }
    }
}

impl From<VaultError> for AuthenticatorError {
    fn from(e: VaultError) -> Self {
        let reason = e.to_string();
        match e {
            VaultError::KeyUnavailable { .. } => Self::KeyTemporarilyUnavailable { reason },
            VaultError::KeyLost { .. } => Self::KeyPermanentlyLost { reason },
            VaultError::WrongKey
            | VaultError::Corrupt { .. }
            | VaultError::DamageFound { .. }
            | VaultError::NotAVault { .. }
            | VaultError::NewerSchema { .. }
            | VaultError::RecordTampered { .. }
            | VaultError::RecordMalformed { .. }
            | VaultError::Tampered { .. }
            | VaultError::RolledBack { .. } => Self::VaultUnreadable { reason },
            VaultError::DuplicateCredential | VaultError::DuplicatePairing => {
                Self::InvalidState { reason }
            }
            VaultError::KeyProtector { .. } => Self::KeyStoreFailed { reason },
            VaultError::Database(_) | VaultError::Io(_) => Self::Storage { reason },
            VaultError::Random(_) => Self::Internal { reason },
        }
    }
}

impl From<KeyProtectorError> for AuthenticatorError {
    fn from(e: KeyProtectorError) -> Self {
        Self::from(VaultError::from_unwrap(e))
    }
}

impl From<EnrollError> for AuthenticatorError {
    fn from(e: EnrollError) -> Self {
        let reason = e.to_string();
        match e {
            EnrollError::Workspace(w) => w.into(),
            EnrollError::InvalidLink(_) | EnrollError::InvalidPin { .. } => {
                Self::InvalidInput { reason }
            }
            EnrollError::AlreadyActivated { .. } | EnrollError::NoPinExpected { .. } => {
                Self::InvalidState { reason }
            }
        }
    }
}

impl From<WorkspaceError> for AuthenticatorError {
    fn from(e: WorkspaceError) -> Self {
        let reason = e.to_string();
        match e {
            WorkspaceError::Vault(v) => v.into(),
            WorkspaceError::NotActivated => Self::NotActivated { reason },
            WorkspaceError::WrongPin { attempts_left } => Self::PinInvalid {
                attempts_left,
                reason,
            },
            WorkspaceError::UnknownCode
            | WorkspaceError::LinkExpired
            | WorkspaceError::LinkAlreadyUsed
            | WorkspaceError::AssignmentRevoked
            | WorkspaceError::ActivationLocked
            | WorkspaceError::Unauthorized => Self::Refused { reason },
            WorkspaceError::Server { status, .. } if status < 500 => Self::Refused { reason },
            WorkspaceError::Server { .. }
            | WorkspaceError::UnexpectedResponse(_)
            | WorkspaceError::Network { .. }
            | WorkspaceError::Tls { .. } => Self::Network { reason },
        }
    }
}

impl From<PairError> for AuthenticatorError {
    fn from(e: PairError) -> Self {
        let reason = e.to_string();
        match e {
            PairError::Vault(v) => v.into(),
            PairError::Code(_) | PairError::Routing(_) | PairError::WrongCode => {
                Self::InvalidInput { reason }
            }
            PairError::CodeSpent => Self::Refused { reason },
            PairError::Relay(_) | PairError::NoAnswer | PairError::Session(_) => {
                Self::Network { reason }
            }
        }
    }
}

impl From<ObrLinkError> for AuthenticatorError {
    fn from(e: ObrLinkError) -> Self {
        let reason = e.to_string();
        match e {
            ObrLinkError::NotActivated => Self::NotActivated { reason },
            ObrLinkError::Vault(_) => Self::Storage { reason },
            ObrLinkError::Grant(_) | ObrLinkError::Stopped => Self::Refused { reason },
            ObrLinkError::Relay(_) | ObrLinkError::Handshake(_) | ObrLinkError::NoGrant(_) => {
                Self::Network { reason }
            }
        }
    }
}
