//! authenticatorConfig (CTAP 2.1 §6.11): toggleAlwaysUv and setMinPINLength.
//!
//! When a PIN is set or built-in UV is available, every subcommand needs a token with the
//! `acfg` permission: pinUvAuthParam = authenticate(token, 32×0xff || 0x0d || subCommand ||
//! subCommandParams). Enterprise attestation is not offered.

use super::client_pin::{protocol, verify_token};
use super::get_info::{MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH, always_uv};
use super::status::*;
use super::token_state::PERMISSION_ACFG;
use super::{CMD_CONFIG, Context};
use crate::cbor::{Value, encode_into};
use crate::vault::Setting;

const ENABLE_ENTERPRISE_ATTESTATION: u64 = 0x01;
const TOGGLE_ALWAYS_UV: u64 = 0x02;
const SET_MIN_PIN_LENGTH: u64 = 0x03;

/// The members of the request (§6.11 table): the layout credentialManagement shares.
type Request = super::params::SubCommandRequest;

/// setMinPINLength's parameters (§6.11.4), each absent or of its type.
struct SetMinPinLength {
    new_min_pin_length: Option<u64>,
    min_pin_length_rp_ids: Option<Vec<String>>,
    force_change_pin: bool,
}

impl SetMinPinLength {
    fn parse(sub_params: Option<Value>) -> CtapResult<Self> {
        let entries = match sub_params {
            None => Vec::new(),
            Some(Value::Map(entries)) => entries,
            Some(_) => return Err(CTAP2_ERR_CBOR_UNEXPECTED_TYPE),
        };
        let get = |k: i64| {
            entries
                .iter()
                .find(|(key, _)| key.as_int() == Some(k))
                .map(|(_, v)| v)
        };
        let new_min_pin_length = match get(0x01) {
            None => None,
            Some(v) => Some(v.as_unsigned().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE)?),
        };
        let min_pin_length_rp_ids = match get(0x02) {
            None => None,
            Some(v) => {
                let items = v.as_array().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE)?;
                let ids = items
                    .iter()
                    .map(|i| {
                        i.as_text()
                            .map(str::to_owned)
                            .ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE)
                    })
                    .collect::<CtapResult<Vec<_>>>()?;
                if ids.len() > MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH {
                    return Err(CTAP2_ERR_PIN_POLICY_VIOLATION);
                }
                Some(ids)
            }
        };
        let force_change_pin = match get(0x03) {
            None => false,
            Some(v) => v.as_bool().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE)?,
        };
        Ok(Self {
            new_min_pin_length,
            min_pin_length_rp_ids,
            force_change_pin,
        })
    }
}

pub async fn config(cx: &mut Context<'_>, params: &[u8]) -> CtapResult<()> {
    let request = Request::parse(params)?;
    if !matches!(request.sub_command, TOGGLE_ALWAYS_UV | SET_MIN_PIN_LENGTH) {
        // Enterprise attestation and vendor commands are not supported (§6.11.1).
        let _ = ENABLE_ENTERPRISE_ATTESTATION;
        return Err(CTAP2_ERR_INVALID_SUBCOMMAND);
    }
    authenticate(cx, &request)?;
    match request.sub_command {
        TOGGLE_ALWAYS_UV => {
            let now_on = !always_uv(cx.vault())?;
            cx.vault().settings().set(Setting::AlwaysUv, &now_on)?;
            Ok(())
        }
        _ => set_min_pin_length(cx, SetMinPinLength::parse(request.sub_command_params)?),
    }
}

/// When a PIN is set or built-in UV is available, a token with the `acfg` permission over
/// 32×0xff || 0x0d || subCommand || subCommandParams (§6.11.1).
fn authenticate(cx: &mut Context<'_>, request: &Request) -> CtapResult<()> {
    let protected = cx.vault().pin_state().load()?.pin_hash.is_some() || cx.config().builtin_uv;
    if !protected {
        return Ok(());
    }
    let param = request
        .pin_uv_auth_param
        .as_ref()
        .ok_or(CTAP2_ERR_PUAT_REQUIRED)?;
    let protocol = protocol(request.pin_uv_auth_protocol)?;
    let mut message = vec![0xff; 32];
    message.push(CMD_CONFIG);
    message.push(u8::try_from(request.sub_command).unwrap_or(0));
    if let Some(sp) = &request.sub_command_params {
        encode_into(sp, &mut message);
    }
    verify_token(cx, protocol, &message, param)?;
    if !cx.state.tokens.has_permission(PERMISSION_ACFG) {
        return Err(CTAP2_ERR_PIN_AUTH_INVALID);
    }
    Ok(())
}

fn set_min_pin_length(cx: &mut Context<'_>, params: SetMinPinLength) -> CtapResult<()> {
    let SetMinPinLength {
        new_min_pin_length: new_min,
        min_pin_length_rp_ids: rp_ids,
        force_change_pin: force_change,
    } = params;
    let state = cx.vault().pin_state().load()?;
    let new_min = match new_min {
        None => state.min_pin_length,
        // 63 bytes is the longest PIN; a longer minimum could never be met.
        Some(n) => u8::try_from(n)
            .ok()
            .filter(|n| *n <= 63)
            .ok_or(CTAP2_ERR_PIN_POLICY_VIOLATION)?,
    };
    // §6.11.4: the minimum can only grow.
    if new_min < state.min_pin_length {
        return Err(CTAP2_ERR_PIN_POLICY_VIOLATION);
    }
    if force_change && state.pin_hash.is_none() {
        return Err(CTAP2_ERR_PIN_NOT_SET);
    }
    cx.vault().pin_state().update(|s| {
        s.min_pin_length = new_min;
        if let Some(ids) = rp_ids {
            s.min_pin_length_rp_ids = ids;
        }
        // A PIN shorter than the new minimum must be changed before it is used again.
        if force_change || (s.pin_hash.is_some() && s.pin_code_points < new_min) {
            s.force_change = true;
        }
    })?;
    Ok(())
}
