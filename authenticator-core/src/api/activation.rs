//! Activation from the administrator's link, the activation PIN, the key's status, and the
//! workspace's events (status changes and on-behalf registration requests).
//!
//! The facade dispatches the workspace's events ([`poll_workspace`]): enrollment fetches and
//! types them, `obr` takes the grant requests and stops, then enrollment applies the status
//! and stores how far the phone has read. Enrollment and OBR never call each other.
//!
//! Invariant: installing the workspace's client PIN ends every PIN/UV auth token issued
//! before it, as a PIN change does (`CtapEngine::pin_changed_outside_ctap`).

use std::sync::Arc;
use std::time::Duration;

use super::approvals::{ApprovalRequest, RefusalReportState};
use super::{Authenticator, AuthenticatorError, guard};
use crate::enroll::activation_link::{ActivationLink, ParseOptions};
use crate::enroll::{EnrollError, Enroller, Enrollment, KeyStatus};
use crate::hex::encode as hex;
use crate::obr::PendingApproval;
use crate::obr::approvals::{self, Received};
use crate::obr::grant::GRANT_ID_LEN;
use crate::obr::receipts::{QueueFlush, post_queued};
use crate::obr::refusals::{self, ObrRefusal};
use crate::platform::SystemClock;
use crate::vault::Vault;
use crate::workspace::events::WorkspaceEvent;

/// The longest `check_workspace` waits for events, in seconds.
pub const MAX_WORKSPACE_WAIT_SECS: u32 = 60;

/// What an activation link says before anything is contacted.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ActivationLinkInfo {
    /// The workspace server the link leads to (show it: "Activate with acme.example?").
    pub workspace_host: String,
}

/// The security key's state at the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum KeyState {
    /// Activated; waiting for the client PIN the administrator sent.
    Pending,
    /// In use.
    Active,
    /// Suspended by the administrator: the phone answers no sign-ins until resumed.
    Suspended,
    /// Revoked for good.
    Revoked,
    /// Locked after too many wrong activation PINs.
    Locked,
}

impl From<KeyStatus> for KeyState {
    fn from(s: KeyStatus) -> Self {
        match s {
            KeyStatus::Pending => Self::Pending,
            KeyStatus::Active => Self::Active,
            KeyStatus::Suspended => Self::Suspended,
            KeyStatus::Revoked => Self::Revoked,
            KeyStatus::Locked => Self::Locked,
        }
    }
}

/// The phone's activation with a workspace.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrollmentInfo {
    /// The key's state at the workspace.
    pub status: KeyState,
    /// The organisation's workspace ("Acme").
    pub workspace_name: String,
    /// The user this phone is the security key of.
    pub user_email: String,
    pub user_display_name: String,
    /// The workspace's id of this security key (for support).
    pub security_key_id: String,
    /// The administrator's client PIN is expected next (`submit_activation_pin`).
    pub waiting_for_pin: bool,
}

impl From<&Enrollment> for EnrollmentInfo {
    fn from(e: &Enrollment) -> Self {
        Self {
            status: e.status.into(),
            workspace_name: e.workspace_name.clone(),
            user_email: e.user_email.clone(),
            user_display_name: e.user_display_name.clone(),
            security_key_id: e.security_key_id.clone(),
            waiting_for_pin: e.status == KeyStatus::Pending && e.pin_policy.client_pin,
        }
    }
}

/// An on-behalf registration request refused on arrival (forged, expired, replayed, ...).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefusedApproval {
    /// The grant id (hex), or `unknown`.
    pub approval_id: String,
    /// Why, as reported to the workspace (`expired`, `bad_signature`, ...).
    pub code: String,
    /// How reporting it to the workspace went. Always set by the core; optional (default
    /// `None`) only so that records an app's tests build keep compiling.
    #[uniffi(default = None)]
    pub report: Option<RefusalReportState>,
}

/// What `check_workspace` brought.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkspaceUpdate {
    /// The activation after the events were applied.
    pub enrollment: EnrollmentInfo,
    /// New on-behalf registration requests waiting for the user (also in `pending_approvals`).
    pub new_approvals: Vec<ApprovalRequest>,
    /// Requests the administrator stopped (hex ids).
    pub stopped_approvals: Vec<String>,
    /// Requests refused on arrival (and reported to the workspace).
    pub refused_approvals: Vec<RefusedApproval>,
}

