//! The phone's side of one QR-initiated hybrid session (CTAP 2.2 §11.5 "Hybrid transports";
//! Chromium `device/fido/cable/v2_authenticator.cc` `TunnelTransport` and `CTAP2Processor`, the
//! reference where the spec is thin):
//!
//! scan (parse the `FIDO:/` text) -> derive the QR's keys -> open a tunnel at the phone's
//! tunnel server (`/cable/new/{tunnel id}`; the server answers a routing id) -> advertise the
//! encrypted EID (service data of UUID 0xFFF9) -> wait for the browser's Noise handshake
//! message (KNpsk0, psk from the plaintext EID) -> answer it and stop advertising -> send the
//! post-handshake message (the hybrid getInfo, features ["ctap"]) -> serve the browser's CTAP
//! frames through the same engine as every transport (origin [`Origin::hybrid`]) -> the
//! browser's shutdown, or its closing the tunnel, ends the session.
//!
//! What one session serves (`session_requests.rs`): getInfo any number of times, and **one
//! operation** (makeCredential or getAssertion, with the getNextAssertion follow-ups it
//! leaves), never without the user's prompt (`up: false` is refused). The user scanned the code for one sign-in or registration, so a second operation is answered
//! CTAP2_ERR_NOT_ALLOWED and ends the session (Chromium's phone side would serve it with a
//! second prompt; CTAP 2.2 §11.5 sets no number). Every other command (clientPin, reset,
//! credentialManagement, authenticatorConfig, selection, unknown) is answered
//! CTAP1_ERR_INVALID_COMMAND: a browser that scanned nothing of the phone's must not manage
//! it. Update frames from the browser are read and ignored. Nothing after the browser's
//! shutdown is read: the tunnel is closed at once.
//!
//! Invariants:
//! - Every wait has a bound ([`Timeouts`]); the engine's own prompt timeout bounds a request.
//! - Once `start_advertising` was called, `stop_advertising` is called exactly once whatever
//!   happens (its own failure, handshake, any error, cancellation, the future dropped: an
//!   RAII guard), and as soon as the browser's handshake message has arrived.
//! - Cancelling the session's [`RequestSignals`] ends it at any step; a running request is
//!   cancelled with it (its prompt withdrawn).
//! - Errors name the step and the problem, never a key, the QR secret or a frame's content.
//!
//! What each bad-faith peer can make the phone do:
//! - **The browser** (or whoever shows the QR): make the phone open one tunnel, advertise for
//!   at most [`Timeouts::browser`], and prompt the user once for one operation at the rp id it
//!   names (the user decides); it cannot run PIN, reset or management commands, nor a second
//!   operation, nor get an answer without the prompt (`up: false` is refused with
//!   CTAP2_ERR_UNSUPPORTED_OPTION). A wrong psk or tampered handshake message ends the session before anything is
//!   sent but the tunnel's opening. Malformed frames end the session with a named error.
//! - **The tunnel server**: see only ciphertext and its sizes (32-byte padding); delay, drop,
//!   reorder or forge messages, which ends the session with a decryption or timeout error; it
//!   cannot read or alter a request or answer, and it never learns the QR secret.
//! - **Whoever can write the app's files**: a QR session stores nothing but, with the user's
//!   consent and the QR's request, a new link (see `session_linked.rs` for links and what
//!   each peer can do with them); the browser cannot make the phone link without that consent.

use std::time::Duration;

use thiserror::Error;

use super::client::{self, Tunnel, TunnelClientError};
use super::crypter::CrypterError;
use super::frames::{FrameError, PostHandshake};
use super::handshake::{self, HandshakeError};
use super::keys::{ADVERT_LEN, Eid, QrKeys};
use super::linking::LinkError;
pub use super::session_linked::{LinkConsent, serve_linked};
use super::qr::{QrError, QrPayload};
use super::session_requests::Session;
use super::tunnel::{self, TunnelError};
use crate::ctap::CtapEngine;
use crate::request::{Origin, RequestSignals};

/// The 16-bit service UUID of the hybrid advert (CTAP 2.2 §11.5; Chromium `kCableUUID16`).
pub const SERVICE_UUID16: u16 = 0xFFF9;


/// How long each wait of a session may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the advert's start until the browser's handshake message: the browser must
    /// receive the advert and join the tunnel.
    pub browser: Duration,
    /// From the post-handshake message until the browser's operation (getInfo before it
    /// does not restart the clock).
    pub request: Duration,
    /// After the operation's answer, until the browser's shutdown or close (its follow-ups
    /// do not extend it); when it passes the phone closes the tunnel itself (the operation
    /// was served).
    pub after_reply: Duration,
}

