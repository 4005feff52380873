//! COSE_Key encoding of public keys: EC2 P-256 (RFC 9053 §7.1, CTAP 2.1 §6.5.6 for key
//! agreement) and OKP Ed25519 (RFC 9053 §7.2).
//!
//! Credential keys are ES256 (`alg` -7) or EdDSA (`alg` -8, see `credential_key`); the PIN/UV
//! key agreement key is announced with `alg` -25 (ECDH-ES+HKDF-256). Parsing accepts only EC2/P-256 keys with 32-byte coordinates;
//! whether the point is on the curve is checked by whoever uses it.

use super::status::{CTAP1_ERR_INVALID_PARAMETER, CTAP2_ERR_UNSUPPORTED_ALGORITHM, CtapResult};
use crate::cbor::{MapReader, Value};

/// COSE algorithm ES256 (ECDSA with SHA-256 on P-256).
pub const ALG_ES256: i64 = -7;
/// COSE algorithm EdDSA (RFC 9053 §2.2), here always on Ed25519.
pub const ALG_EDDSA: i64 = -8;
/// COSE algorithm ECDH-ES + HKDF-256, used for the PIN/UV key agreement key.
pub const ALG_ECDH_ES_HKDF_256: i64 = -25;
const KTY_EC2: i64 = 2;
const CRV_P256: i64 = 1;
/// RFC 9053 §7.2 key type OKP and §7.1 table 18 curve Ed25519.
const KTY_OKP: i64 = 1;
const CRV_ED25519: i64 = 6;

/// An EC2 P-256 public key as COSE_Key: {1: 2, 3: alg, -1: 1, -2: x, -3: y}.
pub fn ec2_public_key(alg: i64, x: &[u8], y: &[u8]) -> Value {
    Value::map([
        (Value::int(1), Value::int(KTY_EC2)),
        (Value::int(3), Value::int(alg)),
        (Value::int(-1), Value::int(CRV_P256)),
        (Value::int(-2), Value::from(x.to_vec())),
        (Value::int(-3), Value::from(y.to_vec())),
    ])
}

/// An Ed25519 public key (RFC 8032 §5.1.5 encoding) as COSE_Key: {1: 1, 3: -8, -1: 6, -2: x}.
pub fn okp_ed25519_public_key(x: &[u8; 32]) -> Value {
    Value::map([
        (Value::int(1), Value::int(KTY_OKP)),
        (Value::int(3), Value::int(ALG_EDDSA)),
        (Value::int(-1), Value::int(CRV_ED25519)),
        (Value::int(-2), Value::from(x.to_vec())),
    ])
}

/// Reads a platform's key agreement key. Only kty EC2, crv P-256 and 32-byte coordinates are
/// accepted; `alg`, if present, must be -25 (CTAP 2.1 §6.5.5.4 accepts it absent or -25).
pub fn parse_key_agreement(value: Value) -> CtapResult<([u8; 32], [u8; 32])> {
    let mut key = MapReader::new(value).map_err(|_| CTAP1_ERR_INVALID_PARAMETER)?;
    if key.required_int(1)? != KTY_EC2 {
        return Err(CTAP1_ERR_INVALID_PARAMETER);
    }
    if key.int(3)?.is_some_and(|alg| alg != ALG_ECDH_ES_HKDF_256) {
        return Err(CTAP2_ERR_UNSUPPORTED_ALGORITHM);
    }
    if key.required_int(-1)? != CRV_P256 {
        return Err(CTAP1_ERR_INVALID_PARAMETER);
    }
    let x: [u8; 32] = key
        .required_bytes(-2)?
        .try_into()
        .map_err(|_| CTAP1_ERR_INVALID_PARAMETER)?;
    let y: [u8; 32] = key
        .required_bytes(-3)?
        .try_into()
        .map_err(|_| CTAP1_ERR_INVALID_PARAMETER)?;
    Ok((x, y))
}
