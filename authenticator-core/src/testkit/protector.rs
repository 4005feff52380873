//! [`TestProtector`]: a key-protector double held in memory.
//!
//! Three ways to wrap: `sealing` (AES-GCM under a random in-memory key, like the software
//! protector but without files: a blob of another instance is `WrongKey`), `plain` (the blob
//! is the secret: costs nothing, for benches that must not time the key store) and
//! `unwrapping_to` (every blob opens to one fixed key, as a buggy or foreign key store). The
//! anchor is kept in memory unless `without_anchor`. A failure set with `fail_with` is the
//! answer of every call until cleared (a locked or lost key store).

use std::sync::{Mutex, MutexGuard};

use zeroize::Zeroizing;

use crate::platform::software_protector::{open, seal};
use crate::platform::{KeyProtectionInfo, KeyProtector, KeyProtectorError};
use crate::secret::random_array;

enum Wrapping {
    Sealing(Zeroizing<[u8; 32]>),
    Plain,
    UnwrappingTo(Zeroizing<[u8; 32]>),
}

struct State {
    anchor: Option<Vec<u8>>,
    failure: Option<KeyProtectorError>,
    anchor_writes: u64,
}

/// A `KeyProtector` for tests, benches and fuzzers.
pub struct TestProtector {
    wrapping: Wrapping,
    keeps_anchor: bool,
    state: Mutex<State>,
}

impl std::fmt::Debug for TestProtector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProtector")
            .field("kind", &self.kind())
            .field("keeps_anchor", &self.keeps_anchor)
            .finish_non_exhaustive()
    }
}

impl Default for TestProtector {
    fn default() -> Self {
        Self::sealing()
    }
}

impl TestProtector {
    fn with(wrapping: Wrapping) -> Self {
        Self {
            wrapping,
            keeps_anchor: true,
            state: Mutex::new(State {
                anchor: None,
                failure: None,
                anchor_writes: 0,
            }),
        }
    }

    /// Seals under a new random key (a device key of its own).
    pub fn sealing() -> Self {
        let key = random_array::<32>().unwrap_or([0x5a; 32]);
        Self::with(Wrapping::Sealing(Zeroizing::new(key)))
    }

    /// Stores secrets as they are: for benches, where the key store must cost nothing.
    pub fn plain() -> Self {
        Self::with(Wrapping::Plain)
    }

    /// Unwraps every blob to `key`, whatever was wrapped.
    pub fn unwrapping_to(key: [u8; 32]) -> Self {
        Self::with(Wrapping::UnwrappingTo(Zeroizing::new(key)))
    }

    /// A platform that keeps no anchor (`load_anchor` is `None`, `store_anchor` false).
    pub fn without_anchor(mut self) -> Self {
        self.keeps_anchor = false;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every later call fails with `failure` until `fail_with(None)`.
    pub fn fail_with(&self, failure: Option<KeyProtectorError>) {
        self.lock().failure = failure;
    }

    /// The anchor stored now.
    pub fn anchor(&self) -> Option<Vec<u8>> {
        self.lock().anchor.clone()
    }

    /// Replaces the stored anchor, as someone who can write the platform's store.
    pub fn set_anchor(&self, anchor: Option<Vec<u8>>) {
        self.lock().anchor = anchor;
    }

    /// How many times the core has stored an anchor.
    pub fn anchor_writes(&self) -> u64 {
        self.lock().anchor_writes
    }

    fn kind(&self) -> &'static str {
        match self.wrapping {
            Wrapping::Sealing(_) => "test-sealing",
            Wrapping::Plain => "test-plain",
            Wrapping::UnwrappingTo(_) => "test-fixed",
        }
    }

    fn check(&self) -> Result<(), KeyProtectorError> {
        match &self.lock().failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }
}

impl KeyProtector for TestProtector {
    fn wrap(&self, secret: Vec<u8>) -> Result<Vec<u8>, KeyProtectorError> {
        self.check()?;
        let secret = Zeroizing::new(secret);
        match &self.wrapping {
            Wrapping::Sealing(key) => seal(key.as_ref(), &secret),
            Wrapping::Plain | Wrapping::UnwrappingTo(_) => Ok(secret.to_vec()),
        }
    }

    fn unwrap(&self, blob: Vec<u8>) -> Result<Vec<u8>, KeyProtectorError> {
        self.check()?;
        match &self.wrapping {
            Wrapping::Sealing(key) => open(key.as_ref(), &blob),
            Wrapping::Plain => Ok(blob),
            Wrapping::UnwrappingTo(key) => Ok(key.to_vec()),
        }
    }

    fn info(&self) -> Result<KeyProtectionInfo, KeyProtectorError> {
        Ok(KeyProtectionInfo {
            hardware_backed: false,
            kind: self.kind().to_owned(),
        })
    }

    fn load_anchor(&self) -> Result<Option<Vec<u8>>, KeyProtectorError> {
        self.check()?;
        Ok(if self.keeps_anchor {
            self.anchor()
        } else {
            None
        })
    }

    fn store_anchor(&self, anchor: Vec<u8>) -> Result<bool, KeyProtectorError> {
        self.check()?;
        if !self.keeps_anchor {
            return Ok(false);
        }
        let mut state = self.lock();
        state.anchor = Some(anchor);
        state.anchor_writes += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_another_instance_is_wrong_key() {
        let a = TestProtector::sealing();
        let blob = a.wrap(b"vault key".to_vec()).unwrap();
        assert_ne!(blob, b"vault key");
        assert_eq!(a.unwrap(blob.clone()).unwrap(), b"vault key");
        assert_eq!(
            TestProtector::sealing().unwrap(blob),
            Err(KeyProtectorError::WrongKey)
        );
    }

    #[test]
    fn a_set_failure_answers_every_call_until_cleared() {
        let p = TestProtector::plain();
        let locked = KeyProtectorError::TemporarilyUnavailable {
            reason: "locked".into(),
        };
        p.fail_with(Some(locked.clone()));
        assert_eq!(p.unwrap(vec![1]), Err(locked.clone()));
        assert_eq!(p.store_anchor(vec![2]), Err(locked));
        p.fail_with(None);
        assert_eq!(p.store_anchor(vec![2]), Ok(true));
        assert_eq!(p.load_anchor(), Ok(Some(vec![2])));
        assert_eq!(p.anchor_writes(), 1);
        let no_anchor = TestProtector::plain().without_anchor();
        assert_eq!(no_anchor.store_anchor(vec![3]), Ok(false));
        assert_eq!(no_anchor.load_anchor(), Ok(None));
    }
}
