//! On-behalf registration (DESIGN §8, proto/obr-grant.md): an administrator registers passkeys
//! for the user under a workspace-signed, scoped, short-lived grant, and the phone answers
//! each registration with a receipt signed by its device key.
//!
//! This module holds the formats and their checks, nothing stateful beyond the replay table:
//! - [`grant`]: `Grant::verify` (rules 0–20 of obr-grant.md §3.3), `VerifiedGrant`'s scope
//!   checks, and `SeenGrants` (rule 21, replay).
//! - [`receipt`]: `Receipt::sign` / `Receipt::verify`.
//! - `cose`: the COSE_Sign1 envelope both share (ES256, kid = SHA-256(SEC1 key)[..16]).
//!
//! Invariants: nothing here parses a payload before its signature verified, and no error or
//! `Debug` output carries a value taken from a grant or receipt.

mod cose;
pub mod grant;
pub mod link;
pub mod receipt;
pub mod session;

#[cfg(test)]
mod tests;

pub use cose::{ALG_ES256, KID_LEN, kid};
pub use grant::{
    DEFAULT_SKEW_SECS, Grant, GrantError, MAX_GRANT_LEN, MAX_LIFETIME_SECS, MAX_REGISTRATIONS,
    MAX_RP_IDS, Operation, SeenGrants, VerifiedGrant,
};
pub use receipt::{MAX_RECEIPT_LEN, Receipt, ReceiptError};
