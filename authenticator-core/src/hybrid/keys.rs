//! Keys derived from the QR secret, and the BLE advert that tells the browser which tunnel to
//! join (CTAP 2.2 §11.5; Chromium `device/fido/cable/v2_handshake.cc` `Derive` and `eid::`).
//!
//! Every key is HKDF-SHA-256 with the QR secret as input keying material and the purpose as a
//! 4-byte little-endian `info` (Chromium `DerivedValueType`): the EID key (64 bytes: AES-256
//! then HMAC-SHA-256 key) and the tunnel id (16) with no salt, the Noise psk (32) salted with
//! the 16-byte plaintext EID.
//!
//! The advert (service data of UUID 0xFFF9) is 20 bytes: the plaintext EID encrypted as one
//! AES-256 block, then the first 4 bytes of HMAC-SHA-256 over that block. Reading one checks the
//! tag in constant time before decrypting, and refuses a nonzero reserved byte or a tunnel
//! server id that names no domain, as Chromium does.

#[cfg(any(test, feature = "testkit"))]
use aes::cipher::BlockCipherDecrypt;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes256;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
#[cfg(any(test, feature = "testkit"))]
use thiserror::Error;
use zeroize::Zeroizing;

use super::qr::QR_SECRET_LEN;
#[cfg(any(test, feature = "testkit"))]
use super::tunnel;

/// HKDF purposes (Chromium `DerivedValueType`).
pub(super) const PURPOSE_EID_KEY: u32 = 1;
const PURPOSE_TUNNEL_ID: u32 = 2;
pub(super) const PURPOSE_PSK: u32 = 3;

pub const EID_KEY_LEN: usize = 64;
pub const TUNNEL_ID_LEN: usize = 16;
pub const PSK_LEN: usize = 32;
pub const EID_LEN: usize = 16;
pub const ADVERT_LEN: usize = 20;
/// The HMAC tag's length in the advert.
const TAG_LEN: usize = ADVERT_LEN - EID_LEN;
pub const NONCE_LEN: usize = 10;
pub const ROUTING_ID_LEN: usize = 3;

#[cfg(any(test, feature = "testkit"))]
/// Why an advert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AdvertError {
    #[error("the advert is not {ADVERT_LEN} bytes")]
    BadLength,
    #[error("the advert's tag does not match: not made with this QR secret")]
    BadTag,
    #[error("the advert's reserved byte is not zero")]
    Reserved,
    #[error("the advert names a tunnel server id with no domain")]
    UnknownDomain,
}

pub(super) fn derive<const N: usize>(secret: &[u8], salt: &[u8], purpose: u32) -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    // N is at most 64 here, far below HKDF-SHA-256's limit of 255 * 32 bytes.
    let _ = Hkdf::<Sha256>::new(Some(salt), secret).expand(&purpose.to_le_bytes(), out.as_mut());
    out
}

/// The keys of one QR code.
pub struct QrKeys {
    secret: Zeroizing<[u8; QR_SECRET_LEN]>,
}

impl QrKeys {
    pub fn new(secret: [u8; QR_SECRET_LEN]) -> Self {
        Self {
            secret: Zeroizing::new(secret),
        }
    }

    /// The EID key: AES-256 key (first half) and HMAC key (second half).
    pub fn eid_key(&self) -> Zeroizing<[u8; EID_KEY_LEN]> {
        derive(self.secret.as_ref(), &[], PURPOSE_EID_KEY)
    }

    /// The tunnel id the phone opens `/cable/new/` with.
    pub fn tunnel_id(&self) -> [u8; TUNNEL_ID_LEN] {
        *derive::<TUNNEL_ID_LEN>(self.secret.as_ref(), &[], PURPOSE_TUNNEL_ID)
    }

    /// The Noise psk, bound to the plaintext EID the phone advertised.
    pub fn psk(&self, eid: &Eid) -> Zeroizing<[u8; PSK_LEN]> {
        derive(self.secret.as_ref(), &eid.to_bytes(), PURPOSE_PSK)
    }

