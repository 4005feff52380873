//! On-behalf registration, the workspace side (DESIGN §8, issue 7, `proto/obr-grant.md`): the
//! administrator's start request and its checks, the grants the workspace issued (signed with
//! the core's `obr::Grant::sign`), the receipts phones sent back (checked with
//! `obr::Receipt::verify`), and the admin views "OBR grants" and "passkeys".
//!
//! Invariants:
//! - A grant is issued only to a redeemed, active key, for that key's current security key id,
//!   with every field already valid by obr-grant.md §3.1 (so the phone never refuses a grant
//!   for a field the workspace could have checked).
//! - At most one grant per user is `running` at a time.
//! - A receipt is stored only if it verifies with the device key the grant's key was redeemed
//!   with, names a grant issued to that key, stays within the grant's RP scope and count, and
//!   was made (by its `created_at`, phone clock) within the grant's time, before its stop
//!   (both with `SKEW_SECS` of tolerance). Each registration index is stored once.
//! - Grants and receipts are never deleted (the emulator keeps its whole history).

use authenticator_core::obr::{self, Grant, Operation, Receipt};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::error::ApiError;

pub const GRANT_ID_LEN: usize = obr::grant::GRANT_ID_LEN;
pub const STATIC_KEY_LEN: usize = obr::grant::STATIC_KEY_LEN;
/// The admin pairing tool's door: 16 bytes that name where it waits on the relay.
pub const DOOR_LEN: usize = 16;
pub const MAX_RP_IDS: usize = obr::MAX_RP_IDS;
pub const MAX_REGISTRATIONS: u8 = obr::MAX_REGISTRATIONS;
pub const DEFAULT_REGISTRATIONS: u8 = 1;
pub const MAX_DURATION_SECS: u64 = obr::MAX_LIFETIME_SECS;
pub const DEFAULT_DURATION_SECS: u64 = 600;
/// Tolerated difference between the phone's clock (receipt `created_at`) and the workspace's,
/// the same as the phone tolerates for the grant (obr-grant.md §3.3).
pub const SKEW_SECS: u64 = obr::DEFAULT_SKEW_SECS;
const MAX_ID_BYTES: usize = 64;
const MAX_TEXT_BYTES: usize = 128;
const MAX_RP_ID_BYTES: usize = 253;
const MAX_RELAY_URL: usize = 2048;

/// `POST /admin/users/{id}/obr` body.
#[derive(Deserialize)]
pub struct StartRequest {
    admin_id: String,
    admin_name: String,
    admin_static_key: String,
    #[serde(default)]
    rp_ids: Vec<String>,
    max_registrations: Option<u64>,
    duration_secs: Option<u64>,
    relay_url: String,
    admin_door: String,
}

/// A start request whose every field passed its checks.
pub struct ValidStart {
    pub admin_id: String,
    pub admin_name: String,
    pub admin_static_key: [u8; STATIC_KEY_LEN],
    pub rp_ids: Vec<String>,
    pub max_registrations: u8,
    pub duration_secs: u64,
    pub relay_url: String,
    pub admin_door: [u8; DOOR_LEN],
}

impl StartRequest {
    /// Field checks, in the order of the contract's OBR decisions (first failure wins).
    pub fn validate(self) -> Result<ValidStart, ApiError> {
        if !is_display_text(&self.admin_id, MAX_ID_BYTES) {
            return Err(ApiError::bad_request(format!(
                "admin_id must be 1 to {MAX_ID_BYTES} bytes of text without control characters"
            )));
        }
        if !is_display_text(&self.admin_name, MAX_TEXT_BYTES) {
            return Err(ApiError::bad_request(format!(
                "admin_name must be 1 to {MAX_TEXT_BYTES} bytes of text without control characters"
            )));
        }
        let admin_static_key = parse_static_key(&self.admin_static_key).ok_or_else(|| {
            ApiError::bad_request(
                "admin_static_key must be base64url (no padding) of a 65-byte uncompressed \
                 P-256 point",
            )
        })?;
        let rp_ids = validate_rp_ids(self.rp_ids)?;
        let max_registrations = match self.max_registrations {
            None => DEFAULT_REGISTRATIONS,
            Some(n) => u8::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_REGISTRATIONS).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "max_registrations must be 1 to {MAX_REGISTRATIONS}"
                    ))
                })?,
        };
        let duration_secs = match self.duration_secs {
            None => DEFAULT_DURATION_SECS,
            Some(n) if (1..=MAX_DURATION_SECS).contains(&n) => n,
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "duration_secs must be 1 to {MAX_DURATION_SECS} (15 minutes)"
                )));
            }
        };
        validate_relay_url(&self.relay_url)?;
        let admin_door = B64
            .decode(&self.admin_door)
            .ok()
            .and_then(|d| <[u8; DOOR_LEN]>::try_from(d.as_slice()).ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "admin_door must be base64url (no padding) of {DOOR_LEN} bytes"
                ))
            })?;
        Ok(ValidStart {
            admin_id: self.admin_id,
            admin_name: self.admin_name,
            admin_static_key,
            rp_ids,
            max_registrations,
            duration_secs,
            relay_url: self.relay_url,
            admin_door,
        })
    }
}

