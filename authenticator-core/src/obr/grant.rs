//! The OBR grant (proto/obr-grant.md §3): a COSE_Sign1 by the workspace's grant key that lets
//! one administrator, at one pairing tool, register a few passkeys at named relying parties on
//! this phone's security key for at most 15 minutes.
//!
//! Invariants:
//! - A `VerifiedGrant` exists only if every rule 0–20 of obr-grant.md §3.3 passed, checked in
//!   the spec's order so each refusal has exactly the spec's error. The signature is checked
//!   before the payload is parsed.
//! - RP scope is an explicit, non-empty list matched exactly; there is no wildcard.
//! - Replay (rule 21) is `SeenGrants`'s job, a separate step because it mutates state the
//!   caller owns (and persists); the engine runs it right after `Grant::verify`.
//! - Errors and `Debug` carry no field values: no names, ids or keys end up in logs.
// One implementation of the format for both sides: the workspace (the `pc` side) makes and signs grants; the phone verifies them.
// Without `pc`, the other side's half is unused in the phone library.
#![cfg_attr(not(feature = "pc"), allow(dead_code, unused_imports))]

use crate::hex::encode as hex;
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cose::{self, CoseError, Fields, PayloadError};
use crate::cbor::{self, Value};

/// obr-grant.md §3.2: longest accepted grant.
pub const MAX_GRANT_LEN: usize = 8192;
/// DESIGN §8 "expiry <= 15 min".
pub const MAX_LIFETIME_SECS: u64 = 900;
/// Default tolerance between the workspace's and the phone's clocks (as for pairing codes).
pub const DEFAULT_SKEW_SECS: u64 = 30;
pub const MAX_RP_IDS: usize = 16;
pub const MAX_REGISTRATIONS: u8 = 25;
/// Grant ids `SeenGrants` holds at once (64 unexpired grants in 15 minutes is far beyond any
/// real use; more is refused, never forgotten early).
pub const MAX_SEEN_GRANTS: usize = 64;
pub const GRANT_ID_LEN: usize = 16;
/// SEC1 uncompressed P-256 point.
pub const STATIC_KEY_LEN: usize = 65;

/// obr-grant.md §3.1: `display-id` and `display-text` bounds, and the RP id bound.
const MAX_ID_BYTES: usize = 64;
const MAX_TEXT_BYTES: usize = 128;
pub(crate) const MAX_RP_ID_BYTES: usize = 253;

/// Payload keys, obr-grant.md §3.1.
mod key {
    pub const GRANT_ID: i64 = 1;
    pub const ISSUED_AT: i64 = 2;
    pub const EXPIRES_AT: i64 = 3;
    pub const WORKSPACE_ID: i64 = 4;
    pub const WORKSPACE_NAME: i64 = 5;
    pub const ADMIN_ID: i64 = 6;
    pub const ADMIN_NAME: i64 = 7;
    pub const ADMIN_STATIC_KEY: i64 = 8;
    pub const SECURITY_KEY_ID: i64 = 9;
    pub const OPERATIONS: i64 = 10;
    pub const RP_IDS: i64 = 11;
    pub const MAX_REGISTRATIONS: i64 = 12;
}

/// The field a grant error is about, for messages.
fn field_name(key: &i64) -> &'static str {
    match *key {
        key::GRANT_ID => "grant id",
        key::ISSUED_AT => "issued-at",
        key::EXPIRES_AT => "expires-at",
        key::WORKSPACE_ID => "workspace id",
        key::WORKSPACE_NAME => "workspace name",
        key::ADMIN_ID => "admin id",
        key::ADMIN_NAME => "admin name",
        key::ADMIN_STATIC_KEY => "admin static key",
        key::SECURITY_KEY_ID => "security key id",
        key::OPERATIONS => "operations",
        key::RP_IDS => "RP ids",
        key::MAX_REGISTRATIONS => "maximum registrations",
        _ => "unknown",
    }
}