impl Timeouts {
    /// The product's values.
    pub const DEFAULT: Timeouts = Timeouts {
        browser: Duration::from_secs(60),
        request: Duration::from_secs(30),
        after_reply: Duration::from_secs(10),
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where the phone opens its tunnel, and the session's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HybridConfig {
    /// The phone's tunnel server (0 = cable.ua5v.com); the advert names it so that the browser
    /// joins the same server.
    pub tunnel_server_id: u16,
    /// Replaces `wss://{domain}` of the tunnel URL (tests: a loopback tunnel server) while the
    /// advert still names `tunnel_server_id`.
    pub tunnel_url_override: Option<String>,
    /// Accept `ws://` on a loopback host (tests only).
    pub allow_insecure_loopback: bool,
    pub timeouts: Timeouts,
}

impl HybridConfig {
    /// The tunnel URL the phone opens for `tunnel_id`.
    pub fn new_tunnel_url(&self, tunnel_id: &[u8; 16]) -> Result<String, HybridError> {
        let domain = tunnel::domain(self.tunnel_server_id)?;
        self.overridden(&domain, tunnel::new_tunnel_url(&domain, tunnel_id))
    }

    /// The URL where the phone waits for the linked browser of `contact_id`.
    pub fn listen_url(&self, contact_id: &[u8]) -> Result<String, HybridError> {
        let domain = tunnel::domain(self.tunnel_server_id)?;
        self.overridden(&domain, tunnel::listen_url(&domain, contact_id))
    }

    fn overridden(&self, domain: &str, url: String) -> Result<String, HybridError> {
        Ok(match &self.tunnel_url_override {
            None => url,
            Some(base) => url.replacen(
                &format!("wss://{domain}"),
                base.trim_end_matches('/'),
                1,
            ),
        })
    }
}

/// The app's BLE advertiser as the session uses it; the API adapts the foreign trait. An error
/// is a sentence for the user. `start` may wait for the radio (Android answers on its main
/// thread), so it is async and the API runs the app's blocking call off the runtime's workers;
/// `stop` must return at once (it also runs from a drop).
#[async_trait::async_trait]
pub trait Advertiser: Send + Sync {
    async fn start(
        &self,
        service_uuid16: u16,
        service_data: &[u8; ADVERT_LEN],
    ) -> Result<(), String>;
    fn stop(&self);
}

/// What the browser asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    MakeCredential,
    GetAssertion,
}

/// What a session served: the operation, the rp id it named, and the engine's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub operation: Operation,
    pub rp_id: String,
    /// The CTAP status of the answer; [`HybridError::RequestFailed`] unless it is CTAP2_OK.
    pub status: u8,
}

/// Why a session failed. Never holds a key, the QR secret or a frame's content.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HybridError {
    #[error("this is not a usable hybrid QR code: {0}")]
    Qr(#[from] QrError),
    #[error("the tunnel server is not usable: {0}")]
    TunnelServer(#[from] TunnelError),
    #[error("hybrid needs the phone's own user verification, which is turned off")]
    NoBuiltinUv,
    #[error("the tunnel server could not be reached: {0}")]
    Connect(TunnelClientError),
    #[error("{0}")]
    Advertise(String),
    #[error("no browser connected within {0} s")]
    BrowserTimeout(u64),
    #[error("the browser's handshake failed (not the browser that showed this QR code?): {0}")]
    Handshake(HandshakeError),
    #[error("the linked browser's handshake failed (it does not hold this link's secret?): {0}")]
    LinkedHandshake(HandshakeError),
    #[error("a message from the browser could not be decrypted: {0}")]
    Decrypt(CrypterError),
    #[error("a message to the browser could not be encrypted: {0}")]
    Encrypt(CrypterError),
    #[error("the browser sent a malformed frame: {0}")]
    Frame(#[from] FrameError),
    #[error("the tunnel failed: {0}")]
    Tunnel(TunnelClientError),
    #[error("the tunnel closed {0}")]
    TunnelClosed(&'static str),
    #[error("the browser sent no request within {0} s")]
    RequestTimeout(u64),
    #[error("the browser ended the session without a request")]
    NoRequest,
    #[error("the browser ended the session while its request ran")]
    EndedDuringRequest,
    #[error("the browser sent a second command while its request ran")]
    CommandDuringRequest,
    #[error("the session was cancelled")]
    Cancelled,
    #[error("the user declined")]
    Declined,
    #[error("the user did not answer in time")]
    UserTimeout,
    #[error("the request failed with CTAP status 0x{0:02x}")]
    RequestFailed(u8),
    #[error("the phone could not describe itself: CTAP status 0x{0:02x}")]
    GetInfo(u8),
    #[error("the phone's random source failed")]
    Random,
    #[error("the linked browser's request is malformed: {0}")]
    ClientPayload(LinkError),
    #[error("no browser is linked with this link id at this contact")]
    UnknownLink,
    #[error("the linked browsers could not be read or stored: {0}")]
    LinkStore(String),
    #[error("linking information could not be made: {0}")]
    Linking(LinkError),
}

impl From<TunnelClientError> for HybridError {
    fn from(e: TunnelClientError) -> Self {
        match e {
            TunnelClientError::Closed => HybridError::TunnelClosed("during the session"),
            other => HybridError::Tunnel(other),
        }
    }
}

/// Stops the advert when dropped (the session's end, an error, or the future dropped).
pub(super) struct Advertising<'a> {
    pub(super) advertiser: &'a dyn Advertiser,
    pub(super) running: bool,
}

impl Advertising<'_> {
    pub(super) fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            self.advertiser.stop();
        }
    }
}

