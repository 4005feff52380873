//! Authenticator data (WebAuthn §6.1) and attestation statements (WebAuthn §8.2 packed
//! self-attestation, §8.7 none).
//!
//! Invariants: BE and BS are always 0 (passkeys are device-bound, DESIGN §5); UV is set only
//! when user verification really happened in this request; extension outputs and COSE keys are
//! encoded canonically by the CBOR encoder.

use p256::ecdsa::SigningKey;
use p256::{FieldBytes, NistP256, NonZeroScalar};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cose::ALG_ES256;
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

/// A passkey's private scalar, ready to sign. Loading it costs no point multiplication (a
/// `SigningKey` computes its public key on construction, which would double the cost of an
/// assertion). Wiped on drop.
pub struct CredentialSigner(Zeroizing<NonZeroScalar>);

impl CredentialSigner {
    /// None if `private_key` is not a valid P-256 scalar.
    pub fn from_bytes(private_key: &[u8]) -> Option<Self> {
        let bytes = FieldBytes::try_from(private_key).ok()?;
        let scalar = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr(bytes))?;
        Some(Self(Zeroizing::new(scalar)))
    }

    /// ES256 over `auth_data || client_data_hash` (the WebAuthn signature input), DER encoded,
    /// with a deterministic nonce (RFC 6979).
    pub fn sign(&self, auth_data: &[u8], client_data_hash: &[u8]) -> Vec<u8> {
        let digest = Sha256::new()
            .chain_update(auth_data)
            .chain_update(client_data_hash)
            .finalize();
        let (signature, _) =
            ecdsa::hazmat::sign_prehashed_rfc6979::<NistP256, Sha256>(&self.0, &digest, &[]);
        signature.to_der().as_bytes().to_vec()
    }
}

/// `(fmt, attStmt)` for makeCredential.
pub fn attestation_statement(
    format: AttestationFormat,
    key: &SigningKey,
    auth_data: &[u8],
    client_data_hash: &[u8],
) -> (&'static str, Value) {
    match format {
        AttestationFormat::None => ("none", Value::map([])),
        AttestationFormat::PackedSelf => {
            let signer = CredentialSigner(Zeroizing::new(*key.as_nonzero_scalar()));
            (
                "packed",
                Value::map([
                    (Value::from("alg"), Value::int(ALG_ES256)),
                    (
                        Value::from("sig"),
                        Value::from(signer.sign(auth_data, client_data_hash)),
                    ),
                ]),
            )
        }
    }
}
