//! Hybrid transport (CTAP 2.2 §11.5, "caBLE v2"): what the app gives the core so that the phone
//! can serve a browser that shows a `FIDO:/` QR code. The app scans the code and calls
//! `Authenticator::serve_hybrid` with its text; the core connects to a tunnel server and asks
//! the app's [`HybridAdvertiser`] to broadcast a 20-byte BLE advert, which the browser's PC
//! must receive to prove that the phone is nearby.
//!
//! Invariants: the advert bytes are the only thing the core hands the advertiser; they are
//! encrypted under a key from the QR code, so the app never sees a secret. The core always calls
//! `stop_advertising` once the browser has connected or the session ended, whatever the outcome.
//! One hybrid session runs at a time; `cancel_hybrid`, or cancelling the `serve_hybrid` call
//! itself, ends it. The session itself is `hybrid::session`.
//!
//! Linking (state-assisted reconnect, `hybrid::session_linked`, whose header says what a
//! linked browser, another browser, the tunnel server and someone who can write the vault can
//! make the phone do): consent is per QR session, given by the app calling
//! `serve_hybrid_and_link` with the name the user gave the browser after asking "Remember
//! this computer?"; `serve_hybrid` never links. `linked_browsers` lists them (name, when
//! linked, last used), `unlink_browser` erases one's secret, `serve_linked_browser` waits for
//! one to call and serves it with the same prompts as a QR session.

use std::sync::{Arc, Mutex};

use super::{Authenticator, AuthenticatorError};
use crate::hybrid::keys::ADVERT_LEN;
use crate::hybrid::session::{self, HybridError};
use crate::request::RequestSignals;

/// Why the app could not advertise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AdvertiserError {
    /// Bluetooth is off, or the phone has no BLE advertising (the browser cannot be reached).
    #[error("Bluetooth advertising is not available: {reason}")]
    Unavailable { reason: String },
    /// The user has not granted the permission to advertise (Android `BLUETOOTH_ADVERTISE`).
    #[error("the app may not advertise over Bluetooth (permission not granted)")]
    PermissionDenied,
    /// Anything else, including an exception thrown by the app's implementation.
    #[error("Bluetooth advertising failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for AdvertiserError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed {
            reason: error.reason,
        }
    }
}

/// The longest name the user can give a linked browser, in characters (as passkeys and the
/// device name).
pub const MAX_BROWSER_NAME: usize = 64;

/// The app's BLE advertiser (Android: `BluetoothLeAdvertiser`). One advert at a time: a call to
/// `start_advertising` replaces any advert this object started before.
#[uniffi::export(with_foreign)]
pub trait HybridAdvertiser: Send + Sync {
    /// Starts broadcasting `service_data` as the service data of the 16-bit service UUID
    /// `service_uuid16` (0xFFF9 for hybrid), repeated until `stop_advertising`. Returns once the
    /// radio has accepted the advert, or with the reason it could not.
    fn start_advertising(
        &self,
        service_uuid16: u16,
        service_data: Vec<u8>,
    ) -> Result<(), AdvertiserError>;
    /// Stops the advert started last; does nothing if none runs.
    fn stop_advertising(&self);
}

/// What a browser asked the phone for over hybrid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HybridOperation {
    /// makeCredential: a new passkey.
    Register,
    /// getAssertion: a sign-in.
    SignIn,
}

/// What `serve_hybrid` served.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HybridServed {
    pub operation: HybridOperation,
    /// The relying party the browser named (the engine checked the request).
    pub rp_id: String,
}

/// The app's advertiser as the session sees it.
struct App(Arc<dyn HybridAdvertiser>);

#[async_trait::async_trait]
impl session::Advertiser for App {
    /// The app's `start_advertising` blocks until the radio answers (Android: up to seconds,
    /// on its main thread), so it runs on tokio's blocking pool, not on a runtime worker.
    async fn start(
        &self,
        service_uuid16: u16,
        service_data: &[u8; ADVERT_LEN],
    ) -> Result<(), String> {
        let app = Arc::clone(&self.0);
        let data = service_data.to_vec();
        tokio::task::spawn_blocking(move || app.start_advertising(service_uuid16, data))
            .await
            .map_err(|_| "the app's advertiser failed".to_owned())?
            .map_err(|e| e.to_string())
    }

    fn stop(&self) {
        self.0.stop_advertising();
    }
}

/// The running session's slot: cancelled if the caller stops waiting (a Kotlin coroutine
/// cancelled, a Swift task cancelled) and emptied when `serve_hybrid` returns either way.
struct Running<'a> {
    slot: &'a Mutex<Option<RequestSignals>>,
    signals: RequestSignals,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        // A session that ended has nothing left to cancel; one dropped mid-way ends now.
        self.signals.cancel();
        if let Ok(mut slot) = self.slot.lock() {
            slot.take();
        }
    }
}

