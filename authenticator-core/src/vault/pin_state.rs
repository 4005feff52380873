//! The authenticator's client PIN state: the PIN hash, retry counters and PIN policy.
//!
//! One sealed row. Every change goes through [`PinStore::update`], a read-modify-write in one
//! IMMEDIATE transaction, durable when it returns: the CTAP engine decrements the retry counter
//! through it *before* comparing a PIN, so killing the app mid-check cannot refund a guess.
//!
//! The PIN-attempt rule lives here, once, for every way a PIN is checked (CTAP clientPIN, a PIN
//! change in the phone's settings): [`PinStore::begin_attempt`] refuses an attempt when no PIN
//! is set (`NotSet`), the retries are spent (`Blocked`, CTAP2_ERR_PIN_BLOCKED) or this power
//! cycle saw `MISMATCHES_BEFORE_POWER_CYCLE` wrong PINs in a row (`AuthBlocked`,
//! CTAP2_ERR_PIN_AUTH_BLOCKED); [`PinAttempt::spend_and_compare`] then decrements pinRetries
//! durably, and only after that compares the given hash in constant time: a right PIN restores
//! pinRetries and uvRetries (CTAP 2.1 §6.5.5.7: a right PIN proves the user) and ends the run
//! of mismatches; a wrong one counts towards this power cycle's limit. The PIN's own policy
//! ([`pin_code_points`]), its stored form ([`pin_hash`]) and [`install`] live here too, so that
//! CTAP, the app's API and enrollment install PINs the same way.
//!
//! The row is a protected record (`head`): an older copy put back (spent retries returned,
//! an offline PIN guessing aid) or a deleted row (back to "no PIN") is refused as `Tampered`
//! on every read and before every update; the head moves in the same transaction as the row.

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use super::head::PIN_STATE;
use super::record_crypto::Field;
use super::{Vault, VaultError};
use crate::platform::UserEvent;
use crate::secret::{SecretBytes, constant_time_eq};

const FIELD: Field<'static> = Field {
    table: "pin_state",
    column: "state",
    row: b"1",
};

/// How an error names the PIN-state row.
pub(super) const WHAT: &str = "PIN state (PIN retry counters)";

