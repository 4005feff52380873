//! On-behalf registration on the virtual phone (proto/obr-grant.md §6): `virtual-phone
//! approvals list|approve ID|deny ID`, `virtual-phone audit`, and the sessions that `serve`'s
//! watcher runs for each new request, all through the API's approvals. Everything is printed
//! as plain lines: `obr: accepted grant ID from ADMIN`, `obr: registered RP (N/MAX)`,
//! `obr: refused CODE (grant ID)`, `obr: refusal CODE reported|not reported (grant ID)`, ...

use std::path::Path;
use std::sync::Arc;

use authenticator_core::api::{
    ApprovalEvent, ApprovalObserver, ApprovalRequest, Authenticator, AuthenticatorError,
    RefusalReportState, RefusedApproval,
};
use authenticator_core::platform::UserInterfaceError;

use crate::phone::{Settings, say};
use crate::scripted_ui::{Answer, ScriptedApprover, ScriptedUser};

/// Prints each session event as one line.
pub struct Printer;

impl ApprovalObserver for Printer {
    fn on_approval_event(&self, event: ApprovalEvent) -> Result<(), UserInterfaceError> {
        say(&line(event));
        Ok(())
    }
}

fn line(event: ApprovalEvent) -> String {
    match event {
        ApprovalEvent::Connecting {
            approval_id,
            admin_name,
        } => format!("obr: connecting to {admin_name} for grant {approval_id}"),
        ApprovalEvent::Accepted {
            approval_id,
            admin_name,
        } => format!("obr: accepted grant {approval_id} from {admin_name}"),
        ApprovalEvent::Refused { approval_id, code } => {
            format!("obr: refused {code} (grant {approval_id})")
        }
        ApprovalEvent::RefusalReported {
            approval_id,
            code,
            report,
        } => report_line(&approval_id, &code, &report),
        ApprovalEvent::Registered { rp_id, index, max } => {
            format!("obr: registered {rp_id} ({index}/{max})")
        }
        ApprovalEvent::ReceiptPosted { index } => format!("obr: receipt {index} posted"),
        ApprovalEvent::ReceiptNotPosted { index, reason } => {
            format!("obr: receipt {index} not posted: {reason}")
        }
        ApprovalEvent::Ended {
            approval_id,
            reason,
        } => format!("obr: session ended (grant {approval_id}): {reason}"),
    }
}

/// `obr: refusal CODE reported (grant ID)` or `obr: refusal CODE not reported (grant ID): WHY`.
fn report_line(grant_id: &str, code: &str, report: &RefusalReportState) -> String {
    match report {
        RefusalReportState::Recorded => format!("obr: refusal {code} reported (grant {grant_id})"),
        RefusalReportState::UnknownToWorkspace => {
            format!("obr: refusal {code} reported (grant {grant_id}): unknown to the workspace")
        }
        RefusalReportState::NotSent { reason } => {
            format!("obr: refusal {code} not reported (grant {grant_id}): {reason}")
        }
    }
}

/// `obr: refused CODE (grant ID)` and how reporting it went, for a request refused on
/// arrival.
pub fn refused(r: &RefusedApproval) {
    say(&format!(
        "obr: refused {} (grant {})",
        r.code, r.approval_id
    ));
    if let Some(report) = &r.report {
        say(&report_line(&r.approval_id, &r.code, report));
    }
}

/// `obr: request ...` for a new pending approval.
pub fn announce(p: &ApprovalRequest) {
    say(&format!(
        "obr: request {} from {} for {} (up to {}, until {})",
        p.id,
        p.admin_name,
        p.rp_ids.join(","),
        p.max_registrations,
        p.expires_at
    ));
}

/// Runs one pending approval (the serve mode's watcher does this at once for each request;
/// the scripted user's answer decides).
pub async fn run(phone: Arc<Authenticator>, id: String) {
    if let Err(e) = phone.decide_approval(id.clone(), true).await {
        say(&format!("obr: failed (grant {id}): {e}"));
    }
}

pub async fn list(phone: &Authenticator, refresh: bool) -> Result<(), String> {
    if refresh {
        let update = phone.check_workspace(0).await.map_err(|e| e.to_string())?;
        for r in &update.refused_approvals {
            refused(r);
        }
        for p in &update.new_approvals {
            announce(p);
        }
    }
    let pending = phone.pending_approvals().map_err(|e| e.to_string())?;
    say(&format!("{} pending approval(s)", pending.len()));
    for p in pending {
        say(&format!(
            "{}  {}  {}  up to {}  expires {}",
            p.id,
            p.admin_name,
            p.rp_ids.join(","),
            p.max_registrations,
            p.expires_at
        ));
    }
    Ok(())
}

/// The phone of `approvals approve|deny`: the command itself is the user's decision (and
/// verification), and the session's events are printed.
pub fn decider(
    data_dir: &Path,
    settings: Settings,
    approve: bool,
) -> Result<Arc<Authenticator>, String> {
    let answer = if approve {
        Answer::Approve
    } else {
        Answer::Deny
    };
    let user = Arc::new(ScriptedApprover {
        user: ScriptedUser {
            presence: answer,
            verification: answer,
        },
        obr: answer,
    });
    let phone = crate::phone::open(data_dir, user, settings.options(crate::phone::DEVICE_NAME))?;
    phone.set_approval_observer(Some(Arc::new(Printer)));
    Ok(phone)
}

/// `approvals approve ID` / `approvals deny ID`: runs the session in this process.
pub async fn decide(phone: &Authenticator, id: String, approve: bool) -> Result<(), String> {
    match phone.decide_approval(id.clone(), approve).await {
        Ok(outcome) => match outcome.refused {
            None => {
                say(&format!(
                    "obr: done: {} registration(s), {} receipt(s) posted",
                    outcome.registered_rp_ids.len(),
                    outcome.receipts_posted
                ));
                Ok(())
            }
            Some(code) if code == "denied" && !approve => Ok(()),
            Some(code) => Err(format!("the grant was refused: {code}")),
        },
        Err(AuthenticatorError::NotFound { .. } | AuthenticatorError::InvalidInput { .. }) => Err(
            format!("no pending approval has id {id} (see `approvals list`)"),
        ),
        // A denial the tool cannot hear: the core dropped the request.
        Err(AuthenticatorError::Network { reason }) if !approve => {
            say(&format!(
                "obr: dropped {id} (the admin's tool was unreachable: {reason})"
            ));
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

pub fn audit(phone: &Authenticator) -> Result<(), String> {
    let entries = phone.audit_log().map_err(|e| e.to_string())?;
    say(&format!(
        "{} audit entr{}",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    ));
    for e in entries {
        let mut details: Vec<(String, String)> = e.details.into_iter().collect();
        details.sort();
        let details: Vec<String> = details
            .iter()
            .map(|(k, v)| {
                if v.is_empty() || v.contains(char::is_whitespace) {
                    format!("{k}={v:?}")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        say(&format!(
            "{}  {}  {}  {}",
            e.seq,
            e.at,
            e.kind,
            details.join(" ")
        ));
    }
    Ok(())
}
