//! Hybrid transport input through `authenticator_core_fuzz::hybrid::run_frames`; see that module
//! for the input layout and the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authenticator_core_fuzz::hybrid::run_frames(data);
});
