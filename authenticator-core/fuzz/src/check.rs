//! What every CTAP response must satisfy, whatever the request:
//! - it is not empty (there is always a status byte);
//! - an error status comes alone (CTAP 2.1 §8: no CBOR after a non-zero status);
//! - after status 0 comes nothing, or one data item in CTAP2 canonical CBOR, which
//!   `cbor::decode` accepts and `cbor::encode` reproduces byte for byte.

use std::sync::atomic::{AtomicBool, Ordering};

use authenticator_core::cbor::{self, Value};

/// CTAPHID carries at most this many bytes (and getInfo's maxMsgSize says so).
pub const MAX_MSG_SIZE: usize = 7609;

/// Checks `response` and returns its CBOR body, if it is a success with one.
pub fn response(request: &[u8], response: &[u8]) -> Option<Value> {
    let Some((&status, body)) = response.split_first() else {
        panic!("empty CTAP response to request {}", hex(request));
    };
    if status != 0 {
        assert!(
            body.is_empty(),
            "status {status:#04x} followed by {} bytes",
            body.len()
        );
        return None;
    }
    if response.len() > MAX_MSG_SIZE {
        // Not a panic: CTAPHID turns it into CTAP1_ERR_OTHER. Worth knowing, so say it once.
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            eprintln!(
                "note: a {}-byte response exceeds maxMsgSize {MAX_MSG_SIZE} (request {})",
                response.len(),
                hex(&request[..request.len().min(64)])
            );
        }
    }
    if body.is_empty() {
        return None;
    }
    let value = match cbor::decode(body) {
        Ok(value) => value,
        Err(e) => panic!(
            "status 0 with a body that is not canonical CBOR ({e}): response {}",
            hex(response)
        ),
    };
    assert_eq!(
        cbor::encode(&value),
        body,
        "a decoded response does not re-encode to itself"
    );
    Some(value)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