/// A browser linked to this phone (state-assisted hybrid), as the app lists it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LinkedBrowser {
    /// The link's id: what `serve_linked_browser` and `unlink_browser` take.
    pub id: Vec<u8>,
    /// The name the user gave it when consenting to the link.
    pub name: String,
    /// Unix seconds.
    pub linked_at: u64,
    /// Unix seconds of its last reconnect (its linking, if none since).
    pub last_used_at: u64,
}

/// Which session `serve` runs.
enum Kind {
    Qr {
        qr_text: String,
        /// The user's consent to link the browser, with the name they gave it.
        link_as: Option<String>,
    },
    Linked {
        link_id: Vec<u8>,
        contact_id: Vec<u8>,
    },
}

#[uniffi::export]
impl Authenticator {
    /// Serves the browser that shows the hybrid QR code `qr_text` (`FIDO:/...`, CTAP 2.2
    /// §11.5): opens a tunnel at the phone's tunnel server (options), advertises over BLE
    /// through `advertiser` until the browser joins, and answers one registration or sign-in,
    /// asking the user as for any request (the phone's own user verification). Returns what
    /// was served once the browser is done. Never links the browser (see
    /// `serve_hybrid_and_link`).
    ///
    /// Errors: `InvalidInput` (not a hybrid QR code, or an unusable tunnel server id),
    /// `Unsupported` (built-in user verification is off), `InvalidState` (a session already
    /// runs), `Bluetooth` (the advert could not start), `Network` (tunnel server unreachable,
    /// tunnel lost, a message altered), `HandshakeFailed` (the browser is not the one that
    /// showed the code), `TimedOut` (no browser, no request, or no answer from the user in
    /// time), `Declined`, `Cancelled` (`cancel_hybrid`, the call cancelled, or the browser
    /// gave up), `Refused` (the browser sent no request, or its request failed). The advert is
    /// stopped in every case.
    pub async fn serve_hybrid(
        &self,
        qr_text: String,
        advertiser: Arc<dyn HybridAdvertiser>,
    ) -> Result<HybridServed, AuthenticatorError> {
        self.serve(
            Kind::Qr {
                qr_text,
                link_as: None,
            },
            advertiser,
        )
        .await
    }

    /// As `serve_hybrid`, with the user's consent to link the browser: the app asked "Remember
    /// this computer?" and the user said yes and named it `browser_name`. When the QR code
    /// asks for state-assisted linking, the phone keeps a new link (listed by
    /// `linked_browsers`) and gives the browser what it needs to come back without a QR code
    /// (`serve_linked_browser`); a QR that does not ask links nothing. Errors as
    /// `serve_hybrid`, `InvalidInput` for a name that is empty, longer than
    /// `MAX_BROWSER_NAME` characters or holds control characters (checked before anything
    /// starts), and `Storage` if the link could not be stored.
    pub async fn serve_hybrid_and_link(
        &self,
        qr_text: String,
        browser_name: String,
        advertiser: Arc<dyn HybridAdvertiser>,
    ) -> Result<HybridServed, AuthenticatorError> {
        let Some(browser_name) = super::user_given_name(&browser_name, MAX_BROWSER_NAME) else {
            return Err(AuthenticatorError::invalid(format!(
                "a linked browser's name must have 1 to {MAX_BROWSER_NAME} characters, without control characters"
            )));
        };
        self.serve(
            Kind::Qr {
                qr_text,
                link_as: Some(browser_name.to_owned()),
            },
            advertiser,
        )
        .await
    }

    /// Waits (up to a minute) at the tunnel server for the linked browser `id` to call, then
    /// serves it as a QR session: one registration or sign-in, the user asked each time (a
    /// linked browser never signs without the user). Errors as `serve_hybrid`, plus
    /// `InvalidInput` (no such linked browser), `Refused` (the caller named a link this
    /// phone does not hold, or sent a malformed request), `HandshakeFailed` (the caller does
    /// not hold the link's secret).
    pub async fn serve_linked_browser(
        &self,
        id: Vec<u8>,
        advertiser: Arc<dyn HybridAdvertiser>,
    ) -> Result<HybridServed, AuthenticatorError> {
        let (link, _) = self.vault.hybrid_links().get(&id)?.ok_or_else(|| {
            AuthenticatorError::InvalidInput {
                reason: "no browser is linked with this id".into(),
            }
        })?;
        self.serve(
            Kind::Linked {
                link_id: id,
                contact_id: link.contact_id,
            },
            advertiser,
        )
        .await
    }

    /// The browsers linked to this phone, most recently used first.
    pub fn linked_browsers(&self) -> Result<Vec<LinkedBrowser>, AuthenticatorError> {
        Ok(self
            .vault
            .hybrid_links()
            .list()?
            .into_iter()
            .map(|l| LinkedBrowser {
                id: l.link_id,
                name: l.name,
                linked_at: l.created_at,
                last_used_at: l.last_used_at,
            })
            .collect())
    }

