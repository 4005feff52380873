//! The phone's link service (proto/link.md §5.5, §5.6, §6): waits on the phone doors of all
//! paired PCs at their relays and, given a BLE central, scans for their rotating service
//! UUIDs at the same time; for each knock or BLE connection it runs the reconnect handshake
//! and serves CTAP requests from that PC through the same handler as every other transport.
//!
//! Invariants:
//! - A knock is checked against the vault at the moment it arrives, so a removed pairing is
//!   never served (its session is deleted) even if the door list in hand is stale.
//! - Every session runs in its own task; a failing session (bad handshake, altered frame,
//!   relay misbehaving, peer gone) ends with an event naming the reason and never disturbs
//!   the others or the service.
//! - Every session is its own request [`Origin`] naming its pairing and PC, so the engine's
//!   follow-up state of one session is never served to another (another PC, or the same PC's
//!   next session), and the silent-assertion watch counts per PC.
//! - A request not answered at its first step is acknowledged with a keepalive at once (§5.8
//!   "Liveness"), and while it is processed the phone sends one at least every
//!   [`KEEPALIVE_EVERY`]; a `cancel` from the PC cancels the request, which then answers
//!   CTAP2_ERR_KEEPALIVE_CANCEL as over CTAPHID.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::ble::{BleLink, GattCentral, GattError, GattUuid, pairing_scan_uuids};
use super::channel::MessageType;
use super::noise::KeyPair;
use super::relay::{RelayClient, RelayConfig, RelayId, Routing, SessionEnd, hex, phone_door};
use super::session::{LinkSession, SessionError, phone_reconnect};
use super::transport::Link;
use crate::ctaphid::CtapHandler;
use crate::platform::Clock;
use crate::request::{Origin, RequestSignals};
use crate::vault::Vault;

/// Keepalive period while a request is processed (§5.6 asks for at most 1 s).
pub const KEEPALIVE_EVERY: Duration = Duration::from_millis(500);
/// A session with no request for this long is ended by the phone (the PC ends it at 60 s).
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);
/// How long one BLE scan for the paired PCs' service UUIDs lasts before the list is renewed.
pub const BLE_SCAN: Duration = Duration::from_secs(5);
/// Keepalive status bytes (CTAPHID_KEEPALIVE, CTAP 2.1 §11.2.9.1.5).
const STATUS_PROCESSING: u8 = 1;
const STATUS_UP_NEEDED: u8 = 2;

/// What the service reports (for the app's UI and the virtual phone's log). Never holds a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A paired PC connected.
    SessionStarted { pc: String, link: &'static str },
    /// One CTAP request was answered (command byte, status byte).
    Served { pc: String, command: u8, status: u8 },
    /// A session ended; `reason` says why ("the PC ended the session" when all is well).
    SessionEnded { pc: String, reason: String },
    /// A knock that was not served: unknown or removed pairing.
    Refused { reason: String },
    /// Waiting on a relay failed; the service retries.
    RelayTrouble { relay: String, reason: String },
}

/// Serves all paired PCs.
pub struct LinkService {
    vault: Arc<Vault>,
    handler: Arc<dyn CtapHandler>,
    clock: Arc<dyn Clock>,
    config: RelayConfig,
    events: Option<mpsc::UnboundedSender<LinkEvent>>,
    ble: Option<Arc<dyn GattCentral>>,
}

/// How a session attempt ended.
enum Outcome {
    /// The reconnect handshake failed; the transport's session should be torn down.
    HandshakeFailed(String),
    /// The pairing was removed before the handshake: nothing was said to the peer.
    Removed,
    /// The session ran and ended for this reason.
    Ended(String),
}

/// A pairing as the service needs it to answer a knock.
#[derive(Clone)]
struct Peer {
    pairing_id: Vec<u8>,
    name: String,
    relay_url: String,
}

impl LinkService {
    pub fn new(
        vault: Arc<Vault>,
        handler: Arc<dyn CtapHandler>,
        clock: Arc<dyn Clock>,
        config: RelayConfig,
    ) -> Self {
        Self {
            vault,
            handler,
            clock,
            config,
            events: None,
            ble: None,
        }
    }

