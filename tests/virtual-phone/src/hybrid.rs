//! `virtual-phone hybrid 'FIDO:/...' [--link-as NAME]`: the phone scans a browser's hybrid QR
//! code and serves it through the API's `serve_hybrid` (or, with the user's consent to link
//! the browser, `serve_hybrid_and_link`), with an advertiser that prints instead of a radio.
//! `virtual-phone hybrid --linked`: waits for the most recently used linked browser to call
//! (`serve_linked_browser`), as a phone woken by that browser would.
//!
//! Pinned output (other teams' tests read it live, so each line is flushed at once): exactly
//! one line `hybrid advert HEX` (the 20 advert bytes, lower-case hex) each time the core starts
//! advertising, then `hybrid done: OK` or `hybrid done: ERROR <reason>`. The process exits 0
//! only when the browser's request was served. The linking modes add lines, and only they
//! (the plain QR command's output stays as pinned): with `--link-as` or `--linked`, a line
//! `hybrid linked browsers: N` (how many browsers the phone holds links for) before the
//! `hybrid done: OK`; with `--linked`, a line `hybrid waiting for a linked browser` before it
//! starts waiting.

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

pub async fn serve(
    phone: &Authenticator,
    qr: Option<String>,
    link_as: Option<String>,
    linked: bool,
) -> Result<(), String> {
    let radio = Arc::new(PrintingAdvertiser);
    let linking = link_as.is_some() || linked;
    let served = match (qr, link_as, linked) {
        (_, _, true) => {
            let browsers = phone.linked_browsers().map_err(|e| e.to_string())?;
            let Some(browser) = browsers.into_iter().next() else {
                say("hybrid done: ERROR no browser is linked");
                return Err("no browser is linked".into());
            };
            say("hybrid waiting for a linked browser");
            phone.serve_linked_browser(browser.id, radio).await
        }
        (Some(qr), Some(name), false) => phone.serve_hybrid_and_link(qr, name, radio).await,
        (Some(qr), None, false) => phone.serve_hybrid(qr, radio).await,
        (None, _, false) => return Err("a QR code or --linked is needed".into()),
    };
    match served {
        Ok(served) => {
            eprintln!("hybrid: served {:?} at {}", served.operation, served.rp_id);
            if let (true, Ok(browsers)) = (linking, phone.linked_browsers()) {
                say(&format!("hybrid linked browsers: {}", browsers.len()));
            }
            say("hybrid done: OK");
            Ok(())
        }
        Err(e) => {
            say(&format!("hybrid done: ERROR {e}"));
            Err(e.to_string())
        }
    }
}
