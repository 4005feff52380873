//! The encrypted transport after the handshake (proto/link.md §4), as in CTAP 2.2 hybrid: one
//! AES-256-GCM key per direction from Noise Split(), an implicit per-direction counter as the
//! nonce, plaintexts padded to a multiple of 32 bytes, and a message type in the first byte.
//!
//! Invariants: the counters are never on the wire, so a dropped, repeated, reordered or
//! altered frame fails authentication; the first failure poisons the channel and every later
//! `seal` or `open` errs, because a gap or repeat ends the session (there is no resync). A
//! nonce is never used twice under a key: the send counter only moves forward and the channel
//! refuses to seal once it would reach 2^64 - 1 (reserved by Noise rev 34 §5.1). Keys are wiped
//! on drop; the type has no `Debug`.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use zeroize::Zeroizing;

use super::aead::{self, MAX_MESSAGE_LEN, TAG_LEN};

/// Plaintexts are padded to a multiple of this (proto/link.md §4.2).
pub const PADDING_BLOCK: usize = 32;
/// Largest payload of one frame: type byte + payload + padding-length byte, rounded up to 32,
/// plus the tag, must fit in a Noise message (65535 bytes).
pub const MAX_PAYLOAD_LEN: usize = (MAX_MESSAGE_LEN - TAG_LEN) / PADDING_BLOCK * PADDING_BLOCK - 2;
/// Noise rev 34 §5.1 reserves nonce 2^64 - 1.
const MAX_NONCE: u64 = u64::MAX - 1;

/// The first plaintext byte of a frame (proto/link.md §4.3). Other values are reserved and
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// The sender ends the session; nothing follows in this direction.
    Shutdown = 0,
    /// A CTAP request (PC -> phone) or response (phone -> PC).
    Ctap = 1,
    /// The phone is still working on a request (CTAP status byte in the payload).
    Keepalive = 2,
    /// The PC cancels the pending request.
    Cancel = 3,
    /// An on-behalf registration grant (DESIGN §8).
    ObrGrant = 4,
    /// A receipt for a registration made under a grant.
    Receipt = 5,
    /// The phone's answer to an OBR grant: "accepted" or the refusal code (UTF-8).
    ObrStatus = 6,
}

impl MessageType {
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::Shutdown,
            1 => Self::Ctap,
            2 => Self::Keepalive,
            3 => Self::Cancel,
            4 => Self::ObrGrant,
            5 => Self::Receipt,
            6 => Self::ObrStatus,
            _ => return None,
        })
    }

    pub fn to_byte(self) -> u8 {
        self as u8
    }
}

/// Why `seal` or `open` failed. Every `open` error and a counter overflow poison the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The frame failed authentication: it was altered, replayed, reordered, or one before it
    /// was lost. The counters are implicit, so these cases cannot be told apart.
    #[error("frame failed authentication (corrupted, replayed, reordered or after a lost frame)")]
    Authentication,
    /// The frame authenticated but its padding or length is malformed: a peer bug.
    #[error("frame has malformed padding")]
    Padding,
    /// The frame authenticated but its message type is reserved.
    #[error("frame has a reserved message type {0}")]
    UnknownMessageType(u8),
    /// The payload is longer than `MAX_PAYLOAD_LEN`; nothing was sent and the channel is fine.
    #[error("payload is too long for one frame")]
    PayloadTooLong,
    /// The direction's counter is exhausted; the session must end.
    #[error("frame counter exhausted")]
    CounterExhausted,
    /// An earlier failure ended the session.
    #[error("the channel is closed after an earlier error")]
    Poisoned,
}

/// One direction: its key and the counter of the next frame.
struct Direction {
    cipher: Aes256Gcm,
    counter: u64,
}

impl Direction {
    fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&(*key).into()),
            counter: 0,
        }
    }
}

/// The transport state of a finished handshake. `seal` and `open` are the only ways to use it.
pub struct SecureChannel {
    send: Direction,
    recv: Direction,
    poisoned: bool,
}

impl SecureChannel {
    /// A channel from the Split() keys of this side: `send_key` encrypts our frames,
    /// `recv_key` decrypts the peer's.
    pub fn new(send_key: &[u8; 32], recv_key: &[u8; 32]) -> Self {
        Self {
            send: Direction::new(send_key),
            recv: Direction::new(recv_key),
            poisoned: false,
        }
    }

