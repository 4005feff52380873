//! Authenticator data (WebAuthn §6.1) and attestation statements (WebAuthn §8.2 packed
//! self-attestation, §8.7 none).
//!
//! Invariants: BE and BS are always 0 (passkeys are device-bound, DESIGN §5); UV is set only
//! when user verification really happened in this request; extension outputs and COSE keys are
//! encoded canonically by the CBOR encoder.

use sha2::{Digest, Sha256};

use super::credential_key::CredentialSigner;
use super::status::CtapResult;
use crate::cbor::{Value, encode_into};

pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;
pub const FLAG_AT: u8 = 0x40;
pub const FLAG_ED: u8 = 0x80;

/// The product's fixed AAGUID (random, chosen once for this product; never change it: relying
/// parties use it to recognise the authenticator model).
pub const AAGUID: [u8; 16] = [
    0x6d, 0x2b, 0x8e, 0x4a, 0x31, 0xf0, 0x4c, 0x57, 0x9a, 0x63, 0x1e, 0xd4, 0x7b, 0x25, 0xc9, 0x80,
];

/// What kind of attestation statement makeCredential returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationFormat {
    /// "packed" self-attestation: signed by the credential key itself, no certificate.
    PackedSelf,
    /// "none": an empty statement.
    None,
}

pub fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}

/// The credential part of authenticator data for makeCredential.
pub struct AttestedCredential<'a> {
    pub credential_id: &'a [u8],
    pub public_key: Value,
}

pub struct AuthData<'a> {
    pub rp_id_hash: [u8; 32],
    pub user_present: bool,
    pub user_verified: bool,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential<'a>>,
    /// Extension outputs, a CBOR map, omitted when empty.
    pub extensions: Option<Value>,
}

impl AuthData<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut flags = 0u8;
        if self.user_present {
            flags |= FLAG_UP;
        }
        if self.user_verified {
            flags |= FLAG_UV;
        }
        if self.attested.is_some() {
            flags |= FLAG_AT;
        }
        let extensions = self
            .extensions
            .as_ref()
            .filter(|e| e.as_map().is_some_and(|m| !m.is_empty()));
        if extensions.is_some() {
            flags |= FLAG_ED;
        }
        let mut out = Vec::with_capacity(37 + 200);
        out.extend_from_slice(&self.rp_id_hash);
        out.push(flags);
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some(att) = &self.attested {
            out.extend_from_slice(&AAGUID);
            let len = u16::try_from(att.credential_id.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(att.credential_id);
            encode_into(&att.public_key, &mut out);
        }
        if let Some(ext) = extensions {
            encode_into(ext, &mut out);
        }
        out
    }
}

/// `(fmt, attStmt)` for makeCredential. Packed self attestation (WebAuthn §8.2) is signed by
/// the credential's own key and names its algorithm (-7 or -8).
pub fn attestation_statement(
    format: AttestationFormat,
    signer: &CredentialSigner,
    auth_data: &[u8],
    client_data_hash: &[u8],
) -> CtapResult<(&'static str, Value)> {
    Ok(match format {
        AttestationFormat::None => ("none", Value::map([])),
        AttestationFormat::PackedSelf => (
            "packed",
            Value::map([
                (Value::from("alg"), Value::int(signer.algorithm().cose())),
                (
                    Value::from("sig"),
                    Value::from(signer.sign(auth_data, client_data_hash)?),
                ),
            ]),
        ),
    })
}
