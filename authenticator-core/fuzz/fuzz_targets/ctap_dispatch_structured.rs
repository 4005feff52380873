//! Valid-looking CTAP request sequences, generated from the input (see
//! `authenticator_core_fuzz::requests`), including real PIN/UV protocol crypto, so the fuzzer
//! gets deep into makeCredential, getAssertion, clientPIN, credentialManagement and config.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authenticator_core_fuzz::requests::run(data);
});