fn select(conn: &rusqlite::Connection) -> Result<Option<Vec<u8>>, VaultError> {
    Ok(conn
        .prepare_cached("SELECT state FROM pin_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// CTAP 2.1 §6.5.2.2: the PIN retry counter starts at 8.
pub const MAX_PIN_RETRIES: u8 = 8;
/// Built-in user verification attempts before it is blocked (CTAP 2.1 §6.5.2.2, maxUvRetries).
pub const MAX_UV_RETRIES: u8 = 8;
/// CTAP 2.1 §6.5.2.2: the default minimum PIN length in code points.
pub const DEFAULT_MIN_PIN_LENGTH: u8 = 4;
/// Consecutive mismatches before PIN entry is blocked until a power cycle (CTAP 2.1 §6.5.5.5).
pub(crate) const MISMATCHES_BEFORE_POWER_CYCLE: u8 = 3;
/// The longest PIN, in bytes (CTAP 2.1 §6.5.5.5).
pub(crate) const MAX_PIN_BYTES: usize = 63;

/// The client PIN state. Wiped on drop (the hash is a `SecretBytes`); no `Debug`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PinState {
    /// LEFT(SHA-256(PIN), 16), or `None` when no PIN is set.
    pub pin_hash: Option<SecretBytes>,
    /// Length of the current PIN in Unicode code points (for getInfo's minPINLength checks).
    pub pin_code_points: u8,
    pub pin_retries: u8,
    pub uv_retries: u8,
    /// The next PIN use must be a change (CTAP 2.1 forcePINChange).
    pub force_change: bool,
    pub min_pin_length: u8,
    /// RP ids allowed to read the minimum PIN length (minPinLength extension).
    pub min_pin_length_rp_ids: Vec<String>,
}

impl Default for PinState {
    fn default() -> Self {
        Self {
            pin_hash: None,
            pin_code_points: 0,
            pin_retries: MAX_PIN_RETRIES,
            uv_retries: MAX_UV_RETRIES,
            force_change: false,
            min_pin_length: DEFAULT_MIN_PIN_LENGTH,
            min_pin_length_rp_ids: Vec::new(),
        }
    }
}

/// Access to the PIN state.
pub struct PinStore<'v> {
    vault: &'v Vault,
}

impl<'v> PinStore<'v> {
    pub(super) fn new(vault: &'v Vault) -> Self {
        Self { vault }
    }

    /// The current state (the default state when none was ever stored).
    pub fn load(&self) -> Result<PinState, VaultError> {
        let sealed = self.vault.read_verified(|conn, head| {
            let sealed = select(conn)?;
            head.check(PIN_STATE, sealed.as_deref(), WHAT)?;
            Ok(sealed)
        })?;
        match sealed {
            Some(s) => self.vault.cipher().open_cbor(FIELD, &s),
            None => Ok(PinState::default()),
        }
    }

    /// Applies `change` to the state and stores it durably, atomically with respect to other
    /// processes. Returns the new state and what `change` returned.
    pub fn update<R>(
        &self,
        change: impl FnOnce(&mut PinState) -> R,
    ) -> Result<(PinState, R), VaultError> {
        self.vault.write_protected(|tx, head| {
            let sealed = select(tx)?;
            head.check(PIN_STATE, sealed.as_deref(), WHAT)?;
            let mut state = match sealed {
                Some(s) => self.vault.cipher().open_cbor(FIELD, &s)?,
                None => PinState::default(),
            };
            let out = change(&mut state);
            let sealed = self.vault.cipher().seal_cbor(FIELD, &state)?;
            tx.execute(
                "INSERT INTO pin_state (id, state) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                [&sealed],
            )?;
            head.put(PIN_STATE, Some(&sealed));
            Ok((state, out))
        })
    }

    /// The first half of the PIN-attempt rule (module header): whether a PIN may be tried now.
    /// `mismatches` is this power cycle's run of wrong PINs, where the caller keeps one (the
    /// CTAP engine); `None` applies the durable counter only.
    pub(crate) fn begin_attempt(
        &self,
        mismatches: Option<&PinMismatches>,
    ) -> Result<PinAttempt<'v>, PinRefused> {
        let state = self.load()?;
        if state.pin_hash.is_none() {
            return Err(PinRefused::NotSet);
        }
        if state.pin_retries == 0 {
            return Err(PinRefused::Blocked);
        }
        if mismatches.is_some_and(PinMismatches::blocked) {
            return Err(PinRefused::AuthBlocked);
        }
        Ok(PinAttempt {
            store: PinStore { vault: self.vault },
            state,
        })
    }

    /// Back to no PIN and full retries (authenticatorReset).
    pub fn reset(&self) -> Result<(), VaultError> {
        self.vault.write_protected(|tx, head| {
            head.check(PIN_STATE, select(tx)?.as_deref(), WHAT)?;
            tx.execute("DELETE FROM pin_state", [])?;
            head.put(PIN_STATE, None);
            Ok(())
        })
    }
}

/// Consecutive wrong PINs since power-up (volatile: a power cycle starts a new run).
#[derive(Debug, Default)]
pub(crate) struct PinMismatches(u8);

impl PinMismatches {
    /// PIN entry is blocked until the next power cycle (CTAP 2.1 §6.5.5.5).
    pub(crate) fn blocked(&self) -> bool {
        self.0 >= MISMATCHES_BEFORE_POWER_CYCLE
    }

    /// A power cycle (authenticatorReset counts as one).
    pub(crate) fn clear(&mut self) {
        self.0 = 0;
    }
}

/// Why a PIN may not be tried (nothing was spent).
#[derive(Debug)]
pub(crate) enum PinRefused {
    /// No PIN is set.
    NotSet,
    /// The retries are spent: only a reset makes the PIN usable again.
    Blocked,
    /// Too many wrong PINs in a row this power cycle.
    AuthBlocked,
    Vault(VaultError),
}

impl From<VaultError> for PinRefused {
    fn from(e: VaultError) -> Self {
        Self::Vault(e)
    }
}

/// What the comparison found, after the attempt was spent durably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinOutcome {
    /// The right PIN: pinRetries and uvRetries are full again.
    Right,
    /// A wrong PIN with attempts left.
    Wrong { retries_left: u8 },
    /// A wrong PIN that spent the last attempt.
    Blocked,
    /// A wrong PIN that ended this power cycle's allowance (attempts are left).
    AuthBlocked,
}

impl PinOutcome {
    /// What the user is told of this outcome, if anything.
    pub(crate) fn event(self) -> Option<UserEvent> {
        match self {
            Self::Blocked => Some(UserEvent::PinBlocked),
            Self::AuthBlocked => Some(UserEvent::PinAuthBlocked),
            Self::Right | Self::Wrong { .. } => None,
        }
    }
}

