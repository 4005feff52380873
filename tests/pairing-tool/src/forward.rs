//! The CTAPHID socket's handler: every CTAP request goes to the paired phone over a link
//! session (proto/link.md §4.3, §5.5 "Reconnect", §5.6), and the phone's answer comes back
//! byte for byte.
//!
//! Invariants:
//! - One request at a time: requests from all CTAPHID connections take turns on one session
//!   (the phone serves one request at a time too); a waiting request can be cancelled.
//! - A session is reused while it is healthy and belongs to the current pairing (read from the
//!   data directory on each request, so `unpair` and a new pairing apply at once); it is
//!   dropped when it broke, when a request was abandoned in the middle (its answer would come
//!   first on the next one), and after [`IDLE_LIMIT`] without a request (with `shutdown`).
//! - One reader task per session owns `recv`, so no receive is ever abandoned half-way.
//! - The status a client sees when the phone cannot answer tells whether the phone may have
//!   received the request: [`NOT_DELIVERED`] (it did not) or [`BROKEN`] (it may have).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authenticator_core::ctap::status::{
    CTAP1_ERR_OTHER, CTAP1_ERR_TIMEOUT, CTAP2_ERR_KEEPALIVE_CANCEL, CTAP2_ERR_OPERATION_DENIED,
};
use authenticator_core::ctaphid::CtapHandler;
use authenticator_core::link::channel::MessageType;
use authenticator_core::link::noise::KeyPair;
use authenticator_core::link::relay::{
    RelayClient, RelayConfig, RelayId, SessionEnd, hex, phone_door,
};
use authenticator_core::link::session::{LinkSession, SessionError, pc_reconnect};
use authenticator_core::request::RequestSignals;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::store::{DataDir, Pairing};

/// No pairing: the tool has no phone to ask (CTAP2_ERR_OPERATION_DENIED).
pub const NO_PAIRING: u8 = CTAP2_ERR_OPERATION_DENIED.0;
/// The phone never got the request: relay unreachable, no answer to the knock, failed
/// handshake, or the request could not be sent (CTAP1_ERR_TIMEOUT). Safe to retry.
pub const NOT_DELIVERED: u8 = CTAP1_ERR_TIMEOUT.0;
/// The session broke after the request was sent: the phone may have acted on it
/// (CTAP1_ERR_OTHER). Also a pairing file that cannot be read.
pub const BROKEN: u8 = CTAP1_ERR_OTHER.0;
/// A request cancelled before it was sent.
pub const CANCELLED: u8 = CTAP2_ERR_KEEPALIVE_CANCEL.0;

/// §5.6: this long without any frame during a request means the phone is lost.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(15);
/// §5.6: an idle session is ended by the PC after this long (shorter only in tests).
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Keepalive status "user presence needed" (CTAPHID_KEEPALIVE, CTAP 2.1 §11.2.9.1.7).
const STATUS_UP_NEEDED: u8 = 2;

type Frame = Result<(MessageType, Vec<u8>), SessionError>;

/// An open session to the phone.
struct Live {
    id: u64,
    pairing: Pairing,
    session: Arc<LinkSession>,
    frames: mpsc::Receiver<Frame>,
    reader: JoinHandle<()>,
    last_used: Instant,
    /// A request was sent and its answer not yet read (the request's future was dropped).
    in_flight: bool,
}

impl Live {
    /// Ends the session in the background: `shutdown`, then the relay session is deleted.
    fn close(self, why: &str) {
        eprintln!("pairing-tool: closing the session to the phone: {why}");
        self.reader.abort();
        let session = self.session;
        tokio::spawn(async move { session.close().await });
    }
}

/// What one exchange on a session came to.
enum Outcome {
    Answer(Vec<u8>),
    /// The phone cannot have seen the request.
    NotDelivered(String),
    /// The session broke after the request was sent.
    Broken(String),
}

/// Forwards CTAP requests to the paired phone.
pub struct Forwarder {
    store: DataDir,
    key: Zeroizing<[u8; 32]>,
    config: RelayConfig,
    idle_limit: Duration,
    live: Arc<Mutex<Option<Live>>>,
    next_id: AtomicU64,
}

