//! The link service: while running, the phone serves its paired computers' CTAP requests
//! over the relay and, when asked and built with the `ble` feature, over Bluetooth.
//!
//! Invariants: at most one service runs per authenticator; stopping (or dropping the
//! authenticator) aborts it with its sessions; an observer that fails is ignored.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Authenticator, AuthenticatorError, guard};
use crate::link::service::{LinkEvent, LinkService};
use crate::platform::UserInterfaceError;

/// What the link service reports, for the app's ongoing notification. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum LinkServiceEvent {
    /// A paired computer connected over `transport` ("relay" or "ble").
    Connected { computer: String, transport: String },
    /// A request was answered (CTAP command byte, status byte).
    Served {
        computer: String,
        command: u8,
        status: u8,
    },
    /// A session ended; `reason` says why.
    Ended { computer: String, reason: String },
    /// A connection was refused (unknown or removed pairing).
    Refused { reason: String },
    /// A relay could not be reached; the service retries.
    RelayTrouble { relay: String, reason: String },
    /// Bluetooth could not be used; the service goes on over the relay.
    BluetoothUnavailable { reason: String },
}

impl From<LinkEvent> for LinkServiceEvent {
    fn from(e: LinkEvent) -> Self {
        match e {
            LinkEvent::SessionStarted { pc, link } => Self::Connected {
                computer: pc,
                transport: link.to_string(),
            },
            LinkEvent::Served {
                pc,
                command,
                status,
            } => Self::Served {
                computer: pc,
                command,
                status,
            },
            LinkEvent::SessionEnded { pc, reason } => Self::Ended {
                computer: pc,
                reason,
            },
            LinkEvent::Refused { reason } => Self::Refused { reason },
            LinkEvent::RelayTrouble { relay, reason } => Self::RelayTrouble { relay, reason },
        }
    }
}

/// Receives the link service's events (called from the core's threads).
#[uniffi::export(foreign)]
pub trait LinkObserver: Send + Sync {
    /// One event; an error (or exception) is ignored.
    fn on_link_event(&self, event: LinkServiceEvent) -> Result<(), UserInterfaceError>;
}

/// A running service: aborted when dropped.
pub(super) struct Running {
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Whether any of its tasks still runs.
    fn is_live(&self) -> bool {
        self.tasks.iter().any(|t| !t.is_finished())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[uniffi::export]
impl Authenticator {
    /// Starts serving the paired computers (`InvalidState` if already running). With
    /// `use_ble`, Bluetooth is scanned too (`Unsupported` if this library was built without
    /// it). Keep the app alive meanwhile (Android: a foreground service).
    pub fn start_link_service(
        &self,
        use_ble: bool,
        observer: Option<Arc<dyn LinkObserver>>,
    ) -> Result<(), AuthenticatorError> {
        guard(|| {
            if use_ble && !cfg!(feature = "ble") {
                return Err(AuthenticatorError::Unsupported {
                    reason: "this build of the app has no Bluetooth support; start the link \
                             service without Bluetooth"
                        .into(),
                });
            }
            let mut slot = self
                .link
                .lock()
                .map_err(|_| AuthenticatorError::internal("the link service state is unusable"))?;
            if slot.as_ref().is_some_and(Running::is_live) {
                return Err(AuthenticatorError::InvalidState {
                    reason: "the link service is already running".into(),
                });
            }
            let handle = self.handle()?;
            let (tx, mut rx) = mpsc::unbounded_channel::<LinkEvent>();
            let service = LinkService::new(
                self.vault.clone(),
                self.engine.clone(),
                self.clock.clone(),
                self.relay_config(),
            )
            .with_events(tx);
            let notify = observer.clone();
            let serve = handle.spawn(async move {
                let service = with_bluetooth(service, use_ble, notify.as_deref()).await;
                Arc::new(service).run().await;
            });
            let forward = handle.spawn(async move {
                while let Some(event) = rx.recv().await {
                    if let Some(observer) = &observer {
                        let _ = observer.on_link_event(event.into());
                    }
                }
            });
            *slot = Some(Running {
                tasks: vec![serve, forward],
            });
            tracing::info!(use_ble, "link service started");
            Ok(())
        })
    }

    /// Stops serving; open sessions end. Does nothing if it was not running.
    pub fn stop_link_service(&self) {
        if let Ok(mut slot) = self.link.lock()
            && slot.take().is_some()
        {
            tracing::info!("link service stopped");
        }
    }

    /// Whether the link service runs.
    pub fn link_service_running(&self) -> bool {
        self.link
            .lock()
            .is_ok_and(|slot| slot.as_ref().is_some_and(Running::is_live))
    }
}

#[cfg(feature = "ble")]
async fn with_bluetooth(
    service: LinkService,
    use_ble: bool,
    observer: Option<&dyn LinkObserver>,
) -> LinkService {
    if !use_ble {
        return service;
    }
    match crate::link::ble::btleplug_adapter::BtleplugCentral::new().await {
        Ok(central) => service.with_ble(Arc::new(central)),
        Err(e) => {
            tracing::warn!(%e, "bluetooth unavailable; serving over the relay only");
            if let Some(observer) = observer {
                let _ = observer.on_link_event(LinkServiceEvent::BluetoothUnavailable {
                    reason: e.to_string(),
                });
            }
            service
        }
    }
}

#[cfg(not(feature = "ble"))]
async fn with_bluetooth(
    service: LinkService,
    _: bool,
    _: Option<&dyn LinkObserver>,
) -> LinkService {
    service
}
