//! The CTAPHID socket's handler: every CTAP request goes to the phone over a link session
//! (proto/link.md §4.3, §5.5 "Reconnect", §5.6), and the phone's answer comes back byte for
//! byte. Where sessions come from is a [`SessionSource`]: [`Paired`] (the `serve` mode:
//! the pairing, reconnected on demand) or the OBR mode's accepted session (`obr.rs`).
//!
//! Invariants:
//! - One request at a time: requests from all CTAPHID connections take turns on one session
//!   (the phone serves one request at a time too); a waiting request can be cancelled.
//! - A session is reused while it is healthy and belongs to the source's current target (for
//!   `serve`: the pairing, read from the data directory on each request, so `unpair` and a
//!   new pairing apply at once); it is dropped when it broke, when a request was abandoned in
//!   the middle (its answer would come first on the next one), and after the source's idle
//!   limit without a request (with `shutdown`; `serve`: [`IDLE_LIMIT`], OBR: none).
//! - One reader task per session owns `recv`, so no receive is ever abandoned half-way. It
//!   hands frames outside the CTAP exchange (OBR receipts) and the session's end to the
//!   source's [`SessionHooks`] as they come.
//! - The status a client sees when the phone cannot answer tells whether the phone may have
//!   received the request: [`NOT_DELIVERED`] (it did not) or [`BROKEN`] (it may have).
//! - A dead phone is known within 3 s (§5.8 "Liveness"): a reused session whose phone does not
//!   acknowledge a request within [`ACK_LIMIT`], or a knock not answered with a handshake
//!   within [`KNOCK_ANSWER_LIMIT`], answers [`NOT_DELIVERED`] ("phone unreachable") without a
//!   second attempt. A relay can delay or withhold frames and so make a live phone look dead
//!   (the request is then not delivered, never half-done), but it cannot make a dead phone
//!   look alive: the acknowledgement is a sealed frame.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authenticator_core::ctap::status::{
    CTAP1_ERR_OTHER, CTAP1_ERR_TIMEOUT, CTAP2_ERR_KEEPALIVE_CANCEL, CTAP2_ERR_OPERATION_DENIED,
};
use authenticator_core::ctaphid::CtapHandler;
use authenticator_core::ctaphid::RequestSignals;
use authenticator_core::link::channel::MessageType;
use authenticator_core::link::noise::KeyPair;
use authenticator_core::link::relay::{
    RelayClient, RelayConfig, RelayId, SessionEnd, hex, phone_door,
};
use authenticator_core::link::session::{LinkSession, SessionError, pc_reconnect};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
/// §5.8 "Liveness": a phone acknowledges every request with a keepalive before it acts on it;
/// on a session that was idle, no frame within this long after the request was stored means
/// the phone is unreachable (it never began the request). Twice a 1 s relay delay plus a
/// margin, and short enough that the client hears of a dead phone within 3 s.
pub const ACK_LIMIT: Duration = Duration::from_millis(2500);
/// §5.8 "Liveness": a running phone's door wait is always armed, so the reconnect handshake
/// (knock answered, message 1 read, message 2 sent) ends within this long or the phone is
/// unreachable; the session is then deleted, which withdraws the knock (§5.4).
pub const KNOCK_ANSWER_LIMIT: Duration = Duration::from_millis(2500);
/// §5.6: an idle session is ended by the PC after this long (shorter only in tests).
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Keepalive status "user presence needed" (CTAPHID_KEEPALIVE, CTAP 2.1 §11.2.9.1.7).
const STATUS_UP_NEEDED: u8 = 2;

type Frame = Result<(MessageType, Vec<u8>), SessionError>;

