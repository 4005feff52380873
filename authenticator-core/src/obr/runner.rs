//! The runner: for one pending approval, connects to the admin's pairing tool through the
//! relay (knocking on the admin's door: the relay id the tool waits on, see `approvals`), receives the grant, asks the user,
//! and serves the admin's FIDO2 client through an [`ObrSession`], sending each receipt to the
//! tool and to the [`ReceiptSink`] (proto/obr-grant.md §6).
//!
//! Invariants:
//! - The session is the admin tool's only if the Noise handshake proves it holds the grant's
//!   admin static key and knows the grant id (psk); the grant that arrives over it is
//!   verified again, bound to that key, by `ObrSession::accept`. The phone's own static key
//!   in that handshake is its OBR key (`workspace::state::obr_key`), which the workspace hands
//!   the tool; the device key only signs (workspace requests, receipts).
//! - The grant that arrives over the link must be byte for byte the pending approval the user
//!   chose (same id, same bytes: a re-signed or malleated copy, or another grant for the same
//!   admin key, is refused `grant_mismatch` before the user is asked).
//! - A grant the workspace stopped ends a running session within [`CHECK_EVERY`], and one
//!   stopped while the user decided is refused (`stopped`) when the user accepts.
//! - A registration that would replace the user's own passkey is refused (`ObrSession`), told
//!   to the tool in a status frame (`passkey_exists`), reported to the workspace (which marks
//!   the grant refused and stopped), audited, and the session ends.
//! - Nothing here logs or reports a grant, a key or a receipt; events carry ids, names and
//!   codes only.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::approvals::{PendingApproval, is_stopped, remove_pending};
use super::audit;
use super::grant::{DEFAULT_SKEW_SECS, GRANT_ID_LEN, Grant, GrantError};
use super::receipts::{ReceiptSink, WorkspaceReceipts};
use super::refusals::{REFUSAL_REPORT_BUDGET, RefusalCode, RefusalReport, audit_refusal_report};
use super::session::{OPERATION_DENIED, ObrError, ObrSession};
use crate::ctap::EngineConfig;
use crate::hex::encode as hex;
use crate::link::channel::MessageType;
use crate::link::noise::KeyPair;
use crate::link::relay::{RelayClient, RelayConfig, SessionEnd};
use crate::link::service::{Inbox, drive_request};
use crate::link::session::{LinkSession, SessionError, obr_psk, phone_obr_handshake};
use crate::link::transport::{Link, LinkError};
use crate::platform::{
    AccountOption, Clock, PresencePrompt, UserEvent, UserInterface, UserInterfaceError,
    VerificationOutcome,
};
use crate::request::{Origin, RequestSignals};
use crate::vault::{Vault, VaultError};
use crate::workspace::state;

/// The admin tool must send the grant this soon after the handshake.
pub const GRANT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the user has to approve, unless the caller says otherwise.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a running session checks for a stop or the grant's expiry.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long the end of a session waits for receipt uploads still running.
const RECEIPT_DRAIN: Duration = Duration::from_secs(60);

/// What a running OBR session reports (for the app's UI and the virtual phone's log). Ids are
/// hex; nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObrEvent {
    Connecting {
        grant_id: String,
        admin: String,
    },
    Accepted {
        grant_id: String,
        admin: String,
    },
    Refused {
        grant_id: String,
        code: RefusalCode,
    },
    /// A refusal the tool could not be told of was reported to the workspace (or not).
    RefusalReported {
        grant_id: String,
        code: RefusalCode,
        report: RefusalReport,
    },
    Registered {
        rp_id: String,
        index: u8,
        max: u8,
    },
    ReceiptPosted {
        index: u8,
    },
    ReceiptNotPosted {
        index: u8,
        reason: String,
    },
    Ended {
        grant_id: String,
        reason: String,
    },
}

/// How a session went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObrOutcome {
    pub grant_id: [u8; GRANT_ID_LEN],
    pub admin_name: String,
    /// `None` if the grant was accepted; else the code sent to the tool in the status frame.
    pub refused: Option<RefusalCode>,
    /// (index, rp id) of each registration made.
    pub registrations: Vec<(u8, String)>,
    /// Receipts the workspace confirmed.
    pub receipts_posted: usize,
    /// Why the session ended.
    pub end: String,
}

