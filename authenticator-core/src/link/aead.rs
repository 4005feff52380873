//! The AEAD of the link's Noise suite (proto/link.md §3.1, Noise rev 34 §12.3 "AESGCM"), which
//! both the handshake ([`super::noise`]) and the transport channel after it
//! ([`super::channel`]) seal with: AES-256-GCM, a 16-byte tag, the counter nonce, and Noise's
//! message limit.
//!
//! Kept apart so the dependency runs one way: `noise` builds a `channel` from the keys its
//! Split() gives, and both take these facts from here rather than from each other.
//!
//! Invariants: `seal` and `open` are the only places a counter becomes a nonce, so the two
//! users cannot disagree on its layout; counting (and refusing a spent counter) is the
//! caller's job, because the handshake and the channel bound it differently.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Error, Payload};

/// The AES-GCM tag (Noise rev 34 §5.1: ciphertexts are 16 bytes longer).
pub const TAG_LEN: usize = 16;
/// Largest Noise message (Noise rev 34 §3).
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// The 96-bit AESGCM nonce of Noise rev 34 §12.3: 32 zero bits, then the counter big-endian.
pub(crate) fn nonce(n: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[4..].copy_from_slice(&n.to_be_bytes());
    out
}

/// ENCRYPT(k, n, ad, plaintext) of Noise rev 34 §12.3 under `cipher`: ciphertext ‖ tag. Fails
/// only for a plaintext beyond AES-GCM's limit (64 GiB), which the callers' lengths exclude.
pub(crate) fn seal(
    cipher: &Aes256Gcm,
    n: u64,
    ad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    let payload = Payload {
        msg: plaintext,
        aad: ad,
    };
    cipher.encrypt(&nonce(n).into(), payload)
}

/// DECRYPT(k, n, ad, ciphertext) of Noise rev 34 §12.3: the plaintext, or an error if the
/// ciphertext, its tag, the key, the counter or `ad` do not match.
pub(crate) fn open(
    cipher: &Aes256Gcm,
    n: u64,
    ad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, Error> {
    let payload = Payload {
        msg: ciphertext,
        aad: ad,
    };
    cipher.decrypt(&nonce(n).into(), payload)
}
