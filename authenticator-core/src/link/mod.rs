//! Pairing and the link between the phone and the pairing tool (DESIGN §7, proto/link.md).
//!
//! - [`qr`]: the pairing code the PC shows and the phone scans.
//! - [`noise`]: the Noise handshakes, IKpsk1 for the first pairing and KKpsk0 for reconnects.
//! - [`channel`]: the encrypted, padded, strictly ordered transport after the handshake.
//!
//! The BLE and relay transports that carry these bytes come in a later step.

pub mod channel;
pub mod noise;
pub mod qr;

pub use channel::{ChannelError, MessageType, SecureChannel};
pub use noise::{HandshakeOutcome, HandshakeState, KeyPair, NoiseError, Pattern, Role};
pub use qr::{QrError, QrPairing};

#[cfg(test)]
mod tests;