impl Forwarder {
    /// `idle_limit`: [`IDLE_LIMIT`] except in tests.
    pub fn new(
        store: DataDir,
        key: Zeroizing<[u8; 32]>,
        config: RelayConfig,
        idle_limit: Duration,
    ) -> Self {
        Self {
            store,
            key,
            config,
            idle_limit,
            live: Arc::new(Mutex::new(None)),
            next_id: AtomicU64::new(0),
        }
    }

    async fn forward(&self, request: Vec<u8>, signals: RequestSignals) -> Vec<u8> {
        let mut live = tokio::select! {
            guard = self.live.lock() => guard,
            () = signals.cancelled() => return vec![CANCELLED],
        };
        let pairing = match self.store.load_pairing() {
            Ok(Some(pairing)) => pairing,
            Ok(None) => {
                if let Some(old) = live.take() {
                    old.close("the pairing was removed");
                }
                return vec![NO_PAIRING];
            }
            Err(e) => {
                eprintln!("pairing-tool: cannot read the pairing: {e}");
                return vec![BROKEN];
            }
        };
        if let Some(old) = live.take() {
            if !old.pairing.same_link(&pairing) {
                old.close("the tool was paired with another phone");
            } else if old.in_flight {
                old.close("an earlier request was abandoned before its answer");
            } else {
                *live = Some(old);
            }
        }
        let mut retried = false;
        loop {
            let fresh = live.is_none();
            let session = match live.as_mut() {
                Some(session) => session,
                None => {
                    let opened = tokio::select! {
                        opened = self.open(&pairing) => opened,
                        () = signals.cancelled() => return vec![CANCELLED],
                    };
                    match opened {
                        Ok(session) => {
                            let id = session.id;
                            self.watch_idle(id);
                            live.insert(session)
                        }
                        Err(reason) => {
                            eprintln!("pairing-tool: cannot reach the phone: {reason}");
                            return vec![NOT_DELIVERED];
                        }
                    }
                }
            };
            match exchange(session, &request, &signals).await {
                Outcome::Answer(answer) => {
                    session.last_used = Instant::now();
                    return answer;
                }
                Outcome::NotDelivered(reason) => {
                    if let Some(old) = live.take() {
                        old.close(&reason);
                    }
                    // A reused session may have ended while idle: one more try on a new one.
                    if fresh || retried {
                        return vec![NOT_DELIVERED];
                    }
                    retried = true;
                }
                Outcome::Broken(reason) => {
                    if let Some(old) = live.take() {
                        old.close(&reason);
                    }
                    return vec![BROKEN];
                }
            }
        }
    }

    /// A new session: create it at the pairing's relay, knock on the phone door, reconnect.
    async fn open(&self, pairing: &Pairing) -> Result<Live, String> {
        let client =
            RelayClient::new(&pairing.relay_url, self.config).map_err(|e| e.to_string())?;
        let session = client.create_session().await.map_err(|e| e.to_string())?;
        // Deletes the relay session if this future is dropped (cancel) or fails.
        let mut cleanup = DeleteOnDrop {
            client: Some(client.clone()),
            session,
        };
        client
            .knock(&phone_door(pairing.pairing_secret.as_slice()), &session)
            .await
            .map_err(|e| e.to_string())?;
        let key = KeyPair::from_scalar_bytes(&self.key).map_err(|e| e.to_string())?;
        let link = Box::new(client.link(session, SessionEnd::Pc));
        let channel = pc_reconnect(link, key, &pairing.phone_static, &pairing.pairing_secret)
            .await
            .map_err(|e| format!("reconnect handshake: {e}"))?;
        cleanup.client = None;
        eprintln!(
            "pairing-tool: connected to the phone (relay session {})",
            hex(&session)
        );
        let channel = Arc::new(channel);
        let (tx, frames) = mpsc::channel(16);
        let reader = tokio::spawn({
            let channel = channel.clone();
            async move {
                loop {
                    let frame = channel.recv().await;
                    let end = frame.is_err();
                    if tx.send(frame).await.is_err() || end {
                        break;
                    }
                }
            }
        });
        Ok(Live {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            pairing: pairing.clone(),
            session: channel,
            frames,
            reader,
            last_used: Instant::now(),
            in_flight: false,
        })
    }

