//! The phone's side of linking (`linking.rs` has the formats): making a link after a QR
//! session the user consented to link, and serving a linked browser that comes back without a
//! QR code (state-assisted reconnect).
//!
//! A reconnect: wait at the tunnel server's `/cable/listen/{contact id}` (our extension,
//! `proto/hybrid.md`) -> the server's first message is the browser's client payload -> look
//! the link id up (an unknown link id, or one linked at another contact, is refused before
//! anything is advertised, and logged by the caller without the payload) -> advertise the EID
//! under HKDF(link secret, nonce) -> answer NKpsk0 with the identity key (psk from the link
//! secret and the advert) -> stop advertising -> post-handshake message -> the same session
//! as a QR session (`session_requests.rs`: one operation, the user's prompt and the phone's
//! own user verification as the request asks, never `up: false`).
//!
//! What each bad-faith peer can make the phone do:
//! - **A linked browser** (holds a link secret): when the app waits at its contact, make the
//!   phone advertise for at most [`Timeouts::browser`] and prompt the user once for one
//!   operation, exactly as a QR session; it never signs without the user. It cannot create
//!   links, read other links' secrets, or use another link's contact.
//! - **Another browser** (no link secret, perhaps a stolen link id): a link id the phone does
//!   not hold gets [`HybridError::UnknownLink`] and nothing advertised; a known link id with a
//!   wrong secret gets an advert it cannot read (so no psk) and the handshake fails with
//!   [`handshake::HandshakeError::Authentication`] before anything is sent but the phone's tunnel opening.
//! - **The tunnel server**: sees the contact id, the link id and the nonce (the payload is not
//!   secret), and ciphertext after that; it can make the phone wait and advertise (a replayed
//!   payload of a real link) but not complete a handshake without the link secret.
//! - **Whoever can write the vault's file**: cannot read or forge a link or the identity key
//!   (sealed under the vault key); putting back a removed link's row, deleting one, or adding
//!   one is refused as `Tampered` (state head); a whole-file rollback is the vault's
//!   `RolledBack`.

use std::time::Duration;

use zeroize::Zeroizing;

use super::client;
use super::frames::PostHandshake;
use super::handshake;
use super::keys::Eid;
use super::linking::{
    CONTACT_ID_LEN, ClientPayload, LINK_ID_LEN, LINK_SECRET_LEN, LinkSecret, LinkingInfo,
    handshake_signature,
};
use super::qr::COMPRESSED_KEY_LEN;
use super::session::{
    Advertiser, Advertising, HybridConfig, HybridError, SERVICE_UUID16, Served, Timeouts,
    or_cancel, recv, within,
};
use super::session_requests::Session;
use crate::ctap::CtapEngine;
use crate::link::noise::{HASH_LEN, KeyPair};
use crate::request::RequestSignals;
use crate::secret::SecretBytes;
use crate::vault::{HybridLink, HybridLinkSecrets, Vault, VaultError};

fn store_error(e: VaultError) -> HybridError {
    HybridError::LinkStore(e.to_string())
}

/// The phone's identity key for linked browsers: made on first use, then kept in the vault.
pub fn identity_key(vault: &Vault) -> Result<KeyPair, HybridError> {
    let scalar = vault
        .hybrid_links()
        .identity_or_insert(|| {
            let key = KeyPair::generate().map_err(|_| VaultError::Random(crate::secret::RandomUnavailable))?;
            Ok(SecretBytes::new(key.scalar_bytes().to_vec()))
        })
        .map_err(store_error)?;
    let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
        scalar
            .expose()
            .try_into()
            .map_err(|_| HybridError::LinkStore("the stored identity key is malformed".into()))?,
    );
    KeyPair::from_scalar_bytes(&bytes)
        .map_err(|_| HybridError::LinkStore("the stored identity key is malformed".into()))
}

/// The user's consent to link the browser of this QR session, and what the link needs.
pub struct LinkConsent<'a> {
    pub vault: &'a Vault,
    /// The name the user gave the browser (listed on the phone).
    pub browser_name: String,
    /// The phone's name (listed by the browser).
    pub phone_name: String,
    /// Unix seconds, for "linked at".
    pub now: u64,
}

