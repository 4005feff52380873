//! Carrying on-behalf registration over the link (proto/obr-grant.md §6): the phone keeps the
//! grants the workspace announced as *pending approvals*, and for one of them connects to the
//! admin's pairing tool through the relay, receives the grant, asks the user, and serves the
//! admin's FIDO2 client through an [`ObrSession`], sending each receipt to the tool and
//! posting it to the workspace.
//!
//! Invariants:
//! - A grant becomes pending only after every rule of §3.3 but the link binding passed
//!   (`Grant::verify_unbound`) and its id was not presented before; a failing one is audited
//!   (`obr.grant.refused`) and dropped. At most [`MAX_PENDING`] are kept; expired ones go.
//! - The session is the admin tool's only if the Noise handshake proves it holds the grant's
//!   admin static key and knows the grant id (psk); the grant that arrives over it is
//!   verified again, bound to that key, by `ObrSession::accept`. The phone's own static key
//!   in that handshake is its OBR key (`enroll::state::obr_key`), which the workspace hands
//!   the tool; the device key only signs (workspace requests, receipts).
//! - The grant that arrives over the link must be byte for byte the pending approval the user
//!   chose (same id, same bytes: a re-signed or malleated copy, or another grant for the same
//!   admin key, is refused `grant_mismatch` before the user is asked).
//! - A grant the workspace stopped (`obr_stopped`) is remembered until it would expire: it is
//!   never made pending again, a running session for it ends within [`CHECK_EVERY`], and one
//!   stopped while the user decided is refused (`stopped`) when the user accepts.
//! - A registration that would replace the user's own passkey is refused (`ObrSession`), told
//!   to the tool in a status frame (`passkey_exists`), reported to the workspace (which marks
//!   the grant refused and stopped), audited, and the session ends.
//! - A grant refused before the admin's tool could be told (on arrival, or when its pending
//!   approval turns out invalid before connecting) is reported to the workspace
//!   (`obr-refusals`, the workspace's grant id and the code) so the administrator learns why;
//!   the outcome is audited (`obr.refusal.reported` / `obr.refusal.unreported`). A grant the
//!   workspace stopped is not reported: the workspace decided that itself.
//! - Nothing here logs or reports a grant, a key or a receipt; events carry ids, names and
//!   codes only.

use crate::hex::encode as hex;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::grant::{
    DEFAULT_SKEW_SECS, GRANT_ID_LEN, Grant, GrantError, MAX_LIFETIME_SECS, SeenGrants,
};
use super::session::{OPERATION_DENIED, ObrError, ObrSession};
use crate::ctap::EngineConfig;
use crate::enroll::state;
use crate::link::channel::MessageType;
use crate::link::noise::KeyPair;
use crate::link::relay::{MAX_RELAY_URL, RelayClient, RelayConfig, RelayId, SessionEnd};
use crate::link::service::{Inbox, drive_request};
use crate::link::session::{LinkSession, SessionError, obr_psk, phone_obr_handshake};
use crate::link::transport::{Link, LinkError};
use crate::platform::{
    AccountOption, Clock, PresencePrompt, UserEvent, UserInterface, UserInterfaceError,
    UserOperation, VerificationOutcome,
};
use crate::request::{Origin, RequestSignals};
use crate::vault::{Vault, VaultError};

/// Vault setting holding the pending approvals.
const PENDING: &str = "obr.pending";
/// Vault setting holding the grants the workspace stopped.
const STOPPED: &str = "obr.stopped";
/// Vault setting holding the grant ids already seen (shared with `ObrSession`).
const SEEN_GRANTS: &str = "obr.seen_grants";
/// The status code of a grant on the link that is not the pending approval's.
pub const GRANT_MISMATCH: &str = "grant_mismatch";
/// At most this many pending approvals.
pub const MAX_PENDING: usize = 8;
/// Stopped grants remembered at most.
const MAX_STOPPED: usize = 64;
/// The admin tool must send the grant this soon after the handshake.
pub const GRANT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the user has to approve, unless the caller says otherwise.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a running session checks for a stop or the grant's expiry.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Receipt uploads: rounds of the workspace client's own retries, and the first pause.
const RECEIPT_ROUNDS: u32 = 4;
const RECEIPT_PAUSE: Duration = Duration::from_secs(1);
/// How long the end of a session waits for receipt uploads still running.
const RECEIPT_DRAIN: Duration = Duration::from_secs(60);
/// How long reporting refusals to the workspace may hold up the caller (one events poll, or
/// one runner), retries included.
pub const REFUSAL_REPORT_BUDGET: Duration = Duration::from_secs(5);

fn audit(vault: &Vault, now: u64, kind: &str, details: &[(&str, String)]) {
    let details = details
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    if let Err(e) = vault.audit().append(now, kind, details) {
        tracing::warn!("audit entry {kind} not written: {e}");
    }
}