/// Why a grant was refused: one variant per error name of obr-grant.md §3.3 (`code()`), the
/// message naming the rule. No variant carries a value taken from the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GrantError {
    #[error("the pinned workspace grant key is not a P-256 public key (obr-grant rule 0)")]
    InvalidWorkspaceKey,
    #[error("the grant is longer than {MAX_GRANT_LEN} bytes (obr-grant rule 1)")]
    TooLarge,
    #[error("the grant is not a tagged COSE_Sign1 of four items (obr-grant rules 2, 4)")]
    NotCoseSign1,
    #[error("the grant is not one canonical CBOR item (obr-grant rule 3)")]
    MalformedCbor,
    #[error("the grant's COSE headers are not exactly {{alg, kid}} and empty (obr-grant rule 5)")]
    BadHeader,
    #[error("the grant is not signed with ES256 (obr-grant rule 6)")]
    UnsupportedAlgorithm,
    #[error("the grant names another signing key than the pinned workspace key (obr-grant rule 7)")]
    KidMismatch,
    #[error(
        "the grant's signature does not verify with the pinned workspace key (obr-grant rule 8)"
    )]
    BadSignature,
    #[error("the grant's payload is not one canonical CBOR map (obr-grant rule 9)")]
    MalformedPayload,
    #[error("grant field {0} ({name}) is missing (obr-grant rule 10)", name = field_name(.0))]
    MissingField(i64),
    #[error("grant field {0} ({name}) has the wrong CBOR type (obr-grant rule 10)", name = field_name(.0))]
    WrongFieldType(i64),
    #[error("the grant has a field this version does not know (obr-grant rule 11)")]
    UnknownField,
    #[error("grant field {0} ({name}) has an invalid length or content (obr-grant rules 12-13)", name = field_name(.0))]
    InvalidField(i64),
    #[error("the grant allows an operation this version does not support (obr-grant rule 13)")]
    UnsupportedOperation,
    #[error(
        "the grant's RP ids are not 1 to {MAX_RP_IDS} distinct, well-formed ids (obr-grant rule 14)"
    )]
    InvalidRpScope,
    #[error(
        "the grant's maximum registrations is not within 1..={MAX_REGISTRATIONS} (obr-grant rule 15)"
    )]
    InvalidCount,
    #[error("the grant's lifetime is not within 1..={MAX_LIFETIME_SECS} s (obr-grant rule 16)")]
    InvalidLifetime,
    #[error("the grant is not valid yet; check the phone's clock (obr-grant rule 17)")]
    NotYetValid,
    #[error("the grant has expired (obr-grant rule 18)")]
    Expired,
    #[error("the grant is for another security key (obr-grant rule 19)")]
    WrongSecurityKey,
    #[error("the grant is bound to another pairing tool than this link's peer (obr-grant rule 20)")]
    WrongPeer,
    #[error("the grant was already presented (obr-grant rule 21)")]
    Replayed,
    #[error("too many unexpired grants to remember another one (obr-grant rule 21)")]
    TooManyGrants,
}

impl GrantError {
    /// The error name of obr-grant.md §3.3 (and of the vectors).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidWorkspaceKey => "invalid_workspace_key",
            Self::TooLarge => "too_large",
            Self::NotCoseSign1 => "not_cose_sign1",
            Self::MalformedCbor => "malformed_cbor",
            Self::BadHeader => "bad_header",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::KidMismatch => "kid_mismatch",
            Self::BadSignature => "bad_signature",
            Self::MalformedPayload => "malformed_payload",
            Self::MissingField(_) => "missing_field",
            Self::WrongFieldType(_) => "wrong_field_type",
            Self::UnknownField => "unknown_field",
            Self::InvalidField(_) => "invalid_field",
            Self::UnsupportedOperation => "unsupported_operation",
            Self::InvalidRpScope => "invalid_rp_scope",
            Self::InvalidCount => "invalid_count",
            Self::InvalidLifetime => "invalid_lifetime",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
            Self::WrongSecurityKey => "wrong_security_key",
            Self::WrongPeer => "wrong_peer",
            Self::Replayed => "replayed",
            Self::TooManyGrants => "too_many_grants",
        }
    }
}

impl From<CoseError> for GrantError {
    fn from(error: CoseError) -> Self {
        match error {
            CoseError::TooLarge => Self::TooLarge,
            CoseError::NotCoseSign1 => Self::NotCoseSign1,
            CoseError::MalformedCbor => Self::MalformedCbor,
            CoseError::BadHeader => Self::BadHeader,
            CoseError::UnsupportedAlgorithm => Self::UnsupportedAlgorithm,
            CoseError::KidMismatch => Self::KidMismatch,
            CoseError::BadSignature => Self::BadSignature,
        }
    }
}

