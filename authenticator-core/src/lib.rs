//! The phone authenticator core: everything of the phone-as-FIDO2-security-key product that is
//! not platform UI. The Android and iOS apps use it through uniffi; the virtual phone
//! (`tests/virtual-phone`) runs it headless for integration tests.
//!
//! Module map:
//! - [`platform`]: foreign traits the apps implement (`KeyProtector`, ...), and the software
//!   key protector for desktops and tests.
//! - [`vault`]: the encrypted SQLite vault (credentials, pairings, PIN state, settings, audit).
//! - [`secret`]: zeroizing secret bytes and the system random source.
//! - [`cbor`]: strict CTAP2-canonical CBOR, shared by CTAP, the link and OBR.
//! - [`ctap`]: the CTAP 2.1 engine; [`ctaphid`]: the CTAPHID transport framing.
//! - [`workspace`]: the phone's workspace membership (enrollment record, device and OBR keys),
//!   the signed workspace API client, and the workspace's events, typed.
//! - [`enroll`]: activation links, the key's status, client PIN provisioning.
//! - [`link`]: pairing with the PC: QR payload, Noise handshakes, the encrypted channel, the
//!   relay and BLE transports, the phone's link service.
//! - [`obr`]: on-behalf registration: the workspace's grant, pending approvals, the session
//!   with the admin's tool, and the phone's receipt.
//! - [`api`]: the exported surface the apps call through uniffi (`Authenticator`).
//! - [`hex`]: the hex form of ids shown to people and logs.
//! - [`testkit`] (tests only; the `testkit` feature): the scripted user, the key-protector
//!   double and the fake clock that every test shares.
//! - [`request`]: cancellation and keepalive signals between a transport and a request.

uniffi::setup_scaffolding!();

pub mod api;
pub mod cbor;
pub mod ctap;
pub mod ctaphid;
pub mod enroll;
pub mod hex;
pub mod link;
pub mod obr;
pub mod platform;
pub mod request;
pub mod secret;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod vault;
pub mod workspace;
