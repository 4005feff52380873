//! The PC's half of PIN/UV auth protocol two (CTAP 2.1 §6.5.7), as a FIDO2 client runs it to
//! get a pinUvAuthToken: ECDH with the authenticator's key-agreement key, the two HKDF keys,
//! AES-256-CBC with a random IV, and HMAC-SHA-256. The demo uses it in the relying party's
//! role; the phone's side is the core's, reached only through the API.

use cbc::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{AffinePoint, FieldBytes, PublicKey, SecretKey};
use sha2::Sha256;

/// §6.5.7: HKDF-SHA-256 with a zero salt and these infos gives the HMAC and the AES keys.
const HKDF_SALT: [u8; 32] = [0; 32];
const INFO_HMAC: &[u8] = b"CTAP2 HMAC key";
const INFO_AES: &[u8] = b"CTAP2 AES key";
const BLOCK: usize = 16;

/// Fills `buf` from the system's random source.
pub fn random(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| format!("no random numbers: {e}"))
}

/// A random array.
pub fn random_array<const N: usize>() -> Result<[u8; N], String> {
    let mut a = [0u8; N];
    random(&mut a)?;
    Ok(a)
}

/// The shared secret of one key agreement: the HMAC key and the AES key.
pub struct Shared {
    hmac_key: [u8; 32],
    aes_key: [u8; 32],
}

/// A fresh platform key, ECDH with the authenticator's public key (`x`, `y`), kdf(). Returns
/// the platform's public coordinates (the keyAgreement to send) and the shared secret.
pub fn encapsulate(x: &[u8], y: &[u8]) -> Result<([u8; 32], [u8; 32], Shared), String> {
    let x: [u8; 32] = x.try_into().map_err(|_| "x is not 32 bytes")?;
    let y: [u8; 32] = y.try_into().map_err(|_| "y is not 32 bytes")?;
    let point: Option<AffinePoint> =
        AffinePoint::from_coordinates(&FieldBytes::from(x), &FieldBytes::from(y)).into_option();
    let peer = point
        .and_then(|p| PublicKey::from_affine(p).ok())
        .ok_or("the authenticator's key is not on the curve")?;
    let secret = loop {
        if let Ok(secret) = SecretKey::from_slice(&random_array::<32>()?) {
            break secret;
        }
    };
    let scalar = secret.to_nonzero_scalar();
    let z: [u8; 32] = (peer.to_projective() * scalar.as_ref())
        .to_affine()
        .x()
        .into();
    let hkdf = Hkdf::<Sha256>::new(Some(&HKDF_SALT), &z);
    let mut shared = Shared {
        hmac_key: [0; 32],
        aes_key: [0; 32],
    };
    hkdf.expand(INFO_HMAC, &mut shared.hmac_key)
        .map_err(|_| "hkdf")?;
    hkdf.expand(INFO_AES, &mut shared.aes_key)
        .map_err(|_| "hkdf")?;
    let public = secret.public_key();
    let own = public.as_affine();
    Ok((own.x().into(), own.y().into(), shared))
}

impl Shared {
    /// encrypt(): a random IV, then AES-256-CBC without padding (whole blocks only).
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        if !plaintext.len().is_multiple_of(BLOCK) {
            return Err("the plaintext is not whole blocks".into());
        }
        let iv: [u8; BLOCK] = random_array()?;
        let mut buf = plaintext.to_vec();
        let mut cipher = cbc::Encryptor::<aes::Aes256>::new_from_slices(&self.aes_key, &iv)
            .map_err(|_| "bad AES key")?;
        let (blocks, _) = Array::slice_as_chunks_mut(buf.as_mut_slice());
        cipher.encrypt_blocks(blocks);
        let mut out = iv.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// decrypt(): IV || whole blocks.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        if ciphertext.len() < BLOCK || !ciphertext.len().is_multiple_of(BLOCK) {
            return Err("the ciphertext is not IV || whole blocks".into());
        }
        let (iv, body) = ciphertext.split_at(BLOCK);
        let mut buf = body.to_vec();
        let mut cipher = cbc::Decryptor::<aes::Aes256>::new_from_slices(&self.aes_key, iv)
            .map_err(|_| "bad AES key")?;
        let (blocks, _) = Array::slice_as_chunks_mut(buf.as_mut_slice());
        cipher.decrypt_blocks(blocks);
        Ok(buf)
    }
}

/// authenticate(token, message): the full HMAC-SHA-256 (protocol two), keyed with the first
/// 32 bytes of `key`.
pub fn authenticate(key: &[u8], message: &[u8]) -> Result<Vec<u8>, String> {
    let key = &key[..key.len().min(32)];
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| "bad HMAC key")?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}
