//! What travels inside the hybrid tunnel once the Noise handshake is done (CTAP 2.2 §11.5
//! "Hybrid transports"; Chromium `device/fido/cable/v2_handshake.cc` `Crypter`,
//! `v2_authenticator.cc` `TunnelTransport`, the reference where CTAP 2.2 is thin).
//!
//! Three layers, outermost first:
//! - [`pad`]/[`unpad`]: every message is padded before AES-GCM sealing, so its length tells
//!   the tunnel server little (Chromium `Crypter::Encrypt`: granularity 32, at least one byte);
//! - [`PostHandshake`]: the first message the authenticator sends, a CBOR map with its getInfo
//!   response and the features it offers;
//! - [`Frame`]: every later message in protocol v2.1, a type byte and its payload.
//!
//! Decoding refuses anything malformed with an error naming the problem, never the content;
//! no input makes it panic (checked by generated malformed input in `tests.rs`).

use std::fmt;

use thiserror::Error;

use crate::cbor::{self, Value};
#[cfg(any(test, feature = "testkit"))]
use crate::cbor::{FieldError, MapReader};

/// Chromium `Crypter::Encrypt` `kPaddingGranularity`: a padded message is a multiple of 32
/// bytes. Its last byte counts the zeros before it, so it is at most 31 and always fits a byte.
pub const PADDING_GRANULARITY: usize = 32;

#[cfg(any(test, feature = "testkit"))]
/// Chromium `kPostHandshakeMsgPaddingGranularity` (`v2_handshake.h`): the granularity of the
/// older padded-CBOR-map format ([`encode_padded_cbor_map`]), whose padding count is a
/// little-endian `u16`.
pub const PADDED_MAP_GRANULARITY: usize = 512;

/// Why a decrypted message could not be unpadded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaddingError {
    #[error("the padded message is empty")]
    Empty,
    #[error("the padding count exceeds the message length")]
    CountTooLarge,
    #[error("a padding byte is not zero")]
    NonZeroPadding,
}

/// Pads `message` as Chromium's `Crypter::Encrypt` does: zeros up to the next multiple of
/// [`PADDING_GRANULARITY`] that leaves room for one more byte, then that byte holding the number
/// of zeros (0-31).
pub fn pad(message: &[u8]) -> Vec<u8> {
    let padded_len = (message.len() + 1).div_ceil(PADDING_GRANULARITY) * PADDING_GRANULARITY;
    let zeros = padded_len - message.len() - 1;
    let mut out = Vec::with_capacity(padded_len);
    out.extend_from_slice(message);
    out.resize(padded_len - 1, 0);
    // zeros < PADDING_GRANULARITY = 32, so it fits in a byte.
    out.push(u8::try_from(zeros).unwrap_or(u8::MAX));
    out
}

/// Removes the padding [`pad`] adds. Chromium's `Crypter::Decrypt` refuses an empty plaintext
/// and a count larger than what precedes it, and nothing else: it accepts any total length and
/// counts up to 255, so this does too (another encoder may pad to another granularity;
/// webauthn-rs's `CipherState::decrypt` is stricter and refuses counts above 31). It is
/// stricter than Chromium in one point: the padding bytes must be zero, as every encoder known
/// here writes them, so one plaintext has one reading.
pub fn unpad(padded: &[u8]) -> Result<&[u8], PaddingError> {
    let (&count, body) = padded.split_last().ok_or(PaddingError::Empty)?;
    let count = usize::from(count);
    let keep = body
        .len()
        .checked_sub(count)
        .ok_or(PaddingError::CountTooLarge)?;
    let (message, zeros) = body.split_at(keep);
    if zeros.iter().any(|&b| b != 0) {
        return Err(PaddingError::NonZeroPadding);
    }
    Ok(message)
}

#[cfg(any(test, feature = "testkit"))]
/// Why a padded CBOR map (the older post-handshake format) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaddedMapError {
    #[error("the padded CBOR map is too short for its padding count")]
    Truncated,
    #[error("the padded CBOR map's padding count exceeds its length")]
    CountTooLarge,
    #[error("a padding byte of the CBOR map is not zero")]
    NonZeroPadding,
    #[error("the unpadded bytes are not valid CBOR: {0}")]
    Cbor(#[from] cbor::CborError),
    #[error("the unpadded CBOR is not a map")]
    NotAMap,
}