    /// Also listens over BLE: scans for the rotating service UUIDs of all paired PCs
    /// (proto/link.md §6) and serves whoever advertises one, alongside the relay.
    #[cfg(any(test, feature = "pc", feature = "ble"))]
    pub fn with_ble(mut self, central: Arc<dyn GattCentral>) -> Self {
        self.ble = Some(central);
        self
    }

    /// Sends every [`LinkEvent`] to `events`.
    pub fn with_events(mut self, events: mpsc::UnboundedSender<LinkEvent>) -> Self {
        self.events = Some(events);
        self
    }

    fn emit(&self, event: LinkEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    /// The current doors, by relay URL.
    fn doors(&self) -> Result<HashMap<RelayId, Peer>, String> {
        let pairings = self.vault.pairings();
        let mut doors = HashMap::new();
        let routing_config = RelayConfig {
            allow_insecure_loopback: true,
            ..self.config
        };
        for record in pairings.list().map_err(|e| e.to_string())? {
            let Some(secrets) = pairings
                .secrets(&record.pairing_id)
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            let Ok(routing) = Routing::parse(&record.routing_id, &routing_config) else {
                continue;
            };
            doors.insert(
                phone_door(secrets.pairing_secret.expose()),
                Peer {
                    pairing_id: record.pairing_id.clone(),
                    name: record.name.clone(),
                    relay_url: routing.relay_url,
                },
            );
        }
        Ok(doors)
    }

    /// The service UUIDs to scan for now, each with its pairing's door (the key of `doors`).
    fn ble_uuids(&self) -> Result<HashMap<GattUuid, RelayId>, String> {
        let pairings = self.vault.pairings();
        let now = self.clock.now_unix_seconds();
        let mut uuids = HashMap::new();
        for record in pairings.list().map_err(|e| e.to_string())? {
            let Some(secrets) = pairings
                .secrets(&record.pairing_id)
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            let Ok(secret) = <[u8; 32]>::try_from(secrets.pairing_secret.expose()) else {
                continue;
            };
            let door = phone_door(&secret);
            for uuid in pairing_scan_uuids(&secret, now) {
                uuids.insert(uuid, door);
            }
        }
        Ok(uuids)
    }

    /// Scans for paired PCs over BLE until the task is dropped. A pairing with a BLE session
    /// in progress is left out of the scan, so a PC that keeps advertising while connected
    /// is not connected to again.
    async fn run_ble(self: Arc<Self>, central: Arc<dyn GattCentral>) {
        let mut sessions: JoinSet<RelayId> = JoinSet::new();
        let mut busy: HashSet<RelayId> = HashSet::new();
        let mut backoff = Duration::from_millis(500);
        loop {
            while let Some(done) = sessions.try_join_next() {
                if let Ok(door) = done {
                    busy.remove(&door);
                }
            }
            let uuids: HashMap<GattUuid, RelayId> = match self.ble_uuids() {
                Ok(u) => u.into_iter().filter(|(_, d)| !busy.contains(d)).collect(),
                Err(_) => HashMap::new(),
            };
            if uuids.is_empty() {
                // Nothing to scan for: wait for a session to end or the list to change.
                tokio::select! {
                    Some(Ok(door)) = sessions.join_next() => { busy.remove(&door); }
                    () = tokio::time::sleep(BLE_SCAN) => {}
                }
                continue;
            }
            let wanted: Vec<GattUuid> = uuids.keys().copied().collect();
            match central.connect(&wanted, BLE_SCAN).await {
                Ok(connection) => {
                    backoff = Duration::from_millis(500);
                    let Some(door) = uuids.get(&connection.service()).copied() else {
                        connection.disconnect().await;
                        continue;
                    };
                    busy.insert(door);
                    let service = self.clone();
                    sessions.spawn(async move {
                        let link = Box::new(BleLink::new(connection));
                        match service.peer(&door) {
                            Some(peer) => {
                                if let Outcome::Removed = service.session(link, peer).await {
                                    service.emit(LinkEvent::Refused {
                                        reason: "BLE connection to no current pairing".into(),
                                    });
                                }
                            }
                            None => {
                                link.close().await;
                                service.emit(LinkEvent::Refused {
                                    reason: "BLE connection to no current pairing".into(),
                                });
                            }
                        }
                        door
                    });
                }
                Err(GattError::NotFound) => {}
                Err(e) => {
                    self.emit(LinkEvent::RelayTrouble {
                        relay: "ble".into(),
                        reason: e.to_string(),
                    });
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    fn peer(&self, door: &RelayId) -> Option<Peer> {
        self.doors().ok().and_then(|mut doors| doors.remove(door))
    }

    /// Runs until the task is dropped. Each relay (and each group of up to 64 doors on it)
    /// has its own long-poll, re-armed as soon as it returns, so a slow or failing relay never
    /// delays knocks on another. Pairings added or removed while it runs are picked up at the
    /// next poll of their relay (knocks are always checked against the vault at once).
    pub async fn run(self: Arc<Self>) {
        if let Some(central) = self.ble.clone() {
            tokio::spawn(self.clone().run_ble(central));
        }
        let mut sessions = JoinSet::new();
        let mut waits = JoinSet::new();
        let mut waiting: HashSet<(String, usize)> = HashSet::new();
        let mut clients: HashMap<String, RelayClient> = HashMap::new();
        let mut backoff: HashMap<String, Duration> = HashMap::new();
        loop {
            while sessions.try_join_next().is_some() {}
            let doors = match self.doors() {
                Ok(d) => d,
                Err(reason) => {
                    self.emit(LinkEvent::RelayTrouble {
                        relay: "vault".into(),
                        reason,
                    });
                    HashMap::new()
                }
            };
            let mut by_relay: BTreeMap<String, Vec<RelayId>> = BTreeMap::new();
            for (door, peer) in &doors {
                by_relay
                    .entry(peer.relay_url.clone())
                    .or_default()
                    .push(*door);
            }
            for (relay, mut relay_doors) in by_relay {
                relay_doors.sort_unstable();
                for (group, chunk) in relay_doors
                    .chunks(super::relay::MAX_DOORS_PER_WAIT)
                    .enumerate()
                {
                    let key = (relay.clone(), group);
                    if waiting.contains(&key) {
                        continue;
                    }
                    let client = match clients.get(&relay) {
                        Some(c) => c.clone(),
                        None => match RelayClient::new(&relay, self.config) {
                            Ok(c) => {
                                clients.insert(relay.clone(), c.clone());
                                c
                            }
                            Err(e) => {
                                self.emit(LinkEvent::RelayTrouble {
                                    relay: relay.clone(),
                                    reason: e.to_string(),
                                });
                                continue;
                            }
                        },
                    };
                    let delay = backoff.get(&relay).copied().unwrap_or_default();
                    let chunk = chunk.to_vec();
                    // The wait keeps its doors' pairings, so answering a knock does not read
                    // the whole pairing list again (issue 18: it delayed the handshake);
                    // `session_inner` still checks the one pairing against the vault.
                    let peers: HashMap<RelayId, Peer> = chunk
                        .iter()
                        .filter_map(|door| doors.get(door).map(|peer| (*door, peer.clone())))
                        .collect();
                    waiting.insert(key.clone());
                    waits.spawn(async move {
                        tokio::time::sleep(delay).await;
                        let result = client.wait_for_knock(&chunk).await;
                        (key, client, result, peers)
                    });
                }
            }
            if waits.is_empty() {
                // No pairing yet: look again soon, so a first pairing is served at once.
                tokio::time::sleep(self.config.poll_wait.min(Duration::from_secs(1))).await;
                continue;
            }
            let Some(joined) = waits.join_next().await else {
                continue;
            };
            let Ok((key, client, result, mut peers)) = joined else {
                // A wait task panicked: forget every wait and re-arm them all.
                waits.abort_all();
                waiting.clear();
                continue;
            };
            waiting.remove(&key);
            let relay = key.0;
            match result {
                Ok(Some((door, session))) => {
                    backoff.remove(&relay);
                    let service = self.clone();
                    let peer = peers.remove(&door);
                    sessions.spawn(async move { service.answer(client, door, session, peer).await });
                }
                Ok(None) => {
                    backoff.remove(&relay);
                }
                Err(e) => {
                    let next = backoff.get(&relay).map_or(Duration::from_millis(500), |d| {
                        (*d * 2).min(Duration::from_secs(30))
                    });
                    backoff.insert(relay.clone(), next);
                    self.emit(LinkEvent::RelayTrouble {
                        relay,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// Answers one knock on `door` (`peer`: its pairing when the wait was armed): checks the
    /// pairing against the vault, reconnects, serves the session.
    async fn answer(&self, client: RelayClient, door: RelayId, session: RelayId, peer: Option<Peer>) {
        let outcome = match peer {
            Some(peer) => {
                let link = Box::new(client.link(session, SessionEnd::Phone));
                self.session(link, peer).await
            }
            None => Outcome::Removed,
        };
        match outcome {
            Outcome::Removed => {
                let _ = client.delete_session(&session).await;
                self.emit(LinkEvent::Refused {
                    reason: format!(
                        "knock on door {} of no current pairing (removed PC?)",
                        hex(&door)
                    ),
                });
            }
            Outcome::HandshakeFailed(_) => {
                let _ = client.delete_session(&session).await;
            }
            Outcome::Ended(_) => {}
        }
    }

    /// Reconnects with `peer` over `link` (KKpsk0, phone as initiator) and serves it. A
    /// removed pairing is left to the caller to report (nothing started).
    async fn session(&self, link: Box<dyn Link>, peer: Peer) -> Outcome {
        let outcome = self.session_inner(link, &peer).await;
        let reason = match &outcome {
            Outcome::HandshakeFailed(r) => format!("handshake: {r}"),
            Outcome::Ended(r) => r.clone(),
            Outcome::Removed => return outcome,
        };
        self.emit(LinkEvent::SessionEnded {
            pc: peer.name,
            reason,
        });
        outcome
    }

    async fn session_inner(&self, link: Box<dyn Link>, peer: &Peer) -> Outcome {
        let pairings = self.vault.pairings();
        let (record, secrets) = match (
            pairings.get(&peer.pairing_id),
            pairings.secrets(&peer.pairing_id),
        ) {
            (Ok(Some(r)), Ok(Some(s))) => (r, s),
            (Ok(None), _) | (_, Ok(None)) => {
                link.close().await;
                return Outcome::Removed;
            }
            (Err(e), _) | (_, Err(e)) => {
                link.close().await;
                return Outcome::HandshakeFailed(format!("cannot read the pairing: {e}"));
            }
        };
        let key = secrets
            .own_static_private_key
            .expose()
            .try_into()
            .map_err(|_| "the stored key has the wrong length".to_owned())
            .and_then(|b: &[u8; 32]| KeyPair::from_scalar_bytes(b).map_err(|e| e.to_string()));
        let secret = <[u8; 32]>::try_from(secrets.pairing_secret.expose())
            .map_err(|_| "the stored pairing secret has the wrong length".to_owned());
        let (key, secret) = match (key, secret) {
            (Ok(k), Ok(s)) => (k, s),
            (Err(e), _) | (_, Err(e)) => {
                link.close().await;
                return Outcome::HandshakeFailed(e);
            }
        };
        let channel = match phone_reconnect(link, key, &record.peer_public_key, &secret).await {
            Ok(c) => c,
            Err(e) => return Outcome::HandshakeFailed(e.to_string()),
        };
        // "Last used" is written when the session ends: a durable write here would delay the
        // PC's first request by an fsync (issue 18, first request after idle).
        let started_at = self.clock.now_unix_seconds();
        self.emit(LinkEvent::SessionStarted {
            pc: peer.name.clone(),
            link: channel.link_kind(),
        });
        let reason = match self
            .serve(&channel, &peer.name, Some(&peer.pairing_id))
            .await
        {
            Ok(()) => "the PC ended the session".to_owned(),
            Err(e) => e,
        };
        channel.close().await;
        let _ = pairings.touch(&peer.pairing_id, started_at);
        Outcome::Ended(reason)
    }

    /// Serves one established session until it ends; `Ok` when the PC shut it down. With a
    /// `pairing_id`, each request first checks that the pairing still exists, so removing a
    /// PC also ends its open sessions.
    pub async fn serve(
        &self,
        channel: &LinkSession,
        pc: &str,
        pairing_id: Option<&[u8]>,
    ) -> Result<(), String> {
        let origin = Origin::link_session(pairing_id, pc);
        let result = self.serve_as(channel, pc, pairing_id, &origin).await;
        self.handler.origin_ended(&origin).await;
        result
    }

    async fn serve_as(
        &self,
        channel: &LinkSession,
        pc: &str,
        pairing_id: Option<&[u8]>,
        origin: &Origin,
    ) -> Result<(), String> {
        // One reader for the whole session, so a keepalive tick never abandons a receive.
        let (tx, mut rx) = mpsc::channel(8);
        let reader = async {
            loop {
                let message = channel.recv().await;
                let end = message.is_err();
                if tx.send(message).await.is_err() || end {
                    break;
                }
            }
            // The work half reads the ending message and decides; the reader just stops.
            std::future::pending::<()>().await;
        };
        let work = async {
            loop {
                let next = tokio::time::timeout(IDLE_LIMIT, rx.recv()).await;
                let message = match next {
                    Err(_) => return Err(format!("idle for {} s", IDLE_LIMIT.as_secs())),
                    Ok(None) => return Err("the session's reader stopped".into()),
                    Ok(Some(m)) => m,
                };
                match message {
                    Err(SessionError::PeerShutdown) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                    Ok((MessageType::Ctap, request)) => {
                        if let Some(id) = pairing_id
                            && !matches!(self.vault.pairings().get(id), Ok(Some(_)))
                        {
                            return Err("the PC's pairing was removed".into());
                        }
                        self.request(channel, &mut rx, request, pc, origin).await?;
                    }
                    // A cancel that crossed the response: nothing is pending.
                    Ok((MessageType::Cancel, _)) => {}
                    Ok((other, _)) => {
                        return Err(format!("the PC sent an unexpected {other:?} message"));
                    }
                }
            }
        };
        tokio::select! {
            result = work => result,
            () = reader => Err("the session's reader stopped".into()),
        }
    }

    async fn request(
        &self,
        channel: &LinkSession,
        rx: &mut Inbox,
        request: Vec<u8>,
        pc: &str,
        origin: &Origin,
    ) -> Result<(), String> {
        let command = request.first().copied().unwrap_or(0);
        let signals = RequestSignals::new(origin.clone());
        let handling = self.handler.handle_cbor(request, signals.clone());
        let response = drive_request(channel, rx, &signals, handling).await?;
        let status = response.first().copied().unwrap_or(0);
        channel
            .send(MessageType::Ctap, &response)
            .await
            .map_err(|e| e.to_string())?;
        self.emit(LinkEvent::Served {
            pc: pc.to_owned(),
            command,
            status,
        });
        Ok(())
    }
}

/// The messages of a session as its single reader hands them on.
pub type Inbox = mpsc::Receiver<Result<(MessageType, Vec<u8>), SessionError>>;

/// Runs `handling` (the answer to one CTAP request) while keeping the PC informed: a
/// keepalive every [`KEEPALIVE_EVERY`] ("user presence needed" while `signals` says the
/// request waits for the user), and a `cancel` from the PC cancels `signals`. Any other
/// message, or a failing session, cancels the request and ends with the reason. Shared by the
/// link service and on-behalf registration sessions.
pub async fn drive_request<F: std::future::Future>(
    channel: &LinkSession,
    rx: &mut Inbox,
    signals: &RequestSignals,
    handling: F,
) -> Result<F::Output, String> {
    tokio::pin!(handling);
    // §5.8 "Liveness": a request not answered at its first step is acknowledged at once, so a
    // PC hears from a live phone within one relay round trip, whatever the request waits for.
    tokio::select! {
        biased;
        response = &mut handling => return Ok(response),
        () = std::future::ready(()) => {}
    }
    let status = if signals.is_waiting_for_user() {
        STATUS_UP_NEEDED
    } else {
        STATUS_PROCESSING
    };
    if let Err(e) = channel.send(MessageType::Keepalive, &[status]).await {
        signals.cancel();
        return Err(e.to_string());
    }
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + KEEPALIVE_EVERY,
        KEEPALIVE_EVERY,
    );
    loop {
        tokio::select! {
            response = &mut handling => return Ok(response),
            _ = tick.tick() => {
                let status = if signals.is_waiting_for_user() {
                    STATUS_UP_NEEDED
                } else {
                    STATUS_PROCESSING
                };
                if let Err(e) = channel.send(MessageType::Keepalive, &[status]).await {
                    signals.cancel();
                    return Err(e.to_string());
                }
            }
            message = rx.recv() => match message {
                Some(Ok((MessageType::Cancel, _))) => signals.cancel(),
                Some(Ok((other, _))) => {
                    signals.cancel();
                    return Err(format!("the PC sent {other:?} during a request"));
                }
                Some(Err(e)) => {
                    signals.cancel();
                    return Err(e.to_string());
                }
                None => {
                    signals.cancel();
                    return Err("the session's reader stopped".into());
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use super::*;
    use crate::link::memory::memory_pair;
    use crate::link::session::{pc_reconnect, phone_reconnect};
    use crate::testkit::{FakeClock, TestProtector};

    /// Answers command 0x04 at once; any other command waits for the user until cancelled,
    /// then answers CTAP2_ERR_KEEPALIVE_CANCEL (0x2D), as the engine does.
    struct Handler;

    impl CtapHandler for Handler {
        fn handle_cbor<'a>(
            &'a self,
            request: Vec<u8>,
            signals: RequestSignals,
        ) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>> {
            Box::pin(async move {
                if request.first() == Some(&0x04) {
                    return vec![0x00, 0xa0];
                }
                signals.set_waiting_for_user(true);
                signals.cancelled().await;
                vec![0x2d]
            })
        }
    }

    async fn sessions() -> (LinkSession, LinkSession) {
        let (a, b) = memory_pair();
        let phone = KeyPair::generate().unwrap();
        let pc = KeyPair::generate().unwrap();
        let (phone_pub, pc_pub) = (*phone.public_key(), *pc.public_key());
        let secret = [3u8; 32];
        let pc_task =
            tokio::spawn(async move { pc_reconnect(Box::new(b), pc, &phone_pub, &secret).await });
        let phone = phone_reconnect(Box::new(a), phone, &pc_pub, &secret)
            .await
            .unwrap();
        (phone, pc_task.await.unwrap().unwrap())
    }

    fn service() -> (LinkService, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path().join("v.db"), &TestProtector::sealing()).unwrap();
        (
            LinkService::new(
                Arc::new(vault),
                Arc::new(Handler),
                Arc::new(FakeClock::at(1)),
                RelayConfig::default(),
            ),
            dir,
        )
    }

    #[tokio::test]
    async fn requests_are_answered_keepalives_flow_and_cancel_works() {
        let (service, _dir) = service();
        let (phone, pc) = sessions().await;
        let served = tokio::spawn(async move { service.serve(&phone, "PC", None).await });
        pc.send(MessageType::Ctap, &[0x04]).await.unwrap();
        assert_eq!(
            pc.recv().await.unwrap(),
            (MessageType::Ctap, vec![0x00, 0xa0])
        );

        // A request that waits for the user: keepalives say "user presence needed".
        pc.send(MessageType::Ctap, &[0x01, 0xa0]).await.unwrap();
        assert_eq!(
            pc.recv().await.unwrap(),
            (MessageType::Keepalive, vec![STATUS_UP_NEEDED])
        );
        cancel_and_expect_keepalive_cancel(&pc).await;
        pc.close().await;
        assert_eq!(served.await.unwrap(), Ok(()));
    }

    /// Cancels the PC's running request; after any keepalives still in flight, its answer is
    /// CTAP2_ERR_KEEPALIVE_CANCEL.
    async fn cancel_and_expect_keepalive_cancel(pc: &LinkSession) {
        pc.send(MessageType::Cancel, &[]).await.unwrap();
        loop {
            match pc.recv().await.unwrap() {
                (MessageType::Keepalive, _) => continue,
                other => {
                    assert_eq!(other, (MessageType::Ctap, vec![0x2d]));
                    break;
                }
            }
        }
    }

    /// §5.8 "Liveness": a request that is not answered at its first step is acknowledged at
    /// once, not at the first keepalive tick, so the PC hears from a live phone within one relay
    /// round trip; one answered at once gets only its answer.
    #[tokio::test(start_paused = true)]
    async fn a_request_not_answered_at_once_is_acknowledged_at_once() {
        let (service, _dir) = service();
        let (phone, pc) = sessions().await;
        let served = tokio::spawn(async move { service.serve(&phone, "PC", None).await });
        pc.send(MessageType::Ctap, &[0x04]).await.unwrap();
        assert_eq!(
            pc.recv().await.unwrap(),
            (MessageType::Ctap, vec![0x00, 0xa0])
        );
        let sent = tokio::time::Instant::now();
        pc.send(MessageType::Ctap, &[0x01, 0xa0]).await.unwrap();
        let first = pc.recv().await.unwrap();
        assert_eq!(first.0, MessageType::Keepalive);
        assert!(sent.elapsed() < KEEPALIVE_EVERY, "{:?}", sent.elapsed());
        cancel_and_expect_keepalive_cancel(&pc).await;
        pc.close().await;
        assert_eq!(served.await.unwrap(), Ok(()));
    }

    /// Answers every request at once and keeps each request's origin and the ended ones.
    #[derive(Default)]
    struct Recorder {
        origins: std::sync::Mutex<Vec<Origin>>,
        ended: std::sync::Mutex<Vec<Origin>>,
    }

    impl CtapHandler for Recorder {
        fn handle_cbor<'a>(
            &'a self,
            _: Vec<u8>,
            signals: RequestSignals,
        ) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>> {
            self.origins.lock().unwrap().push(signals.origin().clone());
            Box::pin(std::future::ready(vec![0x00]))
        }

        fn origin_ended<'a>(
            &'a self,
            origin: &'a Origin,
        ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
            self.ended.lock().unwrap().push(origin.clone());
            Box::pin(std::future::ready(()))
        }
    }

    #[tokio::test]
    async fn each_session_is_an_origin_of_its_own_naming_its_pc_and_ends_with_it() {
        let (plain, _dir) = service();
        let recorder = Arc::new(Recorder::default());
        let service = Arc::new(LinkService::new(
            plain.vault.clone(),
            recorder.clone(),
            Arc::new(FakeClock::at(1)),
            RelayConfig::default(),
        ));
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (phone, pc) = sessions().await;
            let serving = service.clone();
            // Without a stored pairing: the name alone identifies the PC.
            let served = tokio::spawn(async move { serving.serve(&phone, "Desk PC", None).await });
            for _ in 0..2 {
                pc.send(MessageType::Ctap, &[0x04]).await.unwrap();
                assert_eq!(pc.recv().await.unwrap(), (MessageType::Ctap, vec![0x00]));
            }
            pc.close().await;
            assert_eq!(served.await.unwrap(), Ok(()));
            let origins = recorder.origins.lock().unwrap().clone();
            let (first, second) = (&origins[origins.len() - 2], &origins[origins.len() - 1]);
            assert_eq!(first, second, "one session, one origin");
            let peer = first.link_peer().unwrap();
            assert_eq!(
                (peer.pc_name.as_str(), peer.pairing_id.as_deref()),
                ("Desk PC", None)
            );
            assert_eq!(recorder.ended.lock().unwrap().last(), Some(first));
            seen.push(first.clone());
        }
        assert_ne!(
            seen[0], seen[1],
            "the same PC's next session is another origin"
        );
    }

    #[tokio::test]
    async fn an_unexpected_message_ends_the_session_with_a_reason() {
        let (service, _dir) = service();
        let (phone, pc) = sessions().await;
        let served = tokio::spawn(async move { service.serve(&phone, "PC", None).await });
        pc.send(MessageType::Receipt, &[1]).await.unwrap();
        let reason = served.await.unwrap().unwrap_err();
        assert_eq!(reason, "the PC sent an unexpected Receipt message");
    }

    #[tokio::test]
    async fn a_paired_pc_advertising_over_ble_is_served() {
        use crate::link::ble::service_uuid::uuid_window;
        use crate::link::ble::sim::SimAir;
        use crate::link::ble::{BleLink, pairing_service_uuid};
        use crate::secret::SecretBytes;
        use crate::vault::{PairingRecord, PairingSecrets};

        let (service, _dir) = service();
        let (tx, mut events) = mpsc::unbounded_channel();
        let service = Arc::new(service.with_events(tx));
        let phone = KeyPair::generate().unwrap();
        let pc = KeyPair::generate().unwrap();
        let phone_pub = *phone.public_key();
        let secret = [5u8; 32];
        service
            .vault
            .pairings()
            .insert(
                &PairingRecord {
                    pairing_id: vec![9; 16],
                    name: "BLE PC".into(),
                    peer_public_key: pc.public_key().to_vec(),
                    routing_id: Routing {
                        relay_url: "https://relay.invalid".into(),
                        pc_door: [1; 16],
                    }
                    .to_cbor(),
                    created_at: 1,
                    last_used_at: 1,
                },
                &PairingSecrets {
                    own_static_private_key: SecretBytes::new(phone.scalar_bytes().to_vec()),
                    pairing_secret: SecretBytes::new(secret.to_vec()),
                },
            )
            .unwrap();
        let air = SimAir::new();
        let scanning = tokio::spawn(service.clone().run_ble(Arc::new(air.central())));

        // A PC advertising some other pairing's UUID is never connected to.
        let stranger = air.advertise(pairing_service_uuid(&[6u8; 32], uuid_window(1)), 185);
        let advertiser = air.advertise(pairing_service_uuid(&secret, uuid_window(1)), 185);
        let connection = tokio::time::timeout(Duration::from_secs(10), advertiser.accept())
            .await
            .unwrap()
            .unwrap();
        let session = pc_reconnect(
            Box::new(BleLink::new(Box::new(connection))),
            pc,
            &phone_pub,
            &secret,
        )
        .await
        .unwrap();
        session.send(MessageType::Ctap, &[0x04]).await.unwrap();
        assert_eq!(
            session.recv().await.unwrap(),
            (MessageType::Ctap, vec![0x00, 0xa0])
        );
        assert_eq!(
            events.recv().await.unwrap(),
            LinkEvent::SessionStarted {
                pc: "BLE PC".into(),
                link: "ble"
            }
        );
        session.close().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(300), stranger.accept())
                .await
                .is_err()
        );
        scanning.abort();
    }

    /// A knock answered with the pairing list the wait was armed with (issue 18) is still
    /// checked against the vault at once: a pairing removed meanwhile gets no handshake and no
    /// session (the caller refuses it and deletes the relay session), and the PC's handshake
    /// fails on the closed link.
    #[tokio::test]
    async fn a_knock_for_a_pairing_removed_after_the_wait_was_armed_is_not_served() {
        let (service, _dir) = service();
        let (tx, mut events) = mpsc::unbounded_channel();
        let service = service.with_events(tx);
        let (a, b) = memory_pair();
        let pc = KeyPair::generate().unwrap();
        let phone_pub = *KeyPair::generate().unwrap().public_key();
        let pc_task = tokio::spawn(async move {
            pc_reconnect(Box::new(b), pc, &phone_pub, &[4u8; 32]).await
        });
        let peer = Peer {
            pairing_id: vec![7; 16],
            name: "Removed PC".into(),
            relay_url: "https://relay.invalid".into(),
        };
        assert!(matches!(
            service.session(Box::new(a), peer).await,
            Outcome::Removed
        ));
        assert!(pc_task.await.unwrap().is_err());
        assert!(events.try_recv().is_err(), "no session was started or ended");
    }
}
