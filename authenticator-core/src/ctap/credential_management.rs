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
use super::credential_key::credential_public_key;
use super::follow_up::FollowUp;
use super::params::{Descriptor, truncate_name};
use super::status::*;
use super::token_state::PERMISSION_CM;
use super::{Context, key};
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

/// The members of the request (§6.8 table): the layout authenticatorConfig shares.
type Request = super::params::SubCommandRequest;

/// A subcommand that needs a token, with its parameters present and typed.
enum SubCommand {
    GetCredsMetadata,
    EnumerateRpsBegin,
    EnumerateCredentialsBegin {
        rp_id_hash: Vec<u8>,
    },
    DeleteCredential {
        credential_id: Vec<u8>,
    },
    UpdateUserInformation {
        credential_id: Vec<u8>,
        user_id: Vec<u8>,
        name: Option<String>,
        display_name: Option<String>,
    },
}

impl SubCommand {
    /// subCommandParams for `sub_command`: absent is MISSING_PARAMETER, a wrong type
    /// CBOR_UNEXPECTED_TYPE, member by member in key order.
    fn parse(sub_command: u64, sub_params: Option<Value>) -> CtapResult<Self> {
        Ok(match sub_command {
            GET_CREDS_METADATA => Self::GetCredsMetadata,
            ENUMERATE_RPS_BEGIN => Self::EnumerateRpsBegin,
            ENUMERATE_CREDENTIALS_BEGIN => {
                let sp = sub_params_reader(sub_params)?;
                Self::EnumerateCredentialsBegin {
                    rp_id_hash: sp_bytes(&sp, 0x01)?,
                }
            }
            DELETE_CREDENTIAL => {
                let sp = sub_params_reader(sub_params)?;
                Self::DeleteCredential {
                    credential_id: descriptor_id(&sp)?,
                }
            }
            UPDATE_USER_INFORMATION => {
                let sp = sub_params_reader(sub_params)?;
                let credential_id = descriptor_id(&sp)?;
                let user = sp.iter_get(0x03).ok_or(CTAP2_ERR_MISSING_PARAMETER)?;
                let mut user = MapReader::new(user.clone())?;
                Self::UpdateUserInformation {
                    credential_id,
                    user_id: user.required_bytes("id")?,
                    name: truncate_name(user.text("name")?),
                    display_name: truncate_name(user.text("displayName")?),
                }
            }
            _ => return Err(CTAP2_ERR_INVALID_SUBCOMMAND),
        })
    }
}

/// The responses (§6.8 table: existing/remaining counts, an rp with the total, a passkey with
/// the total; the totals only on a "begin").
enum Response {
    Metadata {
        existing: u64,
        remaining: u64,
    },
    Rp {
        rp: (String, Option<String>),
        total: Option<u64>,
    },
    Credential {
        credential: Credential,
        total: Option<u64>,
    },
}

impl Response {
    /// Fails only for a stored passkey whose public key this version cannot encode
    /// (`credential_key`'s invariant).
    fn into_value(self) -> CtapResult<Value> {
        Ok(match self {
            Self::Metadata {
                existing,
                remaining,
            } => Value::map([
                (key(0x01), Value::Unsigned(existing)),
                (key(0x02), Value::Unsigned(remaining)),
            ]),
            Self::Rp { rp, total } => {
                let mut out = rp_entry(rp);
                if let Some(total) = total {
                    out.push((key(0x05), Value::Unsigned(total)));
                }
                Value::map(out)
            }
            Self::Credential { credential, total } => {
                let mut out = credential_entry(&credential)?;
                if let Some(total) = total {
                    out.push((key(0x09), Value::Unsigned(total)));
                }
                Value::map(out)
            }
        })
    }
}