/// Why a begun attempt gave no outcome: the vault failed, or the caller could not produce the
/// given PIN's hash (a decryption failure, say). The attempt stays spent either way.
#[derive(Debug)]
pub(crate) enum AttemptError<E> {
    Vault(VaultError),
    Given(E),
}

/// A PIN attempt that may go ahead ([`PinStore::begin_attempt`]).
pub(crate) struct PinAttempt<'v> {
    store: PinStore<'v>,
    state: PinState,
}

impl PinAttempt<'_> {
    /// The state read when the attempt began.
    pub(crate) fn state(&self) -> &PinState {
        &self.state
    }

    /// The second half of the rule: spends one attempt durably, then (and only then) asks for
    /// the given PIN's hash and compares it with the stored one in constant time.
    pub(crate) fn spend_and_compare<E>(
        self,
        mismatches: Option<&mut PinMismatches>,
        given: impl FnOnce() -> Result<SecretBytes, E>,
    ) -> Result<PinOutcome, AttemptError<E>> {
        let (after, ()) = self
            .store
            .update(|s| s.pin_retries = s.pin_retries.saturating_sub(1))
            .map_err(AttemptError::Vault)?;
        let given = given().map_err(AttemptError::Given)?;
        // Compared with the hash stored now (a reset meanwhile leaves none: no match).
        if after
            .pin_hash
            .as_ref()
            .is_some_and(|stored| constant_time_eq(given.expose(), stored.expose()))
        {
            if let Some(m) = mismatches {
                m.clear();
            }
            self.store
                .update(|s| {
                    s.pin_retries = MAX_PIN_RETRIES;
                    s.uv_retries = MAX_UV_RETRIES;
                })
                .map_err(AttemptError::Vault)?;
            return Ok(PinOutcome::Right);
        }
        let auth_blocked = mismatches.is_some_and(|m| {
            m.0 = m.0.saturating_add(1);
            m.blocked()
        });
        Ok(if after.pin_retries == 0 {
            PinOutcome::Blocked
        } else if auth_blocked {
            PinOutcome::AuthBlocked
        } else {
            PinOutcome::Wrong {
                retries_left: after.pin_retries,
            }
        })
    }
}

/// LEFT(SHA-256(pin), 16), the form the PIN is stored and compared in (CTAP 2.1 §6.5.5.5).
pub(crate) fn pin_hash(pin: &[u8]) -> SecretBytes {
    let digest = Sha256::digest(pin);
    SecretBytes::new(digest[..16].to_vec())
}

/// The PIN policy (CTAP 2.1 §6.5.5.5): UTF-8, at least `min` and at least 4 code points, at
/// most 63 bytes. The PIN's length in code points, or `None` if it breaks the policy.
pub(crate) fn pin_code_points(pin: &[u8], min: u8) -> Option<u8> {
    let text = std::str::from_utf8(pin).ok()?;
    let code_points = text.chars().count();
    if pin.len() > MAX_PIN_BYTES || code_points < usize::from(min.max(4)) {
        return None;
    }
    Some(u8::try_from(code_points).unwrap_or(u8::MAX))
}

