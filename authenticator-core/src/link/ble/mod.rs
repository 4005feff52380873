//! The BLE link (proto/link.md §6): the phone is the GATT central, the pairing tool on the PC
//! is a GATT peripheral whose service UUID rotates every ten minutes, and link messages travel
//! in FIDO-BLE-style fragments sized to the negotiated ATT MTU.
//!
//! - [`gatt`]: the boundary to a Bluetooth stack (`GattCentral`, `GattConnection`), the
//!   profile's fixed characteristic UUIDs and timing constants.
//! - [`fragment`]: pure fragmentation and strict reassembly.
//! - [`service_uuid`]: the rotating service UUID of a pairing or of a pairing code.
//! - [`link`]: `BleLink`, the [`Link`](super::Link) over one GATT connection.
//! - `sim`: an in-process radio (central and peripheral ends) with fault knobs, for tests and
//!   benches (the `testkit` feature; not in the phone library).
//! - `btleplug_adapter` (feature `ble`): the boundary implemented with btleplug on Linux,
//!   Android and iOS.
//!
//! Invariants: nothing here adds security. A BLE peer can drop, repeat, reorder or alter
//! fragments; reassembly refuses what `fragment` cannot produce, and the secure channel above
//! refuses everything else (proto/link.md §4.1).
// The profile's PC half (the peripheral's UUIDs and timings, the QR-derived service UUID) is
// used by the pairing tool (`pc`) and the simulator; without the btleplug adapter (`ble`) the
// phone library has no GATT central at all. Either way the phone library leaves parts unused.
#![cfg_attr(not(any(test, feature = "pc")), allow(dead_code, unused_imports))]

#[cfg(feature = "ble")]
pub mod btleplug_adapter;
pub mod fragment;
pub mod gatt;
pub mod link;
pub mod service_uuid;
#[cfg(any(test, feature = "testkit"))]
pub mod sim;

#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use fragment::{FragmentError, Reassembler, fragment, fragment_len_for_mtu};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use gatt::{GattCentral, GattConnection, GattError, GattUuid};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use link::BleLink;
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use service_uuid::{pairing_scan_uuids, pairing_service_uuid, qr_scan_uuids, qr_service_uuid};

#[cfg(test)]
mod tests;