/// Why no session could be held (nothing was answered to the tool).
#[derive(Debug, thiserror::Error)]
pub enum ObrLinkError {
    #[error("the phone is not activated with a workspace")]
    NotActivated,
    #[error("the vault failed: {0}")]
    Vault(String),
    #[error("the pending grant is no longer valid: {0}")]
    Grant(#[from] GrantError),
    #[error("the workspace stopped this grant")]
    Stopped,
    #[error("cannot reach the admin's pairing tool: {0}")]
    Relay(#[from] LinkError),
    #[error("the handshake with the admin's pairing tool failed: {0}")]
    Handshake(SessionError),
    #[error("the admin's pairing tool did not send the grant: {0}")]
    NoGrant(String),
}

impl From<VaultError> for ObrLinkError {
    fn from(e: VaultError) -> Self {
        Self::Vault(e.to_string())
    }
}

impl ObrLinkError {
    /// Whether the tool was never reached (relay, knock or handshake): the approval may be
    /// tried again.
    pub fn unreachable(&self) -> bool {
        matches!(self, Self::Relay(_) | Self::Handshake(_))
    }
}

/// Runs OBR sessions for pending approvals.
#[derive(Clone)]
pub struct ObrRunner {
    pub vault: Arc<Vault>,
    pub engine_config: EngineConfig,
    /// Asked to approve (user verification, `UserOperation::OnBehalfRegistration`) and told
    /// of each registration.
    pub user: Arc<dyn UserInterface>,
    pub clock: Arc<dyn Clock>,
    pub relay: RelayConfig,
    pub answer_timeout: Duration,
    pub receipts: Arc<dyn ReceiptSink>,
    pub events: Option<mpsc::UnboundedSender<ObrEvent>>,
}

/// The usual runner: receipts to the enrolled workspace, the default answer timeout, no event
/// sink. Runs `pending` over the relay it names.
#[cfg(any(test, feature = "pc"))]
pub async fn run_obr(
    vault: Arc<Vault>,
    engine_config: EngineConfig,
    user: Arc<dyn UserInterface>,
    clock: Arc<dyn Clock>,
    relay_config: RelayConfig,
    pending: &PendingApproval,
) -> Result<ObrOutcome, ObrLinkError> {
    ObrRunner::new(vault, engine_config, user, clock, relay_config)
        .run(pending)
        .await
}

/// The user of a `deny`: refuses the approval, nothing else is asked.
struct Refuser {
    user: Arc<dyn UserInterface>,
}

#[async_trait]
impl UserInterface for Refuser {
    async fn confirm_presence(&self, _: PresencePrompt) -> Result<bool, UserInterfaceError> {
        Ok(false)
    }
    async fn verify_user(
        &self,
        _: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError> {
        Ok(VerificationOutcome::Declined)
    }
    async fn choose_account(
        &self,
        _: String,
        _: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError> {
        Ok(None)
    }
    fn notify(&self, event: UserEvent) -> Result<(), UserInterfaceError> {
        self.user.notify(event)
    }
}

/// How the serving part of a session ended.
enum End {
    PeerShutdown,
    CountUsed,
    Expired,
    Stopped,
    /// A request was refused in a way that ends the grant (the code).
    Refused(RefusalCode),
    Error(String),
}

impl End {
    fn reason(&self) -> String {
        match self {
            Self::PeerShutdown => "the admin's tool ended the session".into(),
            Self::CountUsed => "every allowed registration was made".into(),
            Self::Expired => "the grant expired".into(),
            Self::Stopped => "the workspace stopped the grant".into(),
            Self::Refused(code) => format!("refused: {code}"),
            Self::Error(e) => e.clone(),
        }
    }
}

impl ObrRunner {
    pub fn new(
        vault: Arc<Vault>,
        engine_config: EngineConfig,
        user: Arc<dyn UserInterface>,
        clock: Arc<dyn Clock>,
        relay: RelayConfig,
    ) -> Self {
        let receipts = Arc::new(WorkspaceReceipts {
            vault: vault.clone(),
            request_timeout: crate::workspace::DEFAULT_REQUEST_TIMEOUT,
        });
        Self {
            vault,
            engine_config,
            user,
            clock,
            relay,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
            receipts,
            events: None,
        }
    }

    fn emit(&self, event: ObrEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    /// A refusal the workspace must learn of (before the tool was reached, or one that ends a
    /// running grant): emitted, reported to the workspace through the receipt sink (at most
    /// [`REFUSAL_REPORT_BUDGET`]) and audited.
    async fn report_refusal(&self, grant_id: &[u8; GRANT_ID_LEN], code: RefusalCode) {
        let id = hex(grant_id);
        self.emit(ObrEvent::Refused {
            grant_id: id.clone(),
            code,
        });
        if !code.is_reportable() {
            return;
        }
        let report = match tokio::time::timeout(
            REFUSAL_REPORT_BUDGET,
            self.receipts.post_refusal(*grant_id, code),
        )
        .await
        {
            Ok(report) => report,
            Err(_) => RefusalReport::NotSent(format!(
                "the workspace did not answer within {} s",
                REFUSAL_REPORT_BUDGET.as_secs()
            )),
        };
        audit_refusal_report(
            &self.vault,
            self.clock.now_unix_seconds(),
            Some(grant_id),
            code,
            &report,
        );
        self.emit(ObrEvent::RefusalReported {
            grant_id: id,
            code,
            report,
        });
    }

    /// Connects to the admin's tool over the relay `pending` names and runs the session.
    pub async fn run(&self, pending: &PendingApproval) -> Result<ObrOutcome, ObrLinkError> {
        self.connect_and_run(pending).await
    }

    /// This runner with a user who refuses the approval (the CLI's `approvals deny`).
    pub fn denying(&self) -> Self {
        Self {
            user: Arc::new(Refuser {
                user: self.user.clone(),
            }),
            ..self.clone()
        }
    }

    /// Connects and answers `denied`; if the tool cannot be reached, the approval is just
    /// dropped (audited `obr.grant.dropped`) and the error returned.
    pub async fn deny(&self, pending: &PendingApproval) -> Result<ObrOutcome, ObrLinkError> {
        let result = self.denying().connect_and_run(pending).await;
        if let Err(e) = &result {
            let _ = remove_pending(&self.vault, &pending.grant_id);
            audit(
                &self.vault,
                self.clock.now_unix_seconds(),
                "obr.grant.dropped",
                &[
                    ("grant_id", pending.id()),
                    ("reason", format!("denied while unreachable: {e}")),
                ],
            );
        }
        result
    }

    /// The relay part: session, knock, then the session over the relay link. A failed
    /// handshake deletes the relay session.
    async fn connect_and_run(&self, pending: &PendingApproval) -> Result<ObrOutcome, ObrLinkError> {
        let client = RelayClient::new(&pending.relay_url, self.relay)?;
        let relay_session = client.create_session().await?;
        if let Err(e) = client.knock(&pending.admin_door, &relay_session).await {
            let _ = client.delete_session(&relay_session).await;
            return Err(e.into());
        }
        let link = Box::new(client.link(relay_session, SessionEnd::Phone));
        let result = self.run_over(link, pending).await;
        if matches!(&result, Err(ObrLinkError::Handshake(_))) {
            let _ = client.delete_session(&relay_session).await;
        }
        result
    }

    /// Runs the session for `pending` over an established transport (the relay link, or an
    /// in-process link in tests): handshake, grant, approval, registrations.
    pub async fn run_over(
        &self,
        link: Box<dyn Link>,
        pending: &PendingApproval,
    ) -> Result<ObrOutcome, ObrLinkError> {
        let now = self.clock.now_unix_seconds();
        let id = pending.id();
        let enrollment = state::load(&self.vault)?.ok_or(ObrLinkError::NotActivated)?;
        let grant = match Grant::verify_unbound(
            &pending.grant,
            &enrollment.grant_signing_key,
            &enrollment.security_key_id,
            now,
            DEFAULT_SKEW_SECS,
        ) {
            Ok(g) => g,
            Err(e) => {
                link.close().await;
                remove_pending(&self.vault, &pending.grant_id)?;
                audit(
                    &self.vault,
                    now,
                    "obr.grant.refused",
                    &[("grant_id", id.clone()), ("reason", e.code().into())],
                );
                self.report_refusal(&pending.grant_id, RefusalCode::Grant(e))
                    .await;
                return Err(e.into());
            }
        };
        if is_stopped(&self.vault, &grant.grant_id)? {
            link.close().await;
            remove_pending(&self.vault, &pending.grant_id)?;
            return Err(ObrLinkError::Stopped);
        }
        // The phone's static key here is its OBR key, never the device key (which signs the
        // workspace requests and the receipts): the admin's tool gets it in the start answer.
        let obr_key = state::obr_key(&self.vault)?;
        let obr_key = <&[u8; 32]>::try_from(obr_key.expose())
            .ok()
            .and_then(|k| KeyPair::from_scalar_bytes(k).ok())
            .ok_or_else(|| ObrLinkError::Vault("the OBR key is damaged".into()))?;
        self.emit(ObrEvent::Connecting {
            grant_id: id.clone(),
            admin: grant.admin_name.clone(),
        });
        let psk = obr_psk(&grant.grant_id);
        let channel = phone_obr_handshake(link, obr_key, &grant.admin_static_key, &psk)
            .await
            .map_err(ObrLinkError::Handshake)?;
        let outcome = self.session(&channel, pending, &grant).await;
        channel.close().await;
        let now = self.clock.now_unix_seconds();
        remove_pending(&self.vault, &pending.grant_id)?;
        let outcome = outcome?;
        audit(
            &self.vault,
            now,
            "obr.session.ended",
            &[
                ("grant_id", id.clone()),
                (
                    "outcome",
                    outcome
                        .refused
                        .map_or("accepted", RefusalCode::as_str)
                        .to_owned(),
                ),
                ("registrations", outcome.registrations.len().to_string()),
                ("reason", outcome.end.clone()),
            ],
        );
        self.emit(ObrEvent::Ended {
            grant_id: id,
            reason: outcome.end.clone(),
        });
        Ok(outcome)
    }

    async fn session(
        &self,
        channel: &LinkSession,
        pending: &PendingApproval,
        grant: &Grant,
    ) -> Result<ObrOutcome, ObrLinkError> {
        let id = hex(&grant.grant_id);
        let mut outcome = ObrOutcome {
            grant_id: grant.grant_id,
            admin_name: grant.admin_name.clone(),
            refused: None,
            registrations: Vec::new(),
            receipts_posted: 0,
            end: String::new(),
        };
        let grant_bytes = match tokio::time::timeout(GRANT_TIMEOUT, channel.recv()).await {
            Ok(Ok((MessageType::ObrGrant, bytes))) => bytes,
            Ok(Ok((other, _))) => {
                return Err(ObrLinkError::NoGrant(format!("it sent {other:?} instead")));
            }
            Ok(Err(e)) => return Err(ObrLinkError::NoGrant(e.to_string())),
            Err(_) => {
                return Err(ObrLinkError::NoGrant(format!(
                    "nothing within {} s",
                    GRANT_TIMEOUT.as_secs()
                )));
            }
        };
        // The very grant the user chose: same id, same bytes. Anything else (another grant for
        // this admin key, or a malleated signature over the same payload) is refused before the
        // user is asked.
        if grant_bytes != pending.grant {
            audit(
                &self.vault,
                self.clock.now_unix_seconds(),
                "obr.grant.refused",
                &[
                    ("grant_id", id.clone()),
                    ("reason", RefusalCode::GrantMismatch.as_str().to_owned()),
                ],
            );
            let _ = channel
                .send(
                    MessageType::ObrStatus,
                    RefusalCode::GrantMismatch.as_str().as_bytes(),
                )
                .await;
            self.emit(ObrEvent::Refused {
                grant_id: id,
                code: RefusalCode::GrantMismatch,
            });
            outcome.end = format!("refused: {}", RefusalCode::GrantMismatch);
            outcome.refused = Some(RefusalCode::GrantMismatch);
            return Ok(outcome);
        }
        let accepting = ObrSession::accept(
            self.vault.clone(),
            self.user.clone(),
            self.clock.clone(),
            self.engine_config.clone(),
            &grant_bytes,
            channel.peer_static(),
            self.answer_timeout,
        );
        tokio::pin!(accepting);
        let mut check = tokio::time::interval(CHECK_EVERY);
        // While the user decides, the tool may give up; the workspace may stop the grant.
        let accepted = loop {
            tokio::select! {
                result = &mut accepting => break result.map_err(|e| refusal_code(&e)),
                _ = check.tick() => {
                    if is_stopped(&self.vault, &pending.grant_id).unwrap_or(false) {
                        break Err(RefusalCode::Stopped);
                    }
                }
                message = channel.recv() => {
                    outcome.refused = Some(RefusalCode::Cancelled);
                    outcome.end = match message {
                        Err(SessionError::PeerShutdown) => {
                            "the admin's tool ended the session before the user answered".into()
                        }
                        Err(e) => e.to_string(),
                        Ok((other, _)) => format!("the admin's tool sent {other:?} before the answer"),
                    };
                    self.emit(ObrEvent::Refused { grant_id: id, code: RefusalCode::Cancelled });
                    return Ok(outcome);
                }
            }
        };
        let session = match accepted {
            Ok(s) => s,
            Err(code) => {
                let _ = channel
                    .send(MessageType::ObrStatus, code.as_str().as_bytes())
                    .await;
                self.emit(ObrEvent::Refused { grant_id: id, code });
                outcome.end = format!("refused: {code}");
                outcome.refused = Some(code);
                return Ok(outcome);
            }
        };
        if let Err(e) = channel.send(MessageType::ObrStatus, b"accepted").await {
            outcome.end = e.to_string();
            return Ok(outcome);
        }
        self.emit(ObrEvent::Accepted {
            grant_id: id,
            admin: grant.admin_name.clone(),
        });
        let mut uploads = JoinSet::new();
        let end = self
            .serve(channel, &session, &mut outcome, &mut uploads)
            .await;
        outcome.end = end.reason();
        if matches!(end, End::CountUsed | End::Expired | End::Stopped) {
            // The caller's close sends the shutdown.
            tracing::debug!("obr session ends: {}", outcome.end);
        }
        let drained = tokio::time::timeout(RECEIPT_DRAIN, async {
            let mut posted = 0;
            while let Some(done) = uploads.join_next().await {
                if let Ok((index, result)) = done {
                    match result {
                        Ok(()) => {
                            posted += 1;
                            self.emit(ObrEvent::ReceiptPosted { index });
                        }
                        Err(reason) => {
                            audit(
                                &self.vault,
                                self.clock.now_unix_seconds(),
                                "obr.receipt.unsent",
                                &[
                                    ("grant_id", hex(&grant.grant_id)),
                                    ("index", index.to_string()),
                                    ("reason", reason.clone()),
                                ],
                            );
                            self.emit(ObrEvent::ReceiptNotPosted { index, reason });
                        }
                    }
                }
            }
            posted
        })
        .await;
        outcome.receipts_posted = drained.unwrap_or(0);
        Ok(outcome)
    }

    /// Queues a receipt until it is posted (`vault::ReceiptQueue`). A full queue or a failed
    /// write is audited (`obr.receipt.not_queued`); the upload is tried all the same.
    fn queue_receipt(
        &self,
        grant_id: &[u8; GRANT_ID_LEN],
        index: u8,
        receipt: &[u8],
    ) -> Option<i64> {
        let now = self.clock.now_unix_seconds();
        let reason = match self.vault.receipt_queue().push(now, receipt) {
            Ok(Some(seq)) => return Some(seq),
            Ok(None) => "the queue of unsent receipts is full".to_owned(),
            Err(e) => e.to_string(),
        };
        audit(
            &self.vault,
            now,
            "obr.receipt.not_queued",
            &[
                ("grant_id", hex(grant_id)),
                ("index", index.to_string()),
                ("reason", reason),
            ],
        );
        None
    }

    /// Serves the admin's client until the session ends.
    async fn serve(
        &self,
        channel: &LinkSession,
        session: &ObrSession,
        outcome: &mut ObrOutcome,
        uploads: &mut JoinSet<(u8, Result<(), String>)>,
    ) -> End {
        let grant_id = session.grant().grant_id;
        let max = session.grant().max_registrations;
        let live_until = session.grant().expires_at.saturating_add(DEFAULT_SKEW_SECS);
        // The whole session is one request origin.
        let origin = Origin::on_behalf_registration();
        // One reader for the whole session, so a check tick never abandons a receive.
        let (tx, mut rx): (_, Inbox) = mpsc::channel(8);
        let reader = async {
            loop {
                let message = channel.recv().await;
                let end = message.is_err();
                if tx.send(message).await.is_err() || end {
                    break;
                }
            }
            std::future::pending::<()>().await;
        };
        let work = async {
            let mut check = tokio::time::interval(CHECK_EVERY);
            loop {
                tokio::select! {
                    _ = check.tick() => {
                        if is_stopped(&self.vault, &grant_id).unwrap_or(false) {
                            return End::Stopped;
                        }
                        if self.clock.now_unix_seconds() >= live_until {
                            return End::Expired;
                        }
                    }
                    message = rx.recv() => match message {
                        None => return End::Error("the session's reader stopped".into()),
                        Some(Err(SessionError::PeerShutdown)) => return End::PeerShutdown,
                        Some(Err(e)) => return End::Error(e.to_string()),
                        Some(Ok((MessageType::Cancel, _))) => {}
                        Some(Ok((MessageType::Ctap, request))) => {
                            if is_stopped(&self.vault, &grant_id).unwrap_or(false) {
                                let _ = channel.send(MessageType::Ctap, &[OPERATION_DENIED]).await;
                                return End::Stopped;
                            }
                            let signals = RequestSignals::new(origin.clone());
                            let handled = drive_request(
                                channel,
                                &mut rx,
                                &signals,
                                session.handle(&request, &signals),
                            )
                            .await;
                            let (response, registration) = match handled {
                                Ok(r) => r,
                                Err(e) => return End::Error(e),
                            };
                            if let Err(e) = channel.send(MessageType::Ctap, &response).await {
                                return End::Error(e.to_string());
                            }
                            if let Some(code) = session.refusal() {
                                let _ = channel
                                    .send(MessageType::ObrStatus, code.as_str().as_bytes())
                                    .await;
                                self.report_refusal(&grant_id, code).await;
                                return End::Refused(code);
                            }
                            let Some(registration) = registration else { continue };
                            if let Err(e) =
                                channel.send(MessageType::Receipt, &registration.receipt).await
                            {
                                return End::Error(e.to_string());
                            }
                            let index = registration.index;
                            self.emit(ObrEvent::Registered {
                                rp_id: registration.rp_id.clone(),
                                index,
                                max,
                            });
                            outcome.registrations.push((index, registration.rp_id));
                            let sink = self.receipts.clone();
                            let receipt = registration.receipt;
                            // Queued first, removed once posted: a receipt whose upload fails
                            // or never ends is posted at the workspace's next contact.
                            let queued = self.queue_receipt(&grant_id, index, &receipt);
                            let vault = self.vault.clone();
                            uploads.spawn(async move {
                                let posted = sink.post(receipt).await;
                                if let (Ok(()), Some(seq)) = (&posted, queued)
                                    && let Err(e) = vault.receipt_queue().remove(seq)
                                {
                                    tracing::warn!("a posted receipt stays queued: {e}");
                                }
                                (index, posted)
                            });
                            if session.registered() >= max {
                                return End::CountUsed;
                            }
                        }
                        Some(Ok((other, _))) => {
                            return End::Error(format!(
                                "the admin's tool sent an unexpected {other:?} message"
                            ));
                        }
                    },
                }
            }
        };
        tokio::select! {
            end = work => end,
            () = reader => End::Error("the session's reader stopped".into()),
        }
    }
}

/// The status-frame code for a refused grant (obr-grant.md §6 step 4).
fn refusal_code(error: &ObrError) -> RefusalCode {
    match error {
        ObrError::Grant(e) => RefusalCode::Grant(*e),
        ObrError::Denied | ObrError::Ui(_) => RefusalCode::Denied,
        ObrError::Timeout => RefusalCode::Timeout,
        ObrError::Stopped => RefusalCode::Stopped,
        ObrError::NotActivated => RefusalCode::NotActivated,
        ObrError::Vault(_) => RefusalCode::InternalError,
    }
}

/// True if `prompt` asks to approve an on-behalf registration.
#[cfg(any(test, feature = "pc"))]
pub fn is_approval_prompt(prompt: &PresencePrompt) -> bool {
    prompt.operation == crate::platform::UserOperation::OnBehalfRegistration
}