    /// True after any failure: the session is over.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Ends the session from above (a link failure or a shutdown): every later call errs.
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Encrypts one message as the next frame of our direction.
    pub fn seal(
        &mut self,
        message_type: MessageType,
        payload: &[u8],
    ) -> Result<Vec<u8>, ChannelError> {
        if self.poisoned {
            return Err(ChannelError::Poisoned);
        }
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(ChannelError::PayloadTooLong);
        }
        if self.send.counter > MAX_NONCE {
            self.poisoned = true;
            return Err(ChannelError::CounterExhausted);
        }
        let plaintext = pad(message_type.to_byte(), payload);
        let frame =
            aead::seal(&self.send.cipher, self.send.counter, &[], &plaintext).map_err(|_| {
                // Only a plaintext beyond AES-GCM's 64 GiB limit fails, which the length check
                // above excludes; treat it as fatal rather than reuse the nonce.
                ChannelError::CounterExhausted
            });
        match frame {
            Ok(frame) => {
                self.send.counter += 1;
                Ok(frame)
            }
            Err(error) => {
                self.poisoned = true;
                Err(error)
            }
        }
    }

    /// Decrypts the peer's next frame. Any failure poisons the channel.
    pub fn open(&mut self, frame: &[u8]) -> Result<(MessageType, Vec<u8>), ChannelError> {
        if self.poisoned {
            return Err(ChannelError::Poisoned);
        }
        let result = self.open_inner(frame);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn open_inner(&mut self, frame: &[u8]) -> Result<(MessageType, Vec<u8>), ChannelError> {
        if self.recv.counter > MAX_NONCE {
            return Err(ChannelError::CounterExhausted);
        }
        // A valid frame is a whole number of padding blocks plus the tag; anything else cannot
        // authenticate, and is reported the same way so the length carries no extra signal.
        if frame.len() > MAX_MESSAGE_LEN
            || frame.len() < PADDING_BLOCK + TAG_LEN
            || !(frame.len() - TAG_LEN).is_multiple_of(PADDING_BLOCK)
        {
            return Err(ChannelError::Authentication);
        }
        let plaintext = Zeroizing::new(
            aead::open(&self.recv.cipher, self.recv.counter, &[], frame)
                .map_err(|_| ChannelError::Authentication)?,
        );
        self.recv.counter += 1;
        let (message_type, payload) = unpad(&plaintext)?;
        let message_type = MessageType::from_byte(message_type)
            .ok_or(ChannelError::UnknownMessageType(message_type))?;
        Ok((message_type, payload.to_vec()))
    }
}

/// type || payload || zeros || n, where n is the number of zero bytes and the total is the
/// smallest multiple of 32 that fits (proto/link.md §4.2, CTAP 2.2 hybrid style).
pub(crate) fn pad(message_type: u8, payload: &[u8]) -> Zeroizing<Vec<u8>> {
    let unpadded = 1 + payload.len() + 1;
    let padded_len = unpadded.div_ceil(PADDING_BLOCK) * PADDING_BLOCK;
    let zeros = padded_len - unpadded;
    let mut out = Zeroizing::new(Vec::with_capacity(padded_len));
    out.push(message_type);
    out.extend_from_slice(payload);
    out.resize(padded_len - 1, 0);
    // zeros < PADDING_BLOCK = 32, so it fits a byte.
    out.push(u8::try_from(zeros).unwrap_or(0));
    out
}

/// Inverse of `pad`, refusing anything `pad` would not produce.
pub(crate) fn unpad(plaintext: &[u8]) -> Result<(u8, &[u8]), ChannelError> {
    let (&zeros, rest) = plaintext.split_last().ok_or(ChannelError::Padding)?;
    let zeros = usize::from(zeros);
    if zeros >= PADDING_BLOCK || rest.len() <= zeros {
        return Err(ChannelError::Padding);
    }
    let (body, padding) = rest.split_at(rest.len() - zeros);
    if padding.iter().any(|&b| b != 0) {
        return Err(ChannelError::Padding);
    }
    let (&message_type, payload) = body.split_first().ok_or(ChannelError::Padding)?;
    Ok((message_type, payload))
}
