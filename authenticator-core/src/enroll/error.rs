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
    #[error("no client PIN is expected: the security key is {status}")]
    NoPinExpected { status: String },
    #[error("the PIN must have {min} to 63 characters")]
    InvalidPin { min: u8 },
    /// What the workspace answered (or why it could not be asked), with its own message: the
    /// app shows it as it is.
    #[error(transparent)]
    Workspace(WorkspaceError),
}

/// A vault failure inside a workspace call and one of enrollment's own are the same error.
impl From<WorkspaceError> for EnrollError {
    fn from(e: WorkspaceError) -> Self {
        Self::Workspace(e)
    }
}

impl From<VaultError> for EnrollError {
    fn from(e: VaultError) -> Self {
        Self::Workspace(WorkspaceError::Vault(e))
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
            EnrollError::Workspace(WorkspaceError::Server { status: 503, .. })
        ));
    }
}