/// A grant the workspace announced, verified (unbound) and waiting for the user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// The COSE_Sign1 grant as received.
    #[serde(with = "serde_bytes")]
    pub grant: Vec<u8>,
    /// Where the admin's pairing tool waits (unsigned hints from the event).
    pub relay_url: String,
    pub admin_door: RelayId,
    pub received_at: u64,
    /// From the verified grant, for lists and prompts.
    pub grant_id: [u8; GRANT_ID_LEN],
    pub admin_name: String,
    pub workspace_name: String,
    pub rp_ids: Vec<String>,
    pub max_registrations: u8,
    pub expires_at: u64,
}

impl std::fmt::Debug for PendingApproval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingApproval")
            .field("grant_id", &hex(&self.grant_id))
            .field("admin_name", &self.admin_name)
            .field("rp_ids", &self.rp_ids)
            .field("max_registrations", &self.max_registrations)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingApproval {
    /// The grant id as lower-case hex (as in lists and the audit trail).
    pub fn id(&self) -> String {
        hex(&self.grant_id)
    }

    fn is_live(&self, now: u64) -> bool {
        now < self.expires_at.saturating_add(DEFAULT_SKEW_SECS)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stopped {
    entries: Vec<([u8; GRANT_ID_LEN], u64)>,
}

/// What became of an `obr_request` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A new pending approval.
    Pending(PendingApproval),
    /// Already pending (the event was delivered again).
    AlreadyPending,
    /// Refused and audited (`obr.grant.refused`) with this code.
    Refused(String),
}

/// Whether a refusal with `code` is reported to the workspace: every one but `stopped` (the
/// workspace's own decision) and `not_activated` (there is no workspace to tell).
pub fn is_reportable(code: &str) -> bool {
    !matches!(code, "stopped" | "not_activated")
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
    pub code: String,
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
    send: impl std::future::Future<Output = Result<bool, crate::enroll::EnrollError>>,
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
    code: &str,
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
                    ("code", code.to_owned()),
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
                ("code", code.to_owned()),
                ("reason", reason.clone()),
            ],
        ),
    }
}

/// The pending approvals, oldest first; expired ones are dropped (and the list rewritten).
pub fn pending(vault: &Vault, now: u64) -> Result<Vec<PendingApproval>, VaultError> {
    let all: Vec<PendingApproval> = vault.settings().get(PENDING)?.unwrap_or_default();
    let count = all.len();
    let live: Vec<PendingApproval> = all.into_iter().filter(|p| p.is_live(now)).collect();
    if live.len() != count {
        vault.settings().set(PENDING, &live)?;
    }
    Ok(live)
}

/// The pending approval whose id is `id`: 32 hex digits, a unique hex prefix of at least 4,
/// or the workspace's base64url form.
pub fn find_pending(
    vault: &Vault,
    now: u64,
    id: &str,
) -> Result<Option<PendingApproval>, VaultError> {
    let wanted = id.trim().to_ascii_lowercase();
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id.trim())
            .ok()
            .filter(|b| b.len() == GRANT_ID_LEN)
            .map(|b| hex(&b))
    };
    let list = pending(vault, now)?;
    if let Some(exact) = list
        .iter()
        .find(|p| p.id() == wanted || Some(p.id()) == b64)
    {
        return Ok(Some(exact.clone()));
    }
    if wanted.len() < 4 {
        return Ok(None);
    }
    let mut matches = list.into_iter().filter(|p| p.id().starts_with(&wanted));
    match (matches.next(), matches.next()) {
        (Some(one), None) => Ok(Some(one)),
        _ => Ok(None),
    }
}

/// Removes the pending approval of `grant_id`; false if there was none.
pub fn remove_pending(vault: &Vault, grant_id: &[u8; GRANT_ID_LEN]) -> Result<bool, VaultError> {
    let mut all: Vec<PendingApproval> = vault.settings().get(PENDING)?.unwrap_or_default();
    let before = all.len();
    all.retain(|p| &p.grant_id != grant_id);
    if all.len() == before {
        return Ok(false);
    }
    vault.settings().set(PENDING, &all)?;
    Ok(true)
}

/// Whether the workspace stopped `grant_id`.
pub fn is_stopped(vault: &Vault, grant_id: &[u8; GRANT_ID_LEN]) -> Result<bool, VaultError> {
    let stopped: Stopped = vault.settings().get(STOPPED)?.unwrap_or_default();
    Ok(stopped.entries.iter().any(|(id, _)| id == grant_id))
}

