//! The browser's side of a hybrid session, for tests and the demo only (the `testkit`
//! feature): makes a `FIDO:/` QR code, reads the phone's advert as the browser's BLE scan
//! would, joins the tunnel (`/cable/connect/...`), runs the initiator's handshake, reads the
//! post-handshake message and exchanges frames. Each step can be bent (another psk, an altered
//! message) so that tests can play a browser in bad faith.

use super::client::{self, Tunnel};
use super::crypter::Crypter;
use super::frames::{Frame, PostHandshake};
use super::handshake::{BrowserHandshake, compressed_identity};
use super::keys::{Eid, QrKeys};
use super::linking::{ClientPayload, LINK_ID_LEN, LinkSecret, LinkingInfo};
use super::qr::{QrPayload, RequestType};
use super::session::Operation;
use super::tunnel;
use crate::link::noise::KeyPair;
use zeroize::Zeroizing;

/// A browser that shows one QR code.
pub struct TestBrowser {
    identity: KeyPair,
    secret: [u8; 16],
    request_type: RequestType,
    /// QR key 4: the browser asks for state-assisted linking.
    supports_linking: bool,
}

/// How the browser bends the handshake (tests of a browser in bad faith).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bend {
    /// As a real browser.
    None,
    /// Uses the psk of another QR secret.
    WrongSecret,
    /// Flips a bit of its handshake message.
    TamperedMessage,
}

impl TestBrowser {
    /// A browser with a fresh identity key and QR secret.
    pub fn new(request_type: RequestType) -> Self {
        Self {
            identity: KeyPair::generate().unwrap_or_else(|e| panic!("no key: {e}")),
            secret: crate::secret::random_array().unwrap_or_else(|_| panic!("no random")),
            request_type,
            supports_linking: false,
        }
    }

    /// A browser whose QR asks for state-assisted linking (key 4 true).
    pub fn linking(mut self) -> Self {
        self.supports_linking = true;
        self
    }

    /// The browser's QR identity key.
    pub fn identity(&self) -> &KeyPair {
        &self.identity
    }

    /// The QR code's text.
    pub fn qr_text(&self) -> String {
        QrPayload {
            peer_public_key: compressed_identity(&self.identity),
            secret: self.secret,
            known_domains: 2,
            timestamp: Some(1_760_000_000),
            supports_linking: Some(self.supports_linking),
            request_type: self.request_type,
            key6: None,
        }
        .to_text()
    }

    /// Reads `advert` (the 20 bytes of service data), joins the tunnel it names (at
    /// `base_url` in place of `wss://{domain}` when given), and runs the handshake.
    pub async fn connect(
        &self,
        advert: &[u8],
        base_url: Option<&str>,
        bend: Bend,
    ) -> Result<BrowserSession, String> {
        let keys = QrKeys::new(self.secret);
        let eid: Eid = keys.decrypt_advert(advert).map_err(|e| e.to_string())?;
        let domain = tunnel::domain(eid.tunnel_server_id).map_err(|e| e.to_string())?;
        let mut url = tunnel::connect_url(&domain, &eid.routing_id, &keys.tunnel_id());
        if let Some(base) = base_url {
            url = url.replacen(&format!("wss://{domain}"), base.trim_end_matches('/'), 1);
        }
        let mut tunnel = client::connect(&url, base_url.is_some())
            .await
            .map_err(|e| e.to_string())?;
        let psk = match bend {
            Bend::WrongSecret => {
                let mut other = self.secret;
                other[0] ^= 1;
                QrKeys::new(other).psk(&eid)
            }
            _ => keys.psk(&eid),
        };
        let (handshake, mut message) =
            BrowserHandshake::start(&self.identity, &psk).map_err(|e| e.to_string())?;
        if bend == Bend::TamperedMessage {
            let last = message.len() - 1;
            message[last] ^= 0x40;
        }
        tunnel.send(&message).await.map_err(|e| e.to_string())?;
        let reply = tunnel.recv().await.map_err(|e| e.to_string())?;
        let (crypter, handshake_hash) =
            handshake.finish_with_hash(&reply).map_err(|e| e.to_string())?;
        BrowserSession::start(tunnel, crypter, handshake_hash).await
    }
}

/// A browser that holds a phone's linking information and comes back without a QR code.
pub struct LinkedTestBrowser {
    pub info: LinkingInfo,
}

impl LinkedTestBrowser {
    /// Dials the phone's contact (at `base_url` in place of `wss://{domain}`) with a fresh
    /// client nonce, naming `link_id` (the browser's own, unless a test names another).
    pub async fn dial(
        &self,
        base_url: &str,
        hint: Operation,
        link_id: Option<[u8; LINK_ID_LEN]>,
    ) -> Result<(Tunnel, [u8; 16]), String> {
        let nonce: [u8; 16] = crate::secret::random_array().map_err(|_| "no random")?;
        let payload = ClientPayload {
            link_id: link_id.unwrap_or(self.info.link_id),
            client_nonce: nonce,
            hint,
        };
        let url = tunnel::contact_url("cable.ua5v.com", &self.info.contact_id).replacen(
            "wss://cable.ua5v.com",
            base_url.trim_end_matches('/'),
            1,
        );
        let tunnel = client::contact(&url, &payload.to_hex(), true)
            .await
            .map_err(|e| e.to_string())?;
        Ok((tunnel, nonce))
    }

