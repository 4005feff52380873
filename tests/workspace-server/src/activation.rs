//! The phone side of an assignment (contract, phone endpoints 1 and 3-6), as operations on
//! the locked state: redeem an activation code, prove the client PIN, read the status,
//! acknowledge a revocation. HTTP, signatures and long-polling are in `phone_api`.
//!
//! Redeem checks in this order: body shape (400), code known (404), assignment revoked or
//! replaced (410 revoked); then a redeemed code answers its first body again for the same
//! device key (423 if locked meanwhile) and 409 for any other key; an unredeemed one must not
//! have expired (410 expired). Expiry only limits the first redeem, so a phone retrying after
//! a lost answer still gets its 200.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::VerifyingKey;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::assignment::{Device, KeyStatus, PinOutcome};
use crate::error::{ApiError, parse_json};
use crate::random::{self, CODE_LEN, CROCKFORD};
use crate::state::State;

/// The client PIN the workspace mails is 6 digits, so a changed one must be as long; without
/// a client PIN the phone's CTAP default minimum (4, CTAP 2.1 §6.5.1) applies.
pub const CLIENT_PIN_MIN_LENGTH: u8 = 6;
pub const DEFAULT_PIN_MIN_LENGTH: u8 = 4;
pub const PLATFORMS: [&str; 3] = ["android", "ios", "virtual"];
const MAX_DEVICE_NAME: usize = 128;

#[derive(Deserialize)]
struct RedeemRequest {
    code: String,
    device_public_key: String,
    device_name: String,
    platform: String,
}

#[derive(Deserialize)]
struct PinRequest {
    proof: String,
}

/// Crockford base32 decoding is case-insensitive, so lower case is accepted and upper-cased.
fn normalize_code(code: &str) -> Result<String, ApiError> {
    let code = code.to_ascii_uppercase();
    if code.len() == CODE_LEN && code.bytes().all(|c| CROCKFORD.contains(&c)) {
        Ok(code)
    } else {
        Err(ApiError::bad_request(
            "code must be 26 characters of Crockford base32",
        ))
    }
}

fn parse_device_key(text: &str) -> Result<(VerifyingKey, Vec<u8>), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "device_public_key must be base64url (no padding) of a 65-byte uncompressed P-256 point",
        )
    };
    let bytes = B64.decode(text).map_err(|_| bad())?;
    if bytes.len() != 65 || bytes[0] != 0x04 {
        return Err(bad());
    }
    let key = VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| bad())?;
    Ok((key, bytes))
}

pub fn redeem(state: &mut State, body: &[u8], now_ms: u64) -> Result<Value, ApiError> {
    let request: RedeemRequest = parse_json(body)?;
    let code = normalize_code(&request.code)?;
    let (public_key, public_key_sec1) = parse_device_key(&request.device_public_key)?;
    if request.device_name.trim().is_empty()
        || request.device_name.chars().count() > MAX_DEVICE_NAME
    {
        return Err(ApiError::bad_request(format!(
            "device_name must be 1 to {MAX_DEVICE_NAME} characters"
        )));
    }
    if !PLATFORMS.contains(&request.platform.as_str()) {
        return Err(ApiError::bad_request(
            "platform must be \"android\", \"ios\" or \"virtual\"",
        ));
    }
    let index = *state.by_code.get(&code).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_code",
            "no such activation code",
        )
    })?;
    let security_key_id = loop {
        let id = random::id("sk_")?;
        if !state.by_key_id.contains_key(&id) {
            break id;
        }
    };
    let grant_signing_key = B64.encode(
        state
            .workspace
            .grant_key
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes(),
    );
    let workspace = json!({ "id": state.workspace.id, "name": state.workspace.config.name });
    let relay_url = state.workspace.config.relay_url.clone();
    let assignment = state
        .assignment_mut(index)
        .ok_or_else(|| ApiError::internal("code index out of range"))?;
    if assignment.status() == KeyStatus::Revoked {
        return Err(ApiError::new(
            StatusCode::GONE,
            "revoked",
            "this assignment was revoked or replaced",
        ));
    }
    if let Some(device) = &assignment.device {
        if device.public_key_sec1 != public_key_sec1 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_redeemed",
                "this code was redeemed by another device",
            ));
        }
        if assignment.status() == KeyStatus::Locked {
            return Err(ApiError::locked());
        }
        return Ok(device.redeem_body.clone());
    }
    if now_ms >= assignment.expires_ms {
        return Err(ApiError::new(
            StatusCode::GONE,
            "expired",
            "this activation link has expired; ask your administrator for a new one",
        ));
    }
    let client_pin = assignment.client_pin;
    let mut body = json!({
        "security_key_id": security_key_id,
        "user": assignment.user,
        "workspace": workspace,
        "grant_signing_key": grant_signing_key,
        "relay_url": relay_url,
        "status": if client_pin { "pending" } else { "active" },
        "pin_policy": {
            "client_pin": client_pin,
            "force_change": assignment.force_change,
            "min_length": if client_pin { CLIENT_PIN_MIN_LENGTH } else { DEFAULT_PIN_MIN_LENGTH },
        },
    });
    if let (true, Some(map)) = (client_pin, body.as_object_mut()) {
        map.insert("pin_nonce".into(), B64.encode(assignment.pin_nonce).into());
    }
    assignment.attach_device(
        Device {
            security_key_id: security_key_id.clone(),
            public_key,
            public_key_sec1,
            redeem_body: body.clone(),
        },
        now_ms,
    );
    state.by_key_id.insert(security_key_id, index);
    Ok(body)
}

pub fn submit_pin(
    state: &mut State,
    index: usize,
    body: &[u8],
    now_ms: u64,
) -> Result<Value, ApiError> {
    let request: PinRequest = parse_json(body)?;
    let proof = B64
        .decode(&request.proof)
        .ok()
        .filter(|p| p.len() == 32)
        .ok_or_else(|| ApiError::bad_request("proof must be base64url of 32 bytes"))?;
    let assignment = state
        .assignment_mut(index)
        .ok_or_else(|| ApiError::internal("key index out of range"))?;
    match assignment.check_pin_proof(&proof, now_ms)? {
        PinOutcome::Accepted { force_change } => {
            Ok(json!({ "status": "active", "force_change": force_change }))
        }
        PinOutcome::Wrong { attempts_left } => Err(ApiError {
            attempts_left: Some(attempts_left),
            ..ApiError::new(StatusCode::FORBIDDEN, "wrong_pin", "wrong client PIN")
        }),
        PinOutcome::Locked => Err(ApiError::locked()),
    }
}

pub fn device_status(state: &State, index: usize) -> Result<Value, ApiError> {
    let assignment = state
        .assignment(index)
        .ok_or_else(|| ApiError::internal("key index out of range"))?;
    Ok(json!({
        "status": assignment.status(),
        "user": assignment.user,
        "workspace": { "id": state.workspace.id, "name": state.workspace.config.name },
    }))
}

pub fn acknowledge_revocation(state: &mut State, index: usize) -> Result<Value, ApiError> {
    state
        .assignment_mut(index)
        .ok_or_else(|| ApiError::internal("key index out of range"))?
        .acknowledge_revocation()?;
    Ok(json!({}))
}