/// Handles an `obr_stopped` event: the grant's pending approval goes, a running session for
/// it ends, and a later `obr_request` for it is refused. True if a pending one was dropped.
pub fn stop(vault: &Vault, now: u64, grant_id: &[u8; GRANT_ID_LEN]) -> Result<bool, VaultError> {
    let mut stopped: Stopped = vault.settings().get(STOPPED)?.unwrap_or_default();
    stopped.entries.retain(|(_, until)| *until > now);
    if !stopped.entries.iter().any(|(id, _)| id == grant_id) {
        // The grant lives at most MAX_LIFETIME_SECS from now; remembering it that long (plus
        // the skew) outlasts every session it could have.
        let until = now
            .saturating_add(MAX_LIFETIME_SECS)
            .saturating_add(DEFAULT_SKEW_SECS);
        stopped.entries.push((*grant_id, until));
        if stopped.entries.len() > MAX_STOPPED {
            stopped.entries.sort_by_key(|(_, until)| *until);
            let excess = stopped.entries.len() - MAX_STOPPED;
            stopped.entries.drain(..excess);
        }
        vault.settings().set(STOPPED, &stopped)?;
    }
    let dropped = remove_pending(vault, grant_id)?;
    audit(
        vault,
        now,
        "obr.grant.stopped",
        &[
            ("grant_id", hex(grant_id)),
            ("pending_dropped", dropped.to_string()),
        ],
    );
    Ok(dropped)
}

/// Handles an `obr_request` event (its binary fields already decoded; `None` if one was not
/// valid base64url): verifies the grant with every rule but the link binding and, if it
/// passes, keeps it as a pending approval. A refusal is audited (`obr.grant.refused`).
pub fn receive_request(
    vault: &Vault,
    now: u64,
    grant: Option<&[u8]>,
    relay_url: &str,
    admin_door: Option<&[u8]>,
) -> Result<Received, VaultError> {
    let refuse = |code: &str, grant_id: Option<&[u8; GRANT_ID_LEN]>| {
        let mut details = vec![("reason", code.to_owned())];
        if let Some(id) = grant_id {
            details.push(("grant_id", hex(id)));
        }
        audit(vault, now, "obr.grant.refused", &details);
        Ok(Received::Refused(code.to_owned()))
    };
    let Some(enrollment) = state::load(vault)? else {
        return refuse("not_activated", None);
    };
    let Some(grant_bytes) = grant else {
        return refuse("malformed_event", None);
    };
    let grant = match Grant::verify_unbound(
        grant_bytes,
        &enrollment.grant_signing_key,
        &enrollment.security_key_id,
        now,
        DEFAULT_SKEW_SECS,
    ) {
        Ok(g) => g,
        Err(e) => return refuse(e.code(), None),
    };
    let id = grant.grant_id;
    let door = admin_door.and_then(|d| RelayId::try_from(d).ok());
    let Some(admin_door) =
        door.filter(|_| !relay_url.is_empty() && relay_url.len() <= MAX_RELAY_URL)
    else {
        return refuse("malformed_event", Some(&id));
    };
    if is_stopped(vault, &id)? {
        return refuse("stopped", Some(&id));
    }
    // Rule 21 early: a grant already presented would be refused on the link anyway.
    let seen: SeenGrants = vault.settings().get(SEEN_GRANTS)?.unwrap_or_default();
    let bound = Grant::verify(
        grant_bytes,
        &enrollment.grant_signing_key,
        &enrollment.security_key_id,
        &grant.admin_static_key,
        now,
        DEFAULT_SKEW_SECS,
    );
    match bound.map(|v| seen.clone().remember(&v, now)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) | Err(e) => return refuse(e.code(), Some(&id)),
    }
    let mut list = pending(vault, now)?;
    if list.iter().any(|p| p.grant_id == id) {
        return Ok(Received::AlreadyPending);
    }
    if list.len() >= MAX_PENDING {
        return refuse("too_many_pending", Some(&id));
    }
    let approval = PendingApproval {
        grant: grant_bytes.to_vec(),
        relay_url: relay_url.to_owned(),
        admin_door,
        received_at: now,
        grant_id: id,
        admin_name: grant.admin_name.clone(),
        workspace_name: grant.workspace_name.clone(),
        rp_ids: grant.rp_ids.clone(),
        max_registrations: grant.max_registrations,
        expires_at: grant.expires_at,
    };
    list.push(approval.clone());
    vault.settings().set(PENDING, &list)?;
    audit(
        vault,
        now,
        "obr.grant.pending",
        &[
            ("grant_id", hex(&id)),
            ("admin", grant.admin_name.clone()),
            ("rp_ids", grant.rp_ids.join(" ")),
            ("max_registrations", grant.max_registrations.to_string()),
            ("expires_at", grant.expires_at.to_string()),
        ],
    );
    Ok(Received::Pending(approval))
}

/// Where receipts go besides the admin's tool: the workspace (endpoint 7), or a test's list.
#[async_trait]
pub trait ReceiptSink: Send + Sync {
    /// Stores one receipt; `Err` with a reason once it gave up.
    async fn post(&self, receipt: Vec<u8>) -> Result<(), String>;

