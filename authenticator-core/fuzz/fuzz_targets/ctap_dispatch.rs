//! Raw CTAP requests (command byte + parameters) into a process-wide engine
//! (`CtapEngine::handle`), whose scripted user approves every prompt. The response must be
//! non-empty, an error status must come alone, and a success body must be canonical CBOR.
//!
//! The engine and its vault live as long as the process, so state carries over between
//! inputs (passkeys, PIN retries...); authenticatorReset (`[0x07]`) is always allowed and
//! wipes it, and the vault holds at most 64 passkeys.

#![no_main]

use authenticator_core::request::RequestSignals;
use authenticator_core_fuzz::{check, engine::Harness};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let harness = Harness::get();
    harness.user.approve_all();
    let response = harness.handle(0, data, &RequestSignals::new());
    check::response(data, &response);
});
