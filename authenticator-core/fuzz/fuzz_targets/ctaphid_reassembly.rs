//! 64-byte reports through the CTAPHID state machine (`CtapHid::receive`, `poll_timeout`,
//! `finish_cbor`, `keepalive`) and a bare `Assembler`, on a fake clock. See
//! `authenticator_core_fuzz::hid` for the input layout and the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authenticator_core_fuzz::hid::run(data);
});
