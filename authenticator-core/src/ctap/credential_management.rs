//! authenticatorCredentialManagement (CTAP 2.1 §6.8): metadata, enumerate rps and their
//! discoverable passkeys, delete, updateUserInformation.
//!
//! Every "begin" subcommand and every change is authenticated with a token that has the `cm`
//! permission: pinUvAuthParam = authenticate(token, subCommand || subCommandParams), where the
//! parameters are the canonical CBOR the client sent (we accept only canonical input, so
//! re-encoding what we parsed gives the same bytes). A token bound to an rp may only manage that
//! rp's passkeys and may not enumerate rps. The "get next" subcommands continue an enumeration
//! and need no token, so they are served only to the origin that began it (`follow_up`); any
//! other command from that origin ends the enumeration.

use super::auth_data::rp_id_hash;
use super::client_pin::{protocol, verify_token};
use super::cose::credential_public_key;
use super::follow_up::FollowUp;
use super::params::{Descriptor, truncate_name};
use super::status::*;
use super::token_state::PERMISSION_CM;
use super::{Context, decode_params, key};
use crate::cbor::{MapReader, Value, encode_into};
use crate::platform::UserEvent;
use crate::vault::Credential;

const GET_CREDS_METADATA: u64 = 0x01;
const ENUMERATE_RPS_BEGIN: u64 = 0x02;
const ENUMERATE_RPS_GET_NEXT_RP: u64 = 0x03;
const ENUMERATE_CREDENTIALS_BEGIN: u64 = 0x04;
const ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL: u64 = 0x05;
const DELETE_CREDENTIAL: u64 = 0x06;
const UPDATE_USER_INFORMATION: u64 = 0x07;

/// An enumeration in progress.
pub enum Enumeration {
    /// rp ids (with names) still to return.
    Rps(Vec<(String, Option<String>)>),
    Credentials(Vec<Credential>),
}

pub async fn credential_management(
    cx: &mut Context<'_>,
    params: &[u8],
) -> CtapResult<Option<Value>> {
    let mut p = decode_params(params)?;
    let sub_command = p.required_unsigned(0x01)?;
    let sub_params = p.take(0x02);
    let pin_uv_auth_protocol = p.unsigned(0x03)?;
    let pin_uv_auth_param = p.bytes(0x04)?;

    match sub_command {
        ENUMERATE_RPS_GET_NEXT_RP => return next_rp(cx).map(Some),
        ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL => return next_credential(cx).map(Some),
        GET_CREDS_METADATA
        | ENUMERATE_RPS_BEGIN
        | ENUMERATE_CREDENTIALS_BEGIN
        | DELETE_CREDENTIAL
        | UPDATE_USER_INFORMATION => {}
        _ => return Err(CTAP2_ERR_INVALID_SUBCOMMAND),
    }
    // §6.8.x: these need a token with the cm permission.
    let param = pin_uv_auth_param.ok_or(CTAP2_ERR_PUAT_REQUIRED)?;
    let protocol = protocol(pin_uv_auth_protocol)?;
    let mut message = vec![u8::try_from(sub_command).unwrap_or(0)];
    if let Some(sp) = &sub_params {
        encode_into(sp, &mut message);
    }
    verify_token(cx, protocol, &message, &param)?;
    if !cx.state.tokens.has_permission(PERMISSION_CM) {
        return Err(CTAP2_ERR_PIN_AUTH_INVALID);
    }

    match sub_command {
        GET_CREDS_METADATA => {
            no_rp_binding(cx)?;
            let stored = discoverable(cx)?.len() as u64;
            let total = cx.vault().credentials().count()?;
            Ok(Some(Value::map([
                (key(0x01), Value::Unsigned(stored)),
                (
                    key(0x02),
                    Value::Unsigned(cx.config().max_credentials.saturating_sub(total)),
                ),
            ])))
        }
        ENUMERATE_RPS_BEGIN => {
            no_rp_binding(cx)?;
            let mut rps: Vec<(String, Option<String>)> = Vec::new();
            for c in discoverable(cx)? {
                if !rps.iter().any(|(id, _)| *id == c.rp_id) {
                    rps.push((c.rp_id, c.rp_name));
                }
            }
            if rps.is_empty() {
                return Err(CTAP2_ERR_NO_CREDENTIALS);
            }
            let total = rps.len() as u64;
            let first = rps.remove(0);
            let origin = cx.origin();
            cx.state
                .follow_ups
                .begin(origin, FollowUp::Enumeration(Enumeration::Rps(rps)));
            let mut out = rp_entry(first);
            out.push((key(0x05), Value::Unsigned(total)));
            Ok(Some(Value::map(out)))
        }
        ENUMERATE_CREDENTIALS_BEGIN => {
            let sp = sub_params_reader(sub_params)?;
            let hash = sp_bytes(&sp, 0x01)?;
            let mut credentials: Vec<Credential> = discoverable(cx)?
                .into_iter()
                .filter(|c| rp_id_hash(&c.rp_id).as_slice() == hash.as_slice())
                .collect();
            let Some(first) = credentials.first() else {
                return Err(CTAP2_ERR_NO_CREDENTIALS);
            };
            check_rp_binding(cx, &first.rp_id)?;
            let total = credentials.len() as u64;
            let first = credentials.remove(0);
            let origin = cx.origin();
            cx.state.follow_ups.begin(
                origin,
                FollowUp::Enumeration(Enumeration::Credentials(credentials)),
            );
            let mut out = credential_entry(&first);
            out.push((key(0x09), Value::Unsigned(total)));
            Ok(Some(Value::map(out)))
        }
        DELETE_CREDENTIAL => {
            let sp = sub_params_reader(sub_params)?;
            let id = descriptor_id(&sp)?;
            let credential = managed_credential(cx, &id)?;
            cx.vault().credentials().delete(&id)?;
            crate::platform::tell(
                &*cx.engine.ui,
                UserEvent::PasskeyDeleted {
                    rp_id: credential.rp_id,
                    user_name: credential.user_name,
                },
            );
            Ok(None)
        }
        UPDATE_USER_INFORMATION => {
            let sp = sub_params_reader(sub_params)?;
            let id = descriptor_id(&sp)?;
            let user = sp.iter_get(0x03).ok_or(CTAP2_ERR_MISSING_PARAMETER)?;
            let mut user = MapReader::new(user.clone())?;
            let user_id = user.required_bytes("id")?;
            let name = truncate_name(user.text("name")?);
            let display_name = truncate_name(user.text("displayName")?);
            let credential = managed_credential(cx, &id)?;
            // §6.8.7: the user handle must match; names are replaced (absent means removed).
            if credential.user_id != user_id {
                return Err(CTAP1_ERR_INVALID_PARAMETER);
            }
            cx.vault().credentials().update(&id, |c| {
                c.user_name = name;
                c.user_display_name = display_name;
            })?;
            Ok(None)
        }
        _ => Err(CTAP2_ERR_INVALID_SUBCOMMAND),
    }
}