    /// The 20-byte advert of `eid`.
    pub fn encrypt_advert(&self, eid: &Eid) -> [u8; ADVERT_LEN] {
        encrypt_eid(&self.eid_key(), eid)
    }

    #[cfg(any(test, feature = "testkit"))]
    /// Reads an advert made with this QR secret (what the browser does).
    pub fn decrypt_advert(&self, advert: &[u8]) -> Result<Eid, AdvertError> {
        decrypt_eid(&self.eid_key(), advert)
    }
}

/// The 20-byte advert of `eid` under an EID key (the QR's, or a linked browser's:
/// `hybrid::linking`).
pub(super) fn encrypt_eid(key: &[u8; EID_KEY_LEN], eid: &Eid) -> [u8; ADVERT_LEN] {
    let cipher = Aes256::new_from_slice(&key[..32])
        .unwrap_or_else(|_| unreachable!("the first half of the EID key is 32 bytes"));
    let mut block = aes::Block::from(eid.to_bytes());
    cipher.encrypt_block(&mut block);
    let mut advert = [0u8; ADVERT_LEN];
    advert[..EID_LEN].copy_from_slice(&block);
    let tag = hmac(&key[32..], &advert[..EID_LEN]);
    advert[EID_LEN..].copy_from_slice(&tag[..TAG_LEN]);
    advert
}

#[cfg(any(test, feature = "testkit"))]
/// Reads an advert under an EID key (what the browser does).
pub(super) fn decrypt_eid(key: &[u8; EID_KEY_LEN], advert: &[u8]) -> Result<Eid, AdvertError> {
    let advert: &[u8; ADVERT_LEN] = advert.try_into().map_err(|_| AdvertError::BadLength)?;
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key[32..])
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(&advert[..EID_LEN]);
    mac.verify_truncated_left(&advert[EID_LEN..])
        .map_err(|_| AdvertError::BadTag)?;
    let cipher = Aes256::new_from_slice(&key[..32])
        .unwrap_or_else(|_| unreachable!("the first half of the EID key is 32 bytes"));
    let mut block = aes::Block::default();
    block.copy_from_slice(&advert[..EID_LEN]);
    cipher.decrypt_block(&mut block);
    let mut plain = [0u8; EID_LEN];
    plain.copy_from_slice(&block);
    Eid::from_bytes(&plain)
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The plaintext EID (Chromium `eid::Components`): byte 0 reserved (zero), 10 bytes of nonce,
/// the 3-byte routing id the tunnel server gave, the tunnel server id (little-endian u16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eid {
    pub nonce: [u8; NONCE_LEN],
    pub routing_id: [u8; ROUTING_ID_LEN],
    pub tunnel_server_id: u16,
}

impl Eid {
    pub fn to_bytes(&self) -> [u8; EID_LEN] {
        let mut out = [0u8; EID_LEN];
        out[1..11].copy_from_slice(&self.nonce);
        out[11..14].copy_from_slice(&self.routing_id);
        out[14..].copy_from_slice(&self.tunnel_server_id.to_le_bytes());
        out
    }

    #[cfg(any(test, feature = "testkit"))]
    pub fn from_bytes(bytes: &[u8; EID_LEN]) -> Result<Self, AdvertError> {
        if bytes[0] != 0 {
            return Err(AdvertError::Reserved);
        }
        let tunnel_server_id = u16::from_le_bytes([bytes[14], bytes[15]]);
        if tunnel::domain(tunnel_server_id).is_err() {
            return Err(AdvertError::UnknownDomain);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[1..11]);
        let mut routing_id = [0u8; ROUTING_ID_LEN];
        routing_id.copy_from_slice(&bytes[11..14]);
        Ok(Self {
            nonce,
            routing_id,
            tunnel_server_id,
        })
    }
}