fn validate_rp_ids(rp_ids: Vec<String>) -> Result<Vec<String>, ApiError> {
    if rp_ids.is_empty() {
        return Err(ApiError::bad_request(
            "rp_ids is required: name 1 to 16 relying parties (an OBR grant without an RP \
             scope is never issued, obr-grant.md §3.2)",
        ));
    }
    if rp_ids.len() > MAX_RP_IDS {
        return Err(ApiError::bad_request(format!(
            "rp_ids names {} relying parties; at most {MAX_RP_IDS} are allowed",
            rp_ids.len()
        )));
    }
    for (i, rp_id) in rp_ids.iter().enumerate() {
        if !is_rp_id(rp_id) {
            return Err(ApiError::bad_request(format!(
                "rp_ids[{i}] {rp_id:?} is not an RP id: lower-case letters, digits, \"-\" and \
                 \".\" only, no empty label, at most {MAX_RP_ID_BYTES} bytes"
            )));
        }
        if rp_ids[..i].contains(rp_id) {
            return Err(ApiError::bad_request(format!(
                "rp_ids[{i}] {rp_id:?} is listed twice"
            )));
        }
    }
    Ok(rp_ids)
}

/// https to any host; plain http only to a loopback host (the emulated relay in tests), as the
/// phone accepts it only with its explicit test setting.
fn validate_relay_url(url: &str) -> Result<(), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "relay_url must be an https:// URL (http:// only to a loopback host) of at most \
             2048 characters",
        )
    };
    if url.is_empty()
        || url.len() > MAX_RELAY_URL
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(bad());
    }
    let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err(bad()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad());
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    if host.is_empty() {
        return Err(bad());
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if secure || loopback {
        Ok(())
    } else {
        Err(bad())
    }
}

