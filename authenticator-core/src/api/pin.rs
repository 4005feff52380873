//! The client PIN from the phone's own settings: its status, setting a first PIN, changing it.
//!
//! Invariants: PINs are checked by the same PIN-attempt rule as CTAP clientPIN
//! (`vault::pin_state`): the policy is checked before any attempt is spent, the retry counter
//! is decremented durably *before* the comparison (killing the app mid-check refunds nothing),
//! a right PIN restores the retries; PIN tokens held by a PC stop working after a change. PINs
//! are wiped after use.

use zeroize::Zeroizing;

use super::{Authenticator, AuthenticatorError, guard};
use crate::platform::{UserEvent, tell};
use crate::vault::{AttemptError, PinOutcome, PinRefused, install_pin, pin_code_points, pin_hash};

/// The client PIN's state, for the settings screen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PinStatus {
    /// A PIN is set.
    pub is_set: bool,
    /// Wrong attempts left before the PIN is blocked.
    pub retries_left: u8,
    /// The shortest PIN allowed, in characters.
    pub min_length: u8,
    /// The administrator or the PC requires a new PIN before the next use.
    pub must_change: bool,
}

#[uniffi::export]
impl Authenticator {
    /// The client PIN's state.
    pub fn pin_status(&self) -> Result<PinStatus, AuthenticatorError> {
        guard(|| {
            let state = self.vault.pin_state().load()?;
            Ok(PinStatus {
                is_set: state.pin_hash.is_some(),
                retries_left: state.pin_retries,
                min_length: state.min_pin_length.max(4),
                must_change: state.force_change,
            })
        })
    }

    /// Sets the first client PIN (`InvalidState` if one is set: change it instead).
    pub fn set_pin(&self, new_pin: String) -> Result<(), AuthenticatorError> {
        let new_pin = Zeroizing::new(new_pin);
        guard(|| {
            let state = self.vault.pin_state().load()?;
            if state.pin_hash.is_some() {
                return Err(already_set());
            }
            let code_points = policy(&new_pin, state.min_pin_length)?;
            let hash = pin_hash(new_pin.as_bytes());
            let (_, installed) = self.vault.pin_state().update(|s| {
                let free = s.pin_hash.is_none();
                if free {
                    install_pin(s, hash, code_points);
                }
                free
            })?;
            if !installed {
                return Err(already_set());
            }
            self.pin_changed();
            Ok(())
        })
    }

    /// Changes the client PIN. A wrong `current_pin` gives `PinInvalid` with the attempts
    /// left, and `PinBlocked` once none are left; a `new_pin` outside the policy gives
    /// `InvalidInput` without spending an attempt.
    pub fn change_pin(
        &self,
        current_pin: String,
        new_pin: String,
    ) -> Result<(), AuthenticatorError> {
        let (current_pin, new_pin) = (Zeroizing::new(current_pin), Zeroizing::new(new_pin));
        guard(|| {
            // The PIN-attempt rule (`vault::pin_state`); the phone's own screen keeps no
            // per-power-cycle run of mismatches, only the durable counter.
            let attempt = self
                .vault
                .pin_state()
                .begin_attempt(None)
                .map_err(|refusal| match refusal {
                    PinRefused::NotSet => not_set(),
                    PinRefused::Blocked | PinRefused::AuthBlocked => blocked(),
                    PinRefused::Vault(e) => e.into(),
                })?;
            // The policy is checked before any attempt is spent.
            let code_points = policy(&new_pin, attempt.state().min_pin_length)?;
            let new_hash = pin_hash(new_pin.as_bytes());
            let outcome = attempt
                .spend_and_compare(None, || {
                    Ok::<_, std::convert::Infallible>(pin_hash(current_pin.as_bytes()))
                })
                .map_err(|e| match e {
                    AttemptError::Vault(e) => AuthenticatorError::from(e),
                    AttemptError::Given(never) => match never {},
                })?;
            if let Some(event) = outcome.event() {
                tell(&*self.user, event);
            }
            match outcome {
                PinOutcome::Right => {}
                PinOutcome::Wrong { retries_left } => {
                    return Err(AuthenticatorError::PinInvalid {
                        attempts_left: u32::from(retries_left),
                        reason: format!("wrong PIN; {retries_left} attempt(s) left"),
                    });
                }
                PinOutcome::Blocked | PinOutcome::AuthBlocked => return Err(blocked()),
            }
            // A forced change must pick a new PIN; the right current one was still proven.
            let (_, installed) = self.vault.pin_state().update(|s| {
                let same = s.force_change
                    && s.pin_hash
                        .as_ref()
                        .is_some_and(|stored| *stored == new_hash);
                if !same {
                    install_pin(s, new_hash, code_points);
                }
                !same
            })?;
            if !installed {
                return Err(AuthenticatorError::invalid(
                    "the new PIN must differ from the current one",
                ));
            }
            self.pin_changed();
            Ok(())
        })
    }
}

