//! The reference hybrid tunnel server (CTAP 2.2 §11.5; Chromium `device/fido/cable/
//! v2_authenticator.cc` and `fido_tunnel_device.cc` for what each side expects).
//!
//! The phone opens `GET /cable/new/{32 hex tunnel id}` (subprotocol `fido.cable`); the server
//! answers 101 with `X-caBLE-Routing-ID: {6 hex}` and holds the socket. The browser, which
//! learnt the routing id from the phone's BLE advert and the tunnel id from its own QR secret,
//! opens `GET /cable/connect/{6 hex routing id}/{32 hex tunnel id}`; from then on every binary
//! message is forwarded unchanged to the other side. The server sees only Noise ciphertext.
//!
//! Built on axum (already in the workspace for the relay and the workspace server): its `ws`
//! feature is tokio-tungstenite, the same WebSocket the core's client uses, and axum's routing
//! gives the HTTP refusals their statuses for free.
//!
//! Invariants, each a limit in [`Limits`]:
//! - a tunnel lives at most `lifetime` from the phone's connection, then both sides are closed
//!   (close code 1008);
//! - a phone waits at most `browser_wait` for its browser; after that its tunnel id is unknown
//!   (404) and the phone's socket is closed;
//! - at most `max_messages` messages per tunnel (both directions together); the one past it
//!   closes the tunnel (1008);
//! - no message over `max_message` bytes: tungstenite refuses a frame from its length header
//!   before buffering it, and the tunnel is closed;
//! - at most `max_tunnels` tunnels (waiting or joined) at once; past it `/cable/new` answers 503;
//! - a text message closes the tunnel (1003): hybrid carries only binary messages;
//! - a phone that sends before its browser has joined ends its tunnel (the browser speaks
//!   first in hybrid's handshake, so such a message has no one to go to).
//!
//! State-assisted reconnects (our extension, `proto/hybrid.md` and `contact.rs`): a phone
//! holds `GET /cable/listen/{base64url contact id}`; a linked browser opens
//! `GET /cable/contact/{base64url contact id}` with `X-caBLE-Client-Payload`; the server sends
//! the payload to the phone as the first binary message, then joins the two legs as above,
//! with the same limits.
//!
//! Several instances (issue 19): the two legs of a tunnel must meet in one process, and the
//! instance is encoded in the routing id, as the large tunnel services do: started with
//! `--instance N`, a server makes the first byte of every routing id it hands out `N`, and
//! the load balancer sends `/cable/connect/{routing id}/...` to instance `N` by that byte
//! (`/cable/new` goes anywhere; sample nginx rules in the README). Chosen over routing the
//! messages through Redis because the phone's leg is bound to its instance anyway (a
//! WebSocket dies with its process), so shared state could not save a tunnel, while it would
//! add a Redis round trip to every message and Redis load per byte; instances share nothing,
//! so each one's limits bound its own memory. A browser sent to the wrong instance gets 404.
//!
//! Refusals: 400 for a malformed path or a client that does not offer `fido.cable` (or is not
//! a WebSocket upgrade), 404 for an unknown tunnel or a routing id that does not match, 409 for
//! a tunnel id already in use, 503 when full or shutting down. Shutdown closes every tunnel
//! with 1001 (going away). Clients may act in bad faith: all one can do is use up its own
//! tunnel's limits or the `max_tunnels` slots for `browser_wait` each; a browser cannot join a
//! tunnel without both ids.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

mod contact;
pub use contact::CLIENT_PAYLOAD_HEADER;

/// The WebSocket subprotocol of hybrid tunnels (Chromium `kCableWebSocketProtocol`).
pub const PROTOCOL: &str = "fido.cable";
/// The answer header naming the routing id (Chromium `kCableRoutingIdHeader`).
pub const ROUTING_ID_HEADER: &str = "X-caBLE-Routing-ID";

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a tunnel lives, from the phone's connection.
    pub lifetime: Duration,
    /// How long a phone waits for its browser.
    pub browser_wait: Duration,
    /// Messages per tunnel, both directions together.
    pub max_messages: u32,
    /// The largest message, in bytes.
    pub max_message: usize,
    /// Tunnels (waiting or joined) at once.
    pub max_tunnels: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(300),
            browser_wait: Duration::from_secs(60),
            max_messages: 1000,
            // Chromium's kMaxIncomingMessageSize.
            max_message: 1 << 20,
            max_tunnels: 1000,
        }
    }
}

/// A phone waiting for its browser.
struct Waiting {
    routing_id: [u8; 3],
    since: Instant,
    join: oneshot::Sender<WebSocket>,
}