    /// Forgets the linked browser `id`: its secret is erased, so its next reconnect fails
    /// (`Refused` on the phone, nothing advertised). Returns false if it was not linked.
    pub fn unlink_browser(&self, id: Vec<u8>) -> Result<bool, AuthenticatorError> {
        let removed = self.vault.hybrid_links().remove(&id)?;
        if removed {
            tracing::info!("hybrid: a linked browser was removed");
        }
        Ok(removed)
    }

    /// Ends the running hybrid session, if any: its advert stops, a prompt is withdrawn, and
    /// `serve_hybrid` fails with `Cancelled`.
    pub fn cancel_hybrid(&self) {
        if let Ok(slot) = self.hybrid.lock()
            && let Some(signals) = slot.as_ref()
        {
            signals.cancel();
        }
    }
}

impl Authenticator {
    async fn serve(
        &self,
        kind: Kind,
        advertiser: Arc<dyn HybridAdvertiser>,
    ) -> Result<HybridServed, AuthenticatorError> {
        let signals = session::new_signals();
        let _running = {
            let mut slot = self
                .hybrid
                .lock()
                .map_err(|_| AuthenticatorError::internal("the hybrid session slot is broken"))?;
            if slot.is_some() {
                return Err(AuthenticatorError::InvalidState {
                    reason: "a hybrid session already runs; wait for it or cancel it".into(),
                });
            }
            *slot = Some(signals.clone());
            Running {
                slot: &self.hybrid,
                signals: signals.clone(),
            }
        };
        let config = session::HybridConfig {
            tunnel_server_id: self.options.hybrid_tunnel_server_id,
            tunnel_url_override: self.options.hybrid_tunnel_url.clone(),
            allow_insecure_loopback: self.options.allow_insecure_loopback,
            timeouts: session::Timeouts::DEFAULT,
        };
        let engine = self.engine.clone();
        let vault = self.vault.clone();
        let phone_name = self.options.device_name.clone();
        let now = self.now();
        let served = self
            .run(async move {
                let app = App(advertiser);
                let served = match kind {
                    Kind::Qr { qr_text, link_as } => {
                        let consent = link_as.map(|browser_name| session::LinkConsent {
                            vault: &vault,
                            browser_name,
                            phone_name,
                            now,
                        });
                        session::serve(&qr_text, &config, &app, &engine, &signals, consent.as_ref())
                            .await
                    }
                    Kind::Linked {
                        link_id,
                        contact_id,
                    } => {
                        let served = session::serve_linked(
                            &contact_id,
                            &config,
                            &app,
                            &engine,
                            &signals,
                            &vault,
                            now,
                        )
                        .await;
                        if matches!(served, Err(HybridError::UnknownLink)) {
                            // Named by the link the app served, never by the caller's payload.
                            tracing::warn!(
                                link = %crate::hex::encode(&link_id),
                                "hybrid: a caller named a link this phone does not hold"
                            );
                        }
                        served
                    }
                };
                engine.origin_ended(signals.origin()).await;
                // Errors name the step and the problem, never a key or the QR's content.
                if let Err(e) = &served {
                    tracing::warn!(%e, "hybrid: the session failed");
                }
                served.map_err(AuthenticatorError::from)
            })
            .await?;
        tracing::info!(rp_id = %served.rp_id, "hybrid: served the browser");
        Ok(HybridServed {
            operation: match served.operation {
                session::Operation::MakeCredential => HybridOperation::Register,
                session::Operation::GetAssertion => HybridOperation::SignIn,
            },
            rp_id: served.rp_id,
        })
    }
}

impl From<HybridError> for AuthenticatorError {
    fn from(e: HybridError) -> Self {
        let reason = e.to_string();
        match e {
            HybridError::Qr(_) | HybridError::TunnelServer(_) => Self::InvalidInput { reason },
            HybridError::NoBuiltinUv => Self::Unsupported { reason },
            HybridError::Advertise(_) => Self::Bluetooth { reason },
            HybridError::Connect(_)
            | HybridError::Tunnel(_)
            | HybridError::TunnelClosed(_)
            | HybridError::Decrypt(_)
            | HybridError::Frame(_) => Self::Network { reason },
            HybridError::Handshake(_) | HybridError::LinkedHandshake(_) => {
                Self::HandshakeFailed { reason }
            }
            HybridError::BrowserTimeout(_)
            | HybridError::RequestTimeout(_)
            | HybridError::UserTimeout => Self::TimedOut { reason },
            HybridError::Declined => Self::Declined { reason },
            HybridError::Cancelled | HybridError::EndedDuringRequest => Self::Cancelled { reason },
            HybridError::NoRequest
            | HybridError::CommandDuringRequest
            | HybridError::RequestFailed(_) => Self::Refused { reason },
            HybridError::ClientPayload(_) | HybridError::UnknownLink => Self::Refused { reason },
            HybridError::LinkStore(_) => Self::Storage { reason },
            HybridError::Encrypt(_)
            | HybridError::GetInfo(_)
            | HybridError::Random
            | HybridError::Linking(_) => Self::Internal { reason },
        }
    }
}