/// Installs a new PIN with full retries and no pending forced change.
pub(crate) fn install(state: &mut PinState, hash: SecretBytes, code_points: u8) {
    state.pin_hash = Some(hash);
    state.pin_code_points = code_points;
    state.pin_retries = MAX_PIN_RETRIES;
    state.force_change = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestProtector;

    fn vault_with_pin(pin: &[u8]) -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path().join("vault.db"), &TestProtector::sealing()).unwrap();
        vault
            .pin_state()
            .update(|s| install(s, pin_hash(pin), 4))
            .unwrap();
        (dir, vault)
    }

    fn retries(vault: &Vault) -> (u8, u8) {
        let s = vault.pin_state().load().unwrap();
        (s.pin_retries, s.uv_retries)
    }

    #[test]
    fn a_wrong_pin_is_spent_durably_before_the_comparison_is_used() {
        let (_dir, vault) = vault_with_pin(b"1234");
        let attempt = vault.pin_state().begin_attempt(None).unwrap();
        // The given hash is asked for only after the decrement is stored: a kill at that point
        // (here: the caller failing) refunds nothing.
        let seen = std::cell::Cell::new(0);
        let result = attempt.spend_and_compare(None, || {
            seen.set(vault.pin_state().load().unwrap().pin_retries);
            Err::<SecretBytes, _>("killed")
        });
        assert!(matches!(result, Err(AttemptError::Given("killed"))));
        assert_eq!(seen.get(), MAX_PIN_RETRIES - 1);
        assert_eq!(retries(&vault).0, MAX_PIN_RETRIES - 1);

        let outcome = vault
            .pin_state()
            .begin_attempt(None)
            .unwrap()
            .spend_and_compare(None, || Ok::<_, ()>(pin_hash(b"9999")))
            .unwrap();
        assert_eq!(
            outcome,
            PinOutcome::Wrong {
                retries_left: MAX_PIN_RETRIES - 2
            }
        );
        assert_eq!(retries(&vault).0, MAX_PIN_RETRIES - 2);
    }

    #[test]
    fn a_right_pin_restores_both_counters_and_the_power_cycle_run() {
        let (_dir, vault) = vault_with_pin(b"1234");
        vault.pin_state().update(|s| s.uv_retries = 2).unwrap();
        let mut mismatches = PinMismatches::default();
        for _ in 0..2 {
            let outcome = vault
                .pin_state()
                .begin_attempt(Some(&mismatches))
                .unwrap()
                .spend_and_compare(Some(&mut mismatches), || Ok::<_, ()>(pin_hash(b"0000")))
                .unwrap();
            assert!(matches!(outcome, PinOutcome::Wrong { .. }));
        }
        let outcome = vault
            .pin_state()
            .begin_attempt(Some(&mismatches))
            .unwrap()
            .spend_and_compare(Some(&mut mismatches), || Ok::<_, ()>(pin_hash(b"1234")))
            .unwrap();
        assert_eq!(outcome, PinOutcome::Right);
        assert_eq!(outcome.event(), None);
        assert_eq!(retries(&vault), (MAX_PIN_RETRIES, MAX_UV_RETRIES));
        assert_eq!(mismatches.0, 0);
    }

    #[test]
    fn three_wrong_pins_in_a_row_block_until_a_power_cycle() {
        let (_dir, vault) = vault_with_pin(b"1234");
        let mut mismatches = PinMismatches::default();
        let mut outcomes = Vec::new();
        for _ in 0..MISMATCHES_BEFORE_POWER_CYCLE {
            outcomes.push(
                vault
                    .pin_state()
                    .begin_attempt(Some(&mismatches))
                    .unwrap()
                    .spend_and_compare(Some(&mut mismatches), || Ok::<_, ()>(pin_hash(b"0000")))
                    .unwrap(),
            );
        }
        assert_eq!(outcomes[2], PinOutcome::AuthBlocked);
        assert_eq!(outcomes[2].event(), Some(UserEvent::PinAuthBlocked));
        // Blocked before anything is spent, even for the right PIN.
        assert!(matches!(
            vault.pin_state().begin_attempt(Some(&mismatches)),
            Err(PinRefused::AuthBlocked)
        ));
        assert_eq!(retries(&vault).0, MAX_PIN_RETRIES - 3);
        // A power cycle starts a new run; without a run kept, only the durable counter counts.
        mismatches.clear();
        assert!(vault.pin_state().begin_attempt(Some(&mismatches)).is_ok());
        assert!(vault.pin_state().begin_attempt(None).is_ok());
    }

    #[test]
    fn the_last_attempt_blocks_the_pin_and_nothing_more_is_tried() {
        let (_dir, vault) = vault_with_pin(b"1234");
        vault.pin_state().update(|s| s.pin_retries = 1).unwrap();
        let outcome = vault
            .pin_state()
            .begin_attempt(None)
            .unwrap()
            .spend_and_compare(None, || Ok::<_, ()>(pin_hash(b"0000")))
            .unwrap();
        assert_eq!(outcome, PinOutcome::Blocked);
        assert_eq!(outcome.event(), Some(UserEvent::PinBlocked));
        assert!(matches!(
            vault.pin_state().begin_attempt(None),
            Err(PinRefused::Blocked)
        ));
        vault.pin_state().reset().unwrap();
        assert!(matches!(
            vault.pin_state().begin_attempt(None),
            Err(PinRefused::NotSet)
        ));
    }

    #[test]
    fn the_policy_counts_code_points_and_caps_bytes() {
        assert_eq!(pin_code_points(b"1234", 4), Some(4));
        assert_eq!(pin_code_points(b"123", 0), None);
        assert_eq!(pin_code_points(b"12345", 6), None);
        assert_eq!(pin_code_points("ééééé".as_bytes(), 5), Some(5));
        assert_eq!(pin_code_points(&[b'1'; 64], 4), None);
        assert_eq!(pin_code_points(&[0xff, 0xfe, 0x31, 0x32], 4), None);
    }
}