struct Shared {
    limits: Limits,
    /// The first byte of every routing id (`--instance`), if several instances serve.
    instance: Option<u8>,
    waiting: Mutex<HashMap<[u8; 16], Waiting>>,
    /// Tunnel ids whose phone is connected (waiting or joined).
    in_use: Mutex<HashMap<[u8; 16], ()>>,
    tunnels: AtomicUsize,
    shutdown: watch::Receiver<bool>,
    /// Phones waiting at a contact id for a linked browser (`contact.rs`).
    contacts: contact::Contacts,
}

/// Counts one tunnel while alive and frees its id on drop.
struct Slot {
    shared: Arc<Shared>,
    tunnel_id: [u8; 16],
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.tunnels.fetch_sub(1, Ordering::SeqCst);
        if let Ok(mut in_use) = self.shared.in_use.lock() {
            in_use.remove(&self.tunnel_id);
        }
        if let Ok(mut waiting) = self.shared.waiting.lock() {
            waiting.remove(&self.tunnel_id);
        }
    }
}

/// Serves on `listener` until `shutdown` completes, then closes every tunnel (1001) and
/// returns once their tasks have ended.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_instance(listener, limits, None, shutdown).await
}

/// `serve` as instance `instance` of several: every routing id starts with that byte.
pub async fn serve_instance(
    listener: TcpListener,
    limits: Limits,
    instance: Option<u8>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let shared = Arc::new(Shared {
        limits,
        instance,
        waiting: Mutex::new(HashMap::new()),
        in_use: Mutex::new(HashMap::new()),
        tunnels: AtomicUsize::new(0),
        shutdown: stopped,
        contacts: contact::Contacts::default(),
    });
    let app = Router::new()
        .route("/cable/new/{tunnel_id}", get(new_tunnel))
        .route("/cable/connect/{routing_id}/{tunnel_id}", get(connect))
        .route("/cable/listen/{contact_id}", get(contact::listen))
        .route("/cable/contact/{contact_id}", get(contact::contact))
        .fallback(|| async { StatusCode::BAD_REQUEST })
        .with_state(shared.clone());
    // No Nagle: the phone's handshake reply and post-handshake message go out back to back,
    // and the second one would wait for the browser's delayed ACK (~40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await;
    // Upgraded connections are no longer hyper's: wait (bounded) for the tunnel tasks, which
    // saw the stop, to close their sockets.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while shared.tunnels.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    result
}

/// How long shutdown waits for tunnels to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The upgrade, or 400 for a request that is not one (axum answers such requests otherwise
/// with its own statuses; the tunnel server's contract is 400).
struct Upgrade(WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, StatusCode> {
        let ws = WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map_err(|_| StatusCode::BAD_REQUEST)?;
        let offered = ws
            .requested_protocols()
            .any(|p| p.as_bytes() == PROTOCOL.as_bytes());
        if !offered {
            return Err(StatusCode::BAD_REQUEST);
        }
        Ok(Self(ws.protocols([PROTOCOL])))
    }
}

fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

