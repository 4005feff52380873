//! The GATT boundary implemented with btleplug 0.13 as the central, for the phone (Android,
//! iOS) and the virtual phone on Linux (proto/link.md §6). Only btleplug's cross-platform
//! `api` traits are used (no BlueZ, CoreBluetooth or JNI specifics), so the same code builds
//! for every target btleplug supports. What each platform needs from the app:
//!
//! - Android: `btleplug::platform::init(&env)` once from JNI (e.g. `JNI_OnLoad`) before
//!   [`BtleplugCentral::new`], the btleplug Java classes in the APK, and the
//!   `BLUETOOTH_SCAN`/`BLUETOOTH_CONNECT` permissions granted. btleplug asks for a 517-byte MTU
//!   when it connects.
//! - iOS: `NSBluetoothAlwaysUsageDescription` in Info.plist; CoreBluetooth reports the MTU
//!   after service discovery.
//! - Linux: BlueZ over D-Bus (libdbus at build time).
//!
//! Invariants: a scan always carries a `ScanFilter` with the wanted service UUIDs (iOS needs it
//! to scan in the background) and every result is still checked against the list, because a
//! platform may return more; the notification stream is taken before subscribing, so no
//! notification is missed; `recv_fragment` is cancel-safe (it only polls streams); a
//! connection that failed half-way is disconnected before the error is returned.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex as StdMutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use btleplug::api::{
    Central as _, CentralEvent, CharPropFlags, Characteristic, Manager as _, Peripheral as _,
    ScanFilter, ValueNotification, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral, PeripheralId};
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use super::gatt::{
    CONNECT_TIMEOUT, CONTROL_POINT_UUID, DEFAULT_ATT_MTU, GattCentral, GattConnection, GattError,
    GattUuid, STATUS_UUID,
};

