//! Raw CTAP requests (command byte + parameters) into a process-wide engine
//! (`CtapEngine::handle`), whose scripted user approves every prompt. The response must be
//! non-empty, an error status must come alone, and a success body must be canonical CBOR.
//!
//! The engine and its vault live as long as the process, so state carries over between
//! inputs (passkeys, PIN retries...); authenticatorReset (`[0x07]`) is always allowed and
//! wipes it, and the vault holds at most 64 passkeys. Every input comes from the same origin,
//! as from one CTAPHID channel, so follow-up state carries over too.

#![no_main]

use std::sync::OnceLock;

use authenticator_core::request::{Origin, RequestSignals};
use authenticator_core_fuzz::{check, engine::Harness};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let harness = Harness::get();
    harness.approve_all();
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    let origin = ORIGIN.get_or_init(Origin::ctaphid_channel).clone();
    let response = harness.handle(0, data, &RequestSignals::new(origin));
    check::response(data, &response);
});