impl Drop for Advertising<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `step` unless the session is cancelled first.
pub(super) async fn or_cancel<T>(
    cancel: &RequestSignals,
    step: impl Future<Output = Result<T, HybridError>>,
) -> Result<T, HybridError> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(HybridError::Cancelled),
        result = step => result,
    }
}

/// Bounds `step` by `limit`; `expired` is the error when it passes.
pub(super) async fn within<T>(
    limit: Duration,
    expired: HybridError,
    step: impl Future<Output = Result<T, HybridError>>,
) -> Result<T, HybridError> {
    tokio::time::timeout(limit, step)
        .await
        .unwrap_or(Err(expired))
}

/// Serves the browser that shows `qr_text`. `signals` carries the session's cancellation and
/// is the origin of its requests (make it with [`Origin::hybrid`]).
///
/// `link` is the user's consent to link this browser: when the QR code asks for
/// state-assisted linking (key 4 true) the phone stores a new link and sends its linking
/// information in an update frame after the post-handshake message; without it nothing is
/// stored or sent, whatever the QR asks.
pub async fn serve(
    qr_text: &str,
    config: &HybridConfig,
    advertiser: &dyn Advertiser,
    engine: &CtapEngine,
    signals: &RequestSignals,
    link: Option<&LinkConsent<'_>>,
) -> Result<Served, HybridError> {
    let qr = QrPayload::parse(qr_text.trim())?;
    if !engine.has_builtin_uv() {
        return Err(HybridError::NoBuiltinUv);
    }
    let keys = QrKeys::new(qr.secret);
    let url = config.new_tunnel_url(&keys.tunnel_id())?;
    let get_info = engine.hybrid_get_info().map_err(|e| HybridError::GetInfo(e.0))?;

    let secs = |d: Duration| d.as_secs();
    let t = config.timeouts;
    let (mut tunnel, routing_id) = or_cancel(signals, async {
        client::open_new(&url, config.allow_insecure_loopback)
            .await
            .map_err(HybridError::Connect)
    })
    .await?;
    let result = async {
        let eid = Eid {
            nonce: crate::secret::random_array().map_err(|_| HybridError::Random)?,
            routing_id,
            tunnel_server_id: config.tunnel_server_id,
        };
        let psk = keys.psk(&eid);
        // Armed before the start: an advertiser that failed half-way is told to stop too.
        let mut advert = Advertising {
            advertiser,
            running: true,
        };
        advertiser
            .start(SERVICE_UUID16, &keys.encrypt_advert(&eid))
            .await
            .map_err(HybridError::Advertise)?;
        let first = or_cancel(
            signals,
            within(t.browser, HybridError::BrowserTimeout(secs(t.browser)), async {
                recv(&mut tunnel, "before the browser connected").await
            }),
        )
        .await?;
        let handshake::Responded {
            reply,
            crypter,
            handshake_hash,
        } = handshake::respond(&qr.peer_public_key, &psk, &first).map_err(HybridError::Handshake)?;
        drop(psk);
        // The browser has found the phone: the advert has done its job.
        advert.stop();
        let mut session = Session {
            tunnel: &mut tunnel,
            crypter,
            engine,
            signals,
            timeouts: t,
        };
        session.tunnel.send(&reply).await?;
        session.send(&PostHandshake::ctap(get_info).to_cbor()).await?;
        if let (Some(true), Some(consent)) = (qr.supports_linking, link) {
            let info = consent.create_link(&qr.peer_public_key, &handshake_hash)?;
            session.send(&info.update_frame()).await?;
        }
        session.run().await
    }
    .await;
    tunnel.close().await;
    result
}

/// The next binary message; a close is `TunnelClosed(when)`.
pub(super) async fn recv(tunnel: &mut Tunnel, when: &'static str) -> Result<Vec<u8>, HybridError> {
    match tunnel.recv().await {
        Ok(message) => Ok(message),
        Err(TunnelClientError::Closed) => Err(HybridError::TunnelClosed(when)),
        Err(e) => Err(HybridError::Tunnel(e)),
    }
}

/// A fresh origin and cancellation signal for one session.
pub fn new_signals() -> RequestSignals {
    RequestSignals::new(Origin::hybrid())
}