    /// Reads the phone's advert under the link secret and the nonce, and runs NKpsk0 against
    /// the phone's identity key. `Bend::WrongSecret`: the browser holds another link secret,
    /// so it cannot read the advert and guesses its plaintext.
    pub async fn finish(
        &self,
        mut tunnel: Tunnel,
        nonce: &[u8; 16],
        advert: &[u8],
        bend: Bend,
    ) -> Result<BrowserSession, String> {
        let psk = if bend == Bend::WrongSecret {
            let mut other = *self.info.link_secret;
            other[0] ^= 1;
            let guess = Eid {
                nonce: [0; 10],
                routing_id: [0; 3],
                tunnel_server_id: 0,
            };
            LinkSecret::new(Zeroizing::new(other)).psk(&guess)
        } else {
            let secret = LinkSecret::new(self.info.link_secret.clone());
            let eid = secret
                .decrypt_advert(nonce, advert)
                .map_err(|e| e.to_string())?;
            secret.psk(&eid)
        };
        let (handshake, mut message) = BrowserHandshake::start_linked(&self.info.identity_public, &psk)
            .map_err(|e| e.to_string())?;
        if bend == Bend::TamperedMessage {
            let last = message.len() - 1;
            message[last] ^= 0x40;
        }
        tunnel.send(&message).await.map_err(|e| e.to_string())?;
        let reply = tunnel.recv().await.map_err(|e| e.to_string())?;
        let (crypter, handshake_hash) =
            handshake.finish_with_hash(&reply).map_err(|e| e.to_string())?;
        BrowserSession::start(tunnel, crypter, handshake_hash).await
    }
}

/// The browser's end of an established session.
pub struct BrowserSession {
    tunnel: Tunnel,
    crypter: Crypter,
    /// What the phone sent first.
    pub post_handshake: Option<PostHandshake>,
    /// The Noise handshake hash (what the phone's linking signature covers).
    pub handshake_hash: [u8; 32],
}

impl BrowserSession {
    async fn start(tunnel: Tunnel, crypter: Crypter, handshake_hash: [u8; 32]) -> Result<Self, String> {
        let mut session = BrowserSession {
            tunnel,
            crypter,
            post_handshake: None,
            handshake_hash,
        };
        let first = session.recv_plain().await?;
        session.post_handshake =
            Some(PostHandshake::from_cbor(&first).map_err(|e| e.to_string())?);
        Ok(session)
    }

    /// The phone's linking information: the next frame must be an update carrying it.
    pub async fn recv_linking(&mut self) -> Result<LinkingInfo, String> {
        match self.recv().await? {
            Frame::Update(payload) => LinkingInfo::from_update(&payload),
            other => Err(format!("expected an update frame, got {other:?}")),
        }
    }

    async fn recv_plain(&mut self) -> Result<Vec<u8>, String> {
        let sealed = self.tunnel.recv().await.map_err(|e| e.to_string())?;
        let plain = self.crypter.decrypt(&sealed).map_err(|e| e.to_string())?;
        Ok(plain.to_vec())
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), String> {
        let sealed = self
            .crypter
            .encrypt(&frame.encode())
            .map_err(|e| e.to_string())?;
        self.tunnel.send(&sealed).await.map_err(|e| e.to_string())
    }

    /// Sends raw bytes as a tunnel message (an altered or forged message).
    pub async fn send_raw(&mut self, message: &[u8]) -> Result<(), String> {
        self.tunnel.send(message).await.map_err(|e| e.to_string())
    }

    /// The next frame from the phone.
    pub async fn recv(&mut self) -> Result<Frame, String> {
        let plain = self.recv_plain().await?;
        Frame::decode(&plain).map_err(|e| e.to_string())
    }

    /// Sends a CTAP request and returns the phone's answer (status byte and CBOR).
    pub async fn request(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        self.send(&Frame::Ctap(request.to_vec())).await?;
        match self.recv().await? {
            Frame::Ctap(response) => Ok(response),
            other => Err(format!("the phone answered {other:?}")),
        }
    }

    /// Sends the shutdown frame and closes the tunnel.
    pub async fn shutdown(mut self) -> Result<(), String> {
        self.send(&Frame::Shutdown).await?;
        self.tunnel.close().await;
        Ok(())
    }

    /// The tunnel, for tests that go on after the session's end.
    pub fn into_tunnel(self) -> Tunnel {
        self.tunnel
    }
}
