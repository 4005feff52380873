//! Asking the user, with the engine's rules around every prompt: the core owns the timeout
//! (expiry is CTAP2_ERR_USER_ACTION_TIMEOUT), a CANCEL from the client ends the wait with
//! CTAP2_ERR_KEEPALIVE_CANCEL, and while the prompt is up the transport is told to send
//! "user presence needed" keepalives.
//!
//! Every prompt carries its scopes, all that a yes allows, and a message naming each of them:
//! a prompt never grants more than it says.

use std::future::Future;
use std::time::Duration;

use super::status::{
    CTAP2_ERR_KEEPALIVE_CANCEL, CTAP2_ERR_OPERATION_DENIED, CTAP2_ERR_USER_ACTION_TIMEOUT,
    CtapResult,
};
use crate::platform::{
    AccountOption, PresencePrompt, PromptScope, UserInterface, UserInterfaceError, UserOperation,
    VerificationOutcome,
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

    /// Runs the phone's built-in user verification; the prompt names `scopes`, everything a
    /// success will allow.
    pub async fn verify(
        &self,
        operation: UserOperation,
        scopes: Vec<PromptScope>,
        rp_id: Option<&str>,
    ) -> CtapResult<VerificationOutcome> {
        let prompt = prompt_with_scopes(operation, scopes, rp_id, None);
        self.ask(self.ui.verify_user(prompt)).await
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

/// What a yes to `operation` allows when nothing more is granted with it.
pub(crate) fn scopes_of(operation: UserOperation) -> Vec<PromptScope> {
    match operation {
        UserOperation::Register => vec![PromptScope::CreatePasskey],
        UserOperation::SignIn => vec![PromptScope::SignIn],
        UserOperation::Manage => vec![PromptScope::ManagePasskeys],
        UserOperation::AlreadyRegistered
        | UserOperation::Reset
        | UserOperation::Select
        | UserOperation::OnBehalfRegistration => Vec::new(),
    }
}

fn prompt(
    operation: UserOperation,
    rp_id: Option<&str>,
    user_name: Option<&str>,
) -> PresencePrompt {
    prompt_with_scopes(operation, scopes_of(operation), rp_id, user_name)
}

/// The prompt, with a message that names every scope (so one "Sign in" can never carry a
/// settings change the user was not shown).
fn prompt_with_scopes(
    operation: UserOperation,
    scopes: Vec<PromptScope>,
    rp_id: Option<&str>,
    user_name: Option<&str>,
) -> PresencePrompt {
    let site = rp_id.unwrap_or("this computer");
    let who = user_name.map(|u| format!(" as {u}")).unwrap_or_default();
    let message = match operation {
        UserOperation::AlreadyRegistered => {
            format!("This phone already has a passkey for {site}. Tell the site?")
        }
        UserOperation::Reset => "Erase every passkey and the PIN on this phone?".to_owned(),
        UserOperation::Select => "Use this phone as the security key?".to_owned(),
        UserOperation::OnBehalfRegistration => {
            format!(
                "Let {} register passkeys for you?",
                user_name.unwrap_or("an administrator")
            )
        }
        UserOperation::Register | UserOperation::SignIn | UserOperation::Manage => {
            let phrases: Vec<String> = scopes.iter().map(|s| phrase(*s, rp_id)).collect();
            format!("{}{who}?", capitalized(&joined(&phrases)))
        }
    };
    PresencePrompt {
        operation,
        rp_id: rp_id.map(str::to_owned),
        user_name: user_name.map(str::to_owned),
        scopes,
        message,
    }
}

fn phrase(scope: PromptScope, rp_id: Option<&str>) -> String {
    let site = rp_id.unwrap_or("this computer");
    match scope {
        PromptScope::CreatePasskey => format!("create a passkey for {site}"),
        PromptScope::SignIn => format!("sign in to {site}"),
        PromptScope::ManagePasskeys => match rp_id {
            Some(rp) => format!("manage the passkeys for {rp} on this phone"),
            None => "manage the passkeys on this phone".to_owned(),
        },
        PromptScope::ChangeSettings => "change this phone's security key settings".to_owned(),
    }
}

/// "a", "a and b", "a, b and c".
fn joined(phrases: &[String]) -> String {
    match phrases {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_operations_keep_their_sentences() {
        assert_eq!(
            prompt(UserOperation::Register, Some("crm.example"), Some("alice")).message,
            "Create a passkey for crm.example as alice?"
        );
        assert_eq!(
            prompt(UserOperation::SignIn, Some("example.com"), None).message,
            "Sign in to example.com?"
        );
        let manage = prompt(UserOperation::Manage, None, None);
        assert_eq!(manage.message, "Manage the passkeys on this phone?");
        assert_eq!(manage.scopes, vec![PromptScope::ManagePasskeys]);
        assert!(prompt(UserOperation::Reset, None, None).scopes.is_empty());
    }

    #[test]
    fn a_prompt_names_every_scope() {
        let both = prompt_with_scopes(
            UserOperation::Register,
            vec![PromptScope::CreatePasskey, PromptScope::SignIn],
            Some("example.com"),
            None,
        );
        assert_eq!(
            both.message,
            "Create a passkey for example.com and sign in to example.com?"
        );
        let admin = prompt_with_scopes(
            UserOperation::Manage,
            vec![PromptScope::ManagePasskeys, PromptScope::ChangeSettings],
            None,
            None,
        );
        assert_eq!(
            admin.message,
            "Manage the passkeys on this phone and change this phone's security key settings?"
        );
        let bound = prompt_with_scopes(
            UserOperation::Manage,
            vec![PromptScope::ManagePasskeys],
            Some("example.com"),
            None,
        );
        assert_eq!(
            bound.message,
            "Manage the passkeys for example.com on this phone?"
        );
        assert_eq!(joined(&["a".into(), "b".into(), "c".into()]), "a, b and c");
    }
}
