//! The fixed keys of the link targets. Only the harness and its seeds know them, so a message
//! the fuzzer did not take from a seed cannot authenticate, and the targets can check
//! authenticity (a success must be something the harness sealed).

use std::sync::OnceLock;

use authenticator_core::link::noise::{KeyPair, PSK_LEN, PUBLIC_KEY_LEN};

/// The phone's static scalar (initiator).
const PHONE_SCALAR: [u8; 32] = [0x11; 32];
/// The pairing tool's static scalar (responder).
const PC_SCALAR: [u8; 32] = [0x22; 32];
/// The IKpsk1 psk (what a pairing code's secret derives to).
pub const QR_PSK: [u8; PSK_LEN] = [0x33; PSK_LEN];
/// The KKpsk0 psk (a pairing's secret).
pub const PAIRING_SECRET: [u8; PSK_LEN] = [0x44; PSK_LEN];
/// Transport keys of the channel targets: A -> B and B -> A.
pub const KEY_A_TO_B: [u8; 32] = [0xA1; 32];
pub const KEY_B_TO_A: [u8; 32] = [0xB2; 32];

pub fn phone() -> KeyPair {
    KeyPair::from_scalar_bytes(&PHONE_SCALAR).expect("a valid scalar")
}

pub fn pc() -> KeyPair {
    KeyPair::from_scalar_bytes(&PC_SCALAR).expect("a valid scalar")
}

/// Public keys are computed once: a P-256 scalar multiplication per call would dominate the
/// handshake target's time.
pub fn phone_public() -> [u8; PUBLIC_KEY_LEN] {
    static KEY: OnceLock<[u8; PUBLIC_KEY_LEN]> = OnceLock::new();
    *KEY.get_or_init(|| *phone().public_key())
}

pub fn pc_public() -> [u8; PUBLIC_KEY_LEN] {
    static KEY: OnceLock<[u8; PUBLIC_KEY_LEN]> = OnceLock::new();
    *KEY.get_or_init(|| *pc().public_key())
}

/// The PC key as a pairing code carries it (SEC1 compressed).
pub fn pc_compressed() -> [u8; 33] {
    let public = pc_public();
    let mut out = [0u8; 33];
    out[0] = 2 | (public[64] & 1);
    out[1..].copy_from_slice(&public[1..33]);
    out
}
