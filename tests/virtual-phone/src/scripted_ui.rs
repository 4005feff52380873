//! The virtual phone's "user": answers every prompt the way the command line said, so tests can
//! script approvals, refusals and a user who never answers. Events are printed to stderr.

use authenticator_core::platform::{
    AccountOption, PresencePrompt, UserEvent, UserInterface, UserInterfaceError, UserOperation,
    VerificationOutcome,
};

/// How the scripted user answers a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Answer {
    /// Allow (or verify successfully).
    Approve,
    /// Refuse (or fail verification: spends one of the built-in verification attempts).
    Deny,
    /// Refuse; a verification is declined (the user cancelled: costs no attempt).
    Decline,
    /// Never answer: the core's timeout decides.
    Ignore,
}

pub struct ScriptedUser {
    pub presence: Answer,
    pub verification: Answer,
}

impl ScriptedUser {
    async fn answer(answer: Answer) -> bool {
        Self::verification(answer).await == VerificationOutcome::Verified
    }

    async fn verification(answer: Answer) -> VerificationOutcome {
        match answer {
            Answer::Approve => VerificationOutcome::Verified,
            Answer::Deny => VerificationOutcome::Failed,
            Answer::Decline => VerificationOutcome::Declined,
            Answer::Ignore => std::future::pending().await,
        }
    }
}

#[async_trait::async_trait]
impl UserInterface for ScriptedUser {
    async fn confirm_presence(&self, prompt: PresencePrompt) -> Result<bool, UserInterfaceError> {
        eprintln!("prompt: {} -> {:?}", prompt.message, self.presence);
        Ok(Self::answer(self.presence).await)
    }

    async fn verify_user(
        &self,
        prompt: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError> {
        eprintln!("verify: {} -> {:?}", prompt.message, self.verification);
        Ok(Self::verification(self.verification).await)
    }

    async fn choose_account(
        &self,
        rp_id: String,
        accounts: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError> {
        eprintln!(
            "choose: {} account(s) for {rp_id} -> the first",
            accounts.len()
        );
        Ok(Self::answer(self.presence).await.then_some(0))
    }

    fn notify(&self, event: UserEvent) -> Result<(), UserInterfaceError> {
        eprintln!("event: {event:?}");
        Ok(())
    }
}

/// The scripted user with its answer to on-behalf registration approvals
/// (`serve --obr-approval`); every other prompt goes to `user`.
pub struct ScriptedApprover {
    pub user: ScriptedUser,
    pub obr: Answer,
}

#[async_trait::async_trait]
impl UserInterface for ScriptedApprover {
    async fn confirm_presence(&self, prompt: PresencePrompt) -> Result<bool, UserInterfaceError> {
        if prompt.operation == UserOperation::OnBehalfRegistration {
            return Ok(self.verify_user(prompt).await? == VerificationOutcome::Verified);
        }
        self.user.confirm_presence(prompt).await
    }

    async fn verify_user(
        &self,
        prompt: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError> {
        if prompt.operation != UserOperation::OnBehalfRegistration {
            return self.user.verify_user(prompt).await;
        }
        eprintln!("approve: {} -> {:?}", prompt.message, self.obr);
        Ok(ScriptedUser::verification(self.obr).await)
    }

    async fn choose_account(
        &self,
        rp_id: String,
        accounts: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError> {
        self.user.choose_account(rp_id, accounts).await
    }

    fn notify(&self, event: UserEvent) -> Result<(), UserInterfaceError> {
        self.user.notify(event)
    }
}