async fn new_tunnel(
    State(shared): State<Arc<Shared>>,
    Path(tunnel_id): Path<String>,
    Upgrade(ws): Upgrade,
) -> Response {
    let Some(tunnel_id) = parse_hex::<16>(&tunnel_id) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if *shared.shutdown.borrow() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut routing_id = [0u8; 3];
    if getrandom::fill(&mut routing_id).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Some(instance) = shared.instance {
        routing_id[0] = instance;
    }
    let limits = shared.limits;
    let (join, joined) = oneshot::channel();
    {
        let (Ok(mut in_use), Ok(mut waiting)) = (shared.in_use.lock(), shared.waiting.lock())
        else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        // A phone whose upgrade never completed leaves an entry; it expires like any wait.
        waiting.retain(|id, w| {
            let keep = w.since.elapsed() < limits.browser_wait;
            if !keep {
                in_use.remove(id);
            }
            keep
        });
        if in_use.contains_key(&tunnel_id) {
            return StatusCode::CONFLICT.into_response();
        }
        if shared.tunnels.load(Ordering::SeqCst) >= limits.max_tunnels {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        shared.tunnels.fetch_add(1, Ordering::SeqCst);
        in_use.insert(tunnel_id, ());
        waiting.insert(
            tunnel_id,
            Waiting {
                routing_id,
                since: Instant::now(),
                join,
            },
        );
    }
    let slot = Slot {
        shared: shared.clone(),
        tunnel_id,
    };
    let mut response = ws
        .max_message_size(limits.max_message)
        .max_frame_size(limits.max_message)
        .on_upgrade(move |phone| run_tunnel(slot, phone, joined));
    if let Ok(value) = HeaderValue::from_str(&hex(&routing_id)) {
        response.headers_mut().insert(ROUTING_ID_HEADER, value);
    }
    response
}

async fn connect(
    State(shared): State<Arc<Shared>>,
    Path((routing_id, tunnel_id)): Path<(String, String)>,
    Upgrade(ws): Upgrade,
) -> Response {
    let (Some(routing_id), Some(tunnel_id)) =
        (parse_hex::<3>(&routing_id), parse_hex::<16>(&tunnel_id))
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let limits = shared.limits;
    let join = {
        let Ok(mut waiting) = shared.waiting.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        match waiting.get(&tunnel_id) {
            Some(w) if w.routing_id == routing_id && w.since.elapsed() < limits.browser_wait => {
                match waiting.remove(&tunnel_id) {
                    Some(w) => w.join,
                    None => return StatusCode::NOT_FOUND.into_response(),
                }
            }
            _ => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    ws.max_message_size(limits.max_message)
        .max_frame_size(limits.max_message)
        .on_upgrade(move |browser| async move {
            // If the phone has gone meanwhile, the browser's socket is dropped (closed).
            let _ = join.send(browser);
        })
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Why a tunnel ended, and the close frame each remaining side gets.
enum End {
    /// One side closed or went away: the other gets a normal close.
    PeerGone,
    Policy(&'static str),
    Unsupported,
    TooBig,
    Shutdown,
}

impl End {
    fn frame(&self) -> Message {
        match self {
            End::PeerGone => close(close_code::NORMAL, "peer closed"),
            End::Policy(why) => close(close_code::POLICY, why),
            End::Unsupported => close(close_code::UNSUPPORTED, "binary messages only"),
            End::TooBig => close(close_code::SIZE, "message too big"),
            End::Shutdown => close(close_code::AWAY, "server shutting down"),
        }
    }
}

async fn run_tunnel(slot: Slot, mut phone: WebSocket, joined: oneshot::Receiver<WebSocket>) {
    let limits = slot.shared.limits;
    let mut shutdown = slot.shared.shutdown.clone();
    let start = tokio::time::Instant::now();
    let wait_end = start + limits.browser_wait.min(limits.lifetime);

    // Wait for the browser; the phone may only close meanwhile.
    let browser = tokio::select! {
        b = joined => match b {
            Ok(b) => b,
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
    forward(&slot.shared, phone, browser, start).await;
    drop(slot);
}

/// Forwards binary messages between the two legs until one ends, the limits are reached or
/// the server stops; the tunnel's lifetime counts from `start` (the phone's connection).
async fn forward(
    shared: &Shared,
    mut phone: WebSocket,
    mut browser: WebSocket,
    start: tokio::time::Instant,
) {
    let limits = shared.limits;
    let mut shutdown = shared.shutdown.clone();
    let expiry = start + limits.lifetime;
    let mut count = 0u32;
    let end = loop {
        let (message, to_browser) = tokio::select! {
            m = phone.recv() => (m, true),
            m = browser.recv() => (m, false),
            _ = tokio::time::sleep_until(expiry) => break End::Policy("tunnel lifetime over"),
            _ = stopped(&mut shutdown) => break End::Shutdown,
        };
        let data: Bytes = match message {
            Some(Ok(Message::Binary(data))) => data,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Text(_))) => break End::Unsupported,
            Some(Ok(Message::Close(_))) | None => break End::PeerGone,
            Some(Err(e)) if is_too_big(&e) => break End::TooBig,
            Some(Err(_)) => break End::PeerGone,
        };
        count += 1;
        if count > limits.max_messages {
            break End::Policy("too many messages");
        }
        let target = if to_browser { &mut browser } else { &mut phone };
        if target.send(Message::Binary(data)).await.is_err() {
            break End::PeerGone;
        }
    };
    let frame = end.frame();
    let _ = tokio::join!(phone.send(frame.clone()), browser.send(frame));
}

/// Completes when the phone closes or its connection fails while it waits (messages before
/// the browser joins have nowhere to go and end the tunnel).
async fn wait_phone_gone(phone: &mut WebSocket) {
    loop {
        match phone.recv().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            _ => return,
        }
    }
}

/// Completes when the server stops (the guard `wait_for` returns is not held).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

fn is_too_big(e: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::{Error, error::CapacityError};
    let inner: &(dyn std::error::Error + 'static) = e;
    let inner = std::error::Error::source(inner);
    matches!(
        inner.and_then(|i| i.downcast_ref::<Error>()),
        Some(Error::Capacity(CapacityError::MessageTooLong { .. }))
    )
}
