//! Credential keys made ahead of time, so that makeCredential does not spend a P-256 key
//! generation (a random scalar and a point multiplication for its public key) while the client
//! waits.
//!
//! Only ES256 keys are pooled. An Ed25519 key (EdDSA passkeys, `credential_key`) is made inline:
//! its public key is one fixed-base multiplication on precomputed tables, cheaper than the
//! P-256 keygen this pool hides (bench `ctap_eddsa`: `ed25519 keygen` against `p256 keygen`),
//! and a pool of a second kind would hold more future private keys in memory for little gain.
//!
//! Invariants:
//! - A key is handed out at most once: [`KeyPool::take`] moves it out of the pool under the
//!   lock, and a [`CredentialKey`] can be neither cloned nor printed (no `Clone`, no `Debug`).
//! - Keys are wiped when dropped (`SecretBytes`; `SigningKey` zeroizes its scalar), so keys left
//!   in the pool when the engine goes away leave nothing behind.
//! - Pooled keys are made exactly like inline ones ([`CredentialKey::generate`], the system
//!   CSPRNG); an empty pool is never an error: `take` then makes the key inline.
//! - At most `capacity` keys, and at most one refill at a time, on tokio's blocking threads. The
//!   caller chooses when to refill: makeCredential does it after its durable insert, by which
//!   time the attestation signature it makes beside the insert is done, so the refill does not
//!   compete with that signature for the phone's other core.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use p256::ecdsa::SigningKey;

use super::status::{CTAP1_ERR_OTHER, CtapResult};
use crate::secret::SecretBytes;

/// How many keys the engine keeps ready. Requests are served one at a time, each takes one key
/// and a refill makes one in less time than a makeCredential's own disk flush, so one key is
/// enough and a second covers a refill that has not finished; every extra key is one more
/// future private key held in memory.
pub(super) const CAPACITY: usize = 2;

/// A fresh credential key pair. Not `Clone` (it is handed out once) and not `Debug`.
pub(super) struct CredentialKey {
    /// The private scalar as the vault stores it (32 bytes).
    pub private_key: SecretBytes,
    /// The same scalar, with its public key already computed.
    pub signing_key: SigningKey,
}

impl CredentialKey {
    /// A fresh P-256 key. Random 32-byte strings are valid scalars except with probability
    /// ~2^-32; those are drawn again.
    pub fn generate() -> CtapResult<Self> {
        for _ in 0..64 {
            let candidate = SecretBytes::random(32).map_err(|_| CTAP1_ERR_OTHER)?;
            if let Ok(signing_key) = SigningKey::from_slice(candidate.expose()) {
                return Ok(Self {
                    private_key: candidate,
                    signing_key,
                });
            }
        }
        Err(CTAP1_ERR_OTHER)
    }
}

pub(super) struct KeyPool {
    keys: Mutex<Vec<CredentialKey>>,
    capacity: usize,
    /// A refill is scheduled or running.
    refilling: AtomicBool,
}

impl KeyPool {
    /// An empty pool; nothing is generated until [`KeyPool::refill_in_background`].
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: Mutex::new(Vec::with_capacity(capacity)),
            capacity,
            refilling: AtomicBool::new(false),
        }
    }

    fn keys(&self) -> MutexGuard<'_, Vec<CredentialKey>> {
        // Push and pop leave the list whole even if a holder panicked.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A key no one else has had or will have: a pooled one, or one made now if the pool is
    /// empty.
    pub fn take(&self) -> CtapResult<CredentialKey> {
        let pooled = self.keys().pop();
        match pooled {
            Some(key) => Ok(key),
            None => CredentialKey::generate(),
        }
    }

    /// Tops the pool up on tokio's blocking threads, unless it is full or a refill is already
    /// under way. Outside a tokio runtime it does nothing (`take` makes keys inline). The
    /// handle is for tests; dropping it leaves the refill running.
    pub fn refill_in_background(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        loop {
            if self.keys().len() >= self.capacity || self.refilling.swap(true, Ordering::AcqRel) {
                return None;
            }
            if self.keys().len() < self.capacity {
                break;
            }
            // A refill filled the pool between the check and the swap, and ended: there is
            // nothing to do, so let go of the flag and look again (a take may come meanwhile).
            self.refilling.store(false, Ordering::Release);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refilling.store(false, Ordering::Release);
            return None;
        };
        // Weak: a refill does not keep a dropped engine's pool (and its keys) alive.
        let pool = Arc::downgrade(self);
        Some(runtime.spawn_blocking(move || fill(&pool)))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys().len()
    }
}

