//! State-assisted linking (CTAP 2.2 §11.5 "Hybrid transports", linking; Chromium
//! `device/fido/cable/v2_authenticator.cc` linking info and `v2_handshake.cc`
//! `RespondToHandshake` with an identity key; pxp `protocol.rs`/`known_devices.rs` as the
//! browser this is tested against): what the phone gives a browser after a QR session so that
//! the browser can reach it again without a QR code, and what it reads when that browser comes
//! back.
//!
//! - After a QR session whose QR said "state-assisted linking" (key 4 true), and only when the
//!   app passed the user's consent, the phone sends an `update` frame (type 2) with
//!   `{1: {1: contact id, 2: link id, 3: link secret, 4: identity public key, 5: name,
//!   6: signature}}` ([`LinkingInfo`]); the signature is HMAC-SHA-256 keyed with the x
//!   coordinate of ECDH(the phone's identity key, the browser's QR identity key) over the
//!   KNpsk0 handshake hash, so only the browser of this handshake can check it and it cannot
//!   be replayed into another session.
//! - A linked browser comes back through the tunnel server's `/cable/contact/{contact id}`
//!   route with a client payload ([`ClientPayload`], hex CBOR `{1: link id, 2: 16-byte nonce,
//!   3: "ga"|"mc"}`); the phone advertises an EID encrypted under HKDF(link secret, salt =
//!   nonce, purpose 1) and answers `Noise_NKpsk0_P256_AESGCM_SHA256` with its identity key,
//!   psk HKDF(link secret, salt = the advert's plaintext, purpose 3) ([`LinkSecret`]).
//!
//! Invariants: the link secret and the identity scalar live in `Zeroizing` buffers, are never
//! in `Debug` output (no type here holding one derives it) nor in an error; errors name the
//! field at fault, never its bytes.

use hmac::{Hmac, Mac};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use super::frames::frame_type;
use super::keys::{
    ADVERT_LEN, EID_KEY_LEN, Eid, PSK_LEN, PURPOSE_EID_KEY, PURPOSE_PSK, derive, encrypt_eid,
};
use super::qr::COMPRESSED_KEY_LEN;
use super::session::Operation;
use crate::cbor::{self, MapReader, Value};
use crate::link::noise::{HASH_LEN, KeyPair, PUBLIC_KEY_LEN};

/// The link id: names the link in the browser's client payload (pxp `link_id: [u8; 8]`).
pub const LINK_ID_LEN: usize = 8;
/// The link secret both sides keep (pxp `link_secret: [u8; 32]`).
pub const LINK_SECRET_LEN: usize = 32;
/// Our contact ids: random, one per link (the tunnel server routes a browser by it; Chromium's
/// is an FCM token, opaque to the browser).
pub const CONTACT_ID_LEN: usize = 16;
/// The browser's nonce in the client payload (pxp `ClientNonce = [u8; 16]`).
pub const CLIENT_NONCE_LEN: usize = 16;
/// The signature: a full HMAC-SHA-256 (pxp checks it against 32 bytes).
pub const SIGNATURE_LEN: usize = 32;

/// Why linking information or a linked browser's request was refused. Never holds a key,
/// a secret or the payload's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    #[error("the browser's QR identity key is not a P-256 point")]
    BrowserKey,
    #[error("the phone's identity key is not usable")]
    IdentityKey,
    #[error("the client payload is not hex")]
    PayloadNotHex,
    #[error("the client payload is not a CBOR map of the expected shape: {0}")]
    PayloadShape(String),
    #[error("the client payload's link id is not {LINK_ID_LEN} bytes")]
    PayloadLinkId,
    #[error("the client payload's nonce is not {CLIENT_NONCE_LEN} bytes")]
    PayloadNonce,
    #[error("the client payload's hint is neither \"ga\" nor \"mc\"")]
    PayloadHint,
}