/// Where the forwarder's sessions come from: the pairing (reconnect on demand, `serve`) or
/// an OBR session the phone opened on the tool's door (`obr`).
pub trait SessionSource: Send + Sync + 'static {
    /// Names the link a session belongs to; an open session is reused only for an equal tag.
    type Tag: Clone + PartialEq + Send + Sync + 'static;

    /// The link the next request goes to, or the status to answer it with. May wait (it is
    /// raced against the request's cancel, which answers [`CANCELLED`]).
    fn target(&self) -> impl Future<Output = Result<Self::Tag, Refusal>> + Send;

    /// A new session to the link `tag` names.
    fn open(
        &self,
        tag: &Self::Tag,
    ) -> impl Future<Output = Result<Arc<LinkSession>, String>> + Send;

    /// Whether a session that turns out dead may be replaced by a new one (once per request).
    fn reconnects(&self) -> bool;

    /// End a session after this long without a request (§5.6), if at all.
    fn idle_limit(&self) -> Option<Duration>;

    /// Frames outside the CTAP exchange (OBR receipts) and the end of a session, as the
    /// session's reader sees them; `None`: every frame belongs to the exchange.
    fn hooks(&self) -> Option<Arc<dyn SessionHooks>>;

    /// The forwarder ended a session (broken, abandoned, idle, replaced).
    fn closed(&self, why: &str);
}

/// Seen by a session's reader task, before the exchange does.
pub trait SessionHooks: Send + Sync {
    /// A frame that is not part of a CTAP exchange: true if it was handled here (it then
    /// never reaches the exchange).
    fn side_frame(&self, message_type: MessageType, payload: &[u8]) -> bool;
    /// The session ended: the phone's `shutdown` or an error.
    fn ended(&self, why: &SessionError);
}

/// A request the source does not let through: the status it gets, and whether the open
/// session (if any) is to be ended, and why.
pub struct Refusal {
    pub status: u8,
    pub close: Option<String>,
}

/// An open session to the phone.
struct Live<T> {
    id: u64,
    tag: T,
    session: Arc<LinkSession>,
    frames: mpsc::Receiver<Frame>,
    reader: JoinHandle<()>,
    last_used: Instant,
    /// A request was sent and its answer not yet read (the request's future was dropped).
    in_flight: bool,
}

impl<T> Live<T> {
    /// One reader task owns `recv`; side frames go to `hooks`, the rest to the exchange.
    fn start(
        id: u64,
        tag: T,
        session: Arc<LinkSession>,
        hooks: Option<Arc<dyn SessionHooks>>,
    ) -> Self {
        let (tx, frames) = mpsc::channel(16);
        let reader = tokio::spawn({
            let channel = session.clone();
            async move {
                loop {
                    let frame = channel.recv().await;
                    if let Some(hooks) = &hooks {
                        match &frame {
                            Ok((message_type, payload)) => {
                                if hooks.side_frame(*message_type, payload) {
                                    continue;
                                }
                            }
                            Err(e) => hooks.ended(e),
                        }
                    }
                    let end = frame.is_err();
                    if tx.send(frame).await.is_err() || end {
                        break;
                    }
                }
            }
        });
        Self {
            id,
            tag,
            session,
            frames,
            reader,
            last_used: Instant::now(),
            in_flight: false,
        }
    }

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
    /// The phone did not acknowledge the request within [`ACK_LIMIT`]: it never acted on it,
    /// and a new session would not reach it either.
    Unreachable(String),
    /// The session broke after the request was sent.
    Broken(String),
}

/// Forwards CTAP requests to the phone, over the sessions `S` provides.
pub struct Forwarder<S: SessionSource> {
    source: Arc<S>,
    live: Arc<Mutex<Option<Live<S::Tag>>>>,
    next_id: AtomicU64,
}

impl<S: SessionSource> Forwarder<S> {
    pub fn new(source: Arc<S>) -> Self {
        Self {
            source,
            live: Arc::new(Mutex::new(None)),
            next_id: AtomicU64::new(0),
        }
    }