    /// Tells the workspace the phone refused `grant_id` with `code` before the admin's tool
    /// could be told. The default has nowhere to send it.
    async fn post_refusal(&self, grant_id: [u8; GRANT_ID_LEN], code: &str) -> RefusalReport {
        let _ = (grant_id, code);
        RefusalReport::NotSent("no workspace to report to".into())
    }
}

/// Posts receipts to the enrolled workspace, signed with the device key, retrying transient
/// failures; `already_recorded` counts as success.
pub struct WorkspaceReceipts {
    pub vault: Arc<Vault>,
    pub clock: Arc<dyn Clock>,
    pub request_timeout: Duration,
}

#[async_trait]
impl ReceiptSink for WorkspaceReceipts {
    async fn post(&self, receipt: Vec<u8>) -> Result<(), String> {
        let enroller = crate::enroll::Enroller {
            vault: &self.vault,
            clock: self.clock.as_ref(),
            device_name: "",
            request_timeout: self.request_timeout,
        };
        let mut pause = RECEIPT_PAUSE;
        let mut round = 1;
        loop {
            match enroller.post_obr_receipt(&receipt).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() && round < RECEIPT_ROUNDS => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    round += 1;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    async fn post_refusal(&self, grant_id: [u8; GRANT_ID_LEN], code: &str) -> RefusalReport {
        let enroller = crate::enroll::Enroller {
            vault: &self.vault,
            clock: self.clock.as_ref(),
            device_name: "",
            request_timeout: self.request_timeout,
        };
        let deadline = tokio::time::Instant::now() + REFUSAL_REPORT_BUDGET;
        let id = grant_id_b64(&grant_id);
        await_refusal_report(deadline, enroller.post_obr_refusal(&id, code)).await
    }
}

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
        code: String,
    },
    /// A refusal the tool could not be told of was reported to the workspace (or not).
    RefusalReported {
        grant_id: String,
        code: String,
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
    pub refused: Option<String>,
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
    Refused(&'static str),
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
            clock: clock.clone(),
            request_timeout: crate::enroll::client::DEFAULT_REQUEST_TIMEOUT,
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
    async fn report_refusal(&self, grant_id: &[u8; GRANT_ID_LEN], code: &str) {
        let id = hex(grant_id);
        self.emit(ObrEvent::Refused {
            grant_id: id.clone(),
            code: code.to_owned(),
        });
        if !is_reportable(code) {
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
            code: code.to_owned(),
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
                self.report_refusal(&pending.grant_id, e.code()).await;
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
                    outcome.refused.clone().unwrap_or_else(|| "accepted".into()),
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
                    ("reason", GRANT_MISMATCH.to_owned()),
                ],
            );
            let _ = channel
                .send(MessageType::ObrStatus, GRANT_MISMATCH.as_bytes())
                .await;
            self.emit(ObrEvent::Refused {
                grant_id: id,
                code: GRANT_MISMATCH.to_owned(),
            });
            outcome.end = format!("refused: {GRANT_MISMATCH}");
            outcome.refused = Some(GRANT_MISMATCH.to_owned());
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
                        break Err("stopped".to_owned());
                    }
                }
                message = channel.recv() => {
                    outcome.refused = Some("cancelled".into());
                    outcome.end = match message {
                        Err(SessionError::PeerShutdown) => {
                            "the admin's tool ended the session before the user answered".into()
                        }
                        Err(e) => e.to_string(),
                        Ok((other, _)) => format!("the admin's tool sent {other:?} before the answer"),
                    };
                    self.emit(ObrEvent::Refused { grant_id: id, code: "cancelled".into() });
                    return Ok(outcome);
                }
            }
        };
        let session = match accepted {
            Ok(s) => s,
            Err(code) => {
                let _ = channel.send(MessageType::ObrStatus, code.as_bytes()).await;
                self.emit(ObrEvent::Refused {
                    grant_id: id,
                    code: code.clone(),
                });
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
                                let _ = channel.send(MessageType::ObrStatus, code.as_bytes()).await;
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
                            uploads.spawn(async move { (index, sink.post(receipt).await) });
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
fn refusal_code(error: &ObrError) -> String {
    match error {
        ObrError::Grant(e) => e.code().into(),
        ObrError::Denied | ObrError::Ui(_) => "denied".into(),
        ObrError::Timeout => "timeout".into(),
        ObrError::Stopped => "stopped".into(),
        ObrError::NotActivated => "not_activated".into(),
        ObrError::Vault(_) => "internal_error".into(),
    }
}

/// True if `prompt` asks to approve an on-behalf registration.
pub fn is_approval_prompt(prompt: &PresencePrompt) -> bool {
    prompt.operation == UserOperation::OnBehalfRegistration
}
