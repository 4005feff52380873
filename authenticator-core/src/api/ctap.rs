//! `handle_ctap`: the authenticator for any transport the app brings (NFC, its own BLE, a
//! test harness): one CTAP request in, one response out.

use super::{Authenticator, AuthenticatorError};
use crate::ctap::status::CTAP1_ERR_OTHER;
use crate::request::RequestSignals;

#[uniffi::export]
impl Authenticator {
    /// Answers one CTAP 2.1 request (`command byte || CBOR parameters`) with `status byte ||
    /// CBOR`. Malformed requests get a CTAP error status, never an exception. Prompts go to
    /// the `UserInterface`; the call waits for the user.
    pub async fn handle_ctap(&self, request: Vec<u8>) -> Vec<u8> {
        let engine = self.engine.clone();
        let answer = self
            .run(async move {
                Ok::<_, AuthenticatorError>(engine.handle(&request, &RequestSignals::new()).await)
            })
            .await;
        answer.unwrap_or_else(|e| {
            tracing::error!(%e, "a CTAP request failed inside the core");
            vec![CTAP1_ERR_OTHER.0]
        })
    }
}
