//! PIN/UV auth protocols one and two, authenticator side (CTAP 2.1 §6.5.6, §6.5.7).
//!
//! The authenticator holds one P-256 key agreement key; a platform sends its own public key,
//! both sides run ECDH and derive a `SharedSecret`, and from then on PINs and salts travel
//! encrypted under that secret and requests carry an HMAC over it (or over the
//! pinUvAuthToken). The engine owns the state around this (retries, tokens, permissions);
//! this module is only the cryptography, so it can be tested against an independent
//! implementation.
//!
//! Invariants: every secret (ECDH scalar, shared secret, decrypted plaintext) is wiped on
//! drop and has no `Debug`; a peer key is used only after it is checked to be a point on
//! P-256 other than the identity; MACs are compared in constant time. The curve points
//! computed during ECDH are short-lived stack values that the p256 crate cannot wipe.

use cbc::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{AffinePoint, FieldBytes, PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::secret::{RandomUnavailable, SecretBytes, constant_time_eq, fill_random, random_array};

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Length of a P-256 coordinate and of the ECDH output Z (§6.5.6 ecdh(): "the 32-byte,
/// big-endian encoding of the x-coordinate").
pub const COORDINATE_LEN: usize = 32;
/// AES block length; both protocols use AES-256-CBC without padding (§6.5.6, §6.5.7).
const AES_BLOCK_LEN: usize = 16;
/// Protocol one encrypts with an all-zero IV (§6.5.6 encrypt()).
const ZERO_IV: [u8; AES_BLOCK_LEN] = [0; AES_BLOCK_LEN];
/// Protocol one truncates HMAC-SHA-256 to its first 16 bytes (§6.5.6 authenticate()).
const V1_AUTH_LEN: usize = 16;
/// Protocol two keeps the full HMAC-SHA-256 output (§6.5.7 authenticate()).
const V2_AUTH_LEN: usize = 32;
/// Protocol two's half keys: HMAC key || AES key, 32 bytes each (§6.5.7 kdf()).
const V2_HALF_KEY_LEN: usize = 32;
/// Protocol two's HKDF salt is 32 zero bytes (§6.5.7 kdf()).
const V2_HKDF_SALT: [u8; 32] = [0; 32];
/// HKDF info strings of protocol two (§6.5.7 kdf()).
const V2_HKDF_INFO_HMAC: &[u8] = b"CTAP2 HMAC key";
const V2_HKDF_INFO_AES: &[u8] = b"CTAP2 AES key";
/// Random scalars fall outside [1, n) with probability about 2^-32; a few rejections in a row
/// mean the random source is broken, not unlucky.
const SCALAR_ATTEMPTS: usize = 8;

/// Why a PIN/UV auth protocol operation failed. The doc of each variant says which CTAP status
/// the engine answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinProtocolError {
    /// The platform's keyAgreement is not a P-256 point: a coordinate is not 32 bytes, is not
    /// below the field prime, or the point is off the curve. The engine answers
    /// CTAP1_ERR_INVALID_PARAMETER (0x02), as the clientPIN subcommands say for a failed
    /// decapsulate().
    #[error("the key agreement key is not a valid P-256 point")]
    InvalidPeerKey,
    /// A plaintext or ciphertext is not a whole number of AES blocks, or a protocol two
    /// ciphertext is shorter than its IV. Which status the engine returns depends on the
    /// command step: a failed decrypt() of newPinEnc or pinHashEnc is CTAP2_ERR_PIN_AUTH_INVALID
    /// (0x33); a parameter of the wrong length before decryption (for example hmac-secret's
    /// saltEnc) is CTAP1_ERR_INVALID_PARAMETER (0x02).
    #[error("the data is not a valid length for this PIN/UV auth protocol")]
    InvalidLength,
    /// The system random source failed (key generation or a protocol two IV). The engine
    /// answers CTAP1_ERR_OTHER (0x7F).
    #[error("the system random number generator is unavailable")]
    Random,
}

impl From<RandomUnavailable> for PinProtocolError {
    fn from(_: RandomUnavailable) -> Self {
        Self::Random
    }
}

/// The pinUvAuthProtocol parameter of authenticatorClientPIN and of the commands that carry a
/// pinUvAuthParam (§6.5.6, §6.5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinUvAuthProtocol {
    One,
    Two,
}