#[cfg(any(test, feature = "testkit"))]
/// The padded-map format Chromium wrote for the post-handshake message from M99 until it
/// switched to plain CBOR (`EncodePaddedCBORMap`): the canonical map, zeros, and a
/// little-endian `u16` counting the zeros, the whole a multiple of [`PADDED_MAP_GRANULARITY`].
/// Kept so the session can read a peer that still sends it.
pub fn encode_padded_cbor_map(map: &Value) -> Vec<u8> {
    let mut out = cbor::encode(map);
    let padded_len =
        (out.len() + 2).div_ceil(PADDED_MAP_GRANULARITY) * PADDED_MAP_GRANULARITY;
    let zeros = padded_len - out.len() - 2;
    out.resize(padded_len - 2, 0);
    // zeros < PADDED_MAP_GRANULARITY = 512 fits in a u16.
    out.extend_from_slice(&u16::try_from(zeros).unwrap_or(u16::MAX).to_le_bytes());
    out
}

#[cfg(any(test, feature = "testkit"))]
/// Reads [`encode_padded_cbor_map`]'s format (Chromium `DecodePaddedCBORMap16`; the older
/// one-byte-count format `DecodePaddedCBORMap8` that Chromium also tries is not read).
pub fn decode_padded_cbor_map(padded: &[u8]) -> Result<Value, PaddedMapError> {
    let split = padded.len().checked_sub(2).ok_or(PaddedMapError::Truncated)?;
    let (body, count) = padded.split_at(split);
    let count = usize::from(u16::from_le_bytes([count[0], count[1]]));
    let keep = body
        .len()
        .checked_sub(count)
        .ok_or(PaddedMapError::CountTooLarge)?;
    let (map, zeros) = body.split_at(keep);
    if zeros.iter().any(|&b| b != 0) {
        return Err(PaddedMapError::NonZeroPadding);
    }
    match cbor::decode(map)? {
        v @ Value::Map(_) => Ok(v),
        _ => Err(PaddedMapError::NotAMap),
    }
}

/// The feature name of CTAP in the post-handshake message's key 3 (Chromium
/// `TunnelTransport::ToCBOR`; the other name Chromium writes is "dc", digital credentials,
/// which this authenticator does not offer).
pub const FEATURE_CTAP: &str = "ctap";

#[cfg(any(test, feature = "testkit"))]
/// Why the post-handshake message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PostHandshakeError {
    #[error("the post-handshake message is not valid CBOR: {0}")]
    Cbor(#[from] cbor::CborError),
    #[error("the post-handshake message is not of the expected shape: {0}")]
    Field(#[from] FieldError),
    #[error("a feature in the post-handshake message is not a text string")]
    FeatureNotText,
    #[error("the post-handshake message offers CTAP but carries no getInfo response")]
    MissingGetInfo,
}

/// The first message after the handshake, authenticator to browser (Chromium
/// `v2_authenticator.cc`, state `kConnected`):
/// - key 1, byte string: the authenticator's getInfo response (CBOR, without a status byte).
///   Present when the authenticator offers CTAP; Chromium before features existed always
///   sent it, so it is required when key 3 is absent or lists "ctap".
/// - key 2, map: linking (pairing) information, which older Chromium sent here; newer Chromium
///   sends it in an `update` frame. Kept opaque until linking comes.
/// - key 3, array of text: the features offered, sorted ("ctap", "dc"). Optional on reading
///   (older authenticators omit it); unknown names are kept.
///
/// Written as plain canonical CBOR, as current Chromium writes it. That choice is also the
/// protocol version: Chromium's browser side (`fido_tunnel_device.cc`,
/// `kWaitingForPostHandshakeMessage`) reads plain CBOR as revision 1 (v2.1, frames with a type
/// byte) and falls back to the padded-map form ([`encode_padded_cbor_map`]) as revision 0,
/// whose later messages have no type byte. The same browser code requires key 1 and, if key 2
/// is present, a map there; it does not read key 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostHandshake {
    pub get_info: Option<Vec<u8>>,
    pub linking: Option<Value>,
    pub features: Option<Vec<String>>,
}

impl PostHandshake {
    /// The message this authenticator sends: its getInfo response and the feature "ctap".
    pub fn ctap(get_info: Vec<u8>) -> Self {
        Self {
            get_info: Some(get_info),
            linking: None,
            features: Some(vec![FEATURE_CTAP.to_owned()]),
        }
    }

    #[cfg(any(test, feature = "testkit"))]
    pub fn offers_ctap(&self) -> bool {
        self.features
            .as_ref()
            .is_none_or(|f| f.iter().any(|name| name == FEATURE_CTAP))
    }

    pub fn to_cbor(&self) -> Vec<u8> {
        let mut entries = Vec::new();
        if let Some(info) = &self.get_info {
            entries.push((Value::int(1), Value::from(&info[..])));
        }
        if let Some(linking) = &self.linking {
            entries.push((Value::int(2), linking.clone()));
        }
        if let Some(features) = &self.features {
            let mut names = features.clone();
            names.sort();
            let names = names.iter().map(|n| Value::from(n.as_str())).collect();
            entries.push((Value::int(3), Value::Array(names)));
        }
        cbor::encode(&Value::map(entries))
    }