/// obr-grant.md §3.1 `display-id` / `display-text`.
pub fn is_display_text(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && !text.chars().any(|c| {
            c.is_control()
                || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
}

/// obr-grant.md §3.1 `rp-id`.
fn is_rp_id(rp_id: &str) -> bool {
    (1..=MAX_RP_ID_BYTES).contains(&rp_id.len())
        && rp_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && rp_id.split('.').all(|label| !label.is_empty())
}

fn parse_static_key(text: &str) -> Option<[u8; STATIC_KEY_LEN]> {
    let bytes = B64.decode(text).ok()?;
    let key = <[u8; STATIC_KEY_LEN]>::try_from(bytes.as_slice()).ok()?;
    (key[0] == 0x04 && p256::PublicKey::from_sec1_bytes(&key).is_ok()).then_some(key)
}

/// A grant id from a path: base64url of 16 bytes.
pub fn parse_grant_id(text: &str) -> Result<[u8; GRANT_ID_LEN], ApiError> {
    B64.decode(text)
        .ok()
        .and_then(|id| <[u8; GRANT_ID_LEN]>::try_from(id.as_slice()).ok())
        .ok_or_else(|| ApiError::bad_request("a grant id is base64url (no padding) of 16 bytes"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantStatus {
    /// Issued, not stopped, not expired, registrations left.
    Running,
    /// Every allowed registration has its receipt.
    Completed,
    /// Stopped by the administrator, or by suspending/revoking the key.
    Stopped,
    /// Its time ran out before it completed or was stopped.
    Expired,
    /// The phone refused it before connecting (phone endpoint `obr-refusals`).
    Refused,
}

/// One receipt as received.
pub struct StoredReceipt {
    pub bytes: Vec<u8>,
    pub receipt: Receipt,
    pub received_ms: u64,
}

/// A grant the workspace issued, with what happened under it.
pub struct IssuedGrant {
    pub grant: Grant,
    pub bytes: Vec<u8>,
    /// The assignment (security key) it was issued for.
    pub assignment: usize,
    pub user_id: String,
    pub user_email: String,
    pub relay_url: String,
    pub admin_door: [u8; DOOR_LEN],
    /// Set with `refusal_code` when the phone refused the grant (it also stops it).
    pub stopped_at: Option<u64>,
    pub receipts: Vec<StoredReceipt>,
    /// The grant id the `obr_request` event carried: the grant's own, except under the test
    /// fault `replay` (then the id of the device's previous `obr_request`).
    pub delivered_id: [u8; GRANT_ID_LEN],
    /// The grant bytes the `obr_request` event carried (the grant's own without a test fault).
    pub delivered: Vec<u8>,
    /// The phone's refusal code (phone endpoint `obr-refusals`), the first one only.
    pub refusal_code: Option<String>,
}

/// `GET /admin/obr` entry.
#[derive(Debug, Serialize)]
pub struct GrantView {
    pub grant_id: String,
    pub user_id: String,
    pub email: String,
    pub security_key_id: String,
    pub admin_id: String,
    pub admin_name: String,
    pub rp_ids: Vec<String>,
    pub max_registrations: u8,
    pub registrations: usize,
    pub status: GrantStatus,
    pub relay_url: String,
    pub admin_door: String,
    pub grant: String,
    pub issued_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal_code: Option<String>,
}

/// `GET /admin/users/{id}/passkeys` entry.
#[derive(Debug, Serialize)]
pub struct PasskeyView {
    pub rp_id: String,
    pub credential_id: String,
    pub created_at: String,
    pub received_at: String,
    pub grant_id: String,
    pub admin_id: String,
    pub admin_name: String,
    pub index: u8,
    pub security_key_id: String,
    pub aaguid: String,
    pub auth_data_hash: String,
    pub receipt: String,
}

fn secs_to_text(secs: u64) -> String {
    rfc3339(secs.saturating_mul(1000))
}

impl IssuedGrant {
    pub fn grant_id_text(&self) -> String {
        B64.encode(self.grant.grant_id)
    }

    pub fn status(&self, now_secs: u64) -> GrantStatus {
        if self.refusal_code.is_some() {
            GrantStatus::Refused
        } else if self.stopped_at.is_some() {
            GrantStatus::Stopped
        } else if self.receipts.len() >= usize::from(self.grant.max_registrations) {
            GrantStatus::Completed
        } else if now_secs >= self.grant.expires_at {
            GrantStatus::Expired
        } else {
            GrantStatus::Running
        }
    }

    pub fn view(&self, now_secs: u64) -> GrantView {
        GrantView {
            grant_id: self.grant_id_text(),
            user_id: self.user_id.clone(),
            email: self.user_email.clone(),
            security_key_id: self.grant.security_key_id.clone(),
            admin_id: self.grant.admin_id.clone(),
            admin_name: self.grant.admin_name.clone(),
            rp_ids: self.grant.rp_ids.clone(),
            max_registrations: self.grant.max_registrations,
            registrations: self.receipts.len(),
            status: self.status(now_secs),
            relay_url: self.relay_url.clone(),
            admin_door: B64.encode(self.admin_door),
            grant: B64.encode(&self.bytes),
            issued_at: secs_to_text(self.grant.issued_at),
            expires_at: secs_to_text(self.grant.expires_at),
            stopped_at: self.stopped_at.map(secs_to_text),
            refusal_code: self.refusal_code.clone(),
        }
    }

    pub fn passkeys(&self) -> impl Iterator<Item = PasskeyView> + '_ {
        self.receipts.iter().map(|stored| PasskeyView {
            rp_id: stored.receipt.rp_id.clone(),
            credential_id: B64.encode(&stored.receipt.credential_id),
            created_at: secs_to_text(stored.receipt.created_at),
            received_at: rfc3339(stored.received_ms),
            grant_id: self.grant_id_text(),
            admin_id: self.grant.admin_id.clone(),
            admin_name: self.grant.admin_name.clone(),
            index: stored.receipt.index,
            security_key_id: self.grant.security_key_id.clone(),
            aaguid: B64.encode(stored.receipt.aaguid),
            auth_data_hash: B64.encode(stored.receipt.auth_data_hash),
            receipt: B64.encode(&stored.bytes),
        })
    }

    /// The checks after the receipt verified and named this grant (contract, OBR decisions):
    /// repeat, scope, count, index taken, credential taken, then time.
    pub fn accept(&mut self, bytes: &[u8], receipt: Receipt, now_ms: u64) -> Result<(), ApiError> {
        if self.receipts.iter().any(|r| r.bytes == bytes) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_recorded",
                "this receipt is already recorded",
            ));
        }
        if !self.grant.rp_ids.contains(&receipt.rp_id) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rp_out_of_scope",
                "the receipt's RP id is not in the grant's RP ids",
            ));
        }
        if receipt.index > self.grant.max_registrations {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "count_exceeded",
                format!(
                    "registration {} is beyond the grant's maximum of {}",
                    receipt.index, self.grant.max_registrations
                ),
            ));
        }
        if self
            .receipts
            .iter()
            .any(|r| r.receipt.index == receipt.index)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "duplicate_index",
                format!(
                    "registration {} under this grant already has another receipt",
                    receipt.index
                ),
            ));
        }
        if self
            .receipts
            .iter()
            .any(|r| r.receipt.credential_id == receipt.credential_id)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "duplicate_credential",
                "another receipt under this grant names the same credential id",
            ));
        }
        let created = receipt.created_at;
        if created.saturating_add(SKEW_SECS) < self.grant.issued_at {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_yet_valid",
                "the registration is dated before the grant was issued (check the phone's clock)",
            ));
        }
        if created >= self.grant.expires_at.saturating_add(SKEW_SECS) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "grant_expired",
                "the registration is dated after the grant expired",
            ));
        }
        if let Some(stopped) = self.stopped_at
            && created >= stopped.saturating_add(SKEW_SECS)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "grant_stopped",
                "the registration is dated after the administrator stopped OBR",
            ));
        }
        self.receipts.push(StoredReceipt {
            bytes: bytes.to_vec(),
            receipt,
            received_ms: now_ms,
        });
        Ok(())
    }
}

