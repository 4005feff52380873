//! The `FIDO:/` QR code a browser shows for hybrid transport (CTAP 2.2 §11.5 "Hybrid
//! transports"; Chromium `device/fido/cable/v2_handshake.cc` `qr::`).
//!
//! The payload is CBOR, written as decimal digits so that the QR code can use its numeric mode:
//! 7-byte chunks, each a little-endian integer written as 17 zero-padded digits; a final
//! partial chunk of n bytes takes the fewest digits that hold any n-byte value (Chromium's
//! `kPartialChunkDigits`: 3, 5, 8, 10, 13, 15 for n = 1..6). Decoding accepts exactly what
//! encoding produces: every other length, a non-digit, or a chunk value too large for its
//! bytes is an error, so one QR code has one reading.
//!
//! Required CBOR keys: 0 (the browser's compressed P-256 key, checked to be on the curve) and
//! 1 (the 16-byte QR secret), as Chromium's `qr::Parse` requires. Keys 2-6 are optional; a key
//! of the wrong type is an error (as in Chromium); unknown keys are ignored.

use p256::PublicKey;
use thiserror::Error;

use crate::cbor::{self, FieldError, MapReader, Value};

/// The scheme prefix; compared ignoring ASCII case (QR alphanumeric mode is upper case).
pub const PREFIX: &str = "FIDO:/";
/// Bytes per full chunk and the digits that write it (10^17 > 2^56).
const CHUNK_BYTES: usize = 7;
const CHUNK_DIGITS: usize = 17;
/// Digits for a final partial chunk of `n` bytes, indexed by `n` (Chromium
/// `kPartialChunkDigits` = 0x0fda8530: 0, 3, 5, 8, 10, 13, 15): the digits of 2^(8n) - 1.
const PARTIAL_CHUNK_DIGITS: [usize; CHUNK_BYTES] = [0, 3, 5, 8, 10, 13, 15];
/// A QR code holds at most a few thousand digits; a longer text is refused before decoding.
pub const MAX_DIGITS: usize = 4096;
/// The length of the QR secret (key 1) and of a compressed P-256 point (key 0).
pub const QR_SECRET_LEN: usize = 16;
pub const COMPRESSED_KEY_LEN: usize = 33;

/// Why a QR text was refused. Messages name the problem, never the text's content.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QrError {
    #[error("the text does not start with FIDO:/")]
    NotFido,
    #[error("the QR text carries no payload")]
    Empty,
    #[error("the QR payload is longer than {MAX_DIGITS} digits")]
    TooLong,
    #[error("the QR payload contains a character that is not a decimal digit")]
    NonDigit,
    #[error("the QR payload has a digit count no encoding produces")]
    BadLength,
    #[error("a chunk of the QR payload is too large for its bytes")]
    ChunkOutOfRange,
    #[error("the QR payload is not valid CBOR: {0}")]
    Cbor(#[from] cbor::CborError),
    #[error("the QR payload is not of the expected shape: {0}")]
    Field(#[from] FieldError),
    #[error("the browser's public key is not a compressed P-256 point")]
    BadPublicKey,
    #[error("the QR secret is not {QR_SECRET_LEN} bytes")]
    BadSecret,
    #[error("QR key 6 is neither a bool nor an array")]
    BadKey6,
}

#[cfg(any(test, feature = "testkit"))]
/// Writes `bytes` as digits (Chromium `qr::BytesToDigits`).
pub fn bytes_to_digits(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(CHUNK_BYTES) * CHUNK_DIGITS);
    for chunk in bytes.chunks(CHUNK_BYTES) {
        let mut le = [0u8; 8];
        le[..chunk.len()].copy_from_slice(chunk);
        let value = u64::from_le_bytes(le);
        let width = if chunk.len() == CHUNK_BYTES {
            CHUNK_DIGITS
        } else {
            PARTIAL_CHUNK_DIGITS[chunk.len()]
        };
        out.push_str(&format!("{value:0width$}"));
    }
    out
}

/// Reads digits written by [`bytes_to_digits`] (Chromium `qr::DigitsToBytes`).
pub fn digits_to_bytes(digits: &str) -> Result<Vec<u8>, QrError> {
    if digits.len() > MAX_DIGITS {
        return Err(QrError::TooLong);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QrError::NonDigit);
    }
    let full = digits.len() / CHUNK_DIGITS;
    let rest = digits.len() % CHUNK_DIGITS;
    let partial = PARTIAL_CHUNK_DIGITS
        .iter()
        .position(|&d| d == rest)
        .ok_or(QrError::BadLength)?;
    let mut out = Vec::with_capacity(full * CHUNK_BYTES + partial);
    let digits = digits.as_bytes();
    for (i, chunk) in digits.chunks(CHUNK_DIGITS).enumerate() {
        let n = if i < full { CHUNK_BYTES } else { partial };
        // At most 17 ASCII digits: below 10^17 < 2^64, so the sum cannot overflow.
        let value = chunk
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        if value >> (8 * n) != 0 {
            return Err(QrError::ChunkOutOfRange);
        }
        out.extend_from_slice(&value.to_le_bytes()[..n]);
    }
    Ok(out)
}