impl PinUvAuthProtocol {
    /// The protocol a request names, or `None` for a number this authenticator does not
    /// support (the engine answers CTAP1_ERR_INVALID_PARAMETER).
    pub fn from_u64(number: u64) -> Option<Self> {
        match number {
            1 => Some(Self::One),
            2 => Some(Self::Two),
            _ => None,
        }
    }

    /// The number that identifies the protocol on the wire and in getInfo.
    #[cfg(any(test, feature = "pc"))]
    pub fn number(self) -> u8 {
        match self {
            Self::One => 1,
            Self::Two => 2,
        }
    }

    /// Length of the authenticate() output, hence of a valid pinUvAuthParam.
    pub fn auth_param_len(self) -> usize {
        match self {
            Self::One => V1_AUTH_LEN,
            Self::Two => V2_AUTH_LEN,
        }
    }
}

/// A P-256 key agreement key (initialize()/getPublicKey(), §6.5.6). The authenticator keeps
/// one and regenerates it at power-up and after a PIN mismatch; the platform makes a fresh one
/// per exchange. The scalar is wiped on drop (`SecretKey` zeroizes itself).
pub struct KeyAgreementKey {
    secret: SecretKey,
    x: [u8; COORDINATE_LEN],
    y: [u8; COORDINATE_LEN],
}

impl KeyAgreementKey {
    /// A fresh key from the system random source.
    pub fn generate() -> Result<Self, PinProtocolError> {
        for _ in 0..SCALAR_ATTEMPTS {
            let mut bytes = Zeroizing::new([0u8; COORDINATE_LEN]);
            fill_random(bytes.as_mut())?;
            // Rejection sampling keeps the scalar uniform in [1, n) instead of reducing mod n.
            if let Ok(secret) = SecretKey::from_slice(bytes.as_ref()) {
                return Ok(Self::from_secret(secret));
            }
        }
        Err(PinProtocolError::Random)
    }

    /// A key with a chosen scalar, for known-answer tests.
    #[cfg(test)]
    pub(crate) fn from_scalar_bytes(
        bytes: &[u8; COORDINATE_LEN],
    ) -> Result<Self, PinProtocolError> {
        SecretKey::from_slice(bytes)
            .map(Self::from_secret)
            .map_err(|_| PinProtocolError::InvalidPeerKey)
    }

    fn from_secret(secret: SecretKey) -> Self {
        let public = secret.public_key();
        let point = public.as_affine();
        Self {
            x: point.x().into(),
            y: point.y().into(),
            secret,
        }
    }

    /// The public key's x and y coordinates (big-endian), for the COSE_Key (kty 2, alg -25,
    /// crv 1) that getKeyAgreement returns.
    pub fn public_coordinates(&self) -> ([u8; COORDINATE_LEN], [u8; COORDINATE_LEN]) {
        (self.x, self.y)
    }

    /// ecdh() then kdf() of `protocol` with the peer's public key (§6.5.6, §6.5.7).
    pub fn shared_secret(
        &self,
        protocol: PinUvAuthProtocol,
        peer_x: &[u8],
        peer_y: &[u8],
    ) -> Result<SharedSecret, PinProtocolError> {
        let peer = parse_peer_key(peer_x, peer_y)?;
        let mut scalar = self.secret.to_nonzero_scalar();
        let shared_point = (peer.to_projective() * scalar.as_ref()).to_affine();
        scalar.zeroize();
        // The peer is a non-identity point of a prime-order group and the scalar is in
        // [1, n), so the shared point is never the identity and its x-coordinate is Z.
        let z = Zeroizing::new(<[u8; COORDINATE_LEN]>::from(shared_point.x()));
        Ok(SharedSecret::derive(protocol, z.as_ref()))
    }
}

