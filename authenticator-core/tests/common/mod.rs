//! Shared by the integration tests: the OBR fixtures (`obr`) and a user who allows everything.
#![allow(dead_code)]

pub mod obr;

use authenticator_core::platform::{
    AccountOption, PresencePrompt, UserEvent, UserInterface, UserInterfaceError,
    VerificationOutcome,
};

/// Approves every prompt at once and picks the first account, as a user who taps "Allow".
pub struct Approving;

#[async_trait::async_trait]
impl UserInterface for Approving {
    async fn confirm_presence(&self, _: PresencePrompt) -> Result<bool, UserInterfaceError> {
        Ok(true)
    }
    async fn verify_user(
        &self,
        _: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError> {
        Ok(VerificationOutcome::Verified)
    }
    async fn choose_account(
        &self,
        _: String,
        _: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError> {
        Ok(Some(0))
    }
    fn notify(&self, _: UserEvent) -> Result<(), UserInterfaceError> {
        Ok(())
    }
}
