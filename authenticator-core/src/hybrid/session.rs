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
//! What one session serves: getInfo any number of times, and **one operation**
//! (makeCredential or getAssertion, with the getNextAssertion follow-ups it leaves). The user
//! scanned the code for one sign-in or registration, so a second operation is answered
//! CTAP2_ERR_NOT_ALLOWED and ends the session (Chromium's phone side would serve it with a
//! second prompt; CTAP 2.2 §11.5 sets no number). Every other command (clientPin, reset,
//! credentialManagement, authenticatorConfig, selection, unknown) is answered
//! CTAP1_ERR_INVALID_COMMAND: a browser that scanned nothing of the phone's must not manage
//! it. Update frames are read and ignored (linking comes later). Nothing after the browser's
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
//!   operation. A wrong psk or tampered handshake message ends the session before anything is
//!   sent but the tunnel's opening. Malformed frames end the session with a named error.
//! - **The tunnel server**: see only ciphertext and its sizes (32-byte padding); delay, drop,
//!   reorder or forge messages, which ends the session with a decryption or timeout error; it
//!   cannot read or alter a request or answer, and it never learns the QR secret.
//! - **Whoever can write the app's files**: nothing here is stored; a session keeps no state.

use std::time::Duration;

use thiserror::Error;
use zeroize::Zeroizing;

use super::client::{self, Tunnel, TunnelClientError};
use super::crypter::{Crypter, CrypterError};
use super::frames::{Frame, FrameError, PostHandshake};
use super::handshake::{self, HandshakeError};
use super::keys::{ADVERT_LEN, Eid, QrKeys};
use super::qr::{QrError, QrPayload};
use super::tunnel::{self, TunnelError};
use crate::cbor::{self, MapReader, Value};
use crate::ctap::CtapEngine;
use crate::ctap::status::{
    CTAP1_ERR_INVALID_COMMAND, CTAP2_ERR_KEEPALIVE_CANCEL, CTAP2_ERR_NOT_ALLOWED,
    CTAP2_ERR_OPERATION_DENIED, CTAP2_ERR_USER_ACTION_TIMEOUT, CTAP2_OK,
};
use crate::request::{Origin, RequestSignals};

/// The 16-bit service UUID of the hybrid advert (CTAP 2.2 §11.5; Chromium `kCableUUID16`).
pub const SERVICE_UUID16: u16 = 0xFFF9;

/// CTAP command bytes a hybrid session serves (CTAP 2.1 §6).
const CMD_MAKE_CREDENTIAL: u8 = 0x01;
const CMD_GET_ASSERTION: u8 = 0x02;
const CMD_GET_INFO: u8 = 0x04;
const CMD_GET_NEXT_ASSERTION: u8 = 0x08;

/// How long each wait of a session may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the advert's start until the browser's handshake message: the browser must
    /// receive the advert and join the tunnel.
    pub browser: Duration,
    /// From the post-handshake message until the browser's operation (getInfo before it
    /// does not restart the clock).
    pub request: Duration,
    /// After the operation's answer, until the browser's shutdown or close; when it passes
    /// the phone closes the tunnel itself (the operation was served).
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
        let url = tunnel::new_tunnel_url(&domain, tunnel_id);
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
/// is a sentence for the user.
pub trait Advertiser: Send + Sync {
    fn start(&self, service_uuid16: u16, service_data: &[u8; ADVERT_LEN]) -> Result<(), String>;
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
struct Advertising<'a> {
    advertiser: &'a dyn Advertiser,
    running: bool,
}