    /// Ends session `id` once it has been idle for the idle limit (§5.6).
    fn watch_idle(&self, id: u64) {
        let live = self.live.clone();
        let limit = self.idle_limit;
        tokio::spawn(async move {
            loop {
                let deadline = match &*live.lock().await {
                    Some(session) if session.id == id => session.last_used + limit,
                    _ => return,
                };
                tokio::time::sleep_until(deadline).await;
                let mut guard = live.lock().await;
                match guard.as_ref() {
                    Some(session) if session.id == id => {
                        if session.last_used.elapsed() >= limit
                            && let Some(session) = guard.take()
                        {
                            session.close(&format!("idle for {} s", limit.as_secs()));
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
    }
}

/// Sends one request on `live` and waits for its answer, relaying keepalives and a cancel.
async fn exchange(live: &mut Live, request: &[u8], signals: &RequestSignals) -> Outcome {
    // Whatever came while idle: a keepalive is harmless; anything else ends the session.
    loop {
        match live.frames.try_recv() {
            Ok(Ok((MessageType::Keepalive, _))) => {}
            Ok(Ok((other, _))) => {
                return Outcome::NotDelivered(format!("the phone sent {other:?} while idle"));
            }
            Ok(Err(e)) => return Outcome::NotDelivered(format!("the session ended: {e}")),
            Err(mpsc::error::TryRecvError::Empty) => break,
            Err(mpsc::error::TryRecvError::Disconnected) => {
                return Outcome::NotDelivered("the session ended".into());
            }
        }
    }
    live.in_flight = true;
    if let Err(e) = live.session.send(MessageType::Ctap, request).await {
        live.in_flight = false;
        return Outcome::NotDelivered(format!("cannot send the request: {e}"));
    }
    let mut deadline = Instant::now() + SILENCE_LIMIT;
    let mut cancel_sent = false;
    loop {
        tokio::select! {
            frame = live.frames.recv() => {
                deadline = Instant::now() + SILENCE_LIMIT;
                match frame {
                    Some(Ok((MessageType::Keepalive, status))) => {
                        signals.set_waiting_for_user(status.first() == Some(&STATUS_UP_NEEDED));
                    }
                    Some(Ok((MessageType::Ctap, answer))) if !answer.is_empty() => {
                        live.in_flight = false;
                        signals.set_waiting_for_user(false);
                        return Outcome::Answer(answer);
                    }
                    Some(Ok((MessageType::Ctap, _))) => {
                        return Outcome::Broken("the phone sent an empty CTAP answer".into());
                    }
                    Some(Ok((other, _))) => {
                        return Outcome::Broken(format!(
                            "the phone sent {other:?} during a request"
                        ));
                    }
                    Some(Err(e)) => {
                        return Outcome::Broken(format!("the session ended during a request: {e}"));
                    }
                    None => return Outcome::Broken("the session's reader stopped".into()),
                }
            }
            () = signals.cancelled(), if !cancel_sent => {
                cancel_sent = true;
                if let Err(e) = live.session.send(MessageType::Cancel, &[]).await {
                    return Outcome::Broken(format!("cannot send the cancel: {e}"));
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                return Outcome::Broken(format!(
                    "no frame from the phone for {} s during a request",
                    SILENCE_LIMIT.as_secs()
                ));
            }
        }
    }
}

/// Deletes a relay session on drop unless disarmed (`client` taken).
struct DeleteOnDrop {
    client: Option<RelayClient>,
    session: RelayId,
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        if let (Some(client), Ok(runtime)) =
            (self.client.take(), tokio::runtime::Handle::try_current())
        {
            let session = self.session;
            runtime.spawn(async move {
                let _ = client.delete_session(&session).await;
            });
        }
    }
}

impl CtapHandler for Forwarder {
    fn handle_cbor<'a>(
        &'a self,
        request: Vec<u8>,
        signals: RequestSignals,
    ) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>> {
        Box::pin(self.forward(request, signals))
    }
}