    #[cfg(any(test, feature = "testkit"))]
    /// Reads the message (strict canonical CBOR; unknown keys are ignored).
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, PostHandshakeError> {
        let mut map = MapReader::new(cbor::decode(bytes)?)?;
        let get_info = map.bytes(1i64)?;
        let linking = map.map(2i64)?.map(|m| Value::Map(m.into_entries()));
        let features = match map.array(3i64)? {
            None => None,
            Some(items) => Some(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::Text(s) => Ok(s),
                        _ => Err(PostHandshakeError::FeatureNotText),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let msg = Self {
            get_info,
            linking,
            features,
        };
        if msg.offers_ctap() && msg.get_info.is_none() {
            return Err(PostHandshakeError::MissingGetInfo);
        }
        Ok(msg)
    }
}

/// The type byte of a v2.1 frame (Chromium `cablev2::MessageType`).
pub mod frame_type {
    pub const SHUTDOWN: u8 = 0;
    pub const CTAP: u8 = 1;
    pub const UPDATE: u8 = 2;
    /// Digital-credential requests as JSON (Chromium `kJSON`, feature "dc"); recognised only to
    /// be refused by name, as this authenticator does not offer "dc".
    pub const JSON: u8 = 3;
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("the frame is empty (no type byte)")]
    Empty,
    #[error("the frame type {0} is unknown")]
    UnknownType(u8),
    #[error("JSON frames (digital credentials) are not offered")]
    JsonNotOffered,
    #[error("a shutdown frame carries a payload")]
    ShutdownWithPayload,
    #[error("a CTAP frame carries no command byte")]
    EmptyCtap,
    #[error("an update frame's payload is not one valid CBOR item: {0}")]
    BadUpdate(cbor::CborError),
    #[error("an update frame's payload is not a CBOR map")]
    UpdateNotAMap,
    #[error("an update frame's linking information (key 1) is not a map")]
    UpdateLinkingNotAMap,
}

/// A message after the post-handshake message, protocol v2.1 (CTAP 2.2 §11.5; Chromium
/// `TunnelTransport`, state `kReady`): one type byte, then the payload. `Debug` shows an
/// update's length only: the phone's update carries the link secret (`hybrid/linking.rs`).
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    /// Type 0: the browser is done; no payload (webauthn-rs `SHUTDOWN_COMMAND` sends none;
    /// Chromium ignores any, this refuses it so one frame has one reading).
    Shutdown,
    /// Type 1: a CTAP command (command byte then CBOR) or response (status byte then CBOR);
    /// never empty (Chromium `ProcessCTAPMessage` refuses an empty one).
    Ctap(Vec<u8>),
    /// Type 2: an update, a CBOR map: linking information under key 1 (a map, when present)
    /// and zero padding under key 0 (Chromium `v2_authenticator.cc` writes it;
    /// `fido_tunnel_device.cc` `ProcessUpdate` requires the map and key 1's type). Kept as its
    /// bytes here until linking.
    Update(Vec<u8>),
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Shutdown => f.write_str("Shutdown"),
            Frame::Ctap(p) => f.debug_tuple("Ctap").field(p).finish(),
            Frame::Update(p) => write!(f, "Update({} bytes)", p.len()),
        }
    }
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let (ty, payload): (u8, &[u8]) = match self {
            Frame::Shutdown => (frame_type::SHUTDOWN, &[]),
            Frame::Ctap(p) => (frame_type::CTAP, p),
            Frame::Update(p) => (frame_type::UPDATE, p),
        };
        let mut out = Vec::with_capacity(1 + payload.len());
        out.push(ty);
        out.extend_from_slice(payload);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let (&ty, payload) = bytes.split_first().ok_or(FrameError::Empty)?;
        match ty {
            frame_type::SHUTDOWN if payload.is_empty() => Ok(Frame::Shutdown),
            frame_type::SHUTDOWN => Err(FrameError::ShutdownWithPayload),
            frame_type::CTAP if payload.is_empty() => Err(FrameError::EmptyCtap),
            frame_type::CTAP => Ok(Frame::Ctap(payload.to_vec())),
            frame_type::UPDATE => {
                let Value::Map(entries) = cbor::decode(payload).map_err(FrameError::BadUpdate)?
                else {
                    return Err(FrameError::UpdateNotAMap);
                };
                let linking = entries.iter().find(|(k, _)| k.as_int() == Some(1));
                if linking.is_some_and(|(_, v)| v.as_map().is_none()) {
                    return Err(FrameError::UpdateLinkingNotAMap);
                }
                Ok(Frame::Update(payload.to_vec()))
            }
            frame_type::JSON => Err(FrameError::JsonNotOffered),
            other => Err(FrameError::UnknownType(other)),
        }
    }
}