/// What the browser asks for, as hinted in key 5 (Chromium `RequestTypeFromString`: an unknown
/// or absent hint means getAssertion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    GetAssertion,
    MakeCredential,
}

impl RequestType {
    #[cfg(any(test, feature = "testkit"))]
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::GetAssertion => "ga",
            RequestType::MakeCredential => "mc",
        }
    }

    fn from_hint(hint: &str) -> Self {
        match hint {
            "mc" => RequestType::MakeCredential,
            _ => RequestType::GetAssertion,
        }
    }
}

/// Key 6: a bool in Chromium (non-discoverable makeCredential supported), an array of
/// supported features in CTAP 2.3. Both are kept as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key6 {
    Bool(bool),
    Array(Vec<Value>),
}

/// The QR payload, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrPayload {
    /// Key 0: the browser's compressed P-256 public key (SEC1, 33 bytes), on the curve.
    pub peer_public_key: [u8; COMPRESSED_KEY_LEN],
    /// Key 1: the QR secret every hybrid key derives from.
    pub secret: [u8; QR_SECRET_LEN],
    /// Key 2: how many assigned tunnel server domains the browser knows (0 if absent).
    pub known_domains: u64,
    /// Key 3: the browser's clock, seconds since the epoch, if given.
    pub timestamp: Option<u64>,
    /// Key 4: whether the browser supports state-assisted linking, if said.
    pub supports_linking: Option<bool>,
    /// Key 5: the request type hint (getAssertion if absent or unknown).
    pub request_type: RequestType,
    /// Key 6, if present.
    pub key6: Option<Key6>,
}

impl QrPayload {
    /// Reads a scanned `FIDO:/` text.
    pub fn parse(text: &str) -> Result<Self, QrError> {
        let prefix = text.get(..PREFIX.len()).ok_or(QrError::NotFido)?;
        if !prefix.eq_ignore_ascii_case(PREFIX) {
            return Err(QrError::NotFido);
        }
        let digits = &text[PREFIX.len()..];
        if digits.is_empty() {
            return Err(QrError::Empty);
        }
        Self::from_cbor(&digits_to_bytes(digits)?)
    }

    /// Reads the CBOR payload (strict, canonical CBOR).
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, QrError> {
        let mut map = MapReader::new(cbor::decode(bytes)?)?;
        let key = map.required_bytes(0i64)?;
        let peer_public_key: [u8; COMPRESSED_KEY_LEN] =
            key.try_into().map_err(|_| QrError::BadPublicKey)?;
        // SEC1 §2.3.3: 0x02/0x03 mark the compressed form; from_sec1_bytes checks the point.
        if !matches!(peer_public_key[0], 0x02 | 0x03)
            || PublicKey::from_sec1_bytes(&peer_public_key).is_err()
        {
            return Err(QrError::BadPublicKey);
        }
        let secret: [u8; QR_SECRET_LEN] = map
            .required_bytes(1i64)?
            .try_into()
            .map_err(|_| QrError::BadSecret)?;
        let known_domains = map.unsigned(2i64)?.unwrap_or(0);
        let timestamp = map.unsigned(3i64)?;
        let supports_linking = map.bool(4i64)?;
        let request_type = map
            .text(5i64)?
            .map_or(RequestType::GetAssertion, |h| RequestType::from_hint(&h));
        let key6 = match map.take(6i64) {
            None => None,
            Some(Value::Bool(b)) => Some(Key6::Bool(b)),
            Some(Value::Array(a)) => Some(Key6::Array(a)),
            Some(_) => return Err(QrError::BadKey6),
        };
        Ok(Self {
            peer_public_key,
            secret,
            known_domains,
            timestamp,
            supports_linking,
            request_type,
            key6,
        })
    }

    #[cfg(any(test, feature = "testkit"))]
    /// The CBOR payload, canonical. Keys 2 and 5 are always written (as Chrome and Safari
    /// do), so a payload that left them out re-encodes with them.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut entries = vec![
            (Value::int(0), Value::from(&self.peer_public_key[..])),
            (Value::int(1), Value::from(&self.secret[..])),
            (Value::int(2), Value::Unsigned(self.known_domains)),
        ];
        if let Some(t) = self.timestamp {
            entries.push((Value::int(3), Value::Unsigned(t)));
        }
        if let Some(l) = self.supports_linking {
            entries.push((Value::int(4), Value::Bool(l)));
        }
        entries.push((Value::int(5), Value::from(self.request_type.as_str())));
        match &self.key6 {
            None => {}
            Some(Key6::Bool(b)) => entries.push((Value::int(6), Value::Bool(*b))),
            Some(Key6::Array(a)) => entries.push((Value::int(6), Value::Array(a.clone()))),
        }
        cbor::encode(&Value::map(entries))
    }

    #[cfg(any(test, feature = "testkit"))]
    /// The `FIDO:/` text of this payload.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}{}", bytes_to_digits(&self.to_cbor()))
    }
}