/// Checks the peer's coordinates as §6.5.6 ecdh() requires: "if the point is not on the curve,
/// return error". Coordinates at or above the field prime and the identity are refused too.
fn parse_peer_key(x: &[u8], y: &[u8]) -> Result<PublicKey, PinProtocolError> {
    let x: [u8; COORDINATE_LEN] = x.try_into().map_err(|_| PinProtocolError::InvalidPeerKey)?;
    let y: [u8; COORDINATE_LEN] = y.try_into().map_err(|_| PinProtocolError::InvalidPeerKey)?;
    let point: Option<AffinePoint> =
        AffinePoint::from_coordinates(&FieldBytes::from(x), &FieldBytes::from(y)).into_option();
    let point = point.ok_or(PinProtocolError::InvalidPeerKey)?;
    PublicKey::from_affine(point).map_err(|_| PinProtocolError::InvalidPeerKey)
}

/// The platform's half of the key agreement, for the engine's tests and our emulated clients:
/// a fresh key, ECDH with the authenticator's public key, kdf(). Returns the platform's public
/// coordinates (to send as keyAgreement) and the shared secret.
#[cfg(any(test, feature = "pc"))]
pub fn platform_encapsulate(
    protocol: PinUvAuthProtocol,
    authenticator_x: &[u8],
    authenticator_y: &[u8],
) -> Result<([u8; COORDINATE_LEN], [u8; COORDINATE_LEN], SharedSecret), PinProtocolError> {
    let platform_key = KeyAgreementKey::generate()?;
    let shared = platform_key.shared_secret(protocol, authenticator_x, authenticator_y)?;
    let (x, y) = platform_key.public_coordinates();
    Ok((x, y, shared))
}

/// The output of kdf(Z): 32 bytes for protocol one, HMAC key || AES key (64 bytes) for
/// protocol two. Wiped on drop.
pub struct SharedSecret {
    protocol: PinUvAuthProtocol,
    key: Zeroizing<Vec<u8>>,
}

impl SharedSecret {
    /// kdf(Z) of §6.5.6 (SHA-256(Z)) or §6.5.7 (two HKDF-SHA-256 expansions).
    fn derive(protocol: PinUvAuthProtocol, z: &[u8]) -> Self {
        let key = match protocol {
            PinUvAuthProtocol::One => {
                let mut digest = Sha256::digest(z);
                let key = Zeroizing::new(digest.to_vec());
                digest.as_mut_slice().zeroize();
                key
            }
            PinUvAuthProtocol::Two => {
                let hkdf = Hkdf::<Sha256>::new(Some(&V2_HKDF_SALT), z);
                let mut key = Zeroizing::new(vec![0u8; 2 * V2_HALF_KEY_LEN]);
                let (hmac_key, aes_key) = key.split_at_mut(V2_HALF_KEY_LEN);
                // Expanding 32 bytes from HKDF-SHA-256 cannot fail (the limit is 255 * 32).
                let _ = hkdf.expand(V2_HKDF_INFO_HMAC, hmac_key);
                let _ = hkdf.expand(V2_HKDF_INFO_AES, aes_key);
                key
            }
        };
        Self { protocol, key }
    }

    pub fn protocol(&self) -> PinUvAuthProtocol {
        self.protocol
    }

    /// The raw kdf() output, for known-answer tests.
    #[cfg(test)]
    pub(crate) fn expose(&self) -> &[u8] {
        &self.key
    }

    /// Protocol two uses the second half for AES ("discard the first 32 bytes", §6.5.7).
    fn aes_key(&self) -> &[u8] {
        match self.protocol {
            PinUvAuthProtocol::One => &self.key,
            PinUvAuthProtocol::Two => &self.key[V2_HALF_KEY_LEN..],
        }
    }

