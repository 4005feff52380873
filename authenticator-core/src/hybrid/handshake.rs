//! The hybrid handshake: `Noise_KNpsk0_P256_AESGCM_SHA256` with prologue `0x01` (CTAP 2.2
//! "Hybrid transports"; Chromium `device/fido/cable/v2_handshake.cc` `HandshakeInitiator` and
//! `RespondToHandshake`), run by the link's Noise ([`crate::link::noise`]).
//!
//! The browser initiates with its identity key, whose compressed form the QR code carries; the
//! phone responds with no static key. Both know the psk derived from the QR secret and the
//! advert's plaintext EID ([`super::keys::QrKeys::psk`]). Each message is an uncompressed
//! ephemeral key (65 bytes) and the tag of an empty payload (16), so exactly 81 bytes
//! ([`MESSAGE_LEN`]); Chromium refuses a non-empty payload, and so does this (by length).
//!
//! What a peer can do to the phone: a browser (or anyone who relays through the tunnel) that
//! lacks the QR's secret or identity key, or that alters a message, gets
//! [`HandshakeError::Authentication`] and no keys; a malformed message gets a named error and
//! nothing else. The first message carries no DH, so its tag proves knowledge of the psk
//! only; the browser's identity is proven by the phone's reply, which only the holder of the
//! identity's private key can open (`se`). The phone therefore sends nothing but its reply
//! before the browser has shown it can read it.
//!
//! Invariants: the handshake state, ephemeral scalars and psk are wiped on drop (see
//! `link::noise`); errors carry no key or message bytes.

use p256::PublicKey;
use thiserror::Error;

use super::crypter::Crypter;
use super::keys::PSK_LEN;
use crate::link::noise::{
    HASH_LEN, HandshakeState, HybridPattern, KeyPair, NoiseError, PUBLIC_KEY_LEN, Role,
    encode_uncompressed, parse_public_key,
};

/// The AES-GCM tag of the empty payload.
const TAG_LEN: usize = 16;
/// Both handshake messages: an uncompressed P-256 point and the tag of an empty payload.
pub const MESSAGE_LEN: usize = PUBLIC_KEY_LEN + TAG_LEN;
/// The QR's identity key: a SEC1 compressed P-256 point (Chromium `kCompressedPublicKeySize`).
pub const COMPRESSED_KEY_LEN: usize = 33;

/// Why a handshake failed. No variant carries key material or message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// The QR code's identity key is not a compressed P-256 point.
    #[error("the QR code's identity key is not a valid compressed P-256 point")]
    InvalidIdentityKey,
    /// A handshake message is not [`MESSAGE_LEN`] bytes (truncated, or with a payload).
    #[error("handshake message is {actual} bytes, expected {MESSAGE_LEN}")]
    WrongLength { actual: usize },
    /// The ephemeral key at the start of a message is not an uncompressed P-256 point.
    #[error("handshake message does not start with a valid uncompressed P-256 point")]
    InvalidEphemeralKey,
    /// The message failed authentication: the peer used another QR secret (so another psk),
    /// another identity key than the QR's, or the message was altered.
    #[error(
        "handshake message failed authentication (wrong QR secret, wrong identity key, or altered message)"
    )]
    Authentication,
    /// The system random source failed while making the ephemeral key.
    #[error("the system random number generator is unavailable")]
    Random,
    /// The handshake state refused a call; a bug here, not the peer's doing.
    #[error("handshake state error: {0}")]
    Internal(NoiseError),
}

impl From<NoiseError> for HandshakeError {
    fn from(error: NoiseError) -> Self {
        match error {
            NoiseError::Authentication => Self::Authentication,
            NoiseError::InvalidPublicKey => Self::InvalidEphemeralKey,
            NoiseError::Random => Self::Random,
            other => Self::Internal(other),
        }
    }
}

/// The uncompressed form of the QR's compressed identity key (Chromium
/// `qr::DecompressPublicKey`), which the handshake hashes as the initiator's pre-message.
pub fn decompress_identity(
    compressed: &[u8; COMPRESSED_KEY_LEN],
) -> Result<[u8; PUBLIC_KEY_LEN], HandshakeError> {
    if !matches!(compressed[0], 0x02 | 0x03) {
        return Err(HandshakeError::InvalidIdentityKey);
    }
    let key = PublicKey::from_sec1_bytes(compressed)
        .map_err(|_| HandshakeError::InvalidIdentityKey)?;
    Ok(encode_uncompressed(&key))
}

/// Checks a message's length and its leading point before Noise reads it, so each malformed
/// message gets its own error.
fn check_message(message: &[u8]) -> Result<(), HandshakeError> {
    if message.len() != MESSAGE_LEN {
        return Err(HandshakeError::WrongLength {
            actual: message.len(),
        });
    }
    parse_public_key(&message[..PUBLIC_KEY_LEN])
        .map(|_| ())
        .map_err(|_| HandshakeError::InvalidEphemeralKey)
}

/// What the phone's side of a finished handshake gives: the reply to send, the phone's
/// [`Crypter`] (reading with Split()'s first key, writing with its second), and the
/// handshake hash (Noise's final `h`, which the linking information's signature covers).
pub struct Responded {
    pub reply: Vec<u8>,
    pub crypter: Crypter,
    pub handshake_hash: [u8; HASH_LEN],
}

