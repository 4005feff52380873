//! An in-process BLE radio for tests: a `SimAir` where simulated pairing tools advertise
//! service UUIDs and a `SimCentral` (the phone's `GattCentral`) connects to them. Both ends of a
//! connection are `SimConnection`s implementing `GattConnection`, so a `BleLink` can run on
//! either side; the pairing tool's tests use the peripheral end the same way.
//!
//! A `SimControl` turns the knobs of one connection: the ATT MTU, a delay before each fragment,
//! a fragment dropped or swapped with the next, delivery paused from a fragment on, and a
//! disconnect at a given fragment or at once. Fragments are counted per direction from 0 over
//! the connection's life.
//!
//! Invariants: without knobs a connection behaves as ATT does (every fragment once, in order,
//! at most ATT_MTU - 3 bytes, else the send fails); `recv_fragment` is cancel-safe and returns
//! what arrived before a disconnect, then `Disconnected`; dropping either end disconnects.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};

use super::gatt::{GattCentral, GattConnection, GattError, GattUuid};

/// ATT_MTU - 3: the longest value a write or notification carries (ATT header).
const ATT_HEADER_LEN: usize = 3;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a simulator lock leaves plain data behind; keep using it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The two directions of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Phone -> pairing tool: writes to `linkControlPoint`.
    ToPeripheral,
    /// Pairing tool -> phone: notifications of `linkStatus`.
    ToCentral,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Self::ToPeripheral => 0,
            Self::ToCentral => 1,
        }
    }
}

/// One direction of a connection: what has arrived, and the knobs that act on it.
#[derive(Default)]
struct LaneState {
    queue: VecDeque<Vec<u8>>,
    held: Vec<Vec<u8>>,
    swapped: Option<Vec<u8>>,
    sent: usize,
    lengths: Vec<usize>,
    delay: Duration,
    drop: BTreeSet<usize>,
    swap: BTreeSet<usize>,
    pause_from: Option<usize>,
    paused: bool,
    disconnect_at: Option<usize>,
}

impl LaneState {
    fn deliver(&mut self, fragment: Vec<u8>) {
        if self.paused {
            self.held.push(fragment);
        } else {
            self.queue.push_back(fragment);
        }
    }
}

#[derive(Default)]
struct Lane {
    state: Mutex<LaneState>,
    arrived: Notify,
}

struct Shared {
    service: GattUuid,
    att_mtu: AtomicU16,
    lanes: [Lane; 2],
    disconnected: Mutex<Option<String>>,
}

impl Shared {
    fn lane(&self, direction: Direction) -> &Lane {
        &self.lanes[direction.index()]
    }

    fn disconnect(&self, why: &str) {
        lock(&self.disconnected).get_or_insert_with(|| why.to_owned());
        for lane in &self.lanes {
            lane.arrived.notify_waiters();
        }
    }

    fn check_connected(&self) -> Result<(), GattError> {
        match &*lock(&self.disconnected) {
            None => Ok(()),
            Some(why) => Err(GattError::Disconnected(why.clone())),
        }
    }
}

/// Two connected ends `(central, peripheral)` for `service`, without an air in between.
pub fn connection_pair(service: GattUuid, att_mtu: u16) -> (SimConnection, SimConnection) {
    let shared = Arc::new(Shared {
        service,
        att_mtu: AtomicU16::new(att_mtu),
        lanes: [Lane::default(), Lane::default()],
        disconnected: Mutex::new(None),
    });
    let central = SimConnection {
        shared: shared.clone(),
        outgoing: Direction::ToPeripheral,
        incoming: Direction::ToCentral,
    };
    let peripheral = SimConnection {
        shared,
        outgoing: Direction::ToCentral,
        incoming: Direction::ToPeripheral,
    };
    (central, peripheral)
}

/// One end of a simulated GATT connection.
pub struct SimConnection {
    shared: Arc<Shared>,
    outgoing: Direction,
    incoming: Direction,
}