    /// encrypt(): protocol one is AES-256-CBC with a zero IV; protocol two prepends a fresh
    /// random IV. Neither pads, so the plaintext must be a whole number of blocks.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, PinProtocolError> {
        let iv = match self.protocol {
            PinUvAuthProtocol::One => ZERO_IV,
            PinUvAuthProtocol::Two => random_array()?,
        };
        self.encrypt_with_iv(&iv, plaintext)
    }

    /// encrypt() with a chosen IV: protocol one's output is the bare ciphertext (its IV is
    /// always zero), protocol two's is IV || ciphertext. Only `encrypt` and tests choose IVs.
    fn encrypt_with_iv(
        &self,
        iv: &[u8; AES_BLOCK_LEN],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PinProtocolError> {
        if !plaintext.len().is_multiple_of(AES_BLOCK_LEN) {
            return Err(PinProtocolError::InvalidLength);
        }
        let mut buf = Zeroizing::new(plaintext.to_vec());
        let mut cipher = Aes256CbcEnc::new_from_slices(self.aes_key(), iv)
            .map_err(|_| PinProtocolError::InvalidLength)?;
        let (blocks, _) = Array::slice_as_chunks_mut(buf.as_mut_slice());
        cipher.encrypt_blocks(blocks);
        let mut out = Vec::with_capacity(AES_BLOCK_LEN + buf.len());
        if self.protocol == PinUvAuthProtocol::Two {
            out.extend_from_slice(iv);
        }
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// decrypt(): the ciphertext must be whole blocks (after protocol two's IV).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<SecretBytes, PinProtocolError> {
        let (iv, body) = match self.protocol {
            PinUvAuthProtocol::One => (&ZERO_IV[..], ciphertext),
            PinUvAuthProtocol::Two => {
                if ciphertext.len() < AES_BLOCK_LEN {
                    return Err(PinProtocolError::InvalidLength);
                }
                ciphertext.split_at(AES_BLOCK_LEN)
            }
        };
        if !body.len().is_multiple_of(AES_BLOCK_LEN) {
            return Err(PinProtocolError::InvalidLength);
        }
        let mut buf = body.to_vec();
        let mut cipher = Aes256CbcDec::new_from_slices(self.aes_key(), iv)
            .map_err(|_| PinProtocolError::InvalidLength)?;
        let (blocks, _) = Array::slice_as_chunks_mut(buf.as_mut_slice());
        cipher.decrypt_blocks(blocks);
        Ok(SecretBytes::new(buf))
    }

    /// authenticate() keyed with the shared secret (16 bytes for one, 32 for two).
    #[cfg(any(test, feature = "pc"))]
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        authenticate_with_token(self.protocol, &self.key, message)
    }

    /// verify() keyed with the shared secret; a tag of the wrong length never verifies.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        verify_with_token(self.protocol, &self.key, message, signature)
    }
}

/// authenticate() keyed with a pinUvAuthToken, as every pinUvAuthParam after getPinToken is:
/// protocol one is LEFT(HMAC-SHA-256(token, message), 16), protocol two the full 32 bytes
/// (§6.5.6, §6.5.7 authenticate()).
pub fn authenticate_with_token(
    protocol: PinUvAuthProtocol,
    token: &[u8],
    message: &[u8],
) -> Vec<u8> {
    let key = match protocol {
        PinUvAuthProtocol::One => token,
        // §6.5.7: "If key is longer than 32 bytes, discard all but the first 32 bytes", which
        // selects the HMAC half of a shared secret and leaves a 32-byte token as it is.
        PinUvAuthProtocol::Two => &token[..token.len().min(V2_HALF_KEY_LEN)],
    };
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    let mut tag = mac.finalize().into_bytes().to_vec();
    tag.truncate(protocol.auth_param_len());
    tag
}

