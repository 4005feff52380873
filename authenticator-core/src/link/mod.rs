//! Pairing and the link between the phone and the pairing tool (DESIGN §7, proto/link.md).
//!
//! - [`qr`]: the pairing code the PC shows and the phone scans.
//! - [`noise`]: the Noise handshakes, IKpsk1 for the first pairing and KKpsk0 for reconnects.
//! - [`channel`]: the encrypted, padded, strictly ordered transport after the handshake.
//! - [`transport`]: the `Link` trait that BLE and the relay implement.

pub mod channel;
pub mod noise;
pub mod qr;
pub mod transport;

pub use channel::{ChannelError, MessageType, SecureChannel};
pub use noise::{HandshakeOutcome, HandshakeState, KeyPair, NoiseError, Pattern, Role};
pub use qr::{QrError, QrPairing};
pub use transport::{Link, LinkError, MAX_LINK_MESSAGE};

#[cfg(test)]
mod tests;
