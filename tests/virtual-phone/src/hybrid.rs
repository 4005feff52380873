//! `virtual-phone hybrid 'FIDO:/...'`: the phone scans a browser's hybrid QR code and serves it
//! through the API's `serve_hybrid`, with an advertiser that prints instead of a radio.
//!
//! Pinned output (other teams' tests read it live, so each line is flushed at once): exactly
//! one line `hybrid advert HEX` (the 20 advert bytes, lower-case hex) each time the core starts
//! advertising, then `hybrid done: OK` or `hybrid done: ERROR <reason>`. The process exits 0
//! only when the browser's request was served.

use std::sync::Arc;

use authenticator_core::api::{AdvertiserError, Authenticator, HybridAdvertiser};

use crate::phone::say;

/// The hybrid advert's 16-bit service UUID (CTAP 2.2 §11.5).
const HYBRID_UUID16: u16 = 0xFFF9;

/// Prints each advert it is asked to send: the test standing in for the PC's BLE scanner
/// reads the line.
struct PrintingAdvertiser;

impl HybridAdvertiser for PrintingAdvertiser {
    fn start_advertising(
        &self,
        service_uuid16: u16,
        service_data: Vec<u8>,
    ) -> Result<(), AdvertiserError> {
        if service_uuid16 != HYBRID_UUID16 {
            return Err(AdvertiserError::Failed {
                reason: format!("unexpected service UUID 0x{service_uuid16:04x}"),
            });
        }
        let hex: String = service_data.iter().map(|b| format!("{b:02x}")).collect();
        say(&format!("hybrid advert {hex}"));
        Ok(())
    }

    fn stop_advertising(&self) {}
}

pub async fn serve(phone: &Authenticator, qr: String) -> Result<(), String> {
    match phone.serve_hybrid(qr, Arc::new(PrintingAdvertiser)).await {
        Ok(served) => {
            eprintln!("hybrid: served {:?} at {}", served.operation, served.rp_id);
            say("hybrid done: OK");
            Ok(())
        }
        Err(e) => {
            say(&format!("hybrid done: ERROR {e}"));
            Err(e.to_string())
        }
    }
}