impl From<PayloadError> for GrantError {
    fn from(error: PayloadError) -> Self {
        match error {
            PayloadError::Malformed => Self::MalformedPayload,
            PayloadError::Missing(key) => Self::MissingField(key),
            PayloadError::WrongType(key) => Self::WrongFieldType(key),
            PayloadError::Unknown => Self::UnknownField,
        }
    }
}

/// What a grant may be used for (obr-grant.md §3.1 `operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    MakeCredential,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MakeCredential => "makeCredential",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "makeCredential" => Some(Self::MakeCredential),
            _ => None,
        }
    }
}

/// The payload of a grant. Building one and calling `sign` issues a grant (the workspace's
/// job; the core does it in tests and for other Rust tools); `verify` is the phone's side.
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    pub grant_id: [u8; GRANT_ID_LEN],
    pub issued_at: u64,
    pub expires_at: u64,
    pub workspace_id: String,
    pub workspace_name: String,
    pub admin_id: String,
    pub admin_name: String,
    /// The admin pairing tool's Noise static key, SEC1 uncompressed.
    pub admin_static_key: [u8; STATIC_KEY_LEN],
    /// The `security_key_id` the workspace assigned at activation.
    pub security_key_id: String,
    pub operations: Vec<Operation>,
    pub rp_ids: Vec<String>,
    pub max_registrations: u8,
}