/// The phone's side of a QR-initiated session (KNpsk0, prologue 0x01): reads the browser's
/// first message and answers it.
pub fn respond(
    peer_identity: &[u8; COMPRESSED_KEY_LEN],
    psk: &[u8; PSK_LEN],
    initiator_message: &[u8],
) -> Result<Responded, HandshakeError> {
    let identity = decompress_identity(peer_identity)?;
    check_message(initiator_message)?;
    let state = HandshakeState::new_hybrid(
        HybridPattern::KNpsk0,
        Role::Responder,
        None,
        Some(&identity),
        psk,
    )?;
    finish_responder(state, initiator_message)
}

/// The phone's side of a linked browser's reconnect (`Noise_NKpsk0_P256_AESGCM_SHA256`,
/// prologue 0x00; Chromium `RespondToHandshake` with an identity key): the browser knows the
/// phone's identity public key from the linking information, the psk comes from the link
/// secret. A browser without the link secret, or that took another identity key, gets
/// [`HandshakeError::Authentication`].
pub fn respond_linked(
    identity: &KeyPair,
    psk: &[u8; PSK_LEN],
    initiator_message: &[u8],
) -> Result<Responded, HandshakeError> {
    check_message(initiator_message)?;
    let identity = KeyPair::from_scalar_bytes(&identity.scalar_bytes())?;
    let state = HandshakeState::new_hybrid(
        HybridPattern::NKpsk0,
        Role::Responder,
        Some(identity),
        None,
        psk,
    )?;
    finish_responder(state, initiator_message)
}

fn finish_responder(
    mut state: HandshakeState,
    initiator_message: &[u8],
) -> Result<Responded, HandshakeError> {
    // The payload is empty: the length check leaves room for the tag only.
    state.read_message(initiator_message)?;
    let reply = state.write_message(&[])?;
    let keys = state.into_transport_keys()?;
    Ok(Responded {
        reply,
        crypter: Crypter::new(&keys.receive, &keys.send),
        handshake_hash: keys.handshake_hash,
    })
}

/// The SEC1 compressed form of `key`'s public key, as a browser puts it in the QR code.
#[cfg(any(test, feature = "testkit"))]
pub fn compressed_identity(key: &KeyPair) -> [u8; COMPRESSED_KEY_LEN] {
    let public = key.public_key();
    let mut out = [0u8; COMPRESSED_KEY_LEN];
    // 0x02 for an even y, 0x03 for an odd one (SEC1 §2.3.3).
    out[0] = 0x02 | (public[PUBLIC_KEY_LEN - 1] & 1);
    out[1..].copy_from_slice(&public[1..33]);
    out
}

/// The browser's side, for tests and the demo: the initiator with its identity key.
#[cfg(any(test, feature = "testkit"))]
pub struct BrowserHandshake {
    state: HandshakeState,
}

#[cfg(any(test, feature = "testkit"))]
impl BrowserHandshake {
    /// Starts the handshake: the browser's state and its first message (81 bytes).
    pub fn start(identity: &KeyPair, psk: &[u8; PSK_LEN]) -> Result<(Self, Vec<u8>), HandshakeError> {
        let identity = KeyPair::from_scalar_bytes(&identity.scalar_bytes())?;
        let mut state = HandshakeState::new_hybrid(
            HybridPattern::KNpsk0,
            Role::Initiator,
            Some(identity),
            None,
            psk,
        )?;
        let message = state.write_message(&[])?;
        Ok((Self { state }, message))
    }

    /// Reads the phone's reply: the browser's [`Crypter`] (writing with Split()'s first key).
    pub fn finish(self, responder_message: &[u8]) -> Result<Crypter, HandshakeError> {
        Ok(self.finish_with_hash(responder_message)?.0)
    }

    /// [`Self::finish`] and the handshake hash (to check the phone's linking signature).
    pub fn finish_with_hash(
        mut self,
        responder_message: &[u8],
    ) -> Result<(Crypter, [u8; HASH_LEN]), HandshakeError> {
        check_message(responder_message)?;
        self.state.read_message(responder_message)?;
        let keys = self.state.into_transport_keys()?;
        Ok((Crypter::new(&keys.receive, &keys.send), keys.handshake_hash))
    }

    /// A linked browser's reconnect: NKpsk0 initiator against the phone's identity public key.
    pub fn start_linked(
        phone_identity: &[u8; PUBLIC_KEY_LEN],
        psk: &[u8; PSK_LEN],
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let mut state = HandshakeState::new_hybrid(
            HybridPattern::NKpsk0,
            Role::Initiator,
            None,
            Some(phone_identity),
            psk,
        )?;
        let message = state.write_message(&[])?;
        Ok((Self { state }, message))
    }

    /// Uses `ephemeral` for the browser's `e`, for known-answer tests.
    #[cfg(test)]
    pub(crate) fn start_with_ephemeral(
        identity: &KeyPair,
        ephemeral: KeyPair,
        psk: &[u8; PSK_LEN],
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let identity = KeyPair::from_scalar_bytes(&identity.scalar_bytes())?;
        let mut state = HandshakeState::new_hybrid(
            HybridPattern::KNpsk0,
            Role::Initiator,
            Some(identity),
            None,
            psk,
        )?;
        state.inject_ephemeral(ephemeral);
        let message = state.write_message(&[])?;
        Ok((Self { state }, message))
    }
}
