//! Secure-channel frames (`link::channel::SecureChannel`) with fixed keys: arbitrary frames
//! into `open`, and sealed streams under fuzzer-chosen drops, duplicates, swaps and bit flips.
//! See `authenticator_core_fuzz::frame` for the input layout and the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authenticator_core_fuzz::frame::run(data);
});
