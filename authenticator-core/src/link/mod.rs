//! Pairing and the link between the phone and the pairing tool (DESIGN §7, proto/link.md).
//!
//! - [`qr`]: the pairing code the PC shows and the phone scans.
//! - [`aead`]: the AEAD both the handshake and the channel seal with (AESGCM, its nonce and
//!   Noise's message limit).
//! - [`noise`]: the Noise handshakes, IKpsk1 for the first pairing and KKpsk0 for reconnects;
//!   a finished one builds the channel from its Split() keys.
//! - [`channel`]: the encrypted, padded, strictly ordered transport after the handshake.
//! - [`transport`]: the `Link` trait that BLE and the relay implement.
//! - [`relay`]: the cloud relay's routing info, client and `Link`.
//! - `memory`: an in-process `Link` for tests and harnesses (the `testkit` feature).
//! - [`session`]: the handshakes run over a `Link`, then typed sealed messages.
//! - [`pairing`]: the phone pairs with a PC from its code; paired PCs are listed and removed.
//! - [`service`]: the phone listens for all paired PCs and serves their CTAP requests.
//! - [`ble`]: the BLE `Link` (phone = GATT central), its fragmentation, rotating service UUID and
//!   simulator (the simulator with the `testkit` feature).
//!
//! The PC's side of the protocol (the responder handshakes in `session/pc.rs`, making a pairing
//! code and its routing info) is built only with the crate's `pc` feature: the pairing tool runs
//! it, the phone library does not ship it. Both sides share one implementation of each message
//! format.
//!
//! The submodules depend only downward, floor by floor: `transport`, `aead`; then `relay`,
//! `memory`, `channel`; `noise`; `qr`, `session`; `ble` (on `qr` and `transport`); and on top
//! `pairing` and `service`. The test in `layering.rs` fails on a circle.

pub mod aead;
pub mod ble;
pub mod channel;
#[cfg(any(test, feature = "testkit"))]
pub mod memory;
pub mod noise;
pub mod pairing;
pub mod qr;
pub mod relay;
pub mod service;
pub mod session;
pub mod transport;

#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use channel::{ChannelError, MessageType, SecureChannel};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use noise::{HandshakeOutcome, HandshakeState, KeyPair, NoiseError, Pattern, Role};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use qr::{QrError, QrPairing};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use transport::{Link, LinkError, MAX_LINK_MESSAGE};

#[cfg(test)]
mod layering;
#[cfg(test)]
mod tests;
