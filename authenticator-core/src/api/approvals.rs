//! On-behalf registration approvals: the requests the workspace announced, the user's
//! decision (an approval is confirmed with user verification, then the administrator's tool
//! is served within the grant's scope), the session's progress for an observer, and the
//! audit trail.
//!
//! Invariant: an observer that fails is ignored; its events never hold a secret.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Authenticator, AuthenticatorError, guard, parse_hex};
use crate::obr::approvals as obr_approvals;
use crate::obr::grant::GRANT_ID_LEN;
use crate::obr::{
    ObrEvent, ObrOutcome, ObrRunner, PendingApproval, RefusalReport, WorkspaceReceipts,
};
use crate::platform::UserInterfaceError;

/// A request waiting for the user's decision.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalRequest {
    /// The grant id (hex); pass it to `decide_approval`.
    pub id: String,
    /// Who asks (the administrator's name in the workspace).
    pub admin_name: String,
    pub workspace_name: String,
    /// The sites the administrator may register passkeys at.
    pub rp_ids: Vec<String>,
    /// How many passkeys at most.
    pub max_registrations: u8,
    /// Seconds since the Unix epoch after which the request lapses.
    pub expires_at: u64,
}

impl From<&PendingApproval> for ApprovalRequest {
    fn from(p: &PendingApproval) -> Self {
        Self {
            id: p.id(),
            admin_name: p.admin_name.clone(),
            workspace_name: p.workspace_name.clone(),
            rp_ids: p.rp_ids.clone(),
            max_registrations: p.max_registrations,
            expires_at: p.expires_at,
        }
    }
}

/// How an approved (or denied) request went.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalOutcome {
    /// The sites registered, in order.
    pub registered_rp_ids: Vec<String>,
    /// Receipts the workspace confirmed.
    pub receipts_posted: u32,
    /// `None` if the grant was accepted, else the refusal sent to the administrator's tool
    /// (`denied` when the user declined or failed verification).
    pub refused: Option<String>,
    /// Why the session ended.
    pub ended: String,
}

impl From<ObrOutcome> for ApprovalOutcome {
    fn from(o: ObrOutcome) -> Self {
        Self {
            registered_rp_ids: o.registrations.into_iter().map(|(_, rp)| rp).collect(),
            receipts_posted: u32::try_from(o.receipts_posted).unwrap_or(u32::MAX),
            refused: o.refused.map(|code| code.as_str().to_owned()),
            ended: o.end,
        }
    }
}

/// Whether the workspace learned of a refusal the administrator's tool could not be told of.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RefusalReportState {
    /// The workspace recorded it.
    Recorded,
    /// The workspace does not know the request; nothing more to do.
    UnknownToWorkspace,
    /// It could not be reported (after retries); `reason` says why.
    NotSent { reason: String },
}

impl From<RefusalReport> for RefusalReportState {
    fn from(r: RefusalReport) -> Self {
        match r {
            RefusalReport::Recorded => Self::Recorded,
            RefusalReport::UnknownGrant => Self::UnknownToWorkspace,
            RefusalReport::NotSent(reason) => Self::NotSent { reason },
        }
    }
}

/// The progress of an on-behalf registration session (`decide_approval`), for the app's
/// screen or log. `approval_id` is the request's id (hex). Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ApprovalEvent {
    /// Connecting to the administrator's tool through its relay.
    Connecting {
        approval_id: String,
        admin_name: String,
    },
    /// The tool proved the grant; it may now register passkeys.
    Accepted {
        approval_id: String,
        admin_name: String,
    },
    /// The grant (or a registration) was refused with `code` (`denied`, `expired`,
    /// `passkey_exists`, ...).
    Refused { approval_id: String, code: String },
    /// How reporting a refusal to the workspace went.
    RefusalReported {
        approval_id: String,
        code: String,
        report: RefusalReportState,
    },
    /// A passkey was registered at `rp_id`: the `index`-th of at most `max`.
    Registered { rp_id: String, index: u8, max: u8 },
    /// The workspace holds the receipt of the `index`-th registration.
    ReceiptPosted { index: u8 },
    /// The receipt of the `index`-th registration could not be posted.
    ReceiptNotPosted { index: u8, reason: String },
    /// The session ended; `reason` says why.
    Ended { approval_id: String, reason: String },
}