// Names and ids are personal data: only the grant id and the limits are shown.
impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("grant_id", &hex(&self.grant_id))
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("rp_ids", &self.rp_ids.len())
            .field("max_registrations", &self.max_registrations)
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// Verifies `bytes` as a grant for this phone (obr-grant.md §3.3 rules 0–20).
    ///
    /// - `workspace_key_sec1`: the grant-signing key pinned at activation.
    /// - `expected_key_id`: this phone's `security_key_id`.
    /// - `link_peer_static`: the authenticated Noise static key of the link peer that sent the
    ///   grant (SEC1 uncompressed).
    /// - `now`, `skew`: Unix seconds of the phone's clock, and the tolerated clock difference.
    pub fn verify(
        bytes: &[u8],
        workspace_key_sec1: &[u8],
        expected_key_id: &str,
        link_peer_static: &[u8],
        now: u64,
        skew: u64,
    ) -> Result<VerifiedGrant, GrantError> {
        let grant = Self::verify_unbound(bytes, workspace_key_sec1, expected_key_id, now, skew)?;
        if grant.admin_static_key.as_slice() != link_peer_static {
            return Err(GrantError::WrongPeer);
        }
        Ok(VerifiedGrant {
            remember_until: grant.expires_at.saturating_add(skew),
            grant,
        })
    }

    /// Every rule of [`verify`](Self::verify) except the binding to the link peer: for a
    /// grant that arrived from the workspace, before the phone connects to the admin tool it
    /// names. The grant must be verified again, bound, once the link is up.
    pub fn verify_unbound(
        bytes: &[u8],
        workspace_key_sec1: &[u8],
        expected_key_id: &str,
        now: u64,
        skew: u64,
    ) -> Result<Grant, GrantError> {
        let workspace_key = VerifyingKey::from_sec1_bytes(workspace_key_sec1)
            .map_err(|_| GrantError::InvalidWorkspaceKey)?;
        let payload = cose::open(bytes, MAX_GRANT_LEN, &workspace_key)?;
        let grant = Self::parse_payload(&payload)?;
        if grant.expires_at <= grant.issued_at
            || grant.expires_at - grant.issued_at > MAX_LIFETIME_SECS
        {
            return Err(GrantError::InvalidLifetime);
        }
        if now.saturating_add(skew) < grant.issued_at {
            return Err(GrantError::NotYetValid);
        }
        if now >= grant.expires_at.saturating_add(skew) {
            return Err(GrantError::Expired);
        }
        if grant.security_key_id != expected_key_id {
            return Err(GrantError::WrongSecurityKey);
        }
        Ok(grant)
    }

    /// Rules 9–15: the payload's encoding, fields and scope.
    fn parse_payload(payload: &[u8]) -> Result<Self, GrantError> {
        let mut fields = Fields::parse(payload)?;
        let grant_id = fields.bytes(key::GRANT_ID)?;
        let issued_at = fields.unsigned(key::ISSUED_AT)?;
        let expires_at = fields.unsigned(key::EXPIRES_AT)?;
        let workspace_id = fields.text(key::WORKSPACE_ID)?;
        let workspace_name = fields.text(key::WORKSPACE_NAME)?;
        let admin_id = fields.text(key::ADMIN_ID)?;
        let admin_name = fields.text(key::ADMIN_NAME)?;
        let admin_static_key = fields.bytes(key::ADMIN_STATIC_KEY)?;
        let security_key_id = fields.text(key::SECURITY_KEY_ID)?;
        let operations = fields.texts(key::OPERATIONS)?;
        let rp_ids = fields.texts(key::RP_IDS)?;
        let max_registrations = fields.unsigned(key::MAX_REGISTRATIONS)?;
        fields.finish()?;

        let grant_id = <[u8; GRANT_ID_LEN]>::try_from(grant_id.as_slice())
            .map_err(|_| GrantError::InvalidField(key::GRANT_ID))?;
        for (key, text, max) in [
            (key::WORKSPACE_ID, &workspace_id, MAX_ID_BYTES),
            (key::WORKSPACE_NAME, &workspace_name, MAX_TEXT_BYTES),
            (key::ADMIN_ID, &admin_id, MAX_ID_BYTES),
            (key::ADMIN_NAME, &admin_name, MAX_TEXT_BYTES),
        ] {
            if !is_display_text(text, max) {
                return Err(GrantError::InvalidField(key));
            }
        }
        let admin_static_key = parse_static_key(&admin_static_key)
            .ok_or(GrantError::InvalidField(key::ADMIN_STATIC_KEY))?;
        if !is_display_text(&security_key_id, MAX_ID_BYTES) {
            return Err(GrantError::InvalidField(key::SECURITY_KEY_ID));
        }
        let operations = parse_operations(&operations)?;
        if rp_ids.is_empty()
            || rp_ids.len() > MAX_RP_IDS
            || !rp_ids.iter().all(|rp_id| is_rp_id(rp_id))
            || has_duplicates(&rp_ids)
        {
            return Err(GrantError::InvalidRpScope);
        }
        let max_registrations = u8::try_from(max_registrations)
            .ok()
            .filter(|count| (1..=MAX_REGISTRATIONS).contains(count))
            .ok_or(GrantError::InvalidCount)?;
        Ok(Self {
            grant_id,
            issued_at,
            expires_at,
            workspace_id,
            workspace_name,
            admin_id,
            admin_name,
            admin_static_key,
            security_key_id,
            operations,
            rp_ids,
            max_registrations,
        })
    }

    /// The canonical payload map (obr-grant.md §3.1), as signed.
    pub fn payload(&self) -> Vec<u8> {
        let texts = |items: Vec<&str>| Value::Array(items.into_iter().map(Value::from).collect());
        cbor::encode(&Value::map([
            (Value::int(key::GRANT_ID), Value::from(&self.grant_id[..])),
            (Value::int(key::ISSUED_AT), Value::Unsigned(self.issued_at)),
            (
                Value::int(key::EXPIRES_AT),
                Value::Unsigned(self.expires_at),
            ),
            (
                Value::int(key::WORKSPACE_ID),
                Value::from(self.workspace_id.as_str()),
            ),
            (
                Value::int(key::WORKSPACE_NAME),
                Value::from(self.workspace_name.as_str()),
            ),
            (
                Value::int(key::ADMIN_ID),
                Value::from(self.admin_id.as_str()),
            ),
            (
                Value::int(key::ADMIN_NAME),
                Value::from(self.admin_name.as_str()),
            ),
            (
                Value::int(key::ADMIN_STATIC_KEY),
                Value::from(&self.admin_static_key[..]),
            ),
            (
                Value::int(key::SECURITY_KEY_ID),
                Value::from(self.security_key_id.as_str()),
            ),
            (
                Value::int(key::OPERATIONS),
                texts(self.operations.iter().map(|op| op.as_str()).collect()),
            ),
            (
                Value::int(key::RP_IDS),
                texts(self.rp_ids.iter().map(String::as_str).collect()),
            ),
            (
                Value::int(key::MAX_REGISTRATIONS),
                Value::Unsigned(u64::from(self.max_registrations)),
            ),
        ]))
    }

    /// Issues the grant: a tagged COSE_Sign1 of `payload()` by the workspace's grant key. Does
    /// not check the rules; `verify` does.
    pub fn sign(&self, workspace_key: &SigningKey) -> Vec<u8> {
        cose::sign(workspace_key, self.payload())
    }
}

