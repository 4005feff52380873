//! The phone's side of CTAP 2.2 hybrid transport ("caBLE v2"): a browser shows a `FIDO:/` QR
//! code, the phone scans it, advertises over BLE, and both meet at a WebSocket tunnel server.
//!
//! This first step holds the pure parts, each checked against Chromium's behaviour
//! (`device/fido/cable/v2_handshake.cc`, the reference where CTAP 2.2 is thin):
//! - [`qr`]: the `FIDO:/` digit codec and the QR's CBOR payload;
//! - [`keys`]: the HKDF derivations from the QR secret and the 20-byte BLE advert;
//! - [`tunnel`]: tunnel server domains from their 16-bit id, and the tunnel URLs;
//! - [`frames`]: what travels inside the tunnel after the handshake (Chromium
//!   `v2_authenticator.cc`): the 32-byte padding of every message, the post-handshake message
//!   and the v2.1 frames (shutdown, CTAP, update).
//!
//! The tunnel client, the Noise handshake, the session and `Authenticator::serve_hybrid` come
//! next; until then nothing outside tests uses this module.

pub mod client;
pub mod frames;
pub mod keys;
pub mod qr;
pub mod tunnel;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod frames_tests;
#[cfg(test)]
mod tests;
