//! `handle_ctap`: the authenticator for any transport the app brings (NFC, its own BLE, a
//! test harness): one CTAP request in, one response out.
//!
//! Every request of one `Authenticator` has the same origin (the app), distinct from every
//! CTAPHID channel and link session: a sequence the app begins (getNextAssertion, an
//! enumeration) is the app's alone, and no PC continues it.
//!
//! Invariant: when the app cancels the call (a Kotlin coroutine or Swift task cancelled,
//! because the PC sent CANCEL or went away), the request is cancelled as a CTAPHID CANCEL
//! would: a prompt on screen is withdrawn and nothing more is done for it.

use super::{Authenticator, AuthenticatorError};
use crate::ctap::status::CTAP1_ERR_OTHER;
use crate::request::RequestSignals;

/// Cancels the request's signals when the caller stops waiting before the answer.
struct CancelOnDrop {
    signals: RequestSignals,
    answered: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.answered {
            self.signals.cancel();
        }
    }
}

#[uniffi::export]
impl Authenticator {
    /// Answers one CTAP 2.1 request (`command byte || CBOR parameters`) with `status byte ||
    /// CBOR`. Malformed requests get a CTAP error status, never an exception. Prompts go to
    /// the `UserInterface`; the call waits for the user. Cancelling the call cancels the
    /// request (the prompt is withdrawn).
    pub async fn handle_ctap(&self, request: Vec<u8>) -> Vec<u8> {
        let engine = self.engine.clone();
        let mut guard = CancelOnDrop {
            signals: RequestSignals::new(self.app_origin.clone()),
            answered: false,
        };
        let signals = guard.signals.clone();
        let answer = self
            .run(
                async move { Ok::<_, AuthenticatorError>(engine.handle(&request, &signals).await) },
            )
            .await;
        guard.answered = true;
        answer.unwrap_or_else(|e| {
            tracing::error!(%e, "a CTAP request failed inside the core");
            vec![CTAP1_ERR_OTHER.0]
        })
    }
}
