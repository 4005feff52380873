//! [`ScriptedUser`]: the phone's user as a test scripts them.
//!
//! Every prompt and notice is recorded in order. An answer can be changed while requests run;
//! a hook sees each prompt before it is answered (to act at that moment, as a user who stops
//! something while the phone asks). `Answer::Never` leaves the prompt open for ever, so the
//! core's own timeout or cancellation ends it.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::platform::{
    AccountOption, PresencePrompt, UserEvent, UserInterface, UserInterfaceError,
    VerificationOutcome,
};

/// How the scripted user answers one kind of prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Allows (presence), is verified (verification), picks the scripted account.
    Yes,
    /// Refuses (presence), fails or declines verification (see
    /// [`ScriptedUser::set_refused_verification`]), declines to pick.
    No,
    /// The app cannot show the prompt (`UserInterfaceError::Unavailable`).
    Unavailable,
    /// Never answers.
    Never,
}

type Hook = Arc<dyn Fn(&PresencePrompt) + Send + Sync>;

struct Script {
    presence: Answer,
    verification: Answer,
    refused_verification: VerificationOutcome,
    choice: Option<u32>,
    notify_fails: bool,
    recording: bool,
    hook: Option<Hook>,
    prompts: Vec<PresencePrompt>,
    accounts: Vec<(String, Vec<AccountOption>)>,
    events: Vec<UserEvent>,
}

/// A `UserInterface` that answers as scripted and records what it was shown.
pub struct ScriptedUser(Mutex<Script>);

impl std::fmt::Debug for ScriptedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("ScriptedUser")
            .field("presence", &s.presence)
            .field("verification", &s.verification)
            .field("prompts", &s.prompts.len())
            .field("events", &s.events.len())
            .finish()
    }
}

impl Default for ScriptedUser {
    fn default() -> Self {
        Self::new(Answer::Yes, Answer::Yes)
    }
}

impl ScriptedUser {
    /// A user answering presence and verification prompts as given, picking the first
    /// account, refusing verification as `Failed`.
    pub fn new(presence: Answer, verification: Answer) -> Self {
        Self(Mutex::new(Script {
            presence,
            verification,
            refused_verification: VerificationOutcome::Failed,
            choice: Some(0),
            notify_fails: false,
            recording: true,
            hook: None,
            prompts: Vec::new(),
            accounts: Vec::new(),
            events: Vec::new(),
        }))
    }

    /// A user who allows everything at once, as one who taps "Allow".
    pub fn approving() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_presence(&self, answer: Answer) {
        self.lock().presence = answer;
    }

    pub fn set_verification(&self, answer: Answer) {
        self.lock().verification = answer;
    }

    /// What a `No` to verification is: `Failed` (spends an attempt) or `Declined`.
    pub fn set_refused_verification(&self, outcome: VerificationOutcome) {
        self.lock().refused_verification = outcome;
    }

    /// The index `choose_account` answers (`Answer::Yes` on presence); `None` declines to
    /// pick although the user is there.
    pub fn set_choice(&self, index: impl Into<Option<u32>>) {
        self.lock().choice = index.into();
    }

    /// Stops (or restarts) recording prompts, account lists and notices: a bench or a fuzzer
    /// asks millions of times, and the records would grow for as long as it runs.
    pub fn set_recording(&self, on: bool) {
        self.lock().recording = on;
    }

    /// Makes `notify` fail, as an app that cannot show a notice.
    pub fn set_notify_fails(&self, fails: bool) {
        self.lock().notify_fails = fails;
    }

    /// Runs `hook` on each prompt (presence and verification) before it is answered.
    pub fn on_prompt(&self, hook: impl Fn(&PresencePrompt) + Send + Sync + 'static) {
        self.lock().hook = Some(Arc::new(hook));
    }

    /// Every presence and verification prompt shown so far, in order.
    pub fn prompts(&self) -> Vec<PresencePrompt> {
        self.lock().prompts.clone()
    }

    /// Every account list shown so far, with its site.
    pub fn account_lists(&self) -> Vec<(String, Vec<AccountOption>)> {
        self.lock().accounts.clone()
    }