impl Authenticator {
    /// Ends the PC's PIN tokens and tells the user.
    fn pin_changed(&self) {
        self.engine.pin_changed_outside_ctap();
        tell(&*self.user, UserEvent::PinChanged);
    }
}

fn policy(pin: &str, min: u8) -> Result<u8, AuthenticatorError> {
    // CTAP pads PINs with zero bytes, and no keyboard types a control character.
    if pin.chars().any(char::is_control) {
        return Err(AuthenticatorError::invalid(
            "the PIN must not contain control characters",
        ));
    }
    pin_code_points(pin.as_bytes(), min).ok_or_else(|| {
        AuthenticatorError::invalid(format!("the PIN must have {} to 63 characters", min.max(4)))
    })
}

fn not_set() -> AuthenticatorError {
    AuthenticatorError::InvalidState {
        reason: "no PIN is set; set one first".into(),
    }
}

fn already_set() -> AuthenticatorError {
    AuthenticatorError::InvalidState {
        reason: "a PIN is already set; change it instead".into(),
    }
}

fn blocked() -> AuthenticatorError {
    AuthenticatorError::PinBlocked {
        reason: "the PIN is blocked after too many wrong attempts; only resetting the security key makes it usable again".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::default_options;
    use crate::testkit::{ScriptedUser, TestProtector};
    use crate::vault::{MAX_PIN_RETRIES, MAX_UV_RETRIES};

    fn phone(dir: &tempfile::TempDir, user: Arc<ScriptedUser>) -> Arc<Authenticator> {
        Authenticator::open(
            dir.path().to_string_lossy().into_owned(),
            Arc::new(TestProtector::sealing()),
            user,
            None,
            default_options("test phone".into()),
        )
        .unwrap()
    }

    /// The phone's PIN change goes through the one PIN-attempt rule: the attempt is spent in
    /// the vault, a right PIN gives back every attempt, pinRetries and uvRetries alike (as a
    /// right PIN over CTAP does), and the last wrong one blocks with the user told.
    #[test]
    fn a_pin_change_spends_restores_and_blocks_by_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        let user = ScriptedUser::approving();
        let phone = phone(&dir, user.clone());
        phone.set_pin("1234".into()).unwrap();
        phone
            .vault
            .pin_state()
            .update(|s| s.uv_retries = 3)
            .unwrap();
        assert!(matches!(
            phone.change_pin("0000".into(), "5678".into()),
            Err(AuthenticatorError::PinInvalid {
                attempts_left: 7,
                ..
            })
        ));
        assert_eq!(phone.vault.pin_state().load().unwrap().pin_retries, 7);
        phone.change_pin("1234".into(), "5678".into()).unwrap();
        let state = phone.vault.pin_state().load().unwrap();
        assert_eq!(
            (state.pin_retries, state.uv_retries),
            (MAX_PIN_RETRIES, MAX_UV_RETRIES)
        );

        phone
            .vault
            .pin_state()
            .update(|s| s.pin_retries = 1)
            .unwrap();
        assert!(matches!(
            phone.change_pin("0000".into(), "1111".into()),
            Err(AuthenticatorError::PinBlocked { .. })
        ));
        assert!(user.events().contains(&UserEvent::PinBlocked));
        assert!(matches!(
            phone.change_pin("5678".into(), "1111".into()),
            Err(AuthenticatorError::PinBlocked { .. })
        ));
    }

    /// A forced change must pick another PIN: the same one is refused, and the right current
    /// PIN still gives the attempts back.
    #[test]
    fn a_forced_change_refuses_the_same_pin() {
        let dir = tempfile::tempdir().unwrap();
        let phone = phone(&dir, ScriptedUser::approving());
        phone.set_pin("1234".into()).unwrap();
        phone
            .vault
            .pin_state()
            .update(|s| {
                s.force_change = true;
                s.pin_retries = 5;
            })
            .unwrap();
        assert!(matches!(
            phone.change_pin("1234".into(), "1234".into()),
            Err(AuthenticatorError::InvalidInput { .. })
        ));
        let state = phone.vault.pin_state().load().unwrap();
        assert_eq!(
            (state.pin_retries, state.force_change),
            (MAX_PIN_RETRIES, true)
        );
        phone.change_pin("1234".into(), "5678".into()).unwrap();
        assert!(!phone.vault.pin_state().load().unwrap().force_change);
    }
}
