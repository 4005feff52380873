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
    /// The phone's OBR key; optional (a phone from before it existed registers it later).
    #[serde(default)]
    obr_public_key: Option<String>,
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
    parse_p256_key(text, "device_public_key")
}

/// A `field` holding base64url (no padding) of a 65-byte uncompressed P-256 point.
fn parse_p256_key(text: &str, field: &str) -> Result<(VerifyingKey, Vec<u8>), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "{field} must be base64url (no padding) of a 65-byte uncompressed P-256 point"
        ))
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
    let obr_public_key_sec1 = request
        .obr_public_key
        .as_deref()
        .map(|k| parse_obr_key(k, &public_key_sec1))
        .transpose()?;
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
    // The stored OBR key is echoed, so the phone knows it need not register it again.
    if let (Some(key), Some(map)) = (&obr_public_key_sec1, body.as_object_mut()) {
        map.insert("obr_public_key".into(), B64.encode(key).into());
    }
    assignment.attach_device(
        Device {
            security_key_id: security_key_id.clone(),
            public_key,
            public_key_sec1,
            obr_public_key_sec1,
            redeem_body: body.clone(),
        },
        now_ms,
    );
    state.by_key_id.insert(security_key_id, index);
    Ok(body)
}

/// An OBR key: a P-256 point that is not the device key (one key, one job: the device key
/// signs, the OBR key is the phone's Noise static key in OBR sessions).
fn parse_obr_key(text: &str, device_key_sec1: &[u8]) -> Result<Vec<u8>, ApiError> {
    let (_, sec1) = parse_p256_key(text, "obr_public_key")?;
    if sec1 == device_key_sec1 {
        return Err(ApiError::bad_request(
            "obr_public_key must not be the device key",
        ));
    }
    Ok(sec1)
}

#[derive(Deserialize)]
struct ObrKeyRequest {
    obr_public_key: String,
}

/// Phone endpoint `obr-key`: a phone activated before it had an OBR key tells it now (signed
/// with the device key). The same key again is fine; another one is refused (409
/// `obr_key_set`): the key is set once per activation.
pub fn register_obr_key(state: &mut State, index: usize, body: &[u8]) -> Result<(), ApiError> {
    let request: ObrKeyRequest = parse_json(body)?;
    let device = state
        .assignment_mut(index)
        .ok_or_else(|| ApiError::internal("key index out of range"))?
        .device
        .as_mut()
        .ok_or_else(|| ApiError::internal("a signed request from a key without a device"))?;
    let key = parse_obr_key(&request.obr_public_key, &device.public_key_sec1)?;
    match &device.obr_public_key_sec1 {
        Some(stored) if *stored == key => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "obr_key_set",
            "another OBR key is already registered for this security key",
        )),
        None => {
            device.obr_public_key_sec1 = Some(key);
            Ok(())
        }
    }
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