impl Advertising<'_> {
    fn stop(&mut self) {
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
async fn or_cancel<T>(
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
async fn within<T>(
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
pub async fn serve(
    qr_text: &str,
    config: &HybridConfig,
    advertiser: &dyn Advertiser,
    engine: &CtapEngine,
    signals: &RequestSignals,
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
            .map_err(HybridError::Advertise)?;
        let first = or_cancel(
            signals,
            within(t.browser, HybridError::BrowserTimeout(secs(t.browser)), async {
                recv(&mut tunnel, "before the browser connected").await
            }),
        )
        .await?;
        let (reply, crypter) = handshake::respond(&qr.peer_public_key, &psk, &first)
            .map_err(HybridError::Handshake)?;
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
        session.run().await
    }
    .await;
    tunnel.close().await;
    result
}

/// The next binary message; a close is `TunnelClosed(when)`.
async fn recv(tunnel: &mut Tunnel, when: &'static str) -> Result<Vec<u8>, HybridError> {
    match tunnel.recv().await {
        Ok(message) => Ok(message),
        Err(TunnelClientError::Closed) => Err(HybridError::TunnelClosed(when)),
        Err(e) => Err(HybridError::Tunnel(e)),
    }
}

/// The established part of a session.
struct Session<'a> {
    tunnel: &'a mut Tunnel,
    crypter: Crypter,
    engine: &'a CtapEngine,
    signals: &'a RequestSignals,
    timeouts: Timeouts,
}

/// A frame read, or the tunnel's close.
enum Incoming {
    Frame(Frame),
    Closed,
}

impl Session<'_> {
    async fn send(&mut self, plaintext: &[u8]) -> Result<(), HybridError> {
        let sealed = self.crypter.encrypt(plaintext).map_err(HybridError::Encrypt)?;
        self.tunnel.send(&sealed).await?;
        Ok(())
    }

    async fn send_ctap(&mut self, response: Vec<u8>) -> Result<(), HybridError> {
        self.send(&Frame::Ctap(response).encode()).await
    }

    /// The next frame (updates skipped), or the close.
    async fn next(&mut self) -> Result<Incoming, HybridError> {
        loop {
            let sealed = match self.tunnel.recv().await {
                Ok(sealed) => sealed,
                Err(TunnelClientError::Closed) => return Ok(Incoming::Closed),
                Err(e) => return Err(HybridError::Tunnel(e)),
            };
            let plain: Zeroizing<Vec<u8>> =
                self.crypter.decrypt(&sealed).map_err(HybridError::Decrypt)?;
            match Frame::decode(&plain)? {
                // Linking information from the browser is not used yet.
                Frame::Update(_) => continue,
                frame => return Ok(Incoming::Frame(frame)),
            }
        }
    }

    /// Frames until the operation is answered and the browser is done.
    async fn run(&mut self) -> Result<Served, HybridError> {
        let t = self.timeouts;
        let signals = self.signals;
        let deadline = tokio::time::Instant::now() + t.request;
        let served = loop {
            let incoming = or_cancel(signals, async {
                tokio::time::timeout_at(deadline, self.next())
                    .await
                    .unwrap_or(Err(HybridError::RequestTimeout(t.request.as_secs())))
            })
            .await?;
            let request = match incoming {
                Incoming::Closed => return Err(HybridError::TunnelClosed("before a request")),
                Incoming::Frame(Frame::Shutdown) => return Err(HybridError::NoRequest),
                Incoming::Frame(Frame::Update(_)) => continue,
                Incoming::Frame(Frame::Ctap(request)) => request,
            };
            match request[0] {
                CMD_MAKE_CREDENTIAL | CMD_GET_ASSERTION => {
                    break self.operation(request).await?;
                }
                _ => self.answer_other(request).await?,
            }
        };
        // The operation is answered; serve its follow-ups until the browser is done.
        loop {
            let incoming = or_cancel(signals, async {
                match tokio::time::timeout(t.after_reply, self.next()).await {
                    Ok(result) => result,
                    // The browser keeps the tunnel open: the operation was served anyway.
                    Err(_) => Ok(Incoming::Closed),
                }
            })
            .await?;
            let request = match incoming {
                Incoming::Closed | Incoming::Frame(Frame::Shutdown) => break,
                Incoming::Frame(Frame::Update(_)) => continue,
                Incoming::Frame(Frame::Ctap(request)) => request,
            };
            if matches!(request[0], CMD_MAKE_CREDENTIAL | CMD_GET_ASSERTION) {
                tracing::warn!("hybrid: the browser asked for a second operation; refused");
                self.send_ctap(vec![CTAP2_ERR_NOT_ALLOWED.0]).await?;
                break;
            }
            self.answer_other(request).await?;
        }
        match served.status {
            CTAP2_OK => Ok(served),
            s if s == CTAP2_ERR_OPERATION_DENIED.0 => Err(HybridError::Declined),
            s if s == CTAP2_ERR_USER_ACTION_TIMEOUT.0 => Err(HybridError::UserTimeout),
            s if s == CTAP2_ERR_KEEPALIVE_CANCEL.0 && signals.is_cancelled() => {
                Err(HybridError::Cancelled)
            }
            s => Err(HybridError::RequestFailed(s)),
        }
    }

    /// getInfo and getNextAssertion go to the engine; everything else is refused.
    async fn answer_other(&mut self, request: Vec<u8>) -> Result<(), HybridError> {
        let response = match request[0] {
            CMD_GET_INFO | CMD_GET_NEXT_ASSERTION => {
                self.engine.handle(&request, self.signals).await
            }
            _ => vec![CTAP1_ERR_INVALID_COMMAND.0],
        };
        self.send_ctap(response).await
    }

    /// Runs the operation through the engine while reading the tunnel: the browser's
    /// shutdown, close or another command cancels it (its prompt is withdrawn) and ends the
    /// session; an update is ignored.
    async fn operation(&mut self, request: Vec<u8>) -> Result<Served, HybridError> {
        let operation = if request[0] == CMD_MAKE_CREDENTIAL {
            Operation::MakeCredential
        } else {
            Operation::GetAssertion
        };
        let rp_id = rp_id_of(operation, &request[1..]).unwrap_or_default();
        let (engine, signals) = (self.engine, self.signals);
        let handling = engine.handle(&request, signals);
        tokio::pin!(handling);
        let response = loop {
            tokio::select! {
                response = &mut handling => break response,
                message = self.tunnel.recv() => {
                    let end = match message {
                        Err(TunnelClientError::Closed) => HybridError::EndedDuringRequest,
                        Err(e) => HybridError::Tunnel(e),
                        Ok(sealed) => match self.crypter.decrypt(&sealed) {
                            Err(e) => HybridError::Decrypt(e),
                            Ok(plain) => match Frame::decode(&plain) {
                                Ok(Frame::Update(_)) => continue,
                                Ok(Frame::Shutdown) => HybridError::EndedDuringRequest,
                                Ok(Frame::Ctap(_)) => HybridError::CommandDuringRequest,
                                Err(e) => HybridError::Frame(e),
                            },
                        },
                    };
                    signals.cancel();
                    // The engine withdraws its prompt and answers; the answer has no reader.
                    let _ = handling.await;
                    return Err(end);
                }
            }
        };
        let status = response
            .first()
            .copied()
            .unwrap_or(CTAP1_ERR_INVALID_COMMAND.0);
        self.send_ctap(response).await?;
        Ok(Served {
            operation,
            rp_id,
            status,
        })
    }
}

/// The rp id a request names (makeCredential key 2 `rp.id`, getAssertion key 1), for the
/// record; the engine checks the request itself.
fn rp_id_of(operation: Operation, params: &[u8]) -> Option<String> {
    let mut map = MapReader::new(cbor::decode(params).ok()?).ok()?;
    match operation {
        Operation::GetAssertion => map.text(1i64).ok()?,
        Operation::MakeCredential => {
            let rp = map.take(2i64)?;
            let Value::Map(entries) = rp else {
                return None;
            };
            entries.into_iter().find_map(|(k, v)| match (k, v) {
                (Value::Text(k), Value::Text(id)) if k == "id" => Some(id),
                _ => None,
            })
        }
    }
}

/// A fresh origin and cancellation signal for one session.
pub fn new_signals() -> RequestSignals {
    RequestSignals::new(Origin::hybrid())
}
