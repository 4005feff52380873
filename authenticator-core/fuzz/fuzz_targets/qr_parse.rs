//! Scanned pairing codes through `link::qr::QrPairing::parse` and `digits_decode`, with the
//! canonical round trip (`to_cbor`, `to_uri`) and the validity window. See
//! `authenticator_core_fuzz::qr` for the input layout and the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authenticator_core_fuzz::qr::run(data);
});
