//! The algorithms of passkeys (COSE, RFC 9053 §2): ES256 (-7, ECDSA on P-256 with SHA-256) and
//! EdDSA (-8, Ed25519 of RFC 8032 §5.1, the key type of OpenSSH's `ed25519-sk`), with the one
//! signer both makeCredential's self attestation and getAssertion use.
//!
//! What the vault stores per algorithm (`Credential::algorithm`, `public_key` and
//! `CredentialSecrets::private_key`):
//! - ES256: the SEC1 uncompressed point and the 32-byte private scalar;
//! - EdDSA: the 32-byte public key and the 32-byte RFC 8032 private key (the seed).
//!
//! Invariants:
//! - A stored record whose algorithm is not one of [`Algorithm`]'s, or whose keys do not have
//!   that algorithm's sizes, is refused with CTAP1_ERR_OTHER and a log line naming the
//!   algorithm number (never a key); nothing is changed or deleted. The records are sealed, so
//!   only this app's own code (a newer version, a bug) can have written one; someone who can
//!   write the app's files cannot forge or swap one without the vault key (`vault`).
//! - The Ed25519 signer derives its public key from the private key when it is loaded, never
//!   from the stored public key: signing one message under two different public keys would
//!   reveal the private key, so a mismatched pair must not be possible.
//! - Private keys are wiped on drop (`Zeroizing` scalar; `ed25519_dalek::SigningKey` zeroizes
//!   itself) and nothing here is `Debug` or `Clone`.

use ed25519_dalek::ed25519::signature::MultipartSigner;
use p256::{FieldBytes, NistP256, NonZeroScalar};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use super::cose::{ALG_EDDSA, ALG_ES256};
use super::cose::{ec2_public_key, okp_ed25519_public_key};
use super::status::{CTAP1_ERR_OTHER, CtapResult};
use crate::cbor::Value;
use crate::secret::SecretBytes;

/// RFC 8032 §5.1.5: an Ed25519 private key (seed) and public key are 32 bytes each.
const ED25519_KEY_LENGTH: usize = 32;
/// SEC1 §2.3.3 uncompressed P-256 point: 0x04 || x || y.
const P256_UNCOMPRESSED_LENGTH: usize = 65;

/// A credential algorithm this authenticator supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Es256,
    EdDsa,
}

impl Algorithm {
    /// In getInfo's order (CTAP 2.1 §6.4 `algorithms`, most preferred first).
    pub const SUPPORTED: [Algorithm; 2] = [Algorithm::Es256, Algorithm::EdDsa];

    pub fn from_cose(alg: i64) -> Option<Self> {
        match alg {
            ALG_ES256 => Some(Self::Es256),
            ALG_EDDSA => Some(Self::EdDsa),
            _ => None,
        }
    }

    pub fn cose(self) -> i64 {
        match self {
            Self::Es256 => ALG_ES256,
            Self::EdDsa => ALG_EDDSA,
        }
    }
}

/// The algorithm of a stored record, or CTAP1_ERR_OTHER (logged) if this version has none.
fn stored_algorithm(alg: i64) -> CtapResult<Algorithm> {
    Algorithm::from_cose(alg).ok_or_else(|| {
        tracing::error!(
            alg,
            "a stored passkey uses COSE algorithm {alg}, which this version cannot use"
        );
        CTAP1_ERR_OTHER
    })
}

fn malformed(alg: Algorithm, what: &str) -> super::status::CtapError {
    tracing::error!(?alg, "a stored passkey's {what} has the wrong size for its algorithm");
    CTAP1_ERR_OTHER
}

/// A stored passkey's public key as COSE_Key (credential management, attested credential data).
pub fn credential_public_key(alg: i64, public_key: &[u8]) -> CtapResult<Value> {
    match stored_algorithm(alg)? {
        Algorithm::Es256 => match public_key {
            [0x04, xy @ ..] if public_key.len() == P256_UNCOMPRESSED_LENGTH => {
                let (x, y) = xy.split_at(xy.len() / 2);
                Ok(ec2_public_key(ALG_ES256, x, y))
            }
            _ => Err(malformed(Algorithm::Es256, "public key")),
        },
        Algorithm::EdDsa => {
            let x: &[u8; ED25519_KEY_LENGTH] = public_key
                .try_into()
                .map_err(|_| malformed(Algorithm::EdDsa, "public key"))?;
            Ok(okp_ed25519_public_key(x))
        }
    }
}

