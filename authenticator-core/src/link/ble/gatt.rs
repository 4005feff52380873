//! The boundary between the BLE link and a Bluetooth stack, and the constants of the GATT
//! profile (proto/link.md §6). The phone is the central: it scans for the pairing tool's
//! rotating service UUID, connects, subscribes to `linkStatus` and writes `linkControlPoint`.
//! The pairing tool is the peripheral and mirrors this.
//!
//! Invariants of every implementation: a connection carries whole fragments in order (ATT is
//! reliable and ordered; a stack that loses one is caught by reassembly or the channel);
//! `recv_fragment` is cancel-safe and, once the connection is gone, returns every fragment
//! that had already arrived before it reports `Disconnected`; `att_mtu` is the value in force
//! now (it may grow after an MTU exchange), never below 23.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::link::transport::LinkError;

/// A 128-bit UUID as it appears in GATT, stored big-endian in its text order
/// (`00112233-4455-6677-8899-aabbccddeeff` is bytes `00 11 .. ff`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GattUuid([u8; 16]);

impl GattUuid {
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub const fn from_u128(value: u128) -> Self {
        Self(value.to_be_bytes())
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for GattUuid {
    /// RFC 4122 text form, lower case, as platform APIs print and parse it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for GattUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GattUuid({self})")
    }
}

/// `linkControlPoint` (proto/link.md §6.2): phone -> PC fragments, Write (with response).
pub const CONTROL_POINT_UUID: GattUuid =
    GattUuid::from_u128(0x1f3a_b8bb_6bc8_4a29_8cdc_2667_d4a0_fea8);
/// `linkStatus` (proto/link.md §6.2): PC -> phone fragments, Notify.
pub const STATUS_UUID: GattUuid = GattUuid::from_u128(0xf227_7883_06f4_4ba6_b120_e6d0_5ad2_445f);

/// The ATT MTU before any exchange (Bluetooth Core 5.4 Vol 3 Part F §3.2.8).
pub const DEFAULT_ATT_MTU: u16 = 23;
/// The pairing tool advertises this long before it also knocks on the relay (§6.6).
pub const ADVERTISE_BEFORE_RELAY: Duration = Duration::from_secs(3);
/// After scanning a pairing code, the phone looks for the code's service this long before it
/// uses the relay instead (§6.6).
pub const QR_SCAN_TIME: Duration = Duration::from_secs(3);
/// From seeing the service to a subscribed connection; longer means "use the relay" (§6.6).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a GATT operation failed. Messages name no secret and no peer address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GattError {
    /// No peripheral advertised any of the services within the time allowed.
    #[error("no pairing tool advertised a link service in time")]
    NotFound,
    /// The peripheral was reached but does not offer the link profile.
    #[error("the peripheral does not offer the link profile: {0}")]
    Profile(String),
    /// The connection is gone (radio loss, peer or local disconnect).
    #[error("the BLE connection is closed: {0}")]
    Disconnected(String),
    /// An operation did not finish in time.
    #[error("a BLE operation timed out: {0}")]
    Timeout(String),
    /// The Bluetooth stack refused or failed (adapter off, permission, write error).
    #[error("the Bluetooth stack failed: {0}")]
    Platform(String),
}

impl From<GattError> for LinkError {
    fn from(error: GattError) -> Self {
        match error {
            GattError::Disconnected(why) => LinkError::Closed(format!("ble: {why}")),
            GattError::Timeout(why) => LinkError::Timeout(format!("ble: {why}")),
            other => LinkError::Transport(format!("ble: {other}")),
        }
    }
}

/// One GATT connection between the phone and a pairing tool, seen from either end. On the
/// phone (central) `send_fragment` writes `linkControlPoint` with response and
/// `recv_fragment` yields `linkStatus` notifications; on the pairing tool (peripheral) it is
/// the mirror image.
#[async_trait]
pub trait GattConnection: Send + Sync {
    /// The link service this connection reached: the rotating UUID the peripheral advertised.
    fn service(&self) -> GattUuid;

    /// The ATT MTU in force now; fragments sent now are at most `att_mtu - 3` bytes.
    fn att_mtu(&self) -> u16;

    /// Sends one fragment; returns once the stack accepted it (the write was acknowledged, or
    /// the notification was queued).
    async fn send_fragment(&self, fragment: &[u8]) -> Result<(), GattError>;

    /// Waits for the peer's next fragment. Cancel-safe: a dropped call loses nothing.
    async fn recv_fragment(&self) -> Result<Vec<u8>, GattError>;

    /// Ends the connection (best effort); pending and later calls fail with `Disconnected`.
    async fn disconnect(&self);
}

/// The phone's side of a Bluetooth stack: finding and opening a pairing tool's GATT service.
#[async_trait]
pub trait GattCentral: Send + Sync {
    /// Scans for a peripheral that advertises any of `services`, connects to the first one
    /// seen, finds the link service and its two characteristics, and subscribes to
    /// `linkStatus`. `NotFound` when nothing matching appears within `scan_timeout`.
    async fn connect(
        &self,
        services: &[GattUuid],
        scan_timeout: Duration,
    ) -> Result<Box<dyn GattConnection>, GattError>;
}
