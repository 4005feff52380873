//! The browser: webauthn-authenticator-rs 0.6.2's caBLE initiator, unchanged, in this
//! process. It makes the QR code (handed to us through its `UiCallback`, as a browser would
//! draw it), scans BLE with btleplug over the fake BlueZ, decrypts the phone's advert, connects
//! to the tunnel server's `/cable/connect/` path (the `cable-override-tunnel` feature points
//! it at a loopback `ws://` server instead of the domain the advert names), runs the Noise
//! handshake and sends one CTAP command. Nothing of that library is copied here.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};
use tokio_tungstenite::tungstenite::http::uri::Builder;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::cable::connect_cable_authenticator_with_tunnel_uri;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, WebauthnCError,
};
use webauthn_authenticator_rs::types::{CableRequestType, CableState, EnrollSampleStatus};
use webauthn_authenticator_rs::ui::UiCallback;

/// What the browser's UI was told: the QR code's text, and each caBLE state change.
#[derive(Debug)]
pub enum UiEvent {
    Qr(String),
    QrDismissed,
    State(String),
}

/// The browser's UI: forwards what it is asked to show to the test.
#[derive(Debug)]
struct CapturingUi {
    tx: Mutex<Sender<UiEvent>>,
}

impl CapturingUi {
    fn send(&self, event: UiEvent) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(event);
        }
    }
}

impl UiCallback for CapturingUi {
    fn request_pin(&self) -> Option<String> {
        // A hybrid authenticator verifies the user itself; a PIN request is a failure.
        self.send(UiEvent::State("PIN requested".into()));
        None
    }
    fn request_touch(&self) {}
    fn processing(&self) {}
    fn fingerprint_enrollment_feedback(&self, _: u32, _: Option<EnrollSampleStatus>) {}
    fn cable_qr_code(&self, _request_type: CableRequestType, url: String) {
        self.send(UiEvent::Qr(url));
    }
    fn dismiss_qr_code(&self) {
        self.send(UiEvent::QrDismissed);
    }
    fn cable_status_update(&self, state: CableState) {
        self.send(UiEvent::State(format!("{state:?}")));
    }
}

/// What a WebAuthn ceremony on the browser side asks the phone.
pub enum Ceremony {
    Register(CreationChallengeResponse),
    SignIn(RequestChallengeResponse),
}

/// What the browser got back (what it would hand to the relying party).
#[derive(Debug)]
pub enum Outcome {
    Registered(Box<RegisterPublicKeyCredential>),
    SignedIn(Box<PublicKeyCredential>),
}

/// A ceremony in progress: the UI's events, and the task that ends with the phone's answer.
/// When a test gives up early, `_guard` aborts the task (a scan would otherwise go on in the
/// background of the next scenario).
pub struct Running {
    pub ui: Receiver<UiEvent>,
    pub task: JoinHandle<Result<Outcome, WebauthnCError>>,
    pub _guard: AbortOnDrop,
}

/// Aborts a task when dropped (no effect once it finished).
pub struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Running {
    /// Waits for the QR code's `FIDO:/` text (the first thing the browser shows).
    pub fn qr(&self, limit: Duration) -> Result<String, String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.ui.recv_timeout(left) {
                Ok(UiEvent::Qr(url)) => return Ok(url),
                Ok(_) => continue,
                Err(e) => return Err(format!("the browser showed no QR code: {e}")),
            }
        }
    }
}

/// The tunnel server the browser uses instead of the advert's domain, e.g.
/// `ws://127.0.0.1:1234`.
pub fn tunnel_override(base: &str) -> Result<Builder, String> {
    let url = Url::parse(base).map_err(|e| format!("tunnel url {base}: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("tunnel url {base} has no host"))?;
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    Ok(Builder::new().scheme(url.scheme()).authority(authority))
}

/// Starts a ceremony: the browser shows its QR code, then scans, connects and sends the one
/// command. Must run inside a multi-threaded tokio runtime (the library's backend calls block
/// on futures, so they run under `block_in_place`).
pub fn start(origin: Url, ceremony: Ceremony, tunnel: Builder) -> Running {
    let (tx, rx) = mpsc::channel();
    let ui = CapturingUi { tx: Mutex::new(tx) };
    let request_type = match ceremony {
        Ceremony::Register(_) => CableRequestType::MakeCredential,
        Ceremony::SignIn(_) => CableRequestType::GetAssertion,
    };
    let task = tokio::spawn(async move {
        let mut phone =
            connect_cable_authenticator_with_tunnel_uri(request_type, &ui, tunnel).await?;
        tokio::task::block_in_place(|| match ceremony {
            Ceremony::Register(challenge) => phone
                .do_registration(origin, challenge)
                .map(|r| Outcome::Registered(Box::new(r))),
            Ceremony::SignIn(challenge) => phone
                .do_authentication(origin, challenge)
                .map(|r| Outcome::SignedIn(Box::new(r))),
        })
    });
    let guard = AbortOnDrop(task.abort_handle());
    Running {
        ui: rx,
        task,
        _guard: guard,
    }
}

#[cfg(test)]
mod tests {
    use super::tunnel_override;

    #[test]
    fn the_tunnel_override_keeps_scheme_host_and_port() {
        let uri = tunnel_override("ws://127.0.0.1:4321").and_then(|b| {
            b.path_and_query("/cable/connect/a/b")
                .build()
                .map_err(|e| e.to_string())
        });
        assert_eq!(
            uri.map(|u| u.to_string()),
            Ok("ws://127.0.0.1:4321/cable/connect/a/b".to_string())
        );
        assert!(tunnel_override("not a url").is_err());
    }
}