pub async fn credential_management(
    cx: &mut Context<'_>,
    params: &[u8],
) -> CtapResult<Option<Value>> {
    let request = Request::parse(params)?;
    match request.sub_command {
        ENUMERATE_RPS_GET_NEXT_RP => return next_rp(cx).map(Some),
        ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL => return next_credential(cx).map(Some),
        GET_CREDS_METADATA
        | ENUMERATE_RPS_BEGIN
        | ENUMERATE_CREDENTIALS_BEGIN
        | DELETE_CREDENTIAL
        | UPDATE_USER_INFORMATION => {}
        _ => return Err(CTAP2_ERR_INVALID_SUBCOMMAND),
    }
    authenticate(cx, &request)?;
    let response = match SubCommand::parse(request.sub_command, request.sub_command_params)? {
        SubCommand::GetCredsMetadata => {
            no_rp_binding(cx)?;
            let existing = discoverable(cx)?.len() as u64;
            let total = cx.vault().credentials().count()?;
            Response::Metadata {
                existing,
                remaining: cx.config().max_credentials.saturating_sub(total),
            }
        }
        SubCommand::EnumerateRpsBegin => enumerate_rps_begin(cx)?,
        SubCommand::EnumerateCredentialsBegin { rp_id_hash } => {
            enumerate_credentials_begin(cx, &rp_id_hash)?
        }
        SubCommand::DeleteCredential { credential_id } => {
            let credential = managed_credential(cx, &credential_id)?;
            cx.vault().credentials().delete(&credential_id)?;
            crate::platform::tell(
                &*cx.engine.ui,
                UserEvent::PasskeyDeleted {
                    rp_id: credential.rp_id,
                    user_name: credential.user_name,
                },
            );
            return Ok(None);
        }
        SubCommand::UpdateUserInformation {
            credential_id,
            user_id,
            name,
            display_name,
        } => {
            let credential = managed_credential(cx, &credential_id)?;
            // §6.8.7: the user handle must match; names are replaced (absent means removed).
            if credential.user_id != user_id {
                return Err(CTAP1_ERR_INVALID_PARAMETER);
            }
            cx.vault().credentials().update(&credential_id, |c| {
                c.user_name = name;
                c.user_display_name = display_name;
            })?;
            return Ok(None);
        }
    };
    Ok(Some(response.into_value()?))
}

/// enumerateRPsBegin (§6.8.3): the first rp with the total; the rest wait for getNextRP.
fn enumerate_rps_begin(cx: &mut Context<'_>) -> CtapResult<Response> {
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
    Ok(Response::Rp {
        rp: first,
        total: Some(total),
    })
}

/// enumerateCredentialsBegin (§6.8.4): the rp's first discoverable passkey with the total;
/// the rest wait for getNextCredential.
fn enumerate_credentials_begin(cx: &mut Context<'_>, hash: &[u8]) -> CtapResult<Response> {
    let mut credentials: Vec<Credential> = discoverable(cx)?
        .into_iter()
        .filter(|c| rp_id_hash(&c.rp_id).as_slice() == hash)
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
    Ok(Response::Credential {
        credential: first,
        total: Some(total),
    })
}

/// §6.8.x: every subcommand but the "get next" ones needs a token with the cm permission,
/// over subCommand || subCommandParams.
fn authenticate(cx: &mut Context<'_>, request: &Request) -> CtapResult<()> {
    let param = request
        .pin_uv_auth_param
        .as_ref()
        .ok_or(CTAP2_ERR_PUAT_REQUIRED)?;
    let protocol = protocol(request.pin_uv_auth_protocol)?;
    let mut message = vec![u8::try_from(request.sub_command).unwrap_or(0)];
    if let Some(sp) = &request.sub_command_params {
        encode_into(sp, &mut message);
    }
    verify_token(cx, protocol, &message, param)?;
    if !cx.state.tokens.has_permission(PERMISSION_CM) {
        return Err(CTAP2_ERR_PIN_AUTH_INVALID);
    }
    Ok(())
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

fn credential_entry(c: &Credential) -> CtapResult<Vec<(Value, Value)>> {
    let mut user = vec![(Value::from("id"), Value::from(c.user_id.clone()))];
    if let Some(name) = &c.user_name {
        user.push((Value::from("name"), Value::from(name.as_str())));
    }
    if let Some(name) = &c.user_display_name {
        user.push((Value::from("displayName"), Value::from(name.as_str())));
    }
    Ok(vec![
        (key(0x06), Value::map(user)),
        (key(0x07), Descriptor::to_value(&c.credential_id)),
        (key(0x08), credential_public_key(c.algorithm, &c.public_key)?),
        (key(0x0A), Value::Unsigned(u64::from(c.cred_protect))),
    ])
}

fn next_rp(cx: &mut Context<'_>) -> CtapResult<Value> {
    let origin = cx.origin();
    match cx.state.follow_ups.enumeration(origin) {
        Some(Enumeration::Rps(rest)) if !rest.is_empty() => {
            let rp = rest.remove(0);
            Response::Rp { rp, total: None }.into_value()
        }
        _ => Err(CTAP2_ERR_NOT_ALLOWED),
    }
}

fn next_credential(cx: &mut Context<'_>) -> CtapResult<Value> {
    let origin = cx.origin();
    match cx.state.follow_ups.enumeration(origin) {
        Some(Enumeration::Credentials(rest)) if !rest.is_empty() => {
            let credential = rest.remove(0);
            Response::Credential {
                credential,
                total: None,
            }
            .into_value()
        }
        _ => Err(CTAP2_ERR_NOT_ALLOWED),
    }
}