/// verify() keyed with a pinUvAuthToken, in constant time. Whether the token may be used at
/// all (in use, permissions, rp id) is the engine's check, not this function's.
pub fn verify_with_token(
    protocol: PinUvAuthProtocol,
    token: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    signature.len() == protocol.auth_param_len()
        && constant_time_eq(
            &authenticate_with_token(protocol, token, message),
            signature,
        )
}

#[cfg(test)]
mod tests {
    //! The known answers below were computed with Python's `cryptography` package (48.0), an
    //! implementation independent of the RustCrypto crates used here. To regenerate:
    //!
    //! ```python
    //! from cryptography.hazmat.primitives.asymmetric import ec
    //! from cryptography.hazmat.primitives import hashes, hmac
    //! from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    //! from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    //!
    //! def key(d):
    //!     k = ec.derive_private_key(int(d, 16), ec.SECP256R1())
    //!     n = k.public_key().public_numbers()
    //!     return k, n.x.to_bytes(32, "big"), n.y.to_bytes(32, "big")
    //! def sha256(b):
    //!     h = hashes.Hash(hashes.SHA256()); h.update(b); return h.finalize()
    //! def hkdf(z, info):
    //!     return HKDF(hashes.SHA256(), 32, b"\0" * 32, info).derive(z)
    //! def cbc(k, iv, pt):
    //!     e = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor()
    //!     return e.update(pt) + e.finalize()
    //! def mac(k, m):
    //!     h = hmac.HMAC(k, hashes.SHA256()); h.update(m); return h.finalize()
    //!
    //! auth, ax, ay = key(AUTHENTICATOR_SCALAR)
    //! plat, px, py = key(PLATFORM_SCALAR)
    //! z = auth.exchange(ec.ECDH(), plat.public_key())
    //! s1 = sha256(z)
    //! s2 = hkdf(z, b"CTAP2 HMAC key") + hkdf(z, b"CTAP2 AES key")
    //! pt, iv = bytes(range(64)), bytes(range(0xa0, 0xb0))
    //! msg, token = b"pinUvAuthParam message", bytes(range(0x40, 0x60))
    //! CIPHERTEXT_V1 = cbc(s1, b"\0" * 16, pt)
    //! CIPHERTEXT_V2 = iv + cbc(s2[32:], iv, pt)
    //! AUTHENTICATE_V1, AUTHENTICATE_V2 = mac(s1, msg)[:16], mac(s2[:32], msg)
    //! TOKEN_AUTHENTICATE_V1, TOKEN_AUTHENTICATE_V2 = mac(token, msg)[:16], mac(token, msg)
    //! ```

    use super::*;

    const AUTHENTICATOR_SCALAR: &str =
        "7d1ba0b3c3b6f7e8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";
    const PLATFORM_SCALAR: &str =
        "1f2e3d4c5b6a79880796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
    const AUTHENTICATOR_X: &str =
        "7f159b0a8a23e60b785b576604fcbfb544c894fdd1dfd15e0f23ab4e787ab802";
    const AUTHENTICATOR_Y: &str =
        "0afc703323e83802907b27ef22f1d13252f54f2cef25d9692175639ae0be5d9c";
    const PLATFORM_X: &str = "f95a9ee28946464161fb55cf8367d9ca7f039a99ae6aeca2fb1d888e1f2cdc43";
    const PLATFORM_Y: &str = "6ff678feeff00331f5b7d1145e042fb5f513a8de31eb24832375c7eeb2ae1471";
    const Z: &str = "38ff3f97550aede7e067eee0bf8d8cca09365ef03bce8e06f46bcec3afc4f15c";
    const SHARED_V1: &str = "384768cc804af27489310c7219c3b4e9c0073b0d665eed8efa72ecc7c664ba75";
    const SHARED_V2: &str = "210c5931fbc942d9df6ec900ceef7440dbd9b6c7167bc1951e910ab8c4e7fe9e\
                             6f24cb7b464147a36c04c3a53d58e267d4db7aeea38823bd58923ca1e6eb126a";
    const CIPHERTEXT_V1: &str = "c73186ebe10a9195c781352963229eba331e0559f9bf30adee73ce616d0f0ee6\
                                 c3b9bb004dcd4bf963f18ca4ba24ef7dbe961d706bd98eeb3271af07a76169e1";
    const CIPHERTEXT_V2: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\
                                 924414890bf6b62da7d9342705f4f86d298f819a5eec964ac41e69904e3dd3d8\
                                 fbe99b6a05ea3584c46714ca66e45cb492c431d83373fea0b202380e29502520";
    const AUTHENTICATE_V1: &str = "72e50580028e06a781e59fe7e739deef";
    const AUTHENTICATE_V2: &str =
        "94a5a573e9d76e6e5bd9568456370f5fbc793df66719de83fff7aaf74f5a7ffd";
    const TOKEN_AUTHENTICATE_V1: &str = "67bdb2741fb192e475f620314f9a7df2";
    const TOKEN_AUTHENTICATE_V2: &str =
        "67bdb2741fb192e475f620314f9a7df29b569cf212165f4296dfb4eefd84ca7b";

