//! BLE fragments (`link::ble::fragment`): arbitrary fragment runs into `Reassembler::push`
//! against a model of proto/link.md §6.4, and `fragment` round trips under mutations. See
//! `authenticator_core_fuzz::ble` for the input layout and the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authenticator_core_fuzz::ble::run(data);
});
