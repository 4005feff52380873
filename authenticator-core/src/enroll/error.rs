//! Enrollment errors: each says what happened and what the user can do. None carries the
//! activation code, the PIN or key material.

use super::activation_link::LinkError;
use crate::vault::VaultError;
use crate::workspace::WorkspaceError;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("{0}")]
    InvalidLink(#[from] LinkError),
    #[error(
        "this phone is already the security key of {workspace}; it must be revoked before another activation"
    )]
    AlreadyActivated { workspace: String },
    #[error("this phone has not been activated")]
    NotActivated,
    #[error("no client PIN is expected: the security key is {status}")]
    NoPinExpected { status: String },
    #[error("the PIN must have {min} to 63 characters")]
    InvalidPin { min: u8 },
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

/// The workspace's answers keep their messages (the app shows them as they are).
impl From<WorkspaceError> for EnrollError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::NotActivated => Self::NotActivated,
            WorkspaceError::UnknownCode => Self::UnknownCode,
            WorkspaceError::LinkExpired => Self::LinkExpired,
            WorkspaceError::LinkAlreadyUsed => Self::LinkAlreadyUsed,
            WorkspaceError::AssignmentRevoked => Self::AssignmentRevoked,
            WorkspaceError::ActivationLocked => Self::ActivationLocked,
            WorkspaceError::WrongPin { attempts_left } => Self::WrongPin { attempts_left },
            WorkspaceError::Unauthorized => Self::Unauthorized,
            WorkspaceError::Server { status, code } => Self::Server { status, code },
            WorkspaceError::UnexpectedResponse(reason) => Self::UnexpectedResponse(reason),
            WorkspaceError::Network { reason } => Self::Network { reason },
            WorkspaceError::Tls { reason } => Self::Tls { reason },
            WorkspaceError::Vault(e) => Self::Vault(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspaces_errors_keep_their_messages() {
        let server = || WorkspaceError::Server {
            status: 503,
            code: "busy".into(),
        };
        for e in [
            WorkspaceError::NotActivated,
            WorkspaceError::UnknownCode,
            WorkspaceError::LinkExpired,
            WorkspaceError::LinkAlreadyUsed,
            WorkspaceError::AssignmentRevoked,
            WorkspaceError::ActivationLocked,
            WorkspaceError::WrongPin { attempts_left: 2 },
            WorkspaceError::Unauthorized,
            server(),
            WorkspaceError::UnexpectedResponse("odd".into()),
            WorkspaceError::Network {
                reason: "down".into(),
            },
            WorkspaceError::Tls {
                reason: "bad certificate".into(),
            },
        ] {
            let message = e.to_string();
            assert_eq!(EnrollError::from(e).to_string(), message);
        }
        assert!(matches!(
            EnrollError::from(server()),
            EnrollError::Server { status: 503, .. }
        ));
    }
}
