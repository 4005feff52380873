//! Refusals: why the phone refused a grant ([`RefusalCode`], the one place where the codes
//! meet their wire names), and reporting a refusal to the workspace (`obr-refusals`) so the
//! administrator learns why.
//!
//! Invariants:
//! - A grant refused before the admin's tool could be told (on arrival, or when its pending
//!   approval turns out invalid before connecting), or one whose refusal ends a running grant,
//!   is reported under the workspace's own grant id, never one read from the grant bytes
//!   (which may be forged); the outcome is audited (`obr.refusal.reported` /
//!   `obr.refusal.unreported`). A grant the workspace stopped is not reported: the workspace
//!   decided that itself; nor is one refused because the phone is not activated.
//! - Reporting never holds up its caller longer than [`REFUSAL_REPORT_BUDGET`] in all.
//! - The wire names never change: the admin's pairing tool and the workspace read them.

use super::audit;
use super::grant::{GRANT_ID_LEN, GrantError};
use crate::hex::encode as hex;
use crate::platform::Clock;
use crate::vault::Vault;
use crate::workspace::{Connection, WorkspaceError};

/// How long reporting refusals to the workspace may hold up the caller (one events poll, or
/// one runner), retries included.
pub const REFUSAL_REPORT_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the phone refused a grant or ended its session: the code of the status frame the
/// admin's tool reads (obr-grant.md §6 step 4), of the report to the workspace and of the
/// audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
    /// The grant broke a rule of obr-grant.md §3.3 (its own code, `GrantError::code`).
    Grant(GrantError),
    /// The phone is not activated with a workspace.
    NotActivated,
    /// The `obr_request` event lacked a usable grant, relay address or door.
    MalformedEvent,
    /// The workspace stopped the grant.
    Stopped,
    /// [`MAX_PENDING`](super::approvals::MAX_PENDING) approvals are already waiting.
    TooManyPending,
    /// The grant on the link is not byte for byte the pending approval the user chose.
    GrantMismatch,
    /// A registration would have replaced one of the user's discoverable passkeys (issue 13).
    PasskeyExists,
    /// The user declined, or failed user verification.
    Denied,
    /// The user did not answer in time.
    Timeout,
    /// The admin's tool ended the session (or spoke) before the user answered.
    Cancelled,
    /// The phone failed (its vault): nothing about the grant.
    InternalError,
}

impl RefusalCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant(e) => e.code(),
            Self::NotActivated => "not_activated",
            Self::MalformedEvent => "malformed_event",
            Self::Stopped => "stopped",
            Self::TooManyPending => "too_many_pending",
            Self::GrantMismatch => "grant_mismatch",
            Self::PasskeyExists => "passkey_exists",
            Self::Denied => "denied",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::InternalError => "internal_error",
        }
    }

    /// Whether a refusal with this code is reported to the workspace: every one but `stopped`
    /// (the workspace's own decision) and `not_activated` (there is no workspace to tell).
    pub fn is_reportable(self) -> bool {
        !matches!(self, Self::Stopped | Self::NotActivated)
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of reporting a refusal to the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReport {
    /// The workspace recorded it (204).
    Recorded,
    /// The workspace does not know the grant (404 `unknown_grant`); nothing more to do.
    UnknownGrant,
    /// Not reported (after the retries), with the reason.
    NotSent(String),
}

impl RefusalReport {
    /// True unless the report could not be delivered.
    pub fn delivered(&self) -> bool {
        !matches!(self, Self::NotSent(_))
    }
}

/// An `obr_request` refused on arrival, as reported to the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObrRefusal {
    /// The event's own `grant_id` (the workspace's id), if it was valid base64url of 16 bytes.
    /// Never taken from the grant bytes, which may be forged.
    pub grant_id: Option<[u8; GRANT_ID_LEN]>,
    pub code: RefusalCode,
    pub report: RefusalReport,
}

impl ObrRefusal {
    /// The grant id as lower-case hex, or `unknown` if the event had no valid one.
    pub fn id(&self) -> String {
        self.grant_id
            .map(|id| hex(&id))
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The event's `grant_id` field decoded (b64url of 16 bytes), if valid.
#[cfg(any(test, feature = "pc"))]
pub fn event_grant_id(text: Option<&str>) -> Option<[u8; GRANT_ID_LEN]> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text?.trim())
        .ok()?;
    <[u8; GRANT_ID_LEN]>::try_from(bytes.as_slice()).ok()
}

/// The workspace's form of a grant id (b64url without padding).
pub fn grant_id_b64(grant_id: &[u8; GRANT_ID_LEN]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(grant_id)
}

