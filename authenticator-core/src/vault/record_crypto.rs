//! Field encryption and lookup handles, derived from the vault key.
//!
//! Every secret field is sealed as `version(1) || nonce(12) || AES-256-GCM(plaintext)`, with a
//! fresh random nonce and an AAD naming the table, the column, the row and the envelope's
//! version. A ciphertext copied to another row or column, or with a flipped bit, fails to open.
//! The version byte is the schema version at which the envelope format was defined, so
//! migrations need not re-encrypt old rows; a downgraded byte fails authentication.
//!
//! Lookup columns (rp id, credential id) hold `HMAC-SHA256(lookup_key, domain || value)`
//! truncated to 16 bytes, so the file does not reveal which sites the user has passkeys for.
//! Both keys come from the vault key through HKDF-SHA256 with distinct labels.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::VaultError;
use crate::secret::random_array;

pub(crate) const VAULT_KEY_LEN: usize = 32;
const ENVELOPE_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HKDF_SALT: &[u8] = b"phone-authenticator vault v1";
pub(crate) const LOOKUP_HANDLE_LEN: usize = 16;

/// Where a sealed value lives; it is bound into the AAD.
#[derive(Clone, Copy)]
pub(crate) struct Field<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub row: &'a [u8],
}

impl<'a> Field<'a> {
    pub fn new(table: &'static str, column: &'static str, row: &'a [u8]) -> Self {
        Self { table, column, row }
    }

    fn aad(&self, version: u8) -> Vec<u8> {
        let mut aad = Vec::with_capacity(32 + self.row.len());
        aad.extend_from_slice(b"pkvault");
        aad.push(version);
        for part in [self.table.as_bytes(), self.column.as_bytes(), self.row] {
            // Length prefixes keep ("ab","c") and ("a","bc") apart.
            aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            aad.extend_from_slice(part);
        }
        aad
    }

    fn tampered(&self) -> VaultError {
        VaultError::RecordTampered {
            table: self.table,
            column: self.column,
        }
    }
}

/// The keys derived from the vault key. Wiped on drop (aes-gcm's `zeroize` feature).
pub(crate) struct RecordCipher {
    aead: Aes256Gcm,
    lookup_key: Zeroizing<[u8; 32]>,
}

impl RecordCipher {
    pub fn new(vault_key: &[u8; VAULT_KEY_LEN]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), vault_key);
        let mut enc_key = Zeroizing::new([0u8; 32]);
        let mut lookup_key = Zeroizing::new([0u8; 32]);
        // Expanding 32 bytes from SHA-256 HKDF cannot fail (limit is 255 * 32).
        let _ = hkdf.expand(b"record encryption", enc_key.as_mut());
        let _ = hkdf.expand(b"lookup handles", lookup_key.as_mut());
        Self {
            aead: Aes256Gcm::new(&(*enc_key).into()),
            lookup_key,
        }
    }

    pub fn seal(&self, field: Field<'_>, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let nonce: [u8; NONCE_LEN] = random_array()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&nonce);
        let mut body = Zeroizing::new(plaintext.to_vec());
        let tag = self
            .aead
            .encrypt_inout_detached(
                &Nonce::from(nonce),
                &field.aad(ENVELOPE_VERSION),
                body.as_mut_slice().into(),
            )
            .map_err(|_| field.tampered())?;
        out.extend_from_slice(&body);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    pub fn open(&self, field: Field<'_>, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if blob.len() < 1 + NONCE_LEN + TAG_LEN || blob[0] != ENVELOPE_VERSION {
            return Err(field.tampered());
        }
        let (nonce, rest) = blob[1..].split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| field.tampered())?;
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| field.tampered())?;
        let mut plain = Zeroizing::new(body.to_vec());
        self.aead
            .decrypt_inout_detached(
                &Nonce::from(nonce),
                &field.aad(blob[0]),
                plain.as_mut_slice().into(),
                &tag.into(),
            )
            .map_err(|_| field.tampered())?;
        Ok(plain)
    }

    pub fn seal_cbor<T: Serialize>(
        &self,
        field: Field<'_>,
        value: &T,
    ) -> Result<Vec<u8>, VaultError> {
        let mut plain = Zeroizing::new(Vec::with_capacity(512));
        serde_cbor::to_writer(&mut *plain, value)
            .map_err(|_| VaultError::RecordMalformed { table: field.table })?;
        self.seal(field, &plain)
    }

    pub fn open_cbor<T: DeserializeOwned>(
        &self,
        field: Field<'_>,
        blob: &[u8],
    ) -> Result<T, VaultError> {
        let plain = self.open(field, blob)?;
        serde_cbor::from_slice(&plain)
            .map_err(|_| VaultError::RecordMalformed { table: field.table })
    }

    /// The keyed hash stored in place of a searchable value such as an rp id.
    pub fn lookup_handle(&self, domain: &str, value: &[u8]) -> [u8; LOOKUP_HANDLE_LEN] {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.lookup_key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        let mut handle = [0u8; LOOKUP_HANDLE_LEN];
        handle.copy_from_slice(&digest[..LOOKUP_HANDLE_LEN]);
        handle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> RecordCipher {
        RecordCipher::new(&[9u8; 32])
    }

    #[test]
    fn sealed_fields_open_only_in_their_own_place() {
        let c = cipher();
        let here = Field::new("credentials", "metadata", b"row-1");
        let blob = c.seal(here, b"hello").unwrap();
        assert_eq!(&c.open(here, &blob).unwrap()[..], b"hello");
        for elsewhere in [
            Field::new("credentials", "metadata", b"row-2"),
            Field::new("credentials", "secrets", b"row-1"),
            Field::new("pairings", "metadata", b"row-1"),
        ] {
            assert!(matches!(
                c.open(elsewhere, &blob),
                Err(VaultError::RecordTampered { .. })
            ));
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let c = cipher();
        let f = Field::new("t", "c", b"r");
        let blob = c.seal(f, b"secret").unwrap();
        for i in 0..blob.len() * 8 {
            let mut bad = blob.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(c.open(f, &bad).is_err(), "bit {i}");
        }
    }

    #[test]
    fn nonces_are_fresh_and_lookup_handles_are_keyed() {
        let c = cipher();
        let f = Field::new("t", "c", b"r");
        assert_ne!(c.seal(f, b"x").unwrap(), c.seal(f, b"x").unwrap());
        let other = RecordCipher::new(&[8u8; 32]);
        assert_eq!(c.lookup_handle("rp", b"a"), c.lookup_handle("rp", b"a"));
        assert_ne!(c.lookup_handle("rp", b"a"), c.lookup_handle("cred", b"a"));
        assert_ne!(c.lookup_handle("rp", b"a"), other.lookup_handle("rp", b"a"));
    }
}