/// What one poll of the workspace's events brought.
#[derive(Debug)]
pub struct Polled {
    pub enrollment: Enrollment,
    /// New pending OBR approvals, in event order.
    pub obr_requests: Vec<PendingApproval>,
    /// Grant ids the workspace stopped.
    pub obr_stopped: Vec<[u8; GRANT_ID_LEN]>,
    /// `obr_request`s refused on arrival (but stopped ones), in event order, with how
    /// reporting them to the workspace went.
    pub obr_refused: Vec<ObrRefusal>,
    /// What became of the receipts still queued from earlier sessions (`obr::receipts`):
    /// posted now that the workspace answers.
    pub queued_receipts: QueueFlush,
}

/// Waits up to `wait` for the workspace's next events and dispatches them: `obr_request`
/// (verified without the link binding and kept as a pending approval, or audited
/// `obr.grant.refused` and dropped) and `obr_stopped` (the pending approval goes and a running
/// session ends) to `obr`, then status changes to enrollment, which stores how far the phone
/// has read. Unknown event types are skipped. A refused `obr_request` (but a stopped one) is
/// reported to the workspace under the event's own `grant_id` once the events are stored,
/// within `obr::refusals::REFUSAL_REPORT_BUDGET` in all, and audited `obr.refusal.reported`
/// or `obr.refusal.unreported`.
pub async fn poll_workspace(
    enroller: &Enroller<'_>,
    wait: Duration,
) -> Result<Polled, EnrollError> {
    let fetched = enroller.fetch_events(wait).await?;
    let vault = enroller.vault;
    let now = enroller.clock.now_unix_seconds();
    let mut obr_requests = Vec::new();
    let mut obr_stopped = Vec::new();
    let mut obr_refused = Vec::new();
    for event in fetched.new_events() {
        match event {
            WorkspaceEvent::ObrRequest(request) => {
                let received = approvals::receive_request(
                    vault,
                    now,
                    request.grant.as_deref(),
                    &request.relay_url,
                    request.admin_door.as_deref(),
                )?;
                match received {
                    Received::Pending(p) => obr_requests.push(p),
                    Received::Refused(code) => {
                        tracing::info!("obr request refused: {code}");
                        obr_refused.extend(ObrRefusal::on_arrival(request.grant_id, code));
                    }
                    Received::AlreadyPending => {}
                }
            }
            WorkspaceEvent::ObrStopped { grant_id } => {
                approvals::stop(vault, now, grant_id)?;
                obr_stopped.push(*grant_id);
            }
            WorkspaceEvent::Status(_) | WorkspaceEvent::Skipped => {}
        }
    }
    let (enrollment, connection) = enroller.apply_events(fetched).await?;
    refusals::report_all(vault, enroller.clock, &connection, &mut obr_refused).await;
    // The workspace answered: the receipts it could not take earlier go now.
    let queued_receipts = post_queued(vault, now, &connection).await;
    Ok(Polled {
        queued_receipts,
        enrollment,
        obr_requests,
        obr_stopped,
        obr_refused,
    })
}

fn enroller<'a>(vault: &'a Vault, device_name: &'a str, timeout: Duration) -> Enroller<'a> {
    Enroller {
        vault,
        clock: &SystemClock,
        device_name,
        request_timeout: timeout,
    }
}

#[uniffi::export]
impl Authenticator {
    /// Checks an activation link without contacting anyone; the error says what is wrong
    /// with it.
    pub fn parse_activation_link(
        &self,
        link: String,
    ) -> Result<ActivationLinkInfo, AuthenticatorError> {
        guard(|| {
            let parsed = ActivationLink::parse(&link, self.parse_options())
                .map_err(AuthenticatorError::invalid)?;
            Ok(ActivationLinkInfo {
                workspace_host: parsed.host().to_string(),
            })
        })
    }

