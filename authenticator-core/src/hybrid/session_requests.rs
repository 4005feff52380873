//! What an established hybrid session serves (after the handshake and the post-handshake
//! message; see `session.rs` for the whole flow and what each peer can make the phone do):
//! getInfo any number of times, one operation (makeCredential or getAssertion, never with
//! `up: false`) through the engine with its getNextAssertion follow-ups, CTAP1_ERR_INVALID_COMMAND
//! for every other command, CTAP2_ERR_NOT_ALLOWED for a second operation; updates ignored;
//! the browser's shutdown or close ends it. While the operation runs the tunnel is read too:
//! a shutdown, close or another command cancels the request (its prompt withdrawn).
//!
//! Invariants: every wait has a deadline (`Timeouts::request` until the operation,
//! `Timeouts::after_reply` after its answer, neither extended by getInfo or updates); the
//! session's cancellation ends any wait; frames are decrypted in order, one reader at a time.

use zeroize::Zeroizing;

use super::client::{Tunnel, TunnelClientError};
use super::crypter::Crypter;
use super::frames::Frame;
use super::session::{HybridError, Operation, Served, Timeouts, or_cancel};
use crate::cbor::{self, MapReader, Value};
use crate::ctap::{
    CMD_GET_ASSERTION, CMD_GET_INFO, CMD_GET_NEXT_ASSERTION, CMD_MAKE_CREDENTIAL, CtapEngine,
};
use crate::ctap::status::{
    CTAP1_ERR_INVALID_COMMAND, CTAP2_ERR_KEEPALIVE_CANCEL, CTAP2_ERR_NOT_ALLOWED,
    CTAP2_ERR_OPERATION_DENIED, CTAP2_ERR_UNSUPPORTED_OPTION, CTAP2_ERR_USER_ACTION_TIMEOUT,
    CTAP2_OK,
};
use crate::request::RequestSignals;

/// The established part of a session.
pub(super) struct Session<'a> {
    pub(super) tunnel: &'a mut Tunnel,
    pub(super) crypter: Crypter,
    pub(super) engine: &'a CtapEngine,
    pub(super) signals: &'a RequestSignals,
    pub(super) timeouts: Timeouts,
}

/// A frame read, or the tunnel's close.
enum Incoming {
    Frame(Frame),
    Closed,
}