    async fn forward(&self, request: Vec<u8>, signals: RequestSignals) -> Vec<u8> {
        let mut live = tokio::select! {
            guard = self.live.lock() => guard,
            () = signals.cancelled() => return vec![CANCELLED],
        };
        let target = tokio::select! {
            target = self.source.target() => target,
            () = signals.cancelled() => return vec![CANCELLED],
        };
        let tag = match target {
            Ok(tag) => tag,
            Err(refusal) => {
                if let Some(why) = refusal.close
                    && let Some(old) = live.take()
                {
                    self.end(old, &why);
                }
                return vec![refusal.status];
            }
        };
        if let Some(old) = live.take() {
            if old.tag != tag {
                self.end(old, "the tool was paired with another phone");
            } else if old.in_flight {
                self.end(old, "an earlier request was abandoned before its answer");
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
                        opened = self.source.open(&tag) => opened,
                        () = signals.cancelled() => return vec![CANCELLED],
                    };
                    match opened {
                        Ok(session) => {
                            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                            if let Some(limit) = self.source.idle_limit() {
                                self.watch_idle(id, limit);
                            }
                            live.insert(Live::start(id, tag.clone(), session, self.source.hooks()))
                        }
                        Err(reason) => {
                            eprintln!("pairing-tool: cannot reach the phone: {reason}");
                            return vec![NOT_DELIVERED];
                        }
                    }
                }
            };
            // A fresh session's handshake just showed the phone alive; a reused one may have
            // outlived its phone (§5.8 "Liveness").
            let ack_limit = if fresh { SILENCE_LIMIT } else { ACK_LIMIT };
            match exchange(session, &request, &signals, ack_limit).await {
                Outcome::Answer(answer) => {
                    session.last_used = Instant::now();
                    return answer;
                }
                Outcome::NotDelivered(reason) => {
                    if let Some(old) = live.take() {
                        self.end(old, &reason);
                    }
                    // A reused session may have ended while idle: one more try on a new one.
                    if fresh || retried || !self.source.reconnects() {
                        return vec![NOT_DELIVERED];
                    }
                    retried = true;
                }
                Outcome::Unreachable(reason) => {
                    if let Some(old) = live.take() {
                        self.end(old, &reason);
                    }
                    return vec![NOT_DELIVERED];
                }
                Outcome::Broken(reason) => {
                    if let Some(old) = live.take() {
                        self.end(old, &reason);
                    }
                    return vec![BROKEN];
                }
            }
        }
    }

    fn end(&self, live: Live<S::Tag>, why: &str) {
        live.close(why);
        self.source.closed(why);
    }

    /// Ends session `id` once it has been idle for `limit` (§5.6).
    fn watch_idle(&self, id: u64, limit: Duration) {
        let live = self.live.clone();
        let source = self.source.clone();
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
                            let why = format!("idle for {} s", limit.as_secs());
                            session.close(&why);
                            source.closed(&why);
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
    }
}

/// The `serve` mode's source: the pairing in the data directory, read on every request
/// (so `unpair` and a new pairing apply at once); a session is opened on demand by knocking
/// on the pairing's phone door (§5.5 "Reconnect").
pub struct Paired {
    store: DataDir,
    /// The PC's static key, derived once: a copy goes to each opening's handshake, so an
    /// opening does not pay a P-256 base-point multiplication for it (issue 18).
    key: KeyPair,
    config: RelayConfig,
    idle_limit: Duration,
}

impl Paired {
    /// `idle_limit`: [`IDLE_LIMIT`] except in tests.
    pub fn new(store: DataDir, key: KeyPair, config: RelayConfig, idle_limit: Duration) -> Self {
        Self {
            store,
            key,
            config,
            idle_limit,
        }
    }
}

/// Two pairings name the same link when [`Pairing::same_link`] says so.
#[derive(Clone)]
pub struct PairingTag(Pairing);

impl PartialEq for PairingTag {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_link(&other.0)
    }
}

impl SessionSource for Paired {
    type Tag = PairingTag;

