//! On-behalf registration (DESIGN §8, proto/obr-grant.md): an administrator registers passkeys
//! for the user under a workspace-signed, scoped, short-lived grant, and the phone answers
//! each registration with a receipt signed by its device key.
//!
//! The formats and their checks:
//! - [`grant`]: `Grant::verify` (rules 0–20 of obr-grant.md §3.3), `VerifiedGrant`'s scope
//!   checks, and `SeenGrants` (rule 21, replay).
//! - [`receipt`]: `Receipt::sign` / `Receipt::verify`.
//! - `cose`: the COSE_Sign1 envelope both share (ES256, kid = SHA-256(SEC1 key)[..16]).
//!
//! The phone's part, one job per module:
//! - [`approvals`]: the pending approvals (announced grants waiting for the user) and the
//!   grants the workspace stopped.
//! - [`session`]: one accepted grant: the user's approval, then the restricted authenticator.
//! - [`runner`]: connecting to the admin's pairing tool through the relay and running a
//!   session over the PC link's channel.
//! - [`receipts`]: where receipts and refusal reports go (the workspace, or a test's list).
//! - [`refusals`]: the refusal codes and reporting refusals to the workspace.
//!
//! OBR stands on the workspace's client and enrollment record (`crate::workspace`), never on
//! enrollment itself: the facade (`api`) hands it the workspace's `obr_request` and
//! `obr_stopped` events.
//!
//! Invariants: nothing here parses a payload before its signature verified, and no error or
//! `Debug` output carries a value taken from a grant or receipt.

pub mod approvals;
mod cose;
pub mod grant;
pub mod receipt;
pub mod receipts;
pub mod refusals;
pub mod runner;
pub mod session;

#[cfg(test)]
mod tests;

#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use approvals::{PendingApproval, Received};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use cose::{ALG_ES256, KID_LEN, kid};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use grant::{
    DEFAULT_SKEW_SECS, Grant, GrantError, MAX_GRANT_LEN, MAX_LIFETIME_SECS, MAX_REGISTRATIONS,
    MAX_RP_IDS, Operation, SeenGrants, VerifiedGrant,
};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use receipt::{MAX_RECEIPT_LEN, Receipt, ReceiptError};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use receipts::{ReceiptSink, WorkspaceReceipts};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use refusals::{ObrRefusal, RefusalCode, RefusalReport};
#[cfg_attr(not(feature = "pc"), allow(unused_imports))]
pub use runner::{ObrEvent, ObrLinkError, ObrOutcome, ObrRunner};

// The workspace's events carry grant ids of the grant's own length.
const _: () = assert!(grant::GRANT_ID_LEN == crate::workspace::events::GRANT_ID_LEN);

/// Appends an audit entry; a failure to write it is logged, not returned (the step it records
/// already happened).
fn audit(vault: &crate::vault::Vault, now: u64, kind: &str, details: &[(&str, String)]) {
    let details = details
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    if let Err(e) = vault.audit().append(now, kind, details) {
        tracing::warn!("audit entry {kind} not written: {e}");
    }
}