/// ECDH x coordinate of the phone's identity key with the browser's QR key, as pxp and
/// Chromium key the signature.
fn shared_x(identity: &KeyPair, browser: &PublicKey) -> Result<Zeroizing<[u8; 32]>, LinkError> {
    let secret =
        SecretKey::from_slice(identity.scalar_bytes().as_ref()).map_err(|_| LinkError::IdentityKey)?;
    let scalar = secret.to_nonzero_scalar();
    let shared = (browser.to_projective() * scalar.as_ref()).to_affine();
    Ok(Zeroizing::new(shared.x().into()))
}

/// HMAC-SHA-256(key = x of ECDH(identity, browser's QR key), message = handshake hash).
pub fn handshake_signature(
    identity: &KeyPair,
    browser_qr_key: &[u8; COMPRESSED_KEY_LEN],
    handshake_hash: &[u8; HASH_LEN],
) -> Result<[u8; SIGNATURE_LEN], LinkError> {
    let browser = PublicKey::from_sec1_bytes(browser_qr_key).map_err(|_| LinkError::BrowserKey)?;
    let key = shared_x(identity, &browser)?;
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key.as_ref())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(handshake_hash);
    Ok(mac.finalize().into_bytes().into())
}

/// The linking information the phone sends in an update frame. No `Debug`: it holds the link
/// secret.
pub struct LinkingInfo {
    pub contact_id: Vec<u8>,
    pub link_id: [u8; LINK_ID_LEN],
    pub link_secret: Zeroizing<[u8; LINK_SECRET_LEN]>,
    pub identity_public: [u8; PUBLIC_KEY_LEN],
    /// The phone's name as the browser will list it.
    pub name: String,
    pub signature: [u8; SIGNATURE_LEN],
}

impl LinkingInfo {
    /// The whole update frame: type byte 2, then `{1: {1..6}}`. Zeroized on drop (it holds the
    /// link secret).
    pub fn update_frame(&self) -> Zeroizing<Vec<u8>> {
        // The tree holds a copy of the link secret: wiped on drop, like the encoding.
        let tree = Zeroizing::new(Value::map([(
            Value::int(1),
            Value::map([
                (Value::int(1), Value::from(&self.contact_id[..])),
                (Value::int(2), Value::from(&self.link_id[..])),
                (Value::int(3), Value::from(&self.link_secret[..])),
                (Value::int(4), Value::from(&self.identity_public[..])),
                (Value::int(5), Value::from(self.name.as_str())),
                (Value::int(6), Value::from(&self.signature[..])),
            ]),
        )]));
        let payload = cbor::encode_secret(&tree);
        // Built in place at its final size: no reallocation or temporary `Frame` leaves an
        // unzeroized copy of the link secret behind.
        let mut frame = Zeroizing::new(Vec::with_capacity(1 + payload.len()));
        frame.push(frame_type::UPDATE);
        frame.extend_from_slice(&payload);
        frame
    }

    /// Reads an update frame's payload (what the browser does; tests).
    #[cfg(any(test, feature = "testkit"))]
    pub fn from_update(payload: &[u8]) -> Result<Self, String> {
        let mut outer = MapReader::new(cbor::decode(payload).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let mut m = outer.required_map(1i64).map_err(|e| e.to_string())?;
        let contact_id = m.required_bytes(1i64).map_err(|e| e.to_string())?;
        let link_id = m.required_bytes(2i64).map_err(|e| e.to_string())?;
        let secret = Zeroizing::new(m.required_bytes(3i64).map_err(|e| e.to_string())?);
        let public = m.required_bytes(4i64).map_err(|e| e.to_string())?;
        let name = m.required_text(5i64).map_err(|e| e.to_string())?;
        let signature = m.required_bytes(6i64).map_err(|e| e.to_string())?;
        let mut link_secret = Zeroizing::new([0u8; LINK_SECRET_LEN]);
        link_secret.copy_from_slice(secret.get(..LINK_SECRET_LEN).ok_or("short secret")?);
        Ok(Self {
            contact_id,
            link_id: link_id.try_into().map_err(|_| "link id length")?,
            link_secret,
            identity_public: public.try_into().map_err(|_| "public key length")?,
            name,
            signature: signature.try_into().map_err(|_| "signature length")?,
        })
    }
}

/// What a linked browser sends through the tunnel server when it comes back (pxp
/// `ClientPayload`; the `X-caBLE-Client-Payload` header, hex of CBOR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPayload {
    pub link_id: [u8; LINK_ID_LEN],
    pub client_nonce: [u8; CLIENT_NONCE_LEN],
    /// What the browser says it will ask for ("ga" getAssertion, "mc" makeCredential); a hint
    /// only, the session serves what the browser then sends.
    pub hint: Operation,
}

