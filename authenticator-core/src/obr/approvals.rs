//! Pending approvals: the grants the workspace announced (`obr_request`), verified without
//! the link binding and kept in the vault until the user decides, and the grants the
//! workspace stopped (`obr_stopped`).
//!
//! Invariants:
//! - A grant becomes pending only after every rule of obr-grant.md §3.3 but the link binding
//!   passed (`Grant::verify_unbound`) and its id was not presented before (rule 21); a failing
//!   one is audited (`obr.grant.refused`) and dropped. At most [`MAX_PENDING`] are kept;
//!   expired ones go.
//! - A grant the workspace stopped is remembered until it would expire: it is never made
//!   pending again, and a running session checks [`is_stopped`] (see `runner`).
//! - The event's unsigned hints (relay address, the admin's door) are kept as given, never
//!   trusted: the session's handshake proves who is behind them.
//!
//! "Door" (proto/link.md §5.4): a 16-byte relay id on which one side waits to be told "a
//! session is waiting for you"; the other side knocks on it with a session id. The *admin's
//! door* is the one the admin's pairing tool waits on for this grant; the workspace passes it
//! on in the event (`admin_door`) and the runner knocks on it.

use serde::{Deserialize, Serialize};

use super::audit;
use super::grant::{DEFAULT_SKEW_SECS, GRANT_ID_LEN, Grant, MAX_LIFETIME_SECS, SeenGrants};
use super::refusals::RefusalCode;
use crate::hex::encode as hex;
use crate::link::relay::{MAX_RELAY_URL, RelayId};
use crate::vault::Setting;
use crate::vault::{Vault, VaultError};
use crate::workspace::state;

/// Vault setting holding the pending approvals.
/// Vault setting holding the grants the workspace stopped.
/// At most this many pending approvals.
pub const MAX_PENDING: usize = 8;
/// Stopped grants remembered at most.
const MAX_STOPPED: usize = 64;

/// A grant the workspace announced, verified (unbound) and waiting for the user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// The COSE_Sign1 grant as received.
    #[serde(with = "serde_bytes")]
    pub grant: Vec<u8>,
    /// Where the admin's pairing tool waits (unsigned hints from the event).
    pub relay_url: String,
    /// The admin's door on that relay (see the header).
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
    Refused(RefusalCode),
}

/// The pending approvals, oldest first; expired ones are dropped (and the list rewritten).
pub fn pending(vault: &Vault, now: u64) -> Result<Vec<PendingApproval>, VaultError> {
    let all: Vec<PendingApproval> = vault
        .settings()
        .get(Setting::ObrPending)?
        .unwrap_or_default();
    let count = all.len();
    let live: Vec<PendingApproval> = all.into_iter().filter(|p| p.is_live(now)).collect();
    if live.len() != count {
        vault.settings().set(Setting::ObrPending, &live)?;
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
    let mut all: Vec<PendingApproval> = vault
        .settings()
        .get(Setting::ObrPending)?
        .unwrap_or_default();
    let before = all.len();
    all.retain(|p| &p.grant_id != grant_id);
    if all.len() == before {
        return Ok(false);
    }
    vault.settings().set(Setting::ObrPending, &all)?;
    Ok(true)
}

/// Whether the workspace stopped `grant_id`.
pub fn is_stopped(vault: &Vault, grant_id: &[u8; GRANT_ID_LEN]) -> Result<bool, VaultError> {
    let stopped: Stopped = vault
        .settings()
        .get(Setting::ObrStopped)?
        .unwrap_or_default();
    Ok(stopped.entries.iter().any(|(id, _)| id == grant_id))
}

/// Handles an `obr_stopped` event: the grant's pending approval goes, a running session for
/// it ends, and a later `obr_request` for it is refused. True if a pending one was dropped.
pub fn stop(vault: &Vault, now: u64, grant_id: &[u8; GRANT_ID_LEN]) -> Result<bool, VaultError> {
    let mut stopped: Stopped = vault
        .settings()
        .get(Setting::ObrStopped)?
        .unwrap_or_default();
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
        vault.settings().set(Setting::ObrStopped, &stopped)?;
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
    let refuse = |code: RefusalCode, grant_id: Option<&[u8; GRANT_ID_LEN]>| {
        let mut details = vec![("reason", code.as_str().to_owned())];
        if let Some(id) = grant_id {
            details.push(("grant_id", hex(id)));
        }
        audit(vault, now, "obr.grant.refused", &details);
        Ok(Received::Refused(code))
    };
    let Some(enrollment) = state::load(vault)? else {
        return refuse(RefusalCode::NotActivated, None);
    };
    let Some(grant_bytes) = grant else {
        return refuse(RefusalCode::MalformedEvent, None);
    };
    let grant = match Grant::verify_unbound(
        grant_bytes,
        &enrollment.grant_signing_key,
        &enrollment.security_key_id,
        now,
        DEFAULT_SKEW_SECS,
    ) {
        Ok(g) => g,
        Err(e) => return refuse(RefusalCode::Grant(e), None),
    };
    let id = grant.grant_id;
    let door = admin_door.and_then(|d| RelayId::try_from(d).ok());
    let Some(admin_door) =
        door.filter(|_| !relay_url.is_empty() && relay_url.len() <= MAX_RELAY_URL)
    else {
        return refuse(RefusalCode::MalformedEvent, Some(&id));
    };
    if is_stopped(vault, &id)? {
        return refuse(RefusalCode::Stopped, Some(&id));
    }
    // Rule 21 early: a grant already presented would be refused on the link anyway.
    let seen: SeenGrants = vault
        .settings()
        .get(Setting::ObrSeenGrants)?
        .unwrap_or_default();
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
        Ok(Err(e)) | Err(e) => return refuse(RefusalCode::Grant(e), Some(&id)),
    }
    let mut list = pending(vault, now)?;
    if list.iter().any(|p| p.grant_id == id) {
        return Ok(Received::AlreadyPending);
    }
    if list.len() >= MAX_PENDING {
        return refuse(RefusalCode::TooManyPending, Some(&id));
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
    vault.settings().set(Setting::ObrPending, &list)?;
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