impl From<ObrEvent> for ApprovalEvent {
    fn from(e: ObrEvent) -> Self {
        match e {
            ObrEvent::Connecting { grant_id, admin } => Self::Connecting {
                approval_id: grant_id,
                admin_name: admin,
            },
            ObrEvent::Accepted { grant_id, admin } => Self::Accepted {
                approval_id: grant_id,
                admin_name: admin,
            },
            ObrEvent::Refused { grant_id, code } => Self::Refused {
                approval_id: grant_id,
                code: code.as_str().to_owned(),
            },
            ObrEvent::RefusalReported {
                grant_id,
                code,
                report,
            } => Self::RefusalReported {
                approval_id: grant_id,
                code: code.as_str().to_owned(),
                report: report.into(),
            },
            ObrEvent::Registered { rp_id, index, max } => Self::Registered { rp_id, index, max },
            ObrEvent::ReceiptPosted { index } => Self::ReceiptPosted { index },
            ObrEvent::ReceiptNotPosted { index, reason } => {
                Self::ReceiptNotPosted { index, reason }
            }
            ObrEvent::Ended { grant_id, reason } => Self::Ended {
                approval_id: grant_id,
                reason,
            },
        }
    }
}

/// Receives the progress of on-behalf registration sessions (called from the core's
/// threads, in order, before `decide_approval` returns).
#[uniffi::export(foreign)]
pub trait ApprovalObserver: Send + Sync {
    /// One event; an error (or exception) is ignored.
    fn on_approval_event(&self, event: ApprovalEvent) -> Result<(), UserInterfaceError>;
}

/// One entry of the phone's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditRecord {
    /// Position in the trail, from 1.
    pub seq: u64,
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// What happened, such as `obr.registration`.
    pub kind: String,
    /// The facts (grant id, administrator, site, ...).
    pub details: HashMap<String, String>,
}

#[uniffi::export]
impl Authenticator {
    /// The requests waiting for the user (lapsed ones are left out).
    pub fn pending_approvals(&self) -> Result<Vec<ApprovalRequest>, AuthenticatorError> {
        guard(|| {
            let pending = obr_approvals::pending(&self.vault, self.now())?;
            Ok(pending.iter().map(ApprovalRequest::from).collect())
        })
    }

    /// The user's decision on a request. Approving asks for user verification
    /// (`verify_user` with operation `OnBehalfRegistration`), then serves the
    /// administrator's tool until the grant's count, expiry or the tool's end; each
    /// registration is audited and notified. Denying tells the tool. Waits until the session
    /// ends.
    pub async fn decide_approval(
        &self,
        approval_id: String,
        approve: bool,
    ) -> Result<ApprovalOutcome, AuthenticatorError> {
        if parse_hex(&approval_id, "an approval's id")?.len() != GRANT_ID_LEN {
            return Err(AuthenticatorError::invalid("this is not an approval's id"));
        }
        let pending = obr_approvals::find_pending(&self.vault, self.now(), &approval_id)?
            .ok_or_else(|| AuthenticatorError::not_found("no pending approval has this id"))?;
        let mut runner = ObrRunner::new(
            self.vault.clone(),
            self.engine_config.clone(),
            self.user.clone(),
            self.clock.clone(),
            self.relay_config(),
        );
        runner.answer_timeout = Duration::from_millis(self.options.approval_answer_timeout_ms);
        runner.receipts = Arc::new(WorkspaceReceipts {
            vault: self.vault.clone(),
            request_timeout: self.workspace_request_timeout(),
        });
        let observer = self
            .approval_observer
            .lock()
            .map_err(|_| AuthenticatorError::internal("the approval observer is unusable"))?
            .clone();
        self.run(async move {
            // Every event reaches the observer before the call returns: the forwarder ends
            // once the runner (the only sender) is dropped.
            let forward = observer.map(|observer| {
                let (tx, mut rx) = mpsc::unbounded_channel::<ObrEvent>();
                runner.events = Some(tx);
                tokio::spawn(async move {
                    while let Some(event) = rx.recv().await {
                        let _ = observer.on_approval_event(event.into());
                    }
                })
            });
            let outcome = if approve {
                runner.run(&pending).await
            } else {
                runner.deny(&pending).await
            };
            drop(runner);
            if let Some(forward) = forward {
                let _ = forward.await;
            }
            Ok(ApprovalOutcome::from(outcome?))
        })
        .await
    }

    /// Sets (or with `None` removes) the observer of on-behalf registration sessions; it
    /// applies to the `decide_approval` calls that begin after it.
    pub fn set_approval_observer(&self, observer: Option<Arc<dyn ApprovalObserver>>) {
        if let Ok(mut slot) = self.approval_observer.lock() {
            *slot = observer;
        }
    }

    /// The audit trail, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditRecord>, AuthenticatorError> {
        guard(|| {
            Ok(self
                .vault
                .audit()
                .list()?
                .into_iter()
                .map(|e| AuditRecord {
                    seq: e.seq,
                    at: e.recorded_at,
                    kind: e.kind,
                    details: e.details.into_iter().collect(),
                })
                .collect())
        })
    }
}