impl ClientPayload {
    /// Reads the header's value (hex, either case, of the CBOR map).
    pub fn from_hex(text: &[u8]) -> Result<Self, LinkError> {
        let text = std::str::from_utf8(text).map_err(|_| LinkError::PayloadNotHex)?;
        let bytes = crate::hex::decode(text.trim()).ok_or(LinkError::PayloadNotHex)?;
        let shape = |e: String| LinkError::PayloadShape(e);
        let mut map =
            MapReader::new(cbor::decode(&bytes).map_err(|e| shape(e.to_string()))?)
                .map_err(|e| shape(e.to_string()))?;
        let link_id = map.required_bytes(1i64).map_err(|e| shape(e.to_string()))?;
        let nonce = map.required_bytes(2i64).map_err(|e| shape(e.to_string()))?;
        let hint = map.required_text(3i64).map_err(|e| shape(e.to_string()))?;
        Ok(Self {
            link_id: link_id.try_into().map_err(|_| LinkError::PayloadLinkId)?,
            client_nonce: nonce.try_into().map_err(|_| LinkError::PayloadNonce)?,
            hint: match hint.as_str() {
                "ga" => Operation::GetAssertion,
                "mc" => Operation::MakeCredential,
                _ => return Err(LinkError::PayloadHint),
            },
        })
    }

    /// The header's value (lower-case hex), as pxp writes it.
    #[cfg(any(test, feature = "testkit"))]
    pub fn to_hex(&self) -> String {
        let hint = match self.hint {
            Operation::GetAssertion => "ga",
            Operation::MakeCredential => "mc",
        };
        crate::hex::encode(&cbor::encode(&Value::map([
            (Value::int(1), Value::from(&self.link_id[..])),
            (Value::int(2), Value::from(&self.client_nonce[..])),
            (Value::int(3), Value::from(hint)),
        ])))
    }
}

/// A link secret and the keys of a reconnect derived from it (the same HKDF purposes as the
/// QR secret's, salted with the browser's nonce for the EID key).
pub struct LinkSecret(Zeroizing<[u8; LINK_SECRET_LEN]>);

impl LinkSecret {
    pub fn new(secret: Zeroizing<[u8; LINK_SECRET_LEN]>) -> Self {
        Self(secret)
    }

    /// The EID key of a reconnect: HKDF(link secret, salt = client nonce, purpose 1).
    pub fn eid_key(&self, nonce: &[u8; CLIENT_NONCE_LEN]) -> Zeroizing<[u8; EID_KEY_LEN]> {
        derive(self.0.as_ref(), nonce, PURPOSE_EID_KEY)
    }

    /// The psk: HKDF(link secret, salt = the advert's plaintext EID, purpose 3).
    pub fn psk(&self, eid: &Eid) -> Zeroizing<[u8; PSK_LEN]> {
        derive(self.0.as_ref(), &eid.to_bytes(), PURPOSE_PSK)
    }

    pub fn encrypt_advert(&self, nonce: &[u8; CLIENT_NONCE_LEN], eid: &Eid) -> [u8; ADVERT_LEN] {
        encrypt_eid(&self.eid_key(nonce), eid)
    }

    /// Reads a reconnect's advert (what the browser does; tests).
    #[cfg(any(test, feature = "testkit"))]
    pub fn decrypt_advert(
        &self,
        nonce: &[u8; CLIENT_NONCE_LEN],
        advert: &[u8],
    ) -> Result<Eid, super::keys::AdvertError> {
        super::keys::decrypt_eid(&self.eid_key(nonce), advert)
    }
}
