//! The COSE_Sign1 envelope shared by OBR grants and receipts (proto/obr-grant.md §2):
//! tagged, ES256 only, `{1: -7, 4: kid}` as the whole protected header, an empty unprotected
//! header, an embedded payload and a raw 64-byte `r ‖ s` signature; and the strict reading
//! of their integer-keyed payload maps.
//!
//! Invariants:
//! - `open` checks the envelope rules 1–8 of obr-grant.md §3.3 in that order and hands out
//!   the payload bytes only after the signature verified, so callers never parse
//!   unauthenticated payloads.
//! - Nothing is re-encoded before verification: the Sig_structure is built from the exact
//!   protected and payload bytes received.
//! - Payload maps are read key by key in ascending order, and `Fields::finish` refuses any
//!   key left over: a grant is a capability, so an unknown restriction is never ignored.

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::cbor::{self, MapReader, Value};

/// RFC 9052 §4.2: the CBOR tag of COSE_Sign1 is 18, one initial byte `0xd2` (major type 6).
const COSE_SIGN1_TAG_BYTE: u8 = 0xd2;
/// RFC 9052 §3.1 header labels.
const HEADER_ALG: i64 = 1;
const HEADER_KID: i64 = 4;
/// RFC 9053 §2.1: ECDSA w/ SHA-256.
pub const ALG_ES256: i64 = -7;
/// RFC 9052 §4.4 Sig_structure context for COSE_Sign1.
const SIGNATURE1_CONTEXT: &str = "Signature1";
/// SHA-256 of the SEC1 uncompressed public key, truncated (obr-grant.md §2).
pub const KID_LEN: usize = 16;
/// RFC 9053 §2.1: r ‖ s, 32 bytes each for P-256.
const SIGNATURE_LEN: usize = 64;

/// Envelope failures, in the order they are checked. The grant and receipt error types map
/// them one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CoseError {
    TooLarge,
    NotCoseSign1,
    MalformedCbor,
    BadHeader,
    UnsupportedAlgorithm,
    KidMismatch,
    BadSignature,
}

/// The kid of a P-256 public key: the first 16 bytes of SHA-256 over its uncompressed SEC1
/// form, whatever form the key was given in.
pub fn kid(key: &VerifyingKey) -> [u8; KID_LEN] {
    let digest = Sha256::digest(key.to_sec1_point(false).as_bytes());
    let mut kid = [0u8; KID_LEN];
    kid.copy_from_slice(&digest[..KID_LEN]);
    kid
}

/// Checks the envelope of `bytes` against `key` and returns the signed payload bytes.
pub(crate) fn open(bytes: &[u8], max_len: usize, key: &VerifyingKey) -> Result<Vec<u8>, CoseError> {
    if bytes.len() > max_len {
        return Err(CoseError::TooLarge);
    }
    let Some((&COSE_SIGN1_TAG_BYTE, body)) = bytes.split_first() else {
        return Err(CoseError::NotCoseSign1);
    };
    let value = cbor::decode(body).map_err(|_| CoseError::MalformedCbor)?;
    let Value::Array(items) = value else {
        return Err(CoseError::NotCoseSign1);
    };
    let [
        Value::Bytes(protected),
        Value::Map(unprotected),
        Value::Bytes(payload),
        Value::Bytes(signature),
    ] = <[Value; 4]>::try_from(items).map_err(|_| CoseError::NotCoseSign1)?
    else {
        return Err(CoseError::NotCoseSign1);
    };
    if !unprotected.is_empty() {
        return Err(CoseError::BadHeader);
    }
    let header_kid = read_protected(&protected)?;
    if header_kid != kid(key) {
        return Err(CoseError::KidMismatch);
    }
    let signature = <[u8; SIGNATURE_LEN]>::try_from(signature.as_slice())
        .ok()
        .and_then(|raw| Signature::from_slice(&raw).ok())
        .ok_or(CoseError::BadSignature)?;
    key.verify(&sig_structure(&protected, &payload), &signature)
        .map_err(|_| CoseError::BadSignature)?;
    Ok(payload)
}

