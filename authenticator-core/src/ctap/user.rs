//! Asking the user, with the engine's rules around every prompt: the core owns the timeout
//! (expiry is CTAP2_ERR_USER_ACTION_TIMEOUT), a CANCEL from the client ends the wait with
//! CTAP2_ERR_KEEPALIVE_CANCEL, and while the prompt is up the transport is told to send
//! "user presence needed" keepalives.

use std::future::Future;
use std::time::Duration;

use super::status::{
    CTAP2_ERR_KEEPALIVE_CANCEL, CTAP2_ERR_OPERATION_DENIED, CTAP2_ERR_USER_ACTION_TIMEOUT,
    CtapResult,
};
use crate::platform::{
    AccountOption, PresencePrompt, UserInterface, UserInterfaceError, UserOperation,
};
use crate::request::RequestSignals;

pub(crate) struct Prompts<'a> {
    pub ui: &'a dyn UserInterface,
    pub signals: &'a RequestSignals,
    pub timeout: Duration,
}

impl Prompts<'_> {
    async fn ask<T>(
        &self,
        question: impl Future<Output = Result<T, UserInterfaceError>>,
    ) -> CtapResult<T> {
        if self.signals.is_cancelled() {
            return Err(CTAP2_ERR_KEEPALIVE_CANCEL);
        }
        self.signals.set_waiting_for_user(true);
        let answer = tokio::select! {
            () = self.signals.cancelled() => Err(CTAP2_ERR_KEEPALIVE_CANCEL),
            answer = tokio::time::timeout(self.timeout, question) => match answer {
                Err(_) => Err(CTAP2_ERR_USER_ACTION_TIMEOUT),
                // The app could not ask: the operation is not allowed.
                Ok(Err(_)) => Err(CTAP2_ERR_OPERATION_DENIED),
                Ok(Ok(value)) => Ok(value),
            },
        };
        self.signals.set_waiting_for_user(false);
        answer
    }

    /// Asks for presence; Ok only if the user allowed it.
    pub async fn presence(
        &self,
        operation: UserOperation,
        rp_id: Option<&str>,
        user_name: Option<&str>,
    ) -> CtapResult<()> {
        let prompt = prompt(operation, rp_id, user_name);
        if self.ask(self.ui.confirm_presence(prompt)).await? {
            Ok(())
        } else {
            Err(CTAP2_ERR_OPERATION_DENIED)
        }
    }

    /// Runs the phone's built-in user verification. Ok(false) if it failed or was declined.
    pub async fn verify(&self, operation: UserOperation, rp_id: Option<&str>) -> CtapResult<bool> {
        self.ask(self.ui.verify_user(prompt(operation, rp_id, None)))
            .await
    }

    /// Lets the user choose an account; the index into `accounts`.
    pub async fn choose(&self, rp_id: &str, accounts: Vec<AccountOption>) -> CtapResult<usize> {
        let count = accounts.len();
        match self
            .ask(self.ui.choose_account(rp_id.to_owned(), accounts))
            .await?
        {
            Some(i) => usize::try_from(i)
                .ok()
                .filter(|i| *i < count)
                .ok_or(CTAP2_ERR_OPERATION_DENIED),
            None => Err(CTAP2_ERR_OPERATION_DENIED),
        }
    }
}

fn prompt(
    operation: UserOperation,
    rp_id: Option<&str>,
    user_name: Option<&str>,
) -> PresencePrompt {
    let site = rp_id.unwrap_or("this computer");
    let who = user_name.map(|u| format!(" as {u}")).unwrap_or_default();
    let message = match operation {
        UserOperation::Register => format!("Create a passkey for {site}{who}?"),
        UserOperation::SignIn => format!("Sign in to {site}{who}?"),
        UserOperation::AlreadyRegistered => {
            format!("This phone already has a passkey for {site}. Tell the site?")
        }
        UserOperation::Reset => "Erase every passkey and the PIN on this phone?".to_owned(),
        UserOperation::Select => "Use this phone as the security key?".to_owned(),
        UserOperation::Manage => "Manage the passkeys on this phone?".to_owned(),
        UserOperation::OnBehalfRegistration => {
            format!(
                "Let {} register passkeys for you?",
                user_name.unwrap_or("an administrator")
            )
        }
    };
    PresencePrompt {
        operation,
        rp_id: rp_id.map(str::to_owned),
        user_name: user_name.map(str::to_owned),
        message,
    }
}