/// Turns the answer to a refusal report into a [`RefusalReport`], giving up at `deadline`.
pub(crate) async fn await_refusal_report(
    deadline: tokio::time::Instant,
    send: impl std::future::Future<Output = Result<bool, WorkspaceError>>,
) -> RefusalReport {
    match tokio::time::timeout_at(deadline, send).await {
        Ok(Ok(true)) => RefusalReport::Recorded,
        Ok(Ok(false)) => RefusalReport::UnknownGrant,
        Ok(Err(e)) => RefusalReport::NotSent(e.to_string()),
        Err(_) => RefusalReport::NotSent(format!(
            "the workspace did not answer within {} s",
            REFUSAL_REPORT_BUDGET.as_secs()
        )),
    }
}

/// Audits how reporting a refusal went (`obr.refusal.reported` / `obr.refusal.unreported`).
pub fn audit_refusal_report(
    vault: &Vault,
    now: u64,
    grant_id: Option<&[u8; GRANT_ID_LEN]>,
    code: RefusalCode,
    report: &RefusalReport,
) {
    let id = grant_id
        .map(|id| hex(id))
        .unwrap_or_else(|| "unknown".into());
    match report {
        RefusalReport::Recorded | RefusalReport::UnknownGrant => {
            let result = if *report == RefusalReport::Recorded {
                "recorded"
            } else {
                "unknown_grant"
            };
            audit(
                vault,
                now,
                "obr.refusal.reported",
                &[
                    ("grant_id", id),
                    ("code", code.as_str().to_owned()),
                    ("result", result.to_owned()),
                ],
            );
        }
        RefusalReport::NotSent(reason) => audit(
            vault,
            now,
            "obr.refusal.unreported",
            &[
                ("grant_id", id),
                ("code", code.as_str().to_owned()),
                ("reason", reason.clone()),
            ],
        ),
    }
}

impl ObrRefusal {
    /// An `obr_request` refused on arrival with `code`, to be reported under the event's own
    /// `grant_id`; `None` if this code is not reported.
    pub fn on_arrival(grant_id: Option<[u8; GRANT_ID_LEN]>, code: RefusalCode) -> Option<Self> {
        code.is_reportable().then(|| Self {
            grant_id,
            code,
            report: RefusalReport::NotSent("not reported yet".into()),
        })
    }
}

/// Reports `refusals` to the workspace over `connection`, one after the other, within
/// [`REFUSAL_REPORT_BUDGET`] in all (the client retries transport failures), and audits each.
pub async fn report_all(
    vault: &Vault,
    clock: &dyn Clock,
    connection: &Connection,
    refusals: &mut [ObrRefusal],
) {
    let deadline = tokio::time::Instant::now() + REFUSAL_REPORT_BUDGET;
    for refusal in refusals.iter_mut() {
        refusal.report = match &refusal.grant_id {
            None => RefusalReport::NotSent("the event carries no valid grant id".into()),
            Some(id) => {
                let id = grant_id_b64(id);
                await_refusal_report(
                    deadline,
                    connection.post_obr_refusal(&id, refusal.code.as_str()),
                )
                .await
            }
        };
        audit_refusal_report(
            vault,
            clock.now_unix_seconds(),
            refusal.grant_id.as_ref(),
            refusal.code,
            &refusal.report,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_codes_keep_their_wire_names() {
        // The admin's pairing tool and the workspace read these strings: they never change.
        for (code, wire, reportable) in [
            (RefusalCode::Grant(GrantError::Expired), "expired", true),
            (
                RefusalCode::Grant(GrantError::BadSignature),
                "bad_signature",
                true,
            ),
            (RefusalCode::Grant(GrantError::Replayed), "replayed", true),
            (RefusalCode::NotActivated, "not_activated", false),
            (RefusalCode::MalformedEvent, "malformed_event", true),
            (RefusalCode::Stopped, "stopped", false),
            (RefusalCode::TooManyPending, "too_many_pending", true),
            (RefusalCode::GrantMismatch, "grant_mismatch", true),
            (RefusalCode::PasskeyExists, "passkey_exists", true),
            (RefusalCode::Denied, "denied", true),
            (RefusalCode::Timeout, "timeout", true),
            (RefusalCode::Cancelled, "cancelled", true),
            (RefusalCode::InternalError, "internal_error", true),
        ] {
            assert_eq!(code.as_str(), wire);
            assert_eq!(code.to_string(), wire);
            assert_eq!(code.is_reportable(), reportable, "{wire}");
        }
    }

    #[test]
    fn a_refusal_on_arrival_is_kept_for_reporting_unless_the_workspace_decided_it() {
        let id = Some([3; GRANT_ID_LEN]);
        let kept = ObrRefusal::on_arrival(id, RefusalCode::MalformedEvent).unwrap();
        assert_eq!(
            kept.report,
            RefusalReport::NotSent("not reported yet".into())
        );
        assert_eq!(kept.id(), "03".repeat(16));
        assert!(ObrRefusal::on_arrival(id, RefusalCode::Stopped).is_none());
        assert!(ObrRefusal::on_arrival(None, RefusalCode::NotActivated).is_none());
    }
}