/// Generates keys until the pool is full or gone; the caller has set `refilling`.
fn fill(pool: &Weak<KeyPool>) {
    loop {
        loop {
            let Some(pool) = pool.upgrade() else {
                return;
            };
            if pool.keys().len() >= pool.capacity {
                break;
            }
            // Generated outside the lock, so `take` never waits for a point multiplication.
            let Ok(key) = CredentialKey::generate() else {
                pool.refilling.store(false, Ordering::Release);
                return;
            };
            let mut keys = pool.keys();
            if keys.len() < pool.capacity {
                keys.push(key);
            }
        }
        let Some(pool) = pool.upgrade() else {
            return;
        };
        pool.refilling.store(false, Ordering::Release);
        // A take between the last check and the store above found `refilling` still set and
        // scheduled nothing: look again.
        if pool.keys().len() >= pool.capacity || pool.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public_key(key: &CredentialKey) -> Vec<u8> {
        key.signing_key
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }

    /// The private bytes and the signing key are one key.
    fn consistent(key: &CredentialKey) -> bool {
        SigningKey::from_slice(key.private_key.expose())
            .is_ok_and(|k| k.verifying_key() == key.signing_key.verifying_key())
    }

    fn full_pool() -> Arc<KeyPool> {
        let pool = Arc::new(KeyPool::new(CAPACITY));
        pool.refilling.store(true, Ordering::Release);
        fill(&Arc::downgrade(&pool));
        assert_eq!(pool.len(), CAPACITY);
        assert!(!pool.refilling.load(Ordering::Acquire));
        pool
    }

    #[test]
    fn keys_are_distinct_and_whole() {
        let pool = full_pool();
        // The pooled keys, then inline ones once it is empty.
        let keys: Vec<CredentialKey> = (0..CAPACITY + 3).map(|_| pool.take().unwrap()).collect();
        assert_eq!(pool.len(), 0);
        for (i, a) in keys.iter().enumerate() {
            assert!(consistent(a));
            for b in &keys[i + 1..] {
                assert!(a.private_key != b.private_key);
                assert_ne!(public_key(a), public_key(b));
            }
        }
    }

    #[test]
    fn a_taken_key_is_never_returned_again() {
        let pool = full_pool();
        let taken = pool.take().unwrap();
        assert_eq!(pool.len(), CAPACITY - 1);
        pool.refilling.store(true, Ordering::Release);
        fill(&Arc::downgrade(&pool));
        assert_eq!(pool.len(), CAPACITY);
        for _ in 0..CAPACITY * 2 {
            let other = pool.take().unwrap();
            assert!(other.private_key != taken.private_key);
            assert_ne!(public_key(&other), public_key(&taken));
        }
    }

    #[test]
    fn concurrent_takers_never_share_a_key() {
        let pool = full_pool();
        let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
            let takers: Vec<_> = (0..CAPACITY * 2)
                .map(|_| s.spawn(|| public_key(&pool.take().unwrap())))
                .collect();
            takers.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn an_empty_pool_makes_the_key_inline() {
        let pool = Arc::new(KeyPool::new(CAPACITY));
        // Outside a runtime nothing refills it.
        assert!(pool.refill_in_background().is_none());
        assert!(!pool.refilling.load(Ordering::Acquire));
        let key = pool.take().unwrap();
        assert!(consistent(&key));
        assert_eq!(pool.len(), 0);
    }

    #[tokio::test]
    async fn a_background_refill_tops_the_pool_up_once() {
        let pool = Arc::new(KeyPool::new(CAPACITY));
        let refill = pool.refill_in_background().unwrap();
        // One refill at a time.
        assert!(pool.refill_in_background().is_none());
        refill.await.unwrap();
        assert_eq!(pool.len(), CAPACITY);
        // A full pool schedules nothing.
        assert!(pool.refill_in_background().is_none());
        pool.take().unwrap();
        pool.refill_in_background().unwrap().await.unwrap();
        assert_eq!(pool.len(), CAPACITY);
    }

    #[tokio::test]
    async fn a_refill_stops_when_the_pool_is_dropped() {
        let pool = Arc::new(KeyPool::new(CAPACITY));
        let refill = pool.refill_in_background().unwrap();
        drop(pool);
        refill.await.unwrap();
    }
}