/// A refusal code from the phone (`obr-refusals`): 1 to 64 of `a-z` and `_`.
pub fn is_refusal_code(code: &str) -> bool {
    (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// The grant payload for a start request (obr-grant.md §3.1); the caller signs it.
pub struct GrantFields<'a> {
    pub grant_id: [u8; GRANT_ID_LEN],
    pub now_secs: u64,
    pub workspace_id: &'a str,
    pub workspace_name: &'a str,
    pub security_key_id: &'a str,
}

pub fn build_grant(start: &ValidStart, fields: GrantFields<'_>) -> Grant {
    Grant {
        grant_id: fields.grant_id,
        issued_at: fields.now_secs,
        expires_at: fields.now_secs.saturating_add(start.duration_secs),
        workspace_id: fields.workspace_id.to_owned(),
        workspace_name: fields.workspace_name.to_owned(),
        admin_id: start.admin_id.clone(),
        admin_name: start.admin_name.clone(),
        admin_static_key: start.admin_static_key,
        security_key_id: fields.security_key_id.to_owned(),
        operations: vec![Operation::MakeCredential],
        rp_ids: start.rp_ids.clone(),
        max_registrations: start.max_registrations,
    }
}

/// `Receipt::verify` with the contract's error: 422 `invalid_receipt`, the core's rule name in
/// `reason`.
pub fn verify_receipt(bytes: &[u8], device_key_sec1: &[u8]) -> Result<Receipt, ApiError> {
    Receipt::verify(bytes, device_key_sec1).map_err(|e| ApiError {
        reason: Some(e.code()),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_receipt",
            format!("the receipt was refused: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls() {
        for ok in [
            "https://relay.example.com",
            "https://relay.example.com:8443/path",
            "http://127.0.0.1:9000",
            "http://localhost:1",
            "http://[::1]:80/",
        ] {
            assert!(validate_relay_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ftp://relay.example.com",
            "http://relay.example.com",
            "https://",
            "https://user@relay.example.com",
            "https://relay example.com",
            "relay.example.com",
        ] {
            assert!(validate_relay_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rp_ids_and_texts() {
        assert!(is_rp_id("login.example.com"));
        for bad in [
            "",
            "Example.com",
            "a..b",
            ".a",
            "a.",
            "a_b.com",
            "ex ample.com",
        ] {
            assert!(!is_rp_id(bad), "{bad}");
        }
        assert!(is_display_text("Ann Admin", 128));
        assert!(!is_display_text("Ann\u{202e}nimdA", 128));
        assert!(!is_display_text("a\nb", 128));
        assert!(!is_display_text("", 128));
    }
}
