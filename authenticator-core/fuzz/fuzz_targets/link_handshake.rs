//! Noise handshake messages (`link::noise::HandshakeState`, IKpsk1 and KKpsk0, fixed keys) and
//! the session layer's handshake payloads (`link::session`). See
//! `authenticator_core_fuzz::handshake` for the modes and the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authenticator_core_fuzz::handshake::run(data);
});