/// The parsed subCommandParams map, as a list of (key, value) pairs.
struct SubParams(Vec<(Value, Value)>);

impl SubParams {
    fn iter_get(&self, k: i64) -> Option<&Value> {
        self.0
            .iter()
            .find(|(key, _)| key.as_int() == Some(k))
            .map(|(_, v)| v)
    }
}

fn sub_params_reader(value: Option<Value>) -> CtapResult<SubParams> {
    match value {
        Some(Value::Map(entries)) => Ok(SubParams(entries)),
        Some(_) => Err(CTAP2_ERR_CBOR_UNEXPECTED_TYPE),
        None => Err(CTAP2_ERR_MISSING_PARAMETER),
    }
}

fn sp_bytes(sp: &SubParams, k: i64) -> CtapResult<Vec<u8>> {
    sp.iter_get(k)
        .ok_or(CTAP2_ERR_MISSING_PARAMETER)?
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE)
}

fn descriptor_id(sp: &SubParams) -> CtapResult<Vec<u8>> {
    let d = Descriptor::parse(sp.iter_get(0x02).ok_or(CTAP2_ERR_MISSING_PARAMETER)?)?;
    Ok(d.id)
}

fn discoverable(cx: &Context<'_>) -> CtapResult<Vec<Credential>> {
    Ok(cx
        .vault()
        .credentials()
        .list()?
        .into_iter()
        .filter(|c| c.discoverable)
        .collect())
}

/// Metadata and rp enumeration need a token not bound to an rp (§6.8.2, §6.8.3).
fn no_rp_binding(cx: &Context<'_>) -> CtapResult<()> {
    match cx.state.tokens.rp_id() {
        None => Ok(()),
        Some(_) => Err(CTAP2_ERR_PIN_AUTH_INVALID),
    }
}

/// The passkey a delete or update names, if the token may manage it.
fn managed_credential(cx: &Context<'_>, id: &[u8]) -> CtapResult<Credential> {
    let credential = cx
        .vault()
        .credentials()
        .get(id)?
        .ok_or(CTAP2_ERR_NO_CREDENTIALS)?;
    check_rp_binding(cx, &credential.rp_id)?;
    Ok(credential)
}

/// A token bound to an rp may manage only that rp's passkeys.
fn check_rp_binding(cx: &Context<'_>, rp_id: &str) -> CtapResult<()> {
    match cx.state.tokens.rp_id() {
        Some(bound) if bound != rp_id => Err(CTAP2_ERR_PIN_AUTH_INVALID),
        _ => Ok(()),
    }
}

fn rp_entry((id, name): (String, Option<String>)) -> Vec<(Value, Value)> {
    let hash = rp_id_hash(&id);
    let mut rp = vec![(Value::from("id"), Value::from(id.as_str()))];
    if let Some(name) = name {
        rp.push((Value::from("name"), Value::from(name.as_str())));
    }
    vec![
        (key(0x03), Value::map(rp)),
        (key(0x04), Value::from(hash.to_vec())),
    ]
}

fn credential_entry(c: &Credential) -> Vec<(Value, Value)> {
    let mut user = vec![(Value::from("id"), Value::from(c.user_id.clone()))];
    if let Some(name) = &c.user_name {
        user.push((Value::from("name"), Value::from(name.as_str())));
    }
    if let Some(name) = &c.user_display_name {
        user.push((Value::from("displayName"), Value::from(name.as_str())));
    }
    vec![
        (key(0x06), Value::map(user)),
        (key(0x07), Descriptor::to_value(&c.credential_id)),
        (key(0x08), credential_public_key(&c.public_key)),
        (key(0x0A), Value::Unsigned(u64::from(c.cred_protect))),
    ]
}

fn next_rp(cx: &mut Context<'_>) -> CtapResult<Value> {
    let origin = cx.origin();
    match cx.state.follow_ups.enumeration(origin) {
        Some(Enumeration::Rps(rest)) if !rest.is_empty() => {
            let next = rest.remove(0);
            Ok(Value::map(rp_entry(next)))
        }
        _ => Err(CTAP2_ERR_NOT_ALLOWED),
    }
}

fn next_credential(cx: &mut Context<'_>) -> CtapResult<Value> {
    let origin = cx.origin();
    match cx.state.follow_ups.enumeration(origin) {
        Some(Enumeration::Credentials(rest)) if !rest.is_empty() => {
            let next = rest.remove(0);
            Ok(Value::map(credential_entry(&next)))
        }
        _ => Err(CTAP2_ERR_NOT_ALLOWED),
    }
}
