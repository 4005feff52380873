//! The QR pairing payload (proto/link.md §2): `PASSKEYPHONE:/` followed by decimal digits that
//! encode a canonical CBOR map {1: PC static key, 2: one-time secret, 3: relay routing info,
//! 4: issued-at}. Digits keep the QR code in numeric mode, the densest one (the idea and the
//! chunking are caBLE v2's, CTAP 2.2 §11.5 "hybrid").
//!
//! The phone parses a code; making one (`generate`, `to_uri`) is the PC's side and is built only
//! with the `pc` feature, beside the parser so encoder and decoder stay one format.
//!
//! Invariants: `parse` accepts exactly what `to_uri` produces (canonical CBOR, the exact key
//! set, minimal digit chunks), checks the PC key is a P-256 point, and refuses an expired or
//! future-dated code against the caller's clock. The one-time secret is wiped on drop and the
//! type has no `Debug`.

use hkdf::Hkdf;
use p256::PublicKey;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::noise::{PSK_LEN, PUBLIC_KEY_LEN};
use crate::cbor::{self, MapReader, Value};
#[cfg(any(test, feature = "pc"))]
use crate::secret::{RandomUnavailable, random_array};

/// The URI scheme, upper case so the whole code stays QR alphanumeric/numeric friendly.
pub const QR_SCHEME: &str = "PASSKEYPHONE";
/// Length of the one-time secret (key 2).
pub const QR_SECRET_LEN: usize = 16;
/// SEC1 compressed P-256 key (key 1).
pub const COMPRESSED_KEY_LEN: usize = 33;
/// Routing info (key 3) is an opaque byte string of 1 to 256 bytes.
pub const MAX_ROUTING_LEN: usize = 256;
/// The pairing tool accepts one handshake within this many seconds of issuing the code.
pub const QR_VALIDITY_SECS: u64 = 60;
/// The phone's clock may differ from the PC's by this much either way.
pub const MAX_CLOCK_SKEW_SECS: u64 = 30;
/// HKDF info of the IKpsk1 psk (proto/link.md §3.3).
pub const QR_PSK_INFO: &[u8] = b"passkeyphone/link qr psk";

/// Digits of a 7-byte chunk and of partial chunks of 0..=6 bytes (caBLE v2 digit encoding):
/// the fewest digits that hold 2^(8n) - 1.
const CHUNK_LEN: usize = 7;
const CHUNK_DIGITS: usize = 17;
const PARTIAL_DIGITS: [usize; CHUNK_LEN] = [0, 3, 5, 8, 10, 13, 15];
/// Far more than a real code: bounds the work on hostile input.
const MAX_DIGITS: usize = 2048;

const KEY_PC_STATIC: i64 = 1;
const KEY_SECRET: i64 = 2;
const KEY_ROUTING: i64 = 3;
const KEY_ISSUED_AT: i64 = 4;

/// Why a scanned code was refused. No variant carries scanned content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("not a pairing code (wrong scheme)")]
    WrongScheme,
    #[error("pairing code digits are malformed")]
    BadDigits,
    #[error("pairing code content is malformed")]
    BadContent,
    #[error("pairing code holds an invalid computer key")]
    BadKey,
    #[error("pairing code has expired")]
    Expired,
    #[error("pairing code is dated in the future")]
    NotYetValid,
    #[error("the system random number generator is unavailable")]
    Random,
}

/// A pairing code's content.
pub struct QrPairing {
    pc_static: PublicKey,
    secret: Zeroizing<[u8; QR_SECRET_LEN]>,
    routing: Vec<u8>,
    issued_at: u64,
}

impl QrPairing {
    /// A fresh code for the PC's static key (pairing tool side, the `pc` feature).
    #[cfg(any(test, feature = "pc"))]
    pub fn generate(
        pc_static_uncompressed: &[u8],
        routing: Vec<u8>,
        issued_at: u64,
    ) -> Result<Self, QrError> {
        let secret = random_array().map_err(|RandomUnavailable| QrError::Random)?;
        Self::from_parts(pc_static_uncompressed, secret, routing, issued_at)
    }

    /// A code from given parts; the key may be compressed or uncompressed SEC1.
    pub fn from_parts(
        pc_static: &[u8],
        secret: [u8; QR_SECRET_LEN],
        routing: Vec<u8>,
        issued_at: u64,
    ) -> Result<Self, QrError> {
        let secret = Zeroizing::new(secret);
        let pc_static = PublicKey::from_sec1_bytes(pc_static).map_err(|_| QrError::BadKey)?;
        if routing.is_empty() || routing.len() > MAX_ROUTING_LEN {
            return Err(QrError::BadContent);
        }
        Ok(Self {
            pc_static,
            secret,
            routing,
            issued_at,
        })
    }

    /// Parses a scanned code and checks it against the phone's clock `now` (unix seconds).
    pub fn parse(uri: &str, now: u64) -> Result<Self, QrError> {
        let (scheme, digits) = uri.split_once(":/").ok_or(QrError::WrongScheme)?;
        // URI schemes are case-insensitive (RFC 3986 §3.1).
        if !scheme.eq_ignore_ascii_case(QR_SCHEME) {
            return Err(QrError::WrongScheme);
        }
        let bytes = digits_decode(digits)?;
        let value = cbor::decode(&bytes).map_err(|_| QrError::BadContent)?;
        let mut map = MapReader::new(value).map_err(|_| QrError::BadContent)?;
        let bad = |_| QrError::BadContent;
        let pc_static = map.required_bytes(KEY_PC_STATIC).map_err(bad)?;
        let secret = map.required_bytes(KEY_SECRET).map_err(bad)?;
        let routing = map.required_bytes(KEY_ROUTING).map_err(bad)?;
        let issued_at = map.required_unsigned(KEY_ISSUED_AT).map_err(bad)?;
        if !map.is_empty() {
            return Err(QrError::BadContent);
        }
        if pc_static.len() != COMPRESSED_KEY_LEN || !matches!(pc_static.first(), Some(2 | 3)) {
            return Err(QrError::BadKey);
        }
        let secret = Zeroizing::new(secret);
        let secret: [u8; QR_SECRET_LEN] = secret
            .as_slice()
            .try_into()
            .map_err(|_| QrError::BadContent)?;
        let pairing = Self::from_parts(&pc_static, secret, routing, issued_at)?;
        pairing.check_time(now)?;
        Ok(pairing)
    }