/// A grant that passed `Grant::verify`: only obtainable that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    grant: Grant,
    remember_until: u64,
}

impl VerifiedGrant {
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    pub fn grant_id(&self) -> &[u8; GRANT_ID_LEN] {
        &self.grant.grant_id
    }

    /// Exact match against the grant's RP ids (obr-grant.md §3.2): no suffix matching, no case
    /// folding.
    pub fn allows_rp(&self, rp_id: &str) -> bool {
        self.grant.rp_ids.iter().any(|allowed| allowed == rp_id)
    }

    pub fn allows_operation(&self, operation: Operation) -> bool {
        self.grant.operations.contains(&operation)
    }

    pub fn max_registrations(&self) -> u8 {
        self.grant.max_registrations
    }

    /// Whether the grant is still within its time at `now` (for a session that outlives the
    /// moment of verification), with the same skew it was verified with.
    pub fn is_live(&self, now: u64) -> bool {
        now < self.remember_until
    }

    /// Until when the grant id must be remembered: expires-at + skew (obr-grant.md §3.4).
    pub fn remember_until(&self) -> u64 {
        self.remember_until
    }
}

/// The grant ids seen and not yet expired (obr-grant.md §3.4, rule 21). Serializable so the
/// vault can keep it across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenGrants {
    entries: Vec<SeenGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SeenGrant {
    id: [u8; GRANT_ID_LEN],
    forget_after: u64,
}

impl SeenGrants {
    /// Records `grant`'s id, or refuses it if it was seen before or the table is full of
    /// unexpired ids. Call it right after `Grant::verify`, before asking the user.
    pub fn remember(&mut self, grant: &VerifiedGrant, now: u64) -> Result<(), GrantError> {
        self.entries.retain(|entry| entry.forget_after > now);
        if self
            .entries
            .iter()
            .any(|entry| entry.id == grant.grant.grant_id)
        {
            return Err(GrantError::Replayed);
        }
        if self.entries.len() >= MAX_SEEN_GRANTS {
            return Err(GrantError::TooManyGrants);
        }
        self.entries.push(SeenGrant {
            id: grant.grant.grant_id,
            forget_after: grant.remember_until,
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `display-id` / `display-text`: 1..=max bytes, no control characters, and no bidirectional
/// formatting characters that could make the permission prompt read differently than the
/// text is.
fn is_display_text(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && !text.chars().any(|c| {
            c.is_control()
                || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
}

/// `rp-id` of obr-grant.md §3.1: a lower-case ASCII domain name.
pub(crate) fn is_rp_id(rp_id: &str) -> bool {
    (1..=MAX_RP_ID_BYTES).contains(&rp_id.len())
        && rp_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && rp_id.split('.').all(|label| !label.is_empty())
}

fn parse_static_key(bytes: &[u8]) -> Option<[u8; STATIC_KEY_LEN]> {
    let key = <[u8; STATIC_KEY_LEN]>::try_from(bytes).ok()?;
    // SEC1 §2.3.3: 0x04 marks the uncompressed form; from_sec1_bytes checks the point.
    (key[0] == 0x04 && p256::PublicKey::from_sec1_bytes(&key).is_ok()).then_some(key)
}

/// Rule 13: unknown names first (`unsupported_operation`), then emptiness and duplicates.
fn parse_operations(names: &[String]) -> Result<Vec<Operation>, GrantError> {
    let operations = names
        .iter()
        .map(|name| Operation::parse(name).ok_or(GrantError::UnsupportedOperation))
        .collect::<Result<Vec<_>, _>>()?;
    if operations.is_empty() || has_duplicates(&operations) {
        return Err(GrantError::InvalidField(key::OPERATIONS));
    }
    Ok(operations)
}

fn has_duplicates<T: PartialEq>(items: &[T]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, item)| items.iter().skip(i + 1).any(|other| other == item))
}