    async fn target(&self) -> Result<PairingTag, Refusal> {
        match self.store.load_pairing() {
            Ok(Some(pairing)) => Ok(PairingTag(pairing)),
            Ok(None) => Err(Refusal {
                status: NO_PAIRING,
                close: Some("the pairing was removed".into()),
            }),
            Err(e) => {
                eprintln!("pairing-tool: cannot read the pairing: {e}");
                Err(Refusal {
                    status: BROKEN,
                    close: None,
                })
            }
        }
    }

    /// A new session: create it at the pairing's relay, knock on the phone door, reconnect.
    async fn open(&self, tag: &PairingTag) -> Result<Arc<LinkSession>, String> {
        let pairing = &tag.0;
        let started = Instant::now();
        let client =
            RelayClient::new(&pairing.relay_url, self.config).map_err(|e| e.to_string())?;
        let session = client.create_session().await.map_err(|e| e.to_string())?;
        let created = Instant::now();
        // Deletes the relay session if this future is dropped (cancel) or fails.
        let mut cleanup = DeleteOnDrop {
            client: Some(client.clone()),
            session,
        };
        client
            .knock(&phone_door(pairing.pairing_secret.as_slice()), &session)
            .await
            .map_err(|e| e.to_string())?;
        let knocked = Instant::now();
        let link = Box::new(client.link(session, SessionEnd::Pc));
        let channel = tokio::time::timeout(
            KNOCK_ANSWER_LIMIT,
            pc_reconnect(
                link,
                self.key.clone(),
                &pairing.phone_static,
                &pairing.pairing_secret,
            ),
        )
        .await
        .map_err(|_| {
            format!(
                "the phone did not answer the knock within {} ms (phone unreachable)",
                KNOCK_ANSWER_LIMIT.as_millis()
            )
        })?
        .map_err(|e| format!("reconnect handshake: {e}"))?;
        cleanup.client = None;
        // The phases of an opening, for tests/bench/link_rtt.py (issue 18).
        let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1e3;
        let done = Instant::now();
        eprintln!(
            "pairing-tool: connected to the phone (relay session {}) in create {:.3} ms, \
             knock {:.3} ms, handshake {:.3} ms",
            hex(&session),
            ms(started, created),
            ms(created, knocked),
            ms(knocked, done),
        );
        Ok(Arc::new(channel))
    }

    fn reconnects(&self) -> bool {
        true
    }

    fn idle_limit(&self) -> Option<Duration> {
        Some(self.idle_limit)
    }

    fn hooks(&self) -> Option<Arc<dyn SessionHooks>> {
        None
    }

    fn closed(&self, _why: &str) {}
}

/// Sends one request on `live` and waits for its answer, relaying keepalives and a cancel.
/// The first frame after the request must come within `ack_limit` (§5.8 "Liveness"), every
/// later one within [`SILENCE_LIMIT`] of the one before.
async fn exchange<T>(
    live: &mut Live<T>,
    request: &[u8],
    signals: &RequestSignals,
    ack_limit: Duration,
) -> Outcome {
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
    let mut deadline = Instant::now() + ack_limit;
    let mut acknowledged = false;
    let mut cancel_sent = false;
    loop {
        tokio::select! {
            frame = live.frames.recv() => {
                deadline = Instant::now() + SILENCE_LIMIT;
                acknowledged = true;
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
                // Only the acknowledgement limit says "unreachable"; a fresh session's phone
                // that goes silent may have acted on the request.
                if !acknowledged && ack_limit < SILENCE_LIMIT {
                    return Outcome::Unreachable(format!(
                        "the phone did not acknowledge the request within {} ms (phone \
                         unreachable)",
                        ack_limit.as_millis()
                    ));
                }
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

impl<S: SessionSource> CtapHandler for Forwarder<S> {
    fn handle_cbor<'a>(
        &'a self,
        request: Vec<u8>,
        signals: RequestSignals,
    ) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>> {
        Box::pin(self.forward(request, signals))
    }
}
