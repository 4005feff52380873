//! What a call to the workspace can end in. `enroll::EnrollError` wraps each variant with the
//! same message; OBR turns them into reasons for its audit trail. None carries a code, a PIN
//! proof or key material.

use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("this phone has not been activated")]
    NotActivated,
    #[error(
        "the workspace does not know this activation link; ask your administrator for a new one"
    )]
    UnknownCode,
    #[error("this activation link has expired; ask your administrator for a new one")]
    LinkExpired,
    #[error("this activation link was already used by another device")]
    LinkAlreadyUsed,
    #[error("the administrator revoked this security key assignment")]
    AssignmentRevoked,
    #[error(
        "activation is locked after too many wrong PINs; ask your administrator to assign the key again"
    )]
    ActivationLocked,
    #[error("wrong PIN; {attempts_left} attempt(s) left")]
    WrongPin { attempts_left: u32 },
    #[error("the workspace refused the device's signature")]
    Unauthorized,
    #[error("the workspace answered {status} ({code}); try again later")]
    Server { status: u16, code: String },
    #[error("the workspace's answer could not be understood: {0}")]
    UnexpectedResponse(String),
    #[error("the workspace server could not be reached: {reason}")]
    Network { reason: String },
    #[error("the secure connection to the workspace failed: {reason}")]
    Tls { reason: String },
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl WorkspaceError {
    /// Worth retrying after a pause: the request may not have been processed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network { .. } => true,
            Self::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