/// A passkey's private key, ready to sign. No `Debug`, no `Clone`; wiped on drop.
pub enum CredentialSigner {
    /// The P-256 scalar alone: loading it costs no point multiplication (a `SigningKey` would
    /// compute its public key, doubling the cost of an assertion).
    Es256(Zeroizing<NonZeroScalar>),
    /// Ed25519 signing needs the public key (it is hashed into every signature), so loading
    /// computes it from the private key (see the module invariants).
    EdDsa(ed25519_dalek::SigningKey),
}

impl CredentialSigner {
    /// The signer of a stored passkey: its algorithm and private key from the vault.
    pub fn load(alg: i64, private_key: &[u8]) -> CtapResult<Self> {
        match stored_algorithm(alg)? {
            Algorithm::Es256 => {
                let bytes = FieldBytes::try_from(private_key)
                    .map_err(|_| malformed(Algorithm::Es256, "private key"))?;
                let scalar = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr(bytes))
                    .ok_or_else(|| malformed(Algorithm::Es256, "private key"))?;
                Ok(Self::Es256(Zeroizing::new(scalar)))
            }
            Algorithm::EdDsa => {
                let seed: Zeroizing<[u8; ED25519_KEY_LENGTH]> = Zeroizing::new(
                    private_key
                        .try_into()
                        .map_err(|_| malformed(Algorithm::EdDsa, "private key"))?,
                );
                Ok(Self::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Es256(_) => Algorithm::Es256,
            Self::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The WebAuthn signature over `auth_data || client_data_hash` (WebAuthn §6.3.3 step 11):
    /// ES256 DER encoded with a deterministic nonce (RFC 6979); EdDSA the 64-byte R || S of
    /// RFC 8032 §5.1.6 (deterministic by construction).
    pub fn sign(&self, auth_data: &[u8], client_data_hash: &[u8]) -> CtapResult<Vec<u8>> {
        match self {
            Self::Es256(scalar) => {
                let digest = Sha256::new()
                    .chain_update(auth_data)
                    .chain_update(client_data_hash)
                    .finalize();
                let (signature, _) =
                    ecdsa::hazmat::sign_prehashed_rfc6979::<NistP256, Sha256>(scalar, &digest, &[]);
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Self::EdDsa(key) => key
                .try_multipart_sign(&[auth_data, client_data_hash])
                .map(|signature| signature.to_bytes().to_vec())
                .map_err(|_| CTAP1_ERR_OTHER),
        }
    }
}

/// A new passkey's keys: what the vault stores, and the signer for its self attestation.
pub struct NewCredentialKey {
    pub private_key: SecretBytes,
    /// In the stored form (see the module header).
    pub public_key: Vec<u8>,
    pub signer: CredentialSigner,
}

impl NewCredentialKey {
    /// A fresh Ed25519 key from the system CSPRNG. Made inline: it costs one fixed-base scalar
    /// multiplication (the bench `ed25519_keygen` measures it), so it needs no pool.
    pub fn ed25519() -> CtapResult<Self> {
        let private_key = SecretBytes::random(ED25519_KEY_LENGTH).map_err(|_| CTAP1_ERR_OTHER)?;
        let signer = CredentialSigner::load(ALG_EDDSA, private_key.expose())?;
        let CredentialSigner::EdDsa(key) = &signer else {
            return Err(CTAP1_ERR_OTHER);
        };
        let public_key = key.verifying_key().to_bytes().to_vec();
        Ok(Self {
            private_key,
            public_key,
            signer,
        })
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::*;
    use crate::cbor;

    fn ed25519_verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let key = VerifyingKey::from_bytes(public_key.try_into().unwrap()).unwrap();
        let signature = Signature::from_slice(signature).unwrap();
        key.verify_strict(message, &signature).is_ok() && key.verify(message, &signature).is_ok()
    }

    #[test]
    fn an_ed25519_signature_verifies_over_auth_data_and_client_data_hash() {
        let key = NewCredentialKey::ed25519().unwrap();
        assert_eq!(key.private_key.len(), 32);
        assert_eq!(key.public_key.len(), 32);
        let signature = key.signer.sign(b"auth data", &[0x11; 32]).unwrap();
        assert_eq!(signature.len(), 64);
        let message = [&b"auth data"[..], &[0x11; 32]].concat();
        assert!(ed25519_verify(&key.public_key, &message, &signature));
        // Another message, or the halves in another split, do not verify.
        assert!(!ed25519_verify(&key.public_key, b"auth data", &signature));
        // Loading the stored private key gives the same key (Ed25519 is deterministic).
        let loaded = CredentialSigner::load(ALG_EDDSA, key.private_key.expose()).unwrap();
        assert_eq!(loaded.algorithm(), Algorithm::EdDsa);
        assert_eq!(loaded.sign(b"auth data", &[0x11; 32]).unwrap(), signature);
    }

    /// RFC 8032 §7.1 TEST 2: the derived public key and the signature of one byte.
    #[test]
    fn ed25519_matches_rfc_8032_test_vector_2() {
        let seed = crate::hex::decode(
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        )
        .unwrap();
        let signer = CredentialSigner::load(ALG_EDDSA, &seed).unwrap();
        let CredentialSigner::EdDsa(key) = &signer else {
            panic!("not EdDSA")
        };
        assert_eq!(
            crate::hex::encode(key.verifying_key().as_bytes()),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
        );
        // The signer signs auth_data || client_data_hash: split the one byte message 0x72.
        assert_eq!(
            crate::hex::encode(&signer.sign(&[0x72], &[]).unwrap()),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        );
    }

    #[test]
    fn an_es256_signature_verifies() {
        let private = [7u8; 32];
        let signer = CredentialSigner::load(ALG_ES256, &private).unwrap();
        let signature = signer.sign(b"auth", b"cdh").unwrap();
        let key = p256::ecdsa::SigningKey::from_slice(&private).unwrap();
        let signature = p256::ecdsa::DerSignature::try_from(signature.as_slice()).unwrap();
        let signature = p256::ecdsa::Signature::from_der(signature.as_bytes()).unwrap();
        assert!(key.verifying_key().verify(b"authcdh", &signature).is_ok());
    }

    /// RFC 9053 §7.2 / CTAP 2.1 §6.5.6: {1: 1 (OKP), 3: -8, -1: 6 (Ed25519), -2: x}, in the
    /// canonical order (CTAP 2.1 §8: by encoded key: 1, 3, -1, -2).
    #[test]
    fn an_ed25519_cose_key_is_okp_in_canonical_order() {
        let x = [0xAB; 32];
        let encoded = cbor::encode(&credential_public_key(ALG_EDDSA, &x).unwrap());
        let mut expected = vec![0xA4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20];
        expected.extend_from_slice(&x);
        assert_eq!(encoded, expected);
    }

    /// A record this version cannot use is a clear error, whatever is wrong with it.
    #[test]
    fn unknown_algorithms_and_wrong_key_sizes_are_refused() {
        assert_eq!(
            credential_public_key(-257, &[4; 65]).err(),
            Some(CTAP1_ERR_OTHER)
        );
        assert_eq!(CredentialSigner::load(-257, &[7; 32]).err(), Some(CTAP1_ERR_OTHER));
        assert_eq!(
            credential_public_key(ALG_EDDSA, &[4; 65]).err(),
            Some(CTAP1_ERR_OTHER)
        );
        assert_eq!(
            credential_public_key(ALG_ES256, &[0xAB; 32]).err(),
            Some(CTAP1_ERR_OTHER)
        );
        assert_eq!(CredentialSigner::load(ALG_EDDSA, &[7; 31]).err(), Some(CTAP1_ERR_OTHER));
        assert_eq!(CredentialSigner::load(ALG_ES256, &[0; 32]).err(), Some(CTAP1_ERR_OTHER));
    }

    #[test]
    fn algorithms_map_to_their_cose_numbers() {
        assert_eq!(Algorithm::from_cose(-7), Some(Algorithm::Es256));
        assert_eq!(Algorithm::from_cose(-8), Some(Algorithm::EdDsa));
        assert_eq!(Algorithm::from_cose(-257), None);
        assert_eq!(Algorithm::SUPPORTED.map(Algorithm::cose), [-7, -8]);
    }
}
