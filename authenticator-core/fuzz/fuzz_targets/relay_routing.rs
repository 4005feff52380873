//! Relay routing info (`link::relay::Routing::parse`) and relay URLs (`check_relay_url`). See
//! `authenticator_core_fuzz::routing` for the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authenticator_core_fuzz::routing::run(data);
});
