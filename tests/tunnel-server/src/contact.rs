//! State-assisted reconnects: the `/cable/contact/{contact id}` route a linked browser dials
//! (CTAP 2.2 §11.5; pxp `tunnel.rs`, Chromium `fido_tunnel_device.cc`), and our own phone side
//! `/cable/listen/{contact id}` (Google's server wakes the phone with a push message instead,
//! a private protocol). Documented in `proto/hybrid.md`.
//!
//! - The phone opens `/cable/listen/{contact id}` (subprotocol `fido.cable`) and waits, at most
//!   `browser_wait`; one phone per contact id (a second gets 409).
//! - The browser opens `/cable/contact/{contact id}` with `X-caBLE-Client-Payload: {hex}`; the
//!   server hands the header's value, as sent (ASCII hex), to the phone as the first binary
//!   message, then forwards both ways as a joined `/cable/new` tunnel, with the same limits.
//! - Refusals: 400 for a contact id that is not 1 to 128 base64url characters, or a missing,
//!   non-hex or over-long (> 1 KiB) payload; 404 when no phone waits at that contact; 409 for
//!   a contact already held; 503 when full or shutting down.
//!
//! The waiting phones live behind [`Contacts`] (a map in this process), the seam a shared
//! store (Redis) would replace. The server is not trusted by either side: the payload is not
//! secret (link id, nonce, hint), and the phone refuses an unknown link id itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use super::{End, Shared, Upgrade, forward, stopped, wait_phone_gone};

/// The header of a linked browser's request (Chromium `kCableClientPayloadHeader`).
pub const CLIENT_PAYLOAD_HEADER: &str = "X-caBLE-Client-Payload";
/// The longest client payload accepted, in hex characters (pxp's is about 70).
const MAX_PAYLOAD: usize = 1024;
/// The longest contact id in the path, in base64url characters.
const MAX_CONTACT: usize = 128;

/// What a browser hands the waiting phone.
type Call = (Vec<u8>, WebSocket);

struct Listening {
    since: Instant,
    call: oneshot::Sender<Call>,
}

/// The phones waiting for a linked browser, by contact id.
#[derive(Default)]
pub(crate) struct Contacts {
    waiting: Mutex<HashMap<String, Listening>>,
}

impl Contacts {
    /// Registers a phone at `contact`; false if one already waits there (and has not
    /// expired after `wait`).
    fn listen(
        &self,
        contact: &str,
        wait: std::time::Duration,
        call: oneshot::Sender<Call>,
    ) -> bool {
        let Ok(mut waiting) = self.waiting.lock() else {
            return false;
        };
        waiting.retain(|_, l| l.since.elapsed() < wait && !l.call.is_closed());
        if waiting.contains_key(contact) {
            return false;
        }
        waiting.insert(
            contact.to_owned(),
            Listening {
                since: Instant::now(),
                call,
            },
        );
        true
    }

    /// Takes the phone waiting at `contact`, if any.
    fn take(&self, contact: &str, wait: std::time::Duration) -> Option<oneshot::Sender<Call>> {
        let mut waiting = self.waiting.lock().ok()?;
        let listening = waiting.remove(contact)?;
        (listening.since.elapsed() < wait).then_some(listening.call)
    }

    fn forget(&self, contact: &str) {
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.remove(contact);
        }
    }
}

fn valid_contact(contact: &str) -> bool {
    (1..=MAX_CONTACT).contains(&contact.len())
        && contact
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Counts one tunnel while alive and frees its contact on drop.
struct ContactSlot {
    shared: Arc<Shared>,
    contact: String,
}

impl Drop for ContactSlot {
    fn drop(&mut self) {
        self.shared.tunnels.fetch_sub(1, Ordering::SeqCst);
        self.shared.contacts.forget(&self.contact);
    }
}

pub(crate) async fn listen(
    State(shared): State<Arc<Shared>>,
    Path(contact): Path<String>,
    Upgrade(ws): Upgrade,
) -> Response {
    if !valid_contact(&contact) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if *shared.shutdown.borrow() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let limits = shared.limits;
    if shared.tunnels.load(Ordering::SeqCst) >= limits.max_tunnels {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let (call, called) = oneshot::channel();
    if !shared.contacts.listen(&contact, limits.browser_wait, call) {
        return StatusCode::CONFLICT.into_response();
    }
    shared.tunnels.fetch_add(1, Ordering::SeqCst);
    let slot = ContactSlot {
        shared: shared.clone(),
        contact,
    };
    ws.max_message_size(limits.max_message)
        .max_frame_size(limits.max_message)
        .on_upgrade(move |phone| run_listen(slot, phone, called))
}

pub(crate) async fn contact(
    State(shared): State<Arc<Shared>>,
    Path(contact): Path<String>,
    headers: HeaderMap,
    Upgrade(ws): Upgrade,
) -> Response {
    if !valid_contact(&contact) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let mut values = headers.get_all(CLIENT_PAYLOAD_HEADER).iter();
    let payload = match (values.next(), values.next()) {
        (Some(v), None)
            if (1..=MAX_PAYLOAD).contains(&v.len())
                && v.as_bytes().iter().all(u8::is_ascii_hexdigit) =>
        {
            v.as_bytes().to_vec()
        }
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    let limits = shared.limits;
    let Some(call) = shared.contacts.take(&contact, limits.browser_wait) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    ws.max_message_size(limits.max_message)
        .max_frame_size(limits.max_message)
        .on_upgrade(move |browser| async move {
            // If the phone has gone meanwhile, the browser's socket is dropped (closed).
            let _ = call.send((payload, browser));
        })
}

async fn run_listen(slot: ContactSlot, mut phone: WebSocket, called: oneshot::Receiver<Call>) {
    let limits = slot.shared.limits;
    let mut shutdown = slot.shared.shutdown.clone();
    let start = tokio::time::Instant::now();
    let wait_end = start + limits.browser_wait.min(limits.lifetime);
    let (payload, browser) = tokio::select! {
        c = called => match c {
            Ok(c) => c,
            Err(_) => { let _ = phone.send(End::Policy("no browser").frame()).await; return; }
        },
        _ = tokio::time::sleep_until(wait_end) => {
            let _ = phone.send(End::Policy("no browser came").frame()).await;
            return;
        }
        _ = stopped(&mut shutdown) => {
            let _ = phone.send(End::Shutdown.frame()).await;
            return;
        }
        _ = wait_phone_gone(&mut phone) => return,
    };
    if phone.send(Message::Binary(payload.into())).await.is_err() {
        return;
    }
    forward(&slot.shared, phone, browser, start).await;
    drop(slot);
}