impl LinkConsent<'_> {
    /// Makes and stores a new link for the browser of `browser_qr_key`, and the linking
    /// information to send it, signed over this session's handshake hash.
    pub(super) fn create_link(
        &self,
        browser_qr_key: &[u8; COMPRESSED_KEY_LEN],
        handshake_hash: &[u8; HASH_LEN],
    ) -> Result<LinkingInfo, HybridError> {
        let identity = identity_key(self.vault)?;
        let random = |_| HybridError::Random;
        let link_id: [u8; LINK_ID_LEN] = crate::secret::random_array().map_err(random)?;
        let contact_id: [u8; CONTACT_ID_LEN] = crate::secret::random_array().map_err(random)?;
        let link_secret =
            Zeroizing::new(crate::secret::random_array::<LINK_SECRET_LEN>().map_err(random)?);
        let signature = handshake_signature(&identity, browser_qr_key, handshake_hash)
            .map_err(HybridError::Linking)?;
        let record = HybridLink {
            link_id: link_id.to_vec(),
            contact_id: contact_id.to_vec(),
            name: self.browser_name.clone(),
            browser_public_key: browser_qr_key.to_vec(),
            created_at: self.now,
            last_used_at: self.now,
        };
        let secrets = HybridLinkSecrets {
            link_secret: SecretBytes::new(link_secret.to_vec()),
        };
        // Stored before it is sent: the browser never holds a link the phone does not know.
        self.vault
            .hybrid_links()
            .insert(&record, &secrets)
            .map_err(store_error)?;
        Ok(LinkingInfo {
            contact_id: contact_id.to_vec(),
            link_id,
            link_secret,
            identity_public: *identity.public_key(),
            name: self.phone_name.clone(),
            signature,
        })
    }
}

/// Serves the linked browser that dials `contact_id`: waits for it at the tunnel server (at
/// most [`Timeouts::browser`]), then as described in the module header. `now` (Unix seconds)
/// is recorded as the link's last use once the handshake succeeded.
pub async fn serve_linked(
    contact_id: &[u8],
    config: &HybridConfig,
    advertiser: &dyn Advertiser,
    engine: &CtapEngine,
    signals: &RequestSignals,
    vault: &Vault,
    now: u64,
) -> Result<Served, HybridError> {
    if !engine.has_builtin_uv() {
        return Err(HybridError::NoBuiltinUv);
    }
    let url = config.listen_url(contact_id)?;
    let get_info = engine
        .hybrid_get_info()
        .map_err(|e| HybridError::GetInfo(e.0))?;
    let t: Timeouts = config.timeouts;
    let secs = |d: Duration| d.as_secs();
    let mut tunnel = or_cancel(signals, async {
        client::open_listen(&url, config.allow_insecure_loopback)
            .await
            .map_err(HybridError::Connect)
    })
    .await?;
    let result = async {
        let payload = or_cancel(
            signals,
            within(t.browser, HybridError::BrowserTimeout(secs(t.browser)), async {
                recv(&mut tunnel, "before a linked browser called").await
            }),
        )
        .await?;
        let payload = ClientPayload::from_hex(&payload).map_err(HybridError::ClientPayload)?;
        let (link, secrets) = vault
            .hybrid_links()
            .get(&payload.link_id)
            .map_err(store_error)?
            .filter(|(link, _)| link.contact_id == contact_id)
            .ok_or(HybridError::UnknownLink)?;
        let mut secret = Zeroizing::new([0u8; LINK_SECRET_LEN]);
        if secrets.link_secret.len() != LINK_SECRET_LEN {
            return Err(HybridError::LinkStore("a stored link secret is malformed".into()));
        }
        secret.copy_from_slice(secrets.link_secret.expose());
        let secret = LinkSecret::new(secret);
        let identity = identity_key(vault)?;
        let eid = Eid {
            nonce: crate::secret::random_array().map_err(|_| HybridError::Random)?,
            // The browser is already at the tunnel (it dialled the contact): the advert proves
            // proximity and salts the psk, it routes nothing.
            routing_id: [0; 3],
            tunnel_server_id: config.tunnel_server_id,
        };
        let psk = secret.psk(&eid);
        let mut advert = Advertising {
            advertiser,
            running: true,
        };
        advertiser
            .start(SERVICE_UUID16, &secret.encrypt_advert(&payload.client_nonce, &eid))
            .await
            .map_err(HybridError::Advertise)?;
        let first = or_cancel(
            signals,
            within(t.browser, HybridError::BrowserTimeout(secs(t.browser)), async {
                recv(&mut tunnel, "before the linked browser's handshake").await
            }),
        )
        .await?;
        let responded = handshake::respond_linked(&identity, &psk, &first)
            .map_err(HybridError::LinkedHandshake)?;
        drop(psk);
        advert.stop();
        // A display hint only; a failure to record it does not fail the session.
        let _ = vault.hybrid_links().touch(&link.link_id, now);
        let mut session = Session {
            tunnel: &mut tunnel,
            crypter: responded.crypter,
            engine,
            signals,
            timeouts: t,
        };
        session.tunnel.send(&responded.reply).await?;
        session
            .send(&PostHandshake::ctap(get_info).to_cbor())
            .await?;
        session.run().await
    }
    .await;
    tunnel.close().await;
    result
}

