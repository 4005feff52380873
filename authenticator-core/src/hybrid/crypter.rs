//! The encryption of every tunnel message after the hybrid handshake (Chromium
//! `device/fido/cable/v2_handshake.cc` `Crypter`, CTAP 2.2 §11.5 "Hybrid transports").
//!
//! One AES-256-GCM key per direction from Noise Split() (the phone reads with the first key,
//! initiator -> responder, and writes with the second), a separate counter per direction that
//! never travels, and every plaintext padded with [`frames::pad`] before sealing. Only the v2.1
//! "new construction" is spoken: the 12-byte nonce is 8 zero bytes then the counter as a
//! big-endian `u32`, with no associated data (Chromium `Crypter::UseNewConstruction`;
//! webauthn-rs `NonceType::New`). The authenticator picks the construction, and the browser
//! switches to it after failing to open the first message the old way; the browser writes only
//! after that, so the old construction (little-endian counter, associated data `[2]`) is never
//! needed here.
//!
//! What a peer can do: the tunnel server can drop, repeat, reorder, truncate or alter
//! messages; each of these fails authentication, because the counters are implicit (it cannot
//! tell which, and says so). A browser can send a message that authenticates but is badly
//! padded: that is a [`CrypterError::Padding`], and the counter has moved on (as in Chromium),
//! since the message was genuinely the next one.
//!
//! Invariants: a nonce is never used twice under a key (a counter only moves forward, and once
//! it would pass [`MAX_COUNTER`] every call errs rather than wrap); a failed `decrypt` that did
//! not authenticate leaves the counter where it was; the keys are wiped on drop (the workspace
//! builds `aes` with its `zeroize` feature, which clears the round keys) and appear in no
//! `Debug` output or error.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use thiserror::Error;
use zeroize::Zeroizing;

use super::frames::{self, PaddingError};

/// The AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// The last counter a message may use. Chromium's `Crypter` counts in a `u32`; a counter that
/// would wrap is refused (webauthn-rs refuses `u32::MAX` likewise), so the largest usable
/// value is one below.
pub const MAX_COUNTER: u32 = u32::MAX - 1;
/// The largest plaintext this side seals or accepts: 1 MiB, far above any CTAP message
/// (getInfo's maxMsgSize is a few KiB) and below what the tunnel server relays, so a peer
/// cannot make the phone allocate without bound.
pub const MAX_PLAINTEXT_LEN: usize = 1 << 20;
/// The largest ciphertext [`Crypter::decrypt`] opens: the largest plaintext padded, plus the
/// tag.
pub const MAX_CIPHERTEXT_LEN: usize =
    (MAX_PLAINTEXT_LEN + 1).div_ceil(frames::PADDING_GRANULARITY) * frames::PADDING_GRANULARITY
        + TAG_LEN;

/// Why a message could not be sealed or opened. No variant carries key or message bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CrypterError {
    /// The ciphertext did not authenticate under the read key and counter: altered,
    /// truncated, replayed, reordered, after a lost message, or sealed under other keys. These
    /// cannot be told apart, because the counter never travels.
    #[error(
        "tunnel message failed authentication (altered, truncated, replayed, reordered, or under other keys)"
    )]
    Authentication,
    /// The message authenticated but its padding is malformed: a bug or bad faith in the peer.
    #[error("tunnel message has malformed padding: {0}")]
    Padding(#[from] PaddingError),
    /// This direction's counter is used up; the session must end.
    #[error("tunnel message counter exhausted")]
    CounterExhausted,
    /// The plaintext (to seal) or ciphertext (to open) is longer than this side allows.
    #[error("tunnel message too long")]
    TooLong,
}

/// One direction: its cipher and the counter of its next message.
struct Direction {
    cipher: Aes256Gcm,
    counter: u32,
}

impl Direction {
    fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&(*key).into()),
            counter: 0,
        }
    }

    /// The counter for this message, refusing one past [`MAX_COUNTER`].
    fn current(&self) -> Result<u32, CrypterError> {
        if self.counter > MAX_COUNTER {
            return Err(CrypterError::CounterExhausted);
        }
        Ok(self.counter)
    }
}

/// The v2.1 ("new construction") nonce: 8 zero bytes, then the counter big-endian. For counters
/// below 2^32 this is also Noise's AESGCM nonce (§12.3), which is why `snow` reads it.
fn nonce(counter: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[8..].copy_from_slice(&counter.to_be_bytes());
    out
}

/// The post-handshake transport of one side. `encrypt` and `decrypt` are the only ways to use
/// it; it has no `Debug`.
pub struct Crypter {
    read: Direction,
    write: Direction,
}

impl Crypter {
    /// A crypter from this side's Split() keys: `read_key` opens the peer's messages,
    /// `write_key` seals ours (Chromium `Crypter(read_key, write_key)`).
    pub fn new(read_key: &[u8; 32], write_key: &[u8; 32]) -> Self {
        Self {
            read: Direction::new(read_key),
            write: Direction::new(write_key),
        }
    }

    /// Pads `plaintext` and seals it as the next message of our direction.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CrypterError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(CrypterError::TooLong);
        }
        let counter = self.write.current()?;
        let padded = Zeroizing::new(frames::pad(plaintext));
        // Sealing fails only beyond AES-GCM's 64 GiB limit, which the length check excludes;
        // the counter does not move, so no nonce is spent.
        let sealed = self
            .write
            .cipher
            .encrypt(&nonce(counter).into(), padded.as_slice())
            .map_err(|_| CrypterError::TooLong)?;
        self.write.counter = counter + 1;
        Ok(sealed)
    }

    /// Opens the peer's next message and removes its padding.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CrypterError> {
        if ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(CrypterError::TooLong);
        }
        let counter = self.read.current()?;
        if ciphertext.len() < TAG_LEN {
            return Err(CrypterError::Authentication);
        }
        let padded = Zeroizing::new(
            self.read
                .cipher
                .decrypt(&nonce(counter).into(), ciphertext)
                .map_err(|_| CrypterError::Authentication)?,
        );
        // It authenticated: it was the next message, whatever its padding says.
        self.read.counter = counter + 1;
        let message = frames::unpad(&padded)?;
        if message.len() > MAX_PLAINTEXT_LEN {
            return Err(CrypterError::TooLong);
        }
        Ok(Zeroizing::new(message.to_vec()))
    }

    /// Sets both counters, to test their exhaustion without sealing 2^32 messages.
    #[cfg(test)]
    pub(crate) fn set_counters_for_test(&mut self, read: u32, write: u32) {
        self.read.counter = read;
        self.write.counter = write;
    }
}