    /// Activates the phone as the user's security key from the administrator's link. When the
    /// result is `waiting_for_pin`, ask for the emailed PIN and call `submit_activation_pin`.
    pub async fn activate(&self, link: String) -> Result<EnrollmentInfo, AuthenticatorError> {
        let (vault, name, options, timeout) = self.enroll_parts();
        self.run(async move {
            let e = enroller(&vault, &name, timeout)
                .activate(&link, options)
                .await?;
            Ok(EnrollmentInfo::from(&e))
        })
        .await
    }

    /// Proves the administrator's client PIN to the workspace; it then becomes the PIN the
    /// PC asks for, and PIN/UV auth tokens a PC obtained before stop working (as after a PIN
    /// change). A wrong PIN gives `PinInvalid` with the attempts left.
    pub async fn submit_activation_pin(
        &self,
        pin: String,
    ) -> Result<EnrollmentInfo, AuthenticatorError> {
        let (vault, name, _, timeout) = self.enroll_parts();
        let engine = self.engine.clone();
        let pin = zeroize::Zeroizing::new(pin);
        self.run(async move {
            let submitted = enroller(&vault, &name, timeout).submit_pin(&pin).await;
            // Whatever the outcome: a step after the PIN was installed may have failed, and
            // ending tokens early only costs a PC a new PIN entry.
            engine.pin_changed_outside_ctap();
            Ok(EnrollmentInfo::from(&submitted?))
        })
        .await
    }

    /// The activation as last known, without contacting the workspace; `None` before
    /// activation.
    pub fn enrollment(&self) -> Result<Option<EnrollmentInfo>, AuthenticatorError> {
        guard(|| {
            let current = enroller(
                &self.vault,
                &self.options.device_name,
                self.workspace_request_timeout(),
            )
            .current()?;
            Ok(current.as_ref().map(EnrollmentInfo::from))
        })
    }

    /// Asks the workspace for the key's status now.
    pub async fn refresh_enrollment(&self) -> Result<EnrollmentInfo, AuthenticatorError> {
        let (vault, name, _, timeout) = self.enroll_parts();
        self.run(async move {
            let e = enroller(&vault, &name, timeout).refresh().await?;
            Ok(EnrollmentInfo::from(&e))
        })
        .await
    }

    /// Waits up to `wait_seconds` (at most 60) for the workspace's events and applies them:
    /// suspension, revocation, and on-behalf registration requests, which become pending
    /// approvals. Call it in a loop while the app is in use, or when a push arrives.
    pub async fn check_workspace(
        &self,
        wait_seconds: u32,
    ) -> Result<WorkspaceUpdate, AuthenticatorError> {
        let (vault, name, _, timeout) = self.enroll_parts();
        let wait = Duration::from_secs(u64::from(wait_seconds.min(MAX_WORKSPACE_WAIT_SECS)));
        self.run(async move {
            let polled = poll_workspace(&enroller(&vault, &name, timeout), wait).await?;
            let receipts = polled.queued_receipts;
            if receipts != QueueFlush::default() {
                tracing::info!(
                    posted = receipts.posted,
                    dropped = receipts.dropped,
                    left = receipts.left,
                    "queued obr receipts"
                );
            }
            Ok(WorkspaceUpdate {
                enrollment: EnrollmentInfo::from(&polled.enrollment),
                new_approvals: polled.obr_requests.iter().map(Into::into).collect(),
                stopped_approvals: polled.obr_stopped.iter().map(|id| hex(id)).collect(),
                refused_approvals: polled
                    .obr_refused
                    .iter()
                    .map(|r| RefusedApproval {
                        approval_id: r.id(),
                        code: r.code.as_str().to_owned(),
                        report: Some(r.report.clone().into()),
                    })
                    .collect(),
            })
        })
        .await
    }
}

impl Authenticator {
    fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            allow_insecure_loopback: self.options.allow_insecure_loopback,
        }
    }

    fn enroll_parts(&self) -> (Arc<Vault>, String, ParseOptions, Duration) {
        (
            self.vault.clone(),
            self.options.device_name.clone(),
            self.parse_options(),
            self.workspace_request_timeout(),
        )
    }
}
