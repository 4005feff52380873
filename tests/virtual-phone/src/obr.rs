//! On-behalf registration on the virtual phone (proto/obr-grant.md §6): `virtual-phone
//! approvals list|approve ID|deny ID`, `virtual-phone audit`, and the runner that `serve`'s
//! enrollment watcher uses for each new request. Everything is printed as plain lines:
//! `obr: accepted grant ID from ADMIN`, `obr: registered RP (N/MAX)`, `obr: refused CODE
//! (grant ID)` (for a request refused on arrival too, then `obr: refusal CODE reported|not
//! reported (grant ID)`), ...

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use authenticator_core::api::poll_workspace;
use authenticator_core::ctap::EngineConfig;
use authenticator_core::obr::approvals;
use authenticator_core::obr::runner::DEFAULT_ANSWER_TIMEOUT;
use authenticator_core::obr::{
    ObrEvent, ObrLinkError, ObrOutcome, ObrRefusal, ObrRunner, PendingApproval, RefusalCode,
    RefusalReport, WorkspaceReceipts,
};
use authenticator_core::platform::{Clock, SystemClock, UserInterface};
use authenticator_core::vault::Vault;
use tokio::sync::mpsc;

use crate::scripted_ui::{Answer, ScriptedApprover, ScriptedUser};

pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn line(event: ObrEvent) -> String {
    match event {
        ObrEvent::Connecting { grant_id, admin } => {
            format!("obr: connecting to {admin} for grant {grant_id}")
        }
        ObrEvent::Accepted { grant_id, admin } => {
            format!("obr: accepted grant {grant_id} from {admin}")
        }
        ObrEvent::Refused { grant_id, code } => format!("obr: refused {code} (grant {grant_id})"),
        ObrEvent::RefusalReported {
            grant_id,
            code,
            report,
        } => report_line(&grant_id, code, &report),
        ObrEvent::Registered { rp_id, index, max } => {
            format!("obr: registered {rp_id} ({index}/{max})")
        }
        ObrEvent::ReceiptPosted { index } => format!("obr: receipt {index} posted"),
        ObrEvent::ReceiptNotPosted { index, reason } => {
            format!("obr: receipt {index} not posted: {reason}")
        }
        ObrEvent::Ended { grant_id, reason } => {
            format!("obr: session ended (grant {grant_id}): {reason}")
        }
    }
}

/// `obr: refusal CODE reported (grant ID)` or `obr: refusal CODE not reported (grant ID): WHY`.
fn report_line(grant_id: &str, code: RefusalCode, report: &RefusalReport) -> String {
    match report {
        RefusalReport::Recorded => format!("obr: refusal {code} reported (grant {grant_id})"),
        RefusalReport::UnknownGrant => {
            format!("obr: refusal {code} reported (grant {grant_id}): unknown to the workspace")
        }
        RefusalReport::NotSent(reason) => {
            format!("obr: refusal {code} not reported (grant {grant_id}): {reason}")
        }
    }
}

/// `obr: refused CODE (grant ID)` and how reporting it went, for a request refused on arrival.
pub fn refused(r: &ObrRefusal) {
    let id = r.id();
    say(&format!("obr: refused {} (grant {id})", r.code));
    say(&report_line(&id, r.code, &r.report));
}

/// A runner whose events are printed; the printer ends once every clone of the runner is
/// dropped.
pub fn runner(
    vault: Arc<Vault>,
    engine_config: EngineConfig,
    user: Arc<dyn UserInterface>,
    allow_insecure_loopback: bool,
    answer_timeout: Duration,
) -> (ObrRunner, tokio::task::JoinHandle<()>) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut runner = ObrRunner::new(
        vault.clone(),
        engine_config,
        user,
        clock.clone(),
        crate::link::relay_config(allow_insecure_loopback),
    );
    runner.answer_timeout = answer_timeout;
    runner.receipts = Arc::new(WorkspaceReceipts {
        vault,
        clock,
        request_timeout: crate::enrollment::request_timeout(),
    });
    runner.events = Some(tx);
    let printer = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            say(&line(event));
        }
    });
    (runner, printer)
}

/// `obr: request ...` for a new pending approval.
pub fn announce(p: &PendingApproval) {
    say(&format!(
        "obr: request {} from {} for {} (up to {}, until {})",
        p.id(),
        p.admin_name,
        p.rp_ids.join(","),
        p.max_registrations,
        p.expires_at
    ));
}

fn report(result: &Result<ObrOutcome, ObrLinkError>, id: &str) {
    if let Err(e) = result {
        say(&format!("obr: failed (grant {id}): {e}"));
    }
}

/// Runs one pending approval (the serve mode's watcher does this at once for each request).
pub async fn run(runner: ObrRunner, pending: PendingApproval) {
    let result = runner.run(&pending).await;
    report(&result, &pending.id());
}

pub async fn list(vault: &Vault, refresh: bool) -> Result<(), String> {
    if refresh {
        let polled = poll_workspace(&crate::enrollment::enroller(vault), Duration::ZERO)
            .await
            .map_err(|e| e.to_string())?;
        for r in &polled.obr_refused {
            refused(r);
        }
        for p in &polled.obr_requests {
            announce(p);
        }
    }
    let now = SystemClock.now_unix_seconds();
    let pending = approvals::pending(vault, now).map_err(|e| e.to_string())?;
    say(&format!("{} pending approval(s)", pending.len()));
    for p in pending {
        say(&format!(
            "{}  {}  {}  up to {}  expires {}",
            p.id(),
            p.admin_name,
            p.rp_ids.join(","),
            p.max_registrations,
            p.expires_at
        ));
    }
    Ok(())
}

fn find(vault: &Vault, id: &str) -> Result<PendingApproval, String> {
    approvals::find_pending(vault, SystemClock.now_unix_seconds(), id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no pending approval has id {id} (see `approvals list`)"))
}

/// `approvals approve ID` / `approvals deny ID`: runs the session in this process; the
/// command itself is the user's decision (and verification).
pub async fn decide(
    vault: Arc<Vault>,
    id: &str,
    approve: bool,
    allow_insecure_loopback: bool,
) -> Result<(), String> {
    let pending = find(&vault, id)?;
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
    let (runner, printer) = runner(
        vault,
        EngineConfig::default(),
        user,
        allow_insecure_loopback,
        DEFAULT_ANSWER_TIMEOUT,
    );
    let result = if approve {
        runner.run(&pending).await
    } else {
        runner.deny(&pending).await
    };
    drop(runner);
    let _ = printer.await;
    match result {
        Ok(outcome) => match outcome.refused {
            None => {
                say(&format!(
                    "obr: done: {} registration(s), {} receipt(s) posted",
                    outcome.registrations.len(),
                    outcome.receipts_posted
                ));
                Ok(())
            }
            Some(RefusalCode::Denied) if !approve => Ok(()),
            Some(code) => Err(format!("the grant was refused: {code}")),
        },
        Err(e) if !approve && e.unreachable() => {
            say(&format!(
                "obr: dropped {} (the admin's tool was unreachable: {e})",
                pending.id()
            ));
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

pub fn audit(vault: &Vault) -> Result<(), String> {
    let entries = vault.audit().list().map_err(|e| e.to_string())?;
    say(&format!(
        "{} audit entr{}",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    ));
    for e in entries {
        let details: Vec<String> = e
            .details
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
            e.recorded_at,
            e.kind,
            details.join(" ")
        ));
    }
    Ok(())
}
