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
//! - [`http`]: the core's HTTP/1.1 client for the workspace API and the relays: one strict URL
//!   grammar, TLS with the platform verifier, bodies read under the caller's limit.
//! - [`testkit`] (tests only; the `testkit` feature): the scripted user, the key-protector
//!   double and the fake clock that every test shares.
//! - [`hybrid`]: CTAP 2.2 hybrid transport, the phone's side: the `FIDO:/` QR codec, the keys
//!   and BLE advert, tunnel server domains, the tunnel client, the Noise handshake and the
//!   session `Authenticator::serve_hybrid` runs.
//! - [`request`]: cancellation and keepalive signals between a transport and a request.
//!
//! What is public is a decision, listed in `tests/module_graph.rs`: the uniffi API (`api`,
//! `platform`), and what this workspace's other binaries legitimately share (`cbor`,
//! `ctaphid`). The PC's side of the phone's protocols (`link`, `obr`'s wire formats, `ctap`'s
//! PIN protocol and statuses) is public only with the `pc` feature (the pairing tool, the
//! workspace server); everything is public with `testkit`, for this workspace's white-box
//! tests, benches and fuzzers. The library the apps ship has neither.

uniffi::setup_scaffolding!();

/// Internal modules: `pub(crate)` in the library the apps ship; public with `testkit`.
macro_rules! internal {
    ($($module:ident),* $(,)?) => {$(
        #[cfg(feature = "testkit")]
        pub mod $module;
        #[cfg(not(feature = "testkit"))]
        pub(crate) mod $module;
    )*};
}

/// The phone's side of protocols whose other side the PC, the workspace or the admin's tool
/// runs: `pub(crate)` in the library the apps ship; public with `pc` (or `testkit`).
macro_rules! shared_with_the_pc_side {
    ($($module:ident),* $(,)?) => {$(
        #[cfg(feature = "pc")]
        pub mod $module;
        #[cfg(not(feature = "pc"))]
        pub(crate) mod $module;
    )*};
}

pub mod api;
pub mod cbor;
pub mod ctaphid;
pub mod platform;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

shared_with_the_pc_side!(ctap, link, obr);
internal!(enroll, hex, http, hybrid, request, secret, vault, workspace);
