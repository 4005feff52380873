//! The phone's side of CTAP 2.2 hybrid transport ("caBLE v2"): a browser shows a `FIDO:/` QR
//! code, the phone scans it, advertises over BLE, and both meet at a WebSocket tunnel server.
//!
//! Each part is checked against Chromium's behaviour (`device/fido/cable/`, the reference
//! where CTAP 2.2 is thin):
//! - [`qr`]: the `FIDO:/` digit codec and the QR's CBOR payload;
//! - [`keys`]: the HKDF derivations from the QR secret and the 20-byte BLE advert;
//! - [`tunnel`]: tunnel server domains from their 16-bit id, and the tunnel URLs;
//! - [`frames`]: what travels inside the tunnel after the handshake (Chromium
//!   `v2_authenticator.cc`): the 32-byte padding of every message, the post-handshake message
//!   and the v2.1 frames (shutdown, CTAP, update);
//! - [`client`]: the tunnel client (WebSocket, subprotocol `fido.cable`);
//! - [`handshake`]: the Noise KNpsk0 handshake with the browser (the phone responds);
//! - [`crypter`]: the AES-256-GCM encryption of every message after it (v2.1 nonce, padding);
//! - [`linking`]: state-assisted linking's formats and keys (update frame, client payload,
//!   link-secret derivations), and [`session_linked`]: making a link after a consented QR
//!   session and serving a linked browser that comes back without a QR code;
//! - [`session`]: the phone's QR-initiated session (tunnel, advert, handshake, one CTAP
//!   operation through the engine, shutdown), which `Authenticator::serve_hybrid` runs.

pub mod client;
pub mod crypter;
pub mod frames;
pub mod handshake;
pub mod keys;
pub mod linking;
pub mod qr;
pub mod session;
pub mod session_linked;
#[cfg(any(test, feature = "testkit"))]
pub mod session_browser;
mod session_requests;
pub mod tunnel;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod crypter_tests;
#[cfg(test)]
mod frames_tests;
#[cfg(test)]
mod handshake_tests;
#[cfg(test)]
mod linking_tests;
#[cfg(test)]
mod session_linked_tests;
#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod test_vectors;
#[cfg(test)]
mod tests;