/// Rules 5–6: exactly `{1: -7, 4: kid}`; returns the kid.
fn read_protected(protected: &[u8]) -> Result<[u8; KID_LEN], CoseError> {
    let header = cbor::decode(protected).map_err(|_| CoseError::BadHeader)?;
    let mut header = MapReader::new(header).map_err(|_| CoseError::BadHeader)?;
    let alg = header.take(HEADER_ALG);
    let kid = header.take(HEADER_KID);
    if !header.is_empty() {
        return Err(CoseError::BadHeader);
    }
    let kid = match kid {
        Some(Value::Bytes(kid)) => {
            <[u8; KID_LEN]>::try_from(kid.as_slice()).map_err(|_| CoseError::BadHeader)?
        }
        _ => return Err(CoseError::BadHeader),
    };
    if alg.and_then(|alg| alg.as_int()) != Some(ALG_ES256) {
        return Err(CoseError::UnsupportedAlgorithm);
    }
    Ok(kid)
}

/// RFC 9052 §4.4: `["Signature1", protected, external_aad = h'', payload]`.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    cbor::encode(&Value::Array(vec![
        Value::from(SIGNATURE1_CONTEXT),
        Value::from(protected),
        Value::Bytes(Vec::new()),
        Value::from(payload),
    ]))
}

/// A tagged COSE_Sign1 over `payload` with `key` (deterministic ECDSA, RFC 6979).
pub(crate) fn sign(key: &SigningKey, payload: Vec<u8>) -> Vec<u8> {
    let protected = cbor::encode(&Value::map([
        (Value::int(HEADER_ALG), Value::int(ALG_ES256)),
        (
            Value::int(HEADER_KID),
            Value::from(kid(key.verifying_key()).as_slice()),
        ),
    ]));
    let signature: Signature = key.sign(&sig_structure(&protected, &payload));
    let mut out = vec![COSE_SIGN1_TAG_BYTE];
    cbor::encode_into(
        &Value::Array(vec![
            Value::Bytes(protected),
            Value::map([]),
            Value::Bytes(payload),
            Value::from(signature.to_bytes().as_slice()),
        ]),
        &mut out,
    );
    out
}

/// Payload-map failures (rules 9–11 of obr-grant.md §3.3, and their receipt equivalents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadError {
    Malformed,
    Missing(i64),
    WrongType(i64),
    Unknown,
}

/// A payload map being read field by field.
pub(crate) struct Fields(MapReader);

impl Fields {
    /// Exactly one canonical CBOR map.
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, PayloadError> {
        let value = cbor::decode(payload).map_err(|_| PayloadError::Malformed)?;
        MapReader::new(value)
            .map(Self)
            .map_err(|_| PayloadError::Malformed)
    }

    pub(crate) fn bytes(&mut self, key: i64) -> Result<Vec<u8>, PayloadError> {
        self.0.required_bytes(key).map_err(field_error)
    }

    pub(crate) fn text(&mut self, key: i64) -> Result<String, PayloadError> {
        self.0.required_text(key).map_err(field_error)
    }

    pub(crate) fn unsigned(&mut self, key: i64) -> Result<u64, PayloadError> {
        self.0.required_unsigned(key).map_err(field_error)
    }

    /// An array whose items are all text strings.
    pub(crate) fn texts(&mut self, key: i64) -> Result<Vec<String>, PayloadError> {
        self.0
            .required_array(key)
            .map_err(field_error)?
            .into_iter()
            .map(|item| match item {
                Value::Text(text) => Ok(text),
                _ => Err(PayloadError::WrongType(key)),
            })
            .collect()
    }

    /// Refuses keys that were not read.
    pub(crate) fn finish(self) -> Result<(), PayloadError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(PayloadError::Unknown)
        }
    }
}

fn field_error(error: cbor::FieldError) -> PayloadError {
    match error {
        cbor::FieldError::Missing(cbor::FieldKey::Int(key)) => PayloadError::Missing(key),
        cbor::FieldError::WrongType(cbor::FieldKey::Int(key)) => PayloadError::WrongType(key),
        // Only integer keys are ever asked for, and `parse` already checked for a map.
        _ => PayloadError::Malformed,
    }
}