impl SimConnection {
    /// The knobs of this connection (shared by both ends).
    pub fn control(&self) -> SimControl {
        SimControl {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for SimConnection {
    fn drop(&mut self) {
        self.shared.disconnect("the other end went away");
    }
}

#[async_trait]
impl GattConnection for SimConnection {
    fn service(&self) -> GattUuid {
        self.shared.service
    }

    fn att_mtu(&self) -> u16 {
        self.shared.att_mtu.load(Ordering::SeqCst)
    }

    async fn send_fragment(&self, fragment: &[u8]) -> Result<(), GattError> {
        self.shared.check_connected()?;
        let max = usize::from(self.att_mtu()).saturating_sub(ATT_HEADER_LEN);
        if fragment.len() > max {
            return Err(GattError::Platform(format!(
                "value of {} bytes exceeds ATT_MTU - 3 = {max}",
                fragment.len()
            )));
        }
        let lane = self.shared.lane(self.outgoing);
        let delay = lock(&lane.state).delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
            self.shared.check_connected()?;
        }
        let radio_lost = {
            let mut state = lock(&lane.state);
            let index = state.sent;
            if state.disconnect_at == Some(index) {
                true
            } else {
                state.sent += 1;
                state.lengths.push(fragment.len());
                if state.pause_from == Some(index) {
                    state.paused = true;
                }
                if state.drop.contains(&index) {
                    // Lost on the air.
                } else if state.swap.contains(&index) {
                    state.swapped = Some(fragment.to_vec());
                } else {
                    state.deliver(fragment.to_vec());
                    if let Some(earlier) = state.swapped.take() {
                        state.deliver(earlier);
                    }
                }
                false
            }
        };
        if radio_lost {
            self.shared.disconnect("radio link lost (simulated)");
            return Err(GattError::Disconnected(
                "radio link lost (simulated)".into(),
            ));
        }
        lane.arrived.notify_waiters();
        Ok(())
    }

    async fn recv_fragment(&self) -> Result<Vec<u8>, GattError> {
        let lane = self.shared.lane(self.incoming);
        loop {
            // Registered before looking, so a fragment that arrives in between wakes us.
            let arrived = lane.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(fragment) = lock(&lane.state).queue.pop_front() {
                return Ok(fragment);
            }
            self.shared.check_connected()?;
            arrived.await;
        }
    }

    async fn disconnect(&self) {
        self.shared.disconnect("disconnected by the other end");
    }
}

/// The knobs of one simulated connection.
#[derive(Clone)]
pub struct SimControl {
    shared: Arc<Shared>,
}

impl SimControl {
    fn with_lane<R>(&self, direction: Direction, f: impl FnOnce(&mut LaneState) -> R) -> R {
        f(&mut lock(&self.shared.lane(direction).state))
    }

    /// The ATT MTU both ends see from now on (an MTU exchange, or a smaller one for tests).
    pub fn set_att_mtu(&self, att_mtu: u16) {
        self.shared.att_mtu.store(att_mtu, Ordering::SeqCst);
    }

    /// Each later fragment in `direction` waits this long before it goes out.
    pub fn set_delay(&self, direction: Direction, delay: Duration) {
        self.with_lane(direction, |lane| lane.delay = delay);
    }

    /// Fragment `index` in `direction` is lost (its send still succeeds).
    pub fn drop_fragment(&self, direction: Direction, index: usize) {
        self.with_lane(direction, |lane| lane.drop.insert(index));
    }

    /// Fragment `index` in `direction` arrives after fragment `index + 1`.
    pub fn swap_with_next(&self, direction: Direction, index: usize) {
        self.with_lane(direction, |lane| lane.swap.insert(index));
    }

    /// The radio link is lost when fragment `index` in `direction` is sent: that send fails,
    /// the fragments before it have arrived.
    pub fn disconnect_at(&self, direction: Direction, index: usize) {
        self.with_lane(direction, |lane| lane.disconnect_at = Some(index));
    }

    /// Fragment `index` and later ones in `direction` are held until `resume`.
    pub fn pause_from(&self, direction: Direction, index: usize) {
        self.with_lane(direction, |lane| lane.pause_from = Some(index));
    }

    /// Delivers the held fragments in order and stops holding.
    pub fn resume(&self, direction: Direction) {
        self.with_lane(direction, |lane| {
            lane.paused = false;
            lane.pause_from = None;
            let held = std::mem::take(&mut lane.held);
            lane.queue.extend(held);
        });
        self.shared.lane(direction).arrived.notify_waiters();
    }

    /// The radio link is lost now.
    pub fn disconnect(&self) {
        self.shared.disconnect("radio link lost (simulated)");
    }

    pub fn is_connected(&self) -> bool {
        self.shared.check_connected().is_ok()
    }

    /// The length of every fragment sent so far in `direction`.
    pub fn fragment_lengths(&self, direction: Direction) -> Vec<usize> {
        self.with_lane(direction, |lane| lane.lengths.clone())
    }

    /// Fragments that arrived in `direction` and were not yet received.
    pub fn queued(&self, direction: Direction) -> usize {
        self.with_lane(direction, |lane| lane.queue.len())
    }
}

struct Advert {
    id: u64,
    service: GattUuid,
    att_mtu: u16,
    accept: mpsc::UnboundedSender<SimConnection>,
}

#[derive(Default)]
struct AirInner {
    adverts: Mutex<Vec<Advert>>,
    changed: Notify,
    next_id: AtomicU64,
}

/// The shared medium: advertisers and centrals created from one air see each other.
#[derive(Clone, Default)]
pub struct SimAir {
    inner: Arc<AirInner>,
}

impl SimAir {
    pub fn new() -> Self {
        Self::default()
    }

    /// The phone's side of the stack.
    pub fn central(&self) -> SimCentral {
        SimCentral {
            air: self.inner.clone(),
        }
    }

    /// A pairing tool advertising `service`; connections start with `att_mtu`. Advertising
    /// stops when the advertiser is dropped.
    pub fn advertise(&self, service: GattUuid, att_mtu: u16) -> SimAdvertiser {
        let (accept, accepted) = mpsc::unbounded_channel();
        let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        lock(&self.inner.adverts).push(Advert {
            id,
            service,
            att_mtu,
            accept,
        });
        self.inner.changed.notify_waiters();
        SimAdvertiser {
            air: self.inner.clone(),
            id,
            accepted: tokio::sync::Mutex::new(accepted),
        }
    }
}

/// A simulated pairing tool's advertisement and the connections made to it.
pub struct SimAdvertiser {
    air: Arc<AirInner>,
    id: u64,
    accepted: tokio::sync::Mutex<mpsc::UnboundedReceiver<SimConnection>>,
}

impl SimAdvertiser {
    /// Waits for the next central to connect; returns the peripheral end. Cancel-safe.
    pub async fn accept(&self) -> Option<SimConnection> {
        self.accepted.lock().await.recv().await
    }
}

impl Drop for SimAdvertiser {
    fn drop(&mut self) {
        lock(&self.air.adverts).retain(|advert| advert.id != self.id);
    }
}

/// The phone's `GattCentral` on a `SimAir`.
pub struct SimCentral {
    air: Arc<AirInner>,
}

impl SimCentral {
    fn try_connect(&self, services: &[GattUuid]) -> Option<SimConnection> {
        let adverts = lock(&self.air.adverts);
        for advert in adverts.iter().filter(|a| services.contains(&a.service)) {
            let (central, peripheral) = connection_pair(advert.service, advert.att_mtu);
            if advert.accept.send(peripheral).is_ok() {
                return Some(central);
            }
        }
        None
    }
}

#[async_trait]
impl GattCentral for SimCentral {
    async fn connect(
        &self,
        services: &[GattUuid],
        scan_timeout: Duration,
    ) -> Result<Box<dyn GattConnection>, GattError> {
        let scan = async {
            loop {
                let changed = self.air.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(connection) = self.try_connect(services) {
                    return connection;
                }
                changed.await;
            }
        };
        match tokio::time::timeout(scan_timeout, scan).await {
            Ok(connection) => Ok(Box::new(connection)),
            Err(_) => Err(GattError::NotFound),
        }
    }
}
