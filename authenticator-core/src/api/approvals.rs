//! On-behalf registration approvals: the requests the workspace announced, the user's
//! decision (an approval is confirmed with user verification, then the administrator's tool
//! is served within the grant's scope), and the audit trail.

use std::collections::HashMap;

use super::{Authenticator, AuthenticatorError, guard, parse_hex};
use crate::obr::approvals as obr_approvals;
use crate::obr::grant::GRANT_ID_LEN;
use crate::obr::{ObrOutcome, ObrRunner, PendingApproval};

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
        let runner = ObrRunner::new(
            self.vault.clone(),
            self.engine_config.clone(),
            self.user.clone(),
            self.clock.clone(),
            self.relay_config(),
        );
        self.run(async move {
            let outcome = if approve {
                runner.run(&pending).await?
            } else {
                runner.deny(&pending).await?
            };
            Ok(ApprovalOutcome::from(outcome))
        })
        .await
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