/// btleplug hands out `futures::Stream` trait objects. This crate does not depend on
/// `futures`, so each stream is wrapped once in a closure that polls it.
type Poller<T> = Box<dyn FnMut(&mut Context<'_>) -> Poll<Option<T>> + Send>;

/// The next item of a polled stream; `None` when it ended. Cancel-safe: an item is only taken
/// when the future completes.
async fn next<T>(poller: &mut Poller<T>) -> Option<T> {
    std::future::poll_fn(|cx| poller(cx)).await
}

fn platform(error: btleplug::Error) -> GattError {
    match error {
        btleplug::Error::NotConnected | btleplug::Error::DeviceNotFound => {
            GattError::Disconnected(error.to_string())
        }
        btleplug::Error::TimedOut(_) => GattError::Timeout(error.to_string()),
        other => GattError::Platform(other.to_string()),
    }
}

/// btleplug's `Uuid` (from the `uuid` crate, which it does not re-export) parsed from the
/// canonical text form.
fn to_platform_uuids<U: std::str::FromStr>(uuids: &[GattUuid]) -> Result<Vec<U>, GattError> {
    uuids
        .iter()
        .map(|uuid| {
            uuid.to_string()
                .parse()
                .map_err(|_| GattError::Platform(format!("UUID {uuid} was not accepted")))
        })
        .collect()
}

fn same_uuid(platform: &[u8; 16], ours: &GattUuid) -> bool {
    platform == ours.as_bytes()
}

/// The phone's Bluetooth adapter.
pub struct BtleplugCentral {
    adapter: Adapter,
}

impl BtleplugCentral {
    /// The first Bluetooth adapter of the system.
    pub async fn new() -> Result<Self, GattError> {
        let manager = Manager::new().await.map_err(platform)?;
        let adapter = manager
            .adapters()
            .await
            .map_err(platform)?
            .into_iter()
            .next()
            .ok_or_else(|| GattError::Platform("no Bluetooth adapter".into()))?;
        Ok(Self::from_adapter(adapter))
    }

    pub fn from_adapter(adapter: Adapter) -> Self {
        Self { adapter }
    }

    /// Whether `peripheral` advertises one of `services` (by the platform's latest report).
    async fn advertises(peripheral: &Peripheral, services: &[GattUuid]) -> bool {
        let Ok(Some(properties)) = peripheral.properties().await else {
            return false;
        };
        properties
            .services
            .iter()
            .any(|seen| services.iter().any(|ours| same_uuid(seen.as_bytes(), ours)))
    }

    /// Connects, finds the link service among `services` and its characteristics, and
    /// subscribes. Disconnects again on any failure.
    async fn open(
        &self,
        peripheral: Peripheral,
        services: &[GattUuid],
        events: Poller<CentralEvent>,
    ) -> Result<BtleplugConnection, GattError> {
        // One deadline for the whole setup (proto/link.md §6.6); a late peripheral is
        // disconnected below like a failed one.
        let setup = async {
            peripheral.connect().await.map_err(platform)?;
            peripheral.discover_services().await.map_err(platform)?;
            // A platform may still list a UUID of an earlier window for this PC: take the
            // service it actually serves now, if it is one we look for.
            let (service, characteristics) = peripheral
                .services()
                .into_iter()
                .find_map(|s| {
                    let ours = services
                        .iter()
                        .find(|ours| same_uuid(s.uuid.as_bytes(), ours))?;
                    Some((*ours, s.characteristics))
                })
                .ok_or_else(|| GattError::Profile("no link service".into()))?;
            let find = |uuid: &GattUuid, needs: CharPropFlags| {
                characteristics
                    .iter()
                    .find(|c| same_uuid(c.uuid.as_bytes(), uuid) && c.properties.contains(needs))
                    .cloned()
                    .ok_or_else(|| GattError::Profile(format!("no usable characteristic {uuid}")))
            };
            let control = find(&CONTROL_POINT_UUID, CharPropFlags::WRITE)?;
            let status = find(&STATUS_UUID, CharPropFlags::NOTIFY)?;
            let mut stream = peripheral.notifications().await.map_err(platform)?;
            let notifications: Poller<ValueNotification> =
                Box::new(move |cx| stream.as_mut().poll_next(cx));
            peripheral.subscribe(&status).await.map_err(platform)?;
            Ok((service, control, notifications))
        };
        let result = tokio::time::timeout(CONNECT_TIMEOUT, setup)
            .await
            .unwrap_or_else(|_| Err(GattError::Timeout("setting up the connection".into())));
        match result {
            Ok((service, control, notifications)) => {
                let (closed, _) = watch::channel(false);
                Ok(BtleplugConnection {
                    id: peripheral.id(),
                    peripheral,
                    service,
                    control,
                    streams: Mutex::new(Streams {
                        notifications,
                        events,
                        events_open: true,
                    }),
                    closed,
                    ended: AtomicBool::new(false),
                    reason: StdMutex::new(None),
                })
            }
            Err(error) => {
                let _ = peripheral.disconnect().await;
                Err(error)
            }
        }
    }
}

#[async_trait]
impl GattCentral for BtleplugCentral {
    async fn connect(
        &self,
        services: &[GattUuid],
        scan_timeout: Duration,
    ) -> Result<Box<dyn GattConnection>, GattError> {
        let deadline = Instant::now() + scan_timeout;
        let mut stream = self.adapter.events().await.map_err(platform)?;
        let mut events: Poller<CentralEvent> = Box::new(move |cx| stream.as_mut().poll_next(cx));
        let filter = ScanFilter {
            services: to_platform_uuids(services)?,
        };
        let mut tried: HashSet<PeripheralId> = HashSet::new();
        loop {
            self.adapter
                .start_scan(filter.clone())
                .await
                .map_err(platform)?;
            let found = tokio::time::timeout_at(deadline, async {
                loop {
                    let id = match next(&mut events).await {
                        None => return Err(GattError::Platform("adapter events ended".into())),
                        Some(
                            CentralEvent::DeviceDiscovered(id)
                            | CentralEvent::DeviceUpdated(id)
                            | CentralEvent::ServicesAdvertisement { id, .. }
                            | CentralEvent::ServiceDataAdvertisement { id, .. }
                            | CentralEvent::ManufacturerDataAdvertisement { id, .. }
                            | CentralEvent::RssiUpdate { id, .. },
                        ) => id,
                        Some(_) => continue,
                    };
                    if tried.contains(&id) {
                        continue;
                    }
                    let Ok(peripheral) = self.adapter.peripheral(&id).await else {
                        continue;
                    };
                    if Self::advertises(&peripheral, services).await {
                        tried.insert(id);
                        return Ok(peripheral);
                    }
                }
            })
            .await;
            let _ = self.adapter.stop_scan().await;
            let peripheral = match found {
                Ok(found) => found?,
                Err(_) => return Err(GattError::NotFound),
            };
            // The connection keeps the event stream to watch for its disconnect; after a
            // failed attempt the scan goes on with a fresh one.
            let events_for_connection =
                std::mem::replace(&mut events, Box::new(|_| Poll::Ready(None)));
            match self.open(peripheral, services, events_for_connection).await {
                Ok(connection) => return Ok(Box::new(connection)),
                Err(error) => {
                    tracing::debug!(%error, "ble: candidate pairing tool refused, scanning on");
                    if Instant::now() >= deadline {
                        return Err(error);
                    }
                    let mut stream = self.adapter.events().await.map_err(platform)?;
                    events = Box::new(move |cx| stream.as_mut().poll_next(cx));
                }
            }
        }
    }
}

struct Streams {
    notifications: Poller<ValueNotification>,
    events: Poller<CentralEvent>,
    events_open: bool,
}

/// One connection to a pairing tool's link service.
pub struct BtleplugConnection {
    id: PeripheralId,
    peripheral: Peripheral,
    service: GattUuid,
    control: Characteristic,
    streams: Mutex<Streams>,
    /// Set to true by `disconnect` and on drop; wakes a waiting `recv_fragment`.
    closed: watch::Sender<bool>,
    /// The peripheral's disconnect was already requested.
    ended: AtomicBool,
    reason: StdMutex<Option<String>>,
}

impl BtleplugConnection {
    fn mark_disconnected(&self, why: &str) -> GattError {
        let mut reason = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        GattError::Disconnected(reason.get_or_insert_with(|| why.to_owned()).clone())
    }

    fn check_connected(&self) -> Result<(), GattError> {
        match &*self.reason.lock().unwrap_or_else(PoisonError::into_inner) {
            None => Ok(()),
            Some(why) => Err(GattError::Disconnected(why.clone())),
        }
    }
}

#[async_trait]
impl GattConnection for BtleplugConnection {
    fn service(&self) -> GattUuid {
        self.service
    }

    fn att_mtu(&self) -> u16 {
        // btleplug reports 23 where the platform does not expose the MTU.
        self.peripheral.mtu().max(DEFAULT_ATT_MTU)
    }

    async fn send_fragment(&self, fragment: &[u8]) -> Result<(), GattError> {
        self.check_connected()?;
        self.peripheral
            .write(&self.control, fragment, WriteType::WithResponse)
            .await
            .map_err(platform)
    }

    async fn recv_fragment(&self) -> Result<Vec<u8>, GattError> {
        self.check_connected()?;
        let mut closed = self.closed.subscribe();
        let mut streams = self.streams.lock().await;
        let Streams {
            notifications,
            events,
            events_open,
        } = &mut *streams;
        loop {
            tokio::select! {
                // Notifications first: those that arrived before a disconnect are delivered.
                biased;
                notification = next(notifications) => match notification {
                    Some(n) if same_uuid(n.uuid.as_bytes(), &STATUS_UUID) => return Ok(n.value),
                    Some(_) => {}
                    None => return Err(self.mark_disconnected("notification stream ended")),
                },
                event = next(events), if *events_open => match event {
                    Some(CentralEvent::DeviceDisconnected(id)) if id == self.id => {
                        return Err(self.mark_disconnected("the pairing tool disconnected"));
                    }
                    Some(_) => {}
                    None => *events_open = false,
                },
                _ = closed.wait_for(|closed| *closed) => {
                    return Err(self.mark_disconnected("disconnected by this side"));
                }
            }
        }
    }

    async fn disconnect(&self) {
        self.mark_disconnected("disconnected by this side");
        self.closed.send_replace(true);
        if !self.ended.swap(true, Ordering::SeqCst) {
            let _ = self.peripheral.disconnect().await;
        }
    }
}

impl Drop for BtleplugConnection {
    fn drop(&mut self) {
        self.closed.send_replace(true);
        if !self.ended.swap(true, Ordering::SeqCst)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let peripheral = self.peripheral.clone();
            runtime.spawn(async move {
                let _ = peripheral.disconnect().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_reach_btleplug_unchanged() {
        let ours = [CONTROL_POINT_UUID, STATUS_UUID];
        let filter = ScanFilter {
            services: to_platform_uuids(&ours).unwrap(),
        };
        assert_eq!(filter.services.len(), 2);
        for (platform, ours) in filter.services.iter().zip(&ours) {
            assert!(same_uuid(platform.as_bytes(), ours));
            assert_eq!(platform.to_string(), ours.to_string());
        }
    }

    #[tokio::test]
    async fn a_machine_without_bluetooth_gives_an_error_not_a_panic() {
        // Here (CI, containers) there is no BlueZ; with a real adapter this just succeeds.
        match tokio::time::timeout(Duration::from_secs(10), BtleplugCentral::new()).await {
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(error)) => assert!(
                matches!(error, GattError::Platform(_) | GattError::Disconnected(_)),
                "{error}"
            ),
        }
    }
}