    /// Refuses a code older than `QR_VALIDITY_SECS` or dated in the future, each with
    /// `MAX_CLOCK_SKEW_SECS` of tolerance for the two clocks.
    pub fn check_time(&self, now: u64) -> Result<(), QrError> {
        if now.saturating_add(MAX_CLOCK_SKEW_SECS) < self.issued_at {
            return Err(QrError::NotYetValid);
        }
        if now
            > self
                .issued_at
                .saturating_add(QR_VALIDITY_SECS + MAX_CLOCK_SKEW_SECS)
        {
            return Err(QrError::Expired);
        }
        Ok(())
    }

    /// The canonical CBOR map.
    #[cfg_attr(not(feature = "pc"), allow(dead_code))]
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&Value::map([
            (
                Value::int(KEY_PC_STATIC),
                Value::Bytes(self.pc_static_compressed().to_vec()),
            ),
            (Value::int(KEY_SECRET), Value::Bytes(self.secret.to_vec())),
            (Value::int(KEY_ROUTING), Value::Bytes(self.routing.clone())),
            (Value::int(KEY_ISSUED_AT), Value::Unsigned(self.issued_at)),
        ]))
    }

    /// The text to put in the QR code (pairing tool side, the `pc` feature: the phone only
    /// scans).
    #[cfg(any(test, feature = "pc"))]
    pub fn to_uri(&self) -> String {
        format!("{QR_SCHEME}:/{}", digits_encode(&self.to_cbor()))
    }

    #[cfg_attr(not(feature = "pc"), allow(dead_code))]
    pub fn pc_static_compressed(&self) -> [u8; COMPRESSED_KEY_LEN] {
        let uncompressed = self.pc_static_uncompressed();
        let mut out = [0u8; COMPRESSED_KEY_LEN];
        out[0] = 2 | (uncompressed[PUBLIC_KEY_LEN - 1] & 1);
        out[1..].copy_from_slice(&uncompressed[1..COMPRESSED_KEY_LEN]);
        out
    }

    /// The PC's static key as the Noise handshake wants it (SEC1 uncompressed).
    pub fn pc_static_uncompressed(&self) -> [u8; PUBLIC_KEY_LEN] {
        use p256::elliptic_curve::point::AffineCoordinates;
        let point = self.pc_static.as_affine();
        let x: [u8; 32] = point.x().into();
        let y: [u8; 32] = point.y().into();
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out[0] = 4;
        out[1..33].copy_from_slice(&x);
        out[33..].copy_from_slice(&y);
        out
    }

    pub fn routing(&self) -> &[u8] {
        &self.routing
    }

    #[cfg(any(test, feature = "pc"))]
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The IKpsk1 psk: HKDF-SHA-256(salt = empty, ikm = secret, info = QR_PSK_INFO), 32 bytes.
    pub fn psk(&self) -> Zeroizing<[u8; PSK_LEN]> {
        let mut out = Zeroizing::new([0u8; PSK_LEN]);
        // 32 bytes is within HKDF-SHA-256's limit, so expand cannot fail.
        let _ = Hkdf::<Sha256>::new(None, self.secret.as_ref()).expand(QR_PSK_INFO, out.as_mut());
        out
    }
}

/// Bytes to digits: each 7-byte chunk read as a little-endian integer, written as 17 digits;
/// a final partial chunk of n bytes as `PARTIAL_DIGITS[n]` digits. Only the PC writes a code
/// (the `pc` feature); it stays next to its inverse so the two cannot drift.
#[cfg(any(test, feature = "pc"))]
pub fn digits_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() / CHUNK_LEN * CHUNK_DIGITS + CHUNK_DIGITS);
    for chunk in bytes.chunks(CHUNK_LEN) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        let value = u64::from_le_bytes(word);
        let width = if chunk.len() == CHUNK_LEN {
            CHUNK_DIGITS
        } else {
            PARTIAL_DIGITS[chunk.len()]
        };
        out.push_str(&format!("{value:0width$}"));
    }
    out
}

/// Inverse of `digits_encode`; refuses non-digits, lengths no encoding produces, and chunks
/// whose value does not fit their byte count.
pub fn digits_decode(digits: &str) -> Result<Vec<u8>, QrError> {
    let digits = digits.as_bytes();
    if digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return Err(QrError::BadDigits);
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for chunk in digits.chunks(CHUNK_DIGITS) {
        let byte_len = if chunk.len() == CHUNK_DIGITS {
            CHUNK_LEN
        } else {
            PARTIAL_DIGITS
                .iter()
                .position(|&d| d == chunk.len())
                .filter(|&n| n > 0)
                .ok_or(QrError::BadDigits)?
        };
        // At most 17 digits: below 10^17 < 2^64, so this cannot overflow.
        let value = chunk
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        if value >> (8 * byte_len) != 0 {
            return Err(QrError::BadDigits);
        }
        out.extend_from_slice(&value.to_le_bytes()[..byte_len]);
    }
    Ok(out)
}
