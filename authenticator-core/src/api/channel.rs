//! [`CtapChannel`]: one conversation of a transport the app (or a test harness) brings, such
//! as one CTAPHID channel of a USB or TCP connection, one NFC tap or one BLE connection. It
//! carries what `handle_ctap` cannot: an origin of its own, the request's cancellation, and
//! the request's state for the transport's keepalives.
//!
//! Invariants: every channel is one origin, distinct from every other channel, link session
//! and `handle_ctap`, so a sequence begun on it (getNextAssertion, an enumeration) is
//! continued only on it; ending (`end`) or dropping it ends the origin, and the engine forgets what
//! it kept for it. One request runs at a time per channel; dropping the `handle` future or
//! calling `cancel` cancels it as a CTAPHID CANCEL would (a prompt is withdrawn, the answer
//! is CTAP2_ERR_KEEPALIVE_CANCEL).

use std::sync::{Arc, Mutex};

use super::{Authenticator, AuthenticatorError, guard};
use crate::ctap::status::CTAP1_ERR_OTHER;
use crate::request::{Origin, RequestSignals};

/// What a channel's request is doing, for the transport's keepalives (CTAPHID KEEPALIVE
/// `PROCESSING` / `UPNEEDED`, CTAP 2.1 §11.2.9.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CtapRequestState {
    /// No request runs.
    Idle,
    /// A request runs.
    Processing,
    /// A request waits for the user (presence, verification, a choice).
    WaitingForUser,
}

/// One conversation of one transport; see the module header. A channel keeps its
/// `Authenticator` (and its threads) alive until it is dropped.
#[derive(uniffi::Object)]
pub struct CtapChannel {
    /// Kept alive by the channel: its runtime runs the requests.
    authenticator: Arc<Authenticator>,
    origin: Origin,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: Option<RequestSignals>,
    closed: bool,
}

/// The running request of one `handle` call: cancelled if the caller stops waiting before
/// the answer, and no longer the channel's running request once the call ends either way.
struct Running<'a> {
    channel: &'a CtapChannel,
    signals: RequestSignals,
    answered: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.signals.cancel();
        }
        if let Ok(mut state) = self.channel.state.lock() {
            state.running = None;
        }
    }
}

#[uniffi::export]
impl Authenticator {
    /// Opens a CTAP channel for one conversation of the app's transport (one CTAPHID
    /// channel, one NFC tap, one BLE connection). End it when the
    /// conversation ends (`end`, or drop it).
    pub fn open_ctap_channel(self: Arc<Self>) -> Result<Arc<CtapChannel>, AuthenticatorError> {
        guard(|| {
            self.handle()?;
            Ok(Arc::new(CtapChannel {
                authenticator: self.clone(),
                origin: Origin::app(),
                state: Mutex::new(State::default()),
            }))
        })
    }
}

#[uniffi::export]
impl CtapChannel {
    /// Answers one CTAP 2.1 request (`command byte || CBOR parameters`) with `status byte ||
    /// CBOR`, as `handle_ctap` does but as this channel's conversation. Malformed requests get
    /// a CTAP error status. Errors: `InvalidState` if the channel has ended or a request
    /// already runs on it. Cancelling the call (or `cancel`) cancels the request.
    pub async fn handle(&self, request: Vec<u8>) -> Result<Vec<u8>, AuthenticatorError> {
        let signals = {
            let mut state = self.lock()?;
            if state.closed {
                return Err(closed());
            }
            if state.running.is_some() {
                return Err(AuthenticatorError::InvalidState {
                    reason: "a request already runs on this channel; wait for its answer or \
                             cancel it"
                        .into(),
                });
            }
            let signals = RequestSignals::new(self.origin.clone());
            state.running = Some(signals.clone());
            signals
        };
        let mut running = Running {
            channel: self,
            signals: signals.clone(),
            answered: false,
        };
        let engine = self.authenticator.engine.clone();
        let answer = self
            .authenticator
            .run(
                async move { Ok::<_, AuthenticatorError>(engine.handle(&request, &signals).await) },
            )
            .await;
        running.answered = true;
        Ok(answer.unwrap_or_else(|e| {
            tracing::error!(%e, "a CTAP request failed inside the core");
            vec![CTAP1_ERR_OTHER.0]
        }))
    }

    /// Cancels the running request, if any (the client sent CANCEL): a prompt is withdrawn
    /// and `handle` answers CTAP2_ERR_KEEPALIVE_CANCEL.
    pub fn cancel(&self) {
        if let Ok(state) = self.state.lock()
            && let Some(signals) = &state.running
        {
            signals.cancel();
        }
    }

    /// What the running request does, for keepalives.
    pub fn request_state(&self) -> CtapRequestState {
        match self.state.lock() {
            Ok(state) => match &state.running {
                None => CtapRequestState::Idle,
                Some(s) if s.is_waiting_for_user() => CtapRequestState::WaitingForUser,
                Some(_) => CtapRequestState::Processing,
            },
            Err(_) => CtapRequestState::Idle,
        }
    }

    /// Ends the conversation: a running request is cancelled, and the engine forgets what it
    /// kept for this channel. Later `handle` calls fail with `InvalidState`. Ending twice
    /// does nothing. (Named `end`: `close` is the bindings' own release of the object.)
    pub async fn end(&self) {
        if !self.mark_closed() {
            return;
        }
        let (engine, origin) = (self.authenticator.engine.clone(), self.origin.clone());
        let _ = self
            .authenticator
            .run(async move {
                engine.origin_ended(&origin).await;
                Ok(())
            })
            .await;
    }
}

impl CtapChannel {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, AuthenticatorError> {
        self.state
            .lock()
            .map_err(|_| AuthenticatorError::internal("the channel's state is unusable"))
    }

    /// Marks the channel closed and cancels its request; false if it already was.
    fn mark_closed(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        if state.closed {
            return false;
        }
        state.closed = true;
        if let Some(signals) = &state.running {
            signals.cancel();
        }
        true
    }
}

impl Drop for CtapChannel {
    fn drop(&mut self) {
        if !self.mark_closed() {
            return;
        }
        if let Ok(handle) = self.authenticator.handle() {
            let (engine, origin) = (self.authenticator.engine.clone(), self.origin.clone());
            handle.spawn(async move { engine.origin_ended(&origin).await });
        }
    }
}

fn closed() -> AuthenticatorError {
    AuthenticatorError::InvalidState {
        reason: "this CTAP channel has ended".into(),
    }
}
