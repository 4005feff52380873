//! The OBR receipt (proto/obr-grant.md §4): the phone's signed statement "under grant G, as
//! registration n, I created credential C at RP R with this authenticatorData", one per
//! registration, for the administrator's tool and the workspace.
//!
//! Invariants:
//! - Signed by the device identity key (`workspace::state::device_key`), whose public key the
//!   workspace holds since activation; the kid names it like the grant's kid names the
//!   workspace key.
//! - `Receipt::verify` checks the envelope before it reads the payload, and accepts exactly
//!   keys 1..=7 with the sizes of §4.1, so a receipt has one encoding.
// One implementation of the format for both sides: the phone makes receipts; the workspace (the `pc` side) reads and verifies them.
// Without `pc`, the other side's half is unused in the phone library.
#![cfg_attr(not(feature = "pc"), allow(dead_code, unused_imports))]

use p256::ecdsa::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::cose::{self, CoseError, Fields, PayloadError};
use super::grant::{GRANT_ID_LEN, MAX_REGISTRATIONS, is_rp_id};
use crate::cbor::{self, Value};

/// obr-grant.md §4.2: longest accepted receipt.
pub const MAX_RECEIPT_LEN: usize = 2048;
/// CTAP 2.1 bounds credential ids by what the authenticator advertises; 1023 covers any.
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
pub const AAGUID_LEN: usize = 16;

/// Payload keys, obr-grant.md §4.1.
mod key {
    pub const GRANT_ID: i64 = 1;
    pub const INDEX: i64 = 2;
    pub const RP_ID: i64 = 3;
    pub const CREDENTIAL_ID: i64 = 4;
    pub const AAGUID: i64 = 5;
    pub const CREATED_AT: i64 = 6;
    pub const AUTH_DATA_HASH: i64 = 7;
}

/// Why a receipt was refused; `code()` gives the error names of obr-grant.md §4.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReceiptError {
    #[error("the device key is not a P-256 public key")]
    InvalidDeviceKey,
    #[error("the receipt is longer than {MAX_RECEIPT_LEN} bytes")]
    TooLarge,
    #[error("the receipt is not a tagged COSE_Sign1 of four items")]
    NotCoseSign1,
    #[error("the receipt is not one canonical CBOR item")]
    MalformedCbor,
    #[error("the receipt's COSE headers are not exactly {{alg, kid}} and empty")]
    BadHeader,
    #[error("the receipt is not signed with ES256")]
    UnsupportedAlgorithm,
    #[error("the receipt names another key than the device key")]
    KidMismatch,
    #[error("the receipt's signature does not verify with the device key")]
    BadSignature,
    #[error("the receipt's payload is not one canonical CBOR map")]
    MalformedPayload,
    #[error("receipt field {0} is missing")]
    MissingField(i64),
    #[error("receipt field {0} has the wrong CBOR type")]
    WrongFieldType(i64),
    #[error("the receipt has a field this version does not know")]
    UnknownField,
    #[error("receipt field {0} has an invalid length or content")]
    InvalidField(i64),
}

impl ReceiptError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidDeviceKey => "invalid_device_key",
            Self::TooLarge => "too_large",
            Self::NotCoseSign1 => "not_cose_sign1",
            Self::MalformedCbor => "malformed_cbor",
            Self::BadHeader => "bad_header",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::KidMismatch => "kid_mismatch",
            Self::BadSignature => "bad_signature",
            Self::MalformedPayload => "malformed_payload",
            Self::MissingField(_) => "missing_field",
            Self::WrongFieldType(_) => "wrong_field_type",
            Self::UnknownField => "unknown_field",
            Self::InvalidField(_) => "invalid_field",
        }
    }
}

impl From<CoseError> for ReceiptError {
    fn from(error: CoseError) -> Self {
        match error {
            CoseError::TooLarge => Self::TooLarge,
            CoseError::NotCoseSign1 => Self::NotCoseSign1,
            CoseError::MalformedCbor => Self::MalformedCbor,
            CoseError::BadHeader => Self::BadHeader,
            CoseError::UnsupportedAlgorithm => Self::UnsupportedAlgorithm,
            CoseError::KidMismatch => Self::KidMismatch,
            CoseError::BadSignature => Self::BadSignature,
        }
    }
}

