//! Pairing and the link between the phone and the pairing tool (DESIGN §7, proto/link.md).
//!
//! - [`qr`]: the pairing code the PC shows and the phone scans.
//! - [`noise`]: the Noise handshakes, IKpsk1 for the first pairing and KKpsk0 for reconnects.
//! - [`channel`]: the encrypted, padded, strictly ordered transport after the handshake.
//! - [`transport`]: the `Link` trait that BLE and the relay implement.
//! - [`relay`]: the cloud relay's routing info, client and `Link`.
//! - [`memory`]: an in-process `Link` for tests and harnesses.
//! - [`session`]: the handshakes run over a `Link`, then typed sealed messages.
//! - [`pairing`]: the phone pairs with a PC from its code; paired PCs are listed and removed.
//! - [`service`]: the phone listens for all paired PCs and serves their CTAP requests.
//! - [`ble`]: the BLE `Link` (phone = GATT central), its fragmentation, rotating service UUID and
//!   simulator.

pub mod ble;
pub mod channel;
pub mod memory;
pub mod noise;
pub mod pairing;
pub mod qr;
pub mod relay;
pub mod service;
pub mod session;
pub mod transport;

pub use channel::{ChannelError, MessageType, SecureChannel};
pub use noise::{HandshakeOutcome, HandshakeState, KeyPair, NoiseError, Pattern, Role};
pub use qr::{QrError, QrPairing};
pub use transport::{Link, LinkError, MAX_LINK_MESSAGE};

#[cfg(test)]
mod tests;