    /// Every notice so far, in order.
    pub fn events(&self) -> Vec<UserEvent> {
        self.lock().events.clone()
    }

    /// Forgets the recorded prompts and notices.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.prompts.clear();
        s.accounts.clear();
        s.events.clear();
    }

    /// Records `prompt`, runs the hook, and returns the answer then scripted for it.
    fn shown(&self, prompt: PresencePrompt, verification: bool) -> (Answer, VerificationOutcome) {
        let (hook, answer, refused) = {
            let mut s = self.lock();
            if s.recording {
                s.prompts.push(prompt.clone());
            }
            let answer = if verification {
                s.verification
            } else {
                s.presence
            };
            (s.hook.clone(), answer, s.refused_verification)
        };
        if let Some(hook) = hook {
            hook(&prompt);
        }
        (answer, refused)
    }
}

/// The error an `Unavailable` answer gives.
fn unavailable() -> UserInterfaceError {
    UserInterfaceError::Unavailable {
        reason: "the scripted user is away".to_owned(),
    }
}

#[async_trait::async_trait]
impl UserInterface for ScriptedUser {
    async fn confirm_presence(&self, prompt: PresencePrompt) -> Result<bool, UserInterfaceError> {
        match self.shown(prompt, false).0 {
            Answer::Yes => Ok(true),
            Answer::No => Ok(false),
            Answer::Unavailable => Err(unavailable()),
            Answer::Never => std::future::pending().await,
        }
    }

    async fn verify_user(
        &self,
        prompt: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError> {
        match self.shown(prompt, true) {
            (Answer::Yes, _) => Ok(VerificationOutcome::Verified),
            (Answer::No, refused) => Ok(refused),
            (Answer::Unavailable, _) => Err(unavailable()),
            (Answer::Never, _) => std::future::pending().await,
        }
    }

    async fn choose_account(
        &self,
        rp_id: String,
        accounts: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError> {
        let (answer, choice) = {
            let mut s = self.lock();
            if s.recording {
                s.accounts.push((rp_id, accounts));
            }
            (s.presence, s.choice)
        };
        match answer {
            Answer::Yes => Ok(choice),
            Answer::No => Ok(None),
            Answer::Unavailable => Err(unavailable()),
            Answer::Never => std::future::pending().await,
        }
    }

    fn notify(&self, event: UserEvent) -> Result<(), UserInterfaceError> {
        let mut s = self.lock();
        if s.recording {
            s.events.push(event);
        }
        if s.notify_fails {
            return Err(unavailable());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::platform::UserOperation;

    fn prompt() -> PresencePrompt {
        PresencePrompt {
            operation: UserOperation::SignIn,
            rp_id: Some("example.com".into()),
            user_name: None,
            scopes: Vec::new(),
            message: "Sign in at example.com?".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_prompt_never_answered_stays_open_until_a_timer_on_the_paused_clock() {
        let user = ScriptedUser::new(Answer::Never, Answer::Yes);
        let started = Instant::now();
        let asked =
            tokio::time::timeout(Duration::from_secs(30), user.confirm_presence(prompt())).await;
        assert!(asked.is_err(), "still open when the 30 s timer fired");
        assert_eq!(user.prompts(), vec![prompt()]);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the paused clock jumps: no real wait"
        );
    }

    fn account() -> AccountOption {
        AccountOption {
            user_name: Some("alice".into()),
            display_name: None,
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn a_choice_of_none_declines_and_records_can_be_switched_off() {
        let user = ScriptedUser::default();
        user.set_choice(2);
        let pick = || user.choose_account("example.com".into(), vec![account()]);
        assert_eq!(pick().await, Ok(Some(2)));
        user.set_choice(None);
        assert_eq!(pick().await, Ok(None), "declined although present");
        assert_eq!(user.account_lists().len(), 2);

        user.set_recording(false);
        assert_eq!(pick().await, Ok(None));
        user.notify(UserEvent::PinChanged).unwrap();
        assert_eq!(user.account_lists().len(), 2, "nothing more recorded");
        assert!(user.events().is_empty());
        user.set_recording(true);
        user.notify(UserEvent::PinChanged).unwrap();
        assert_eq!(user.events(), vec![UserEvent::PinChanged]);
    }
}