impl From<PayloadError> for ReceiptError {
    fn from(error: PayloadError) -> Self {
        match error {
            PayloadError::Malformed => Self::MalformedPayload,
            PayloadError::Missing(key) => Self::MissingField(key),
            PayloadError::WrongType(key) => Self::WrongFieldType(key),
            PayloadError::Unknown => Self::UnknownField,
        }
    }
}

/// One registration made under a grant.
#[derive(Clone, PartialEq, Eq)]
pub struct Receipt {
    pub grant_id: [u8; GRANT_ID_LEN],
    /// 1 for the first registration under the grant, up to its maximum.
    pub index: u8,
    pub rp_id: String,
    pub credential_id: Vec<u8>,
    pub aaguid: [u8; AAGUID_LEN],
    /// Unix seconds, phone clock.
    pub created_at: u64,
    /// SHA-256 of the authenticatorData of the makeCredential response.
    pub auth_data_hash: [u8; 32],
}

// The RP id and credential id tie the user to a service: kept out of logs.
impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt")
            .field("index", &self.index)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl Receipt {
    /// `auth_data_hash` for the authenticatorData of a makeCredential response.
    pub fn hash_auth_data(auth_data: &[u8]) -> [u8; 32] {
        Sha256::digest(auth_data).into()
    }

    /// The canonical payload map (obr-grant.md §4.1), as signed.
    pub fn payload(&self) -> Vec<u8> {
        cbor::encode(&Value::map([
            (Value::int(key::GRANT_ID), Value::from(&self.grant_id[..])),
            (
                Value::int(key::INDEX),
                Value::Unsigned(u64::from(self.index)),
            ),
            (Value::int(key::RP_ID), Value::from(self.rp_id.as_str())),
            (
                Value::int(key::CREDENTIAL_ID),
                Value::from(self.credential_id.as_slice()),
            ),
            (Value::int(key::AAGUID), Value::from(&self.aaguid[..])),
            (
                Value::int(key::CREATED_AT),
                Value::Unsigned(self.created_at),
            ),
            (
                Value::int(key::AUTH_DATA_HASH),
                Value::from(&self.auth_data_hash[..]),
            ),
        ]))
    }

    /// The tagged COSE_Sign1 of `payload()` by the device key (deterministic ECDSA).
    pub fn sign(&self, device_key: &SigningKey) -> Vec<u8> {
        cose::sign(device_key, self.payload())
    }

    /// Verifies a receipt against the device's public key (SEC1) and returns its content.
    pub fn verify(bytes: &[u8], device_key_sec1: &[u8]) -> Result<Self, ReceiptError> {
        let device_key = VerifyingKey::from_sec1_bytes(device_key_sec1)
            .map_err(|_| ReceiptError::InvalidDeviceKey)?;
        let payload = cose::open(bytes, MAX_RECEIPT_LEN, &device_key)?;
        let mut fields = Fields::parse(&payload)?;
        let grant_id = fields.bytes(key::GRANT_ID)?;
        let index = fields.unsigned(key::INDEX)?;
        let rp_id = fields.text(key::RP_ID)?;
        let credential_id = fields.bytes(key::CREDENTIAL_ID)?;
        let aaguid = fields.bytes(key::AAGUID)?;
        let created_at = fields.unsigned(key::CREATED_AT)?;
        let auth_data_hash = fields.bytes(key::AUTH_DATA_HASH)?;
        fields.finish()?;

        let invalid = ReceiptError::InvalidField;
        Ok(Self {
            grant_id: grant_id
                .as_slice()
                .try_into()
                .map_err(|_| invalid(key::GRANT_ID))?,
            index: u8::try_from(index)
                .ok()
                .filter(|index| (1..=MAX_REGISTRATIONS).contains(index))
                .ok_or(invalid(key::INDEX))?,
            rp_id: Some(rp_id)
                .filter(|rp_id| is_rp_id(rp_id))
                .ok_or(invalid(key::RP_ID))?,
            credential_id: Some(credential_id)
                .filter(|id| (1..=MAX_CREDENTIAL_ID_LEN).contains(&id.len()))
                .ok_or(invalid(key::CREDENTIAL_ID))?,
            aaguid: aaguid
                .as_slice()
                .try_into()
                .map_err(|_| invalid(key::AAGUID))?,
            created_at,
            auth_data_hash: auth_data_hash
                .as_slice()
                .try_into()
                .map_err(|_| invalid(key::AUTH_DATA_HASH))?,
        })
    }
}