    const MESSAGE: &[u8] = b"pinUvAuthParam message";
    const BOTH: [PinUvAuthProtocol; 2] = [PinUvAuthProtocol::One, PinUvAuthProtocol::Two];

    fn hex(s: &str) -> Vec<u8> {
        assert_eq!(s.len() % 2, 0);
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn fixed_key(scalar: &str) -> KeyAgreementKey {
        KeyAgreementKey::from_scalar_bytes(&hex(scalar).try_into().unwrap()).unwrap()
    }

    fn plaintext() -> Vec<u8> {
        (0u8..64).collect()
    }

    fn token() -> Vec<u8> {
        (0x40u8..0x60).collect()
    }

    fn kat_secret(protocol: PinUvAuthProtocol) -> SharedSecret {
        fixed_key(AUTHENTICATOR_SCALAR)
            .shared_secret(protocol, &hex(PLATFORM_X), &hex(PLATFORM_Y))
            .unwrap()
    }

    #[test]
    fn protocol_numbers_round_trip() {
        for p in BOTH {
            assert_eq!(PinUvAuthProtocol::from_u64(u64::from(p.number())), Some(p));
        }
        assert_eq!(PinUvAuthProtocol::from_u64(0), None);
        assert_eq!(PinUvAuthProtocol::from_u64(3), None);
    }

    #[test]
    fn public_coordinates_match_python() {
        let auth = fixed_key(AUTHENTICATOR_SCALAR);
        let (x, y) = auth.public_coordinates();
        assert_eq!(x.to_vec(), hex(AUTHENTICATOR_X));
        assert_eq!(y.to_vec(), hex(AUTHENTICATOR_Y));
        let plat = fixed_key(PLATFORM_SCALAR);
        let (x, y) = plat.public_coordinates();
        assert_eq!(x.to_vec(), hex(PLATFORM_X));
        assert_eq!(y.to_vec(), hex(PLATFORM_Y));
    }

    #[test]
    fn shared_secrets_match_python_from_both_sides() {
        let auth = fixed_key(AUTHENTICATOR_SCALAR);
        let plat = fixed_key(PLATFORM_SCALAR);
        for (protocol, expected) in [
            (PinUvAuthProtocol::One, SHARED_V1),
            (PinUvAuthProtocol::Two, SHARED_V2),
        ] {
            let a = auth
                .shared_secret(protocol, &hex(PLATFORM_X), &hex(PLATFORM_Y))
                .unwrap();
            let p = plat
                .shared_secret(protocol, &hex(AUTHENTICATOR_X), &hex(AUTHENTICATOR_Y))
                .unwrap();
            assert_eq!(a.expose(), hex(expected).as_slice());
            assert_eq!(p.expose(), hex(expected).as_slice());
            assert_eq!(a.protocol(), protocol);
        }
        // Protocol one's secret is SHA-256(Z); checking it ties the KAT to Z itself.
        assert_eq!(Sha256::digest(hex(Z)).to_vec(), hex(SHARED_V1));
    }

    #[test]
    fn encryption_matches_python() {
        let v1 = kat_secret(PinUvAuthProtocol::One);
        assert_eq!(v1.encrypt(&plaintext()).unwrap(), hex(CIPHERTEXT_V1));
        assert_eq!(
            v1.decrypt(&hex(CIPHERTEXT_V1)).unwrap().expose(),
            plaintext()
        );

        let v2 = kat_secret(PinUvAuthProtocol::Two);
        let iv: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
        assert_eq!(
            v2.encrypt_with_iv(&iv, &plaintext()).unwrap(),
            hex(CIPHERTEXT_V2)
        );
        assert_eq!(
            v2.decrypt(&hex(CIPHERTEXT_V2)).unwrap().expose(),
            plaintext()
        );
    }

    #[test]
    fn authenticate_matches_python() {
        let v1 = kat_secret(PinUvAuthProtocol::One);
        let v2 = kat_secret(PinUvAuthProtocol::Two);
        assert_eq!(v1.authenticate(MESSAGE), hex(AUTHENTICATE_V1));
        assert_eq!(v2.authenticate(MESSAGE), hex(AUTHENTICATE_V2));
        assert!(v1.verify(MESSAGE, &hex(AUTHENTICATE_V1)));
        assert!(v2.verify(MESSAGE, &hex(AUTHENTICATE_V2)));
        assert_eq!(
            authenticate_with_token(PinUvAuthProtocol::One, &token(), MESSAGE),
            hex(TOKEN_AUTHENTICATE_V1)
        );
        assert_eq!(
            authenticate_with_token(PinUvAuthProtocol::Two, &token(), MESSAGE),
            hex(TOKEN_AUTHENTICATE_V2)
        );
    }

    #[test]
    fn platform_and_authenticator_agree() {
        let auth = KeyAgreementKey::generate().unwrap();
        let (ax, ay) = auth.public_coordinates();
        for protocol in BOTH {
            let (px, py, platform) = platform_encapsulate(protocol, &ax, &ay).unwrap();
            let authenticator = auth.shared_secret(protocol, &px, &py).unwrap();
            assert_eq!(platform.expose(), authenticator.expose());

            // What the platform encrypts and signs, the authenticator reads and verifies.
            let ct = platform.encrypt(&plaintext()).unwrap();
            assert_eq!(authenticator.decrypt(&ct).unwrap().expose(), plaintext());
            let tag = platform.authenticate(&ct);
            assert!(authenticator.verify(&ct, &tag));
            assert!(!authenticator.verify(b"another message", &tag));
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = KeyAgreementKey::generate().unwrap();
        let b = KeyAgreementKey::generate().unwrap();
        assert_ne!(a.public_coordinates(), b.public_coordinates());
    }

    #[test]
    fn protocol_two_uses_a_fresh_iv_and_one_a_fixed_one() {
        let v1 = kat_secret(PinUvAuthProtocol::One);
        let v2 = kat_secret(PinUvAuthProtocol::Two);
        assert_eq!(
            v1.encrypt(&plaintext()).unwrap(),
            v1.encrypt(&plaintext()).unwrap()
        );
        let a = v2.encrypt(&plaintext()).unwrap();
        let b = v2.encrypt(&plaintext()).unwrap();
        assert_eq!(a.len(), 16 + 64);
        assert_ne!(a, b);
        assert_eq!(v2.decrypt(&b).unwrap().expose(), plaintext());
    }

    #[test]
    fn invalid_peer_keys_are_rejected() {
        let auth = fixed_key(AUTHENTICATOR_SCALAR);
        let x = hex(PLATFORM_X);
        let y = hex(PLATFORM_Y);
        let mut off_curve = y.clone();
        off_curve[31] ^= 1;
        let mut sec1 = vec![0x04];
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        let cases: [(&[u8], &[u8]); 7] = [
            (&x, &off_curve),
            // The identity has no affine coordinates; (0, 0) is not on P-256.
            (&[0; 32], &[0; 32]),
            // A coordinate equal to the field prime is not a field element.
            (
                &hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"),
                &y,
            ),
            (&x[..31], &y),
            (&x, &y[..31]),
            (&[&[0u8][..], &x].concat(), &y),
            (&sec1, &[]),
        ];
        for protocol in BOTH {
            for (i, (cx, cy)) in cases.iter().enumerate() {
                assert_eq!(
                    auth.shared_secret(protocol, cx, cy).err(),
                    Some(PinProtocolError::InvalidPeerKey),
                    "case {i}"
                );
            }
            assert!(matches!(
                platform_encapsulate(protocol, &x, &off_curve),
                Err(PinProtocolError::InvalidPeerKey)
            ));
        }
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        for protocol in BOTH {
            let s = kat_secret(protocol);
            for len in [1, 15, 17, 63] {
                assert_eq!(
                    s.encrypt(&vec![0; len]).err(),
                    Some(PinProtocolError::InvalidLength)
                );
            }
        }
        let v1 = kat_secret(PinUvAuthProtocol::One);
        for len in [1, 15, 17, 65] {
            assert_eq!(
                v1.decrypt(&vec![0; len]).err(),
                Some(PinProtocolError::InvalidLength)
            );
        }
        let v2 = kat_secret(PinUvAuthProtocol::Two);
        for len in [0, 1, 15, 17, 31, 16 + 65] {
            assert_eq!(
                v2.decrypt(&vec![0; len]).err(),
                Some(PinProtocolError::InvalidLength)
            );
        }
        // A bare IV is a valid, empty ciphertext.
        assert!(v2.decrypt(&[0; 16]).unwrap().is_empty());
    }

    #[test]
    fn signatures_do_not_cross_protocols() {
        let v1 = kat_secret(PinUvAuthProtocol::One);
        let v2 = kat_secret(PinUvAuthProtocol::Two);
        let tag1 = v1.authenticate(MESSAGE);
        let tag2 = v2.authenticate(MESSAGE);
        assert!(!v2.verify(MESSAGE, &tag1));
        assert!(!v1.verify(MESSAGE, &tag2));
        // Nor does a truncated protocol two tag pass as a protocol one tag.
        assert!(!v1.verify(MESSAGE, &tag2[..16]));

        let t = token();
        let t1 = authenticate_with_token(PinUvAuthProtocol::One, &t, MESSAGE);
        let t2 = authenticate_with_token(PinUvAuthProtocol::Two, &t, MESSAGE);
        assert!(verify_with_token(PinUvAuthProtocol::One, &t, MESSAGE, &t1));
        assert!(verify_with_token(PinUvAuthProtocol::Two, &t, MESSAGE, &t2));
        assert!(!verify_with_token(PinUvAuthProtocol::Two, &t, MESSAGE, &t1));
        assert!(!verify_with_token(PinUvAuthProtocol::One, &t, MESSAGE, &t2));
    }

    #[test]
    fn token_tags_have_the_protocol_length_and_bad_tags_fail() {
        let t = token();
        for (protocol, len) in [(PinUvAuthProtocol::One, 16), (PinUvAuthProtocol::Two, 32)] {
            let tag = authenticate_with_token(protocol, &t, MESSAGE);
            assert_eq!(tag.len(), len);
            assert_eq!(protocol.auth_param_len(), len);
            assert!(!verify_with_token(protocol, &t, MESSAGE, &[]));
            assert!(!verify_with_token(protocol, &t, MESSAGE, &tag[..len - 1]));
            let mut flipped = tag.clone();
            flipped[len - 1] ^= 1;
            assert!(!verify_with_token(protocol, &t, MESSAGE, &flipped));
            let other_token = vec![0x55; 32];
            assert!(!verify_with_token(protocol, &other_token, MESSAGE, &tag));
        }
    }
}