impl Session<'_> {
    pub(super) async fn send(&mut self, plaintext: &[u8]) -> Result<(), HybridError> {
        let sealed = self.crypter.encrypt(plaintext).map_err(HybridError::Encrypt)?;
        self.tunnel.send(&sealed).await?;
        Ok(())
    }

    async fn send_ctap(&mut self, response: Vec<u8>) -> Result<(), HybridError> {
        self.send(&Frame::Ctap(response).encode()).await
    }

    /// The next frame (updates skipped), or the close.
    async fn next(&mut self) -> Result<Incoming, HybridError> {
        loop {
            let sealed = match self.tunnel.recv().await {
                Ok(sealed) => sealed,
                Err(TunnelClientError::Closed) => return Ok(Incoming::Closed),
                Err(e) => return Err(HybridError::Tunnel(e)),
            };
            let plain: Zeroizing<Vec<u8>> =
                self.crypter.decrypt(&sealed).map_err(HybridError::Decrypt)?;
            match Frame::decode(&plain)? {
                // Linking information from the browser is not used yet.
                Frame::Update(_) => continue,
                frame => return Ok(Incoming::Frame(frame)),
            }
        }
    }

    /// Frames until the operation is answered and the browser is done.
    pub(super) async fn run(&mut self) -> Result<Served, HybridError> {
        let t = self.timeouts;
        let signals = self.signals;
        let deadline = tokio::time::Instant::now() + t.request;
        let served = loop {
            let incoming = or_cancel(signals, async {
                tokio::time::timeout_at(deadline, self.next())
                    .await
                    .unwrap_or(Err(HybridError::RequestTimeout(t.request.as_secs())))
            })
            .await?;
            let request = match incoming {
                Incoming::Closed => return Err(HybridError::TunnelClosed("before a request")),
                Incoming::Frame(Frame::Shutdown) => return Err(HybridError::NoRequest),
                Incoming::Frame(Frame::Update(_)) => continue,
                Incoming::Frame(Frame::Ctap(request)) => request,
            };
            match request[0] {
                CMD_MAKE_CREDENTIAL | CMD_GET_ASSERTION => {
                    break self.operation(request).await?;
                }
                _ => self.answer_other(request).await?,
            }
        };
        // The operation is answered; serve its follow-ups until the browser is done, within
        // one deadline (follow-ups do not extend it).
        let deadline = tokio::time::Instant::now() + t.after_reply;
        loop {
            let incoming = or_cancel(signals, async {
                match tokio::time::timeout_at(deadline, self.next()).await {
                    Ok(result) => result,
                    // The browser keeps the tunnel open: the operation was served anyway.
                    Err(_) => Ok(Incoming::Closed),
                }
            })
            .await?;
            let request = match incoming {
                Incoming::Closed | Incoming::Frame(Frame::Shutdown) => break,
                Incoming::Frame(Frame::Update(_)) => continue,
                Incoming::Frame(Frame::Ctap(request)) => request,
            };
            if matches!(request[0], CMD_MAKE_CREDENTIAL | CMD_GET_ASSERTION) {
                tracing::warn!("hybrid: the browser asked for a second operation; refused");
                self.send_ctap(vec![CTAP2_ERR_NOT_ALLOWED.0]).await?;
                break;
            }
            self.answer_other(request).await?;
        }
        match served.status {
            CTAP2_OK => Ok(served),
            s if s == CTAP2_ERR_OPERATION_DENIED.0 => Err(HybridError::Declined),
            s if s == CTAP2_ERR_USER_ACTION_TIMEOUT.0 => Err(HybridError::UserTimeout),
            s if s == CTAP2_ERR_KEEPALIVE_CANCEL.0 && signals.is_cancelled() => {
                Err(HybridError::Cancelled)
            }
            s => Err(HybridError::RequestFailed(s)),
        }
    }

    /// getInfo and getNextAssertion go to the engine; everything else is refused.
    async fn answer_other(&mut self, request: Vec<u8>) -> Result<(), HybridError> {
        let response = match request[0] {
            CMD_GET_INFO | CMD_GET_NEXT_ASSERTION => {
                self.engine.handle(&request, self.signals).await
            }
            _ => vec![CTAP1_ERR_INVALID_COMMAND.0],
        };
        self.send_ctap(response).await
    }

    /// Runs the operation through the engine while reading the tunnel: the browser's
    /// shutdown, close or another command cancels it (its prompt is withdrawn) and ends the
    /// session; an update is ignored.
    async fn operation(&mut self, request: Vec<u8>) -> Result<Served, HybridError> {
        let operation = if request[0] == CMD_MAKE_CREDENTIAL {
            Operation::MakeCredential
        } else {
            Operation::GetAssertion
        };
        let rp_id = rp_id_of(operation, &request[1..]).unwrap_or_default();
        if skips_presence(operation, &request[1..]) {
            // A browser reached through a scanned code gets nothing without the user's
            // prompt: no silent (up=false) assertion, as Chromium's phone side requires UV.
            let refused = vec![CTAP2_ERR_UNSUPPORTED_OPTION.0];
            self.send_ctap(refused).await?;
            return Ok(Served {
                operation,
                rp_id,
                status: CTAP2_ERR_UNSUPPORTED_OPTION.0,
            });
        }
        let (engine, signals) = (self.engine, self.signals);
        let handling = engine.handle(&request, signals);
        tokio::pin!(handling);
        let response = loop {
            tokio::select! {
                response = &mut handling => break response,
                message = self.tunnel.recv() => {
                    let end = match message {
                        Err(TunnelClientError::Closed) => HybridError::EndedDuringRequest,
                        Err(e) => HybridError::Tunnel(e),
                        Ok(sealed) => match self.crypter.decrypt(&sealed) {
                            Err(e) => HybridError::Decrypt(e),
                            Ok(plain) => match Frame::decode(&plain) {
                                Ok(Frame::Update(_)) => continue,
                                Ok(Frame::Shutdown) => HybridError::EndedDuringRequest,
                                Ok(Frame::Ctap(_)) => HybridError::CommandDuringRequest,
                                Err(e) => HybridError::Frame(e),
                            },
                        },
                    };
                    signals.cancel();
                    // The engine withdraws its prompt and answers; the answer has no reader.
                    let _ = handling.await;
                    return Err(end);
                }
            }
        };
        let status = response
            .first()
            .copied()
            .unwrap_or(CTAP1_ERR_INVALID_COMMAND.0);
        self.send_ctap(response).await?;
        Ok(Served {
            operation,
            rp_id,
            status,
        })
    }
}

/// The rp id a request names (makeCredential key 2 `rp.id`, getAssertion key 1), for the
/// record; the engine checks the request itself.
fn rp_id_of(operation: Operation, params: &[u8]) -> Option<String> {
    let mut map = MapReader::new(cbor::decode(params).ok()?).ok()?;
    match operation {
        Operation::GetAssertion => map.text(1i64).ok()?,
        Operation::MakeCredential => {
            let rp = map.take(2i64)?;
            let Value::Map(entries) = rp else {
                return None;
            };
            entries.into_iter().find_map(|(k, v)| match (k, v) {
                (Value::Text(k), Value::Text(id)) if k == "id" => Some(id),
                _ => None,
            })
        }
    }
}

/// Whether a request asks for no user presence (`options.up` false: getAssertion key 5,
/// makeCredential key 7).
fn skips_presence(operation: Operation, params: &[u8]) -> bool {
    let key = match operation {
        Operation::GetAssertion => 5i64,
        Operation::MakeCredential => 7i64,
    };
    let Some(Value::Map(options)) = cbor::decode(params)
        .ok()
        .and_then(|v| MapReader::new(v).ok())
        .and_then(|mut map| map.take(key))
    else {
        return false;
    };
    options
        .iter()
        .any(|(k, v)| *k == Value::from("up") && *v == Value::Bool(false))
}
