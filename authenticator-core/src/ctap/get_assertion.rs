//! authenticatorGetAssertion and authenticatorGetNextAssertion (CTAP 2.1 §6.2, §6.3).
//!
//! With an allowList the first matching passkey signs. Without one, the discoverable passkeys
//! for the rp are used newest first: either the user picks one on the phone
//! (`select_account_on_device`) or the first is returned with numberOfCredentials and the
//! others follow through getNextAssertion, which is served only right after, for 30 s.
//! credProtect hides passkeys that need UV (level 3) or an allowList (level 2) when the
//! request does not qualify. The UV flag is set only when UV happened in this request; UP
//! only when presence was collected (`up` false gives UP = 0).
//!
//! A silent assertion (`up` false) is what clients send to probe an allowList, so it stays
//! allowed without extensions; hmac-secret is refused without presence
//! (CTAP2_ERR_UNSUPPORTED_OPTION, as OpenSK does), because its output is a key (PRF, disk
//! unlock, password managers) that must not be handed out unseen. Every signed silent
//! assertion to a paired PC over the link is counted and audited (`silent_watch`).

use tokio::time::{Duration, Instant};

use super::auth_data::{AuthData, rp_id_hash};
use super::credential_key::CredentialSigner;
use super::client_pin::{answer_zero_length_param, builtin_uv, protocol, verify_token};
use super::extensions::{
    AssertionExtensions, CRED_PROTECT_UV_OPTIONAL_WITH_LIST, CRED_PROTECT_UV_REQUIRED,
};
use super::follow_up::FollowUp;
use super::get_info::{MAX_CREDENTIAL_COUNT_IN_LIST, always_uv};
use super::params::{Descriptor, Options, descriptor_list};
use super::pin_protocol::PinUvAuthProtocol;
use super::status::*;
use super::token_state::{PERMISSION_GA, PERMISSION_LBW};
use super::{Context, decode_params, key};
use crate::cbor::Value;
use crate::platform::{AccountOption, UserEvent, UserOperation};
use crate::vault::Credential;

/// getNextAssertion is refused this long after the previous assertion (§6.3).
const NEXT_ASSERTION_WINDOW: Duration = Duration::from_secs(30);

/// What getNextAssertion needs to carry on.
pub struct PendingAssertions {
    remaining: Vec<Credential>,
    client_data_hash: Vec<u8>,
    user_present: bool,
    user_verified: bool,
    extensions: AssertionExtensions,
    last: Instant,
}

/// The parameters of a getAssertion request (§6.2 table), read in the order whose errors
/// clients expect. The extensions are parsed by the handler: hmac-secret's input needs the
/// engine's key agreement key.
struct Request {
    rp_id: String,
    client_data_hash: Vec<u8>,
    allow_list: Vec<Descriptor>,
    extensions: Option<Value>,
    options: Options,
    pin_uv_auth_param: Option<Vec<u8>>,
    pin_uv_auth_protocol: Option<u64>,
}

impl Request {
    fn parse(params: &[u8]) -> CtapResult<Self> {
        let mut p = decode_params(params)?;
        let rp_id = p.required_text(0x01)?;
        let client_data_hash = p.required_bytes(0x02)?;
        let allow_list = descriptor_list(p.take(0x03))?;
        let extensions = p.take(0x04);
        let options = p.take(0x05);
        let pin_uv_auth_param = p.bytes(0x06)?;
        let pin_uv_auth_protocol = p.unsigned(0x07)?;
        Ok(Self {
            options: Options::parse(options.as_ref())?,
            rp_id,
            client_data_hash,
            allow_list,
            extensions,
            pin_uv_auth_param,
            pin_uv_auth_protocol,
        })
    }
}

/// One assertion (§6.2: credential, authData, signature, user, numberOfCredentials,
/// userSelected).
struct Response {
    credential_id: Vec<u8>,
    auth_data: Vec<u8>,
    signature: Vec<u8>,
    /// The user entity: the handle, and the names only after UV.
    user: Option<Value>,
    number_of_credentials: Option<u64>,
    user_selected: bool,
}

impl Response {
    fn into_value(self) -> Value {
        let mut out = vec![
            (key(0x01), Descriptor::to_value(&self.credential_id)),
            (key(0x02), Value::from(self.auth_data)),
            (key(0x03), Value::from(self.signature)),
        ];
        if let Some(user) = self.user {
            out.push((key(0x04), user));
        }
        if let Some(count) = self.number_of_credentials {
            out.push((key(0x05), Value::Unsigned(count)));
        }
        if self.user_selected {
            out.push((key(0x06), Value::Bool(true)));
        }
        Value::map(out)
    }
}

/// What user verification and presence this request has already established.
#[derive(Default)]
struct UserChecks {
    verified: bool,
    present: bool,
}

pub async fn get_assertion(cx: &mut Context<'_>, params: &[u8]) -> CtapResult<Value> {
    let request = Request::parse(params)?;
    let extensions =
        AssertionExtensions::parse(request.extensions.as_ref(), &cx.state.key_agreement)?;
    let rp_id = &request.rp_id;
    let want_up = request.options.up.unwrap_or(true);
    // hmac-secret's output is a secret key: never without the user's presence.
    if !want_up && extensions.hmac_secret.is_some() {
        return Err(CTAP2_ERR_UNSUPPORTED_OPTION);
    }
    // §6.2.2 step 1: a zero-length pinUvAuthParam only asks whether a PIN is set.
    if request
        .pin_uv_auth_param
        .as_ref()
        .is_some_and(Vec::is_empty)
    {
        return Err(answer_zero_length_param(cx, UserOperation::SignIn, rp_id).await);
    }
    let token_protocol = match &request.pin_uv_auth_param {
        Some(_) => Some(protocol(request.pin_uv_auth_protocol)?),
        None => None,
    };
    // §6.2.2 step 5: "If the rk option is present, return CTAP2_ERR_UNSUPPORTED_OPTION".
    if request.options.rk.is_some() {
        return Err(CTAP2_ERR_UNSUPPORTED_OPTION);
    }
    // §6.2.2 step 6: user verification.
    let mut user = verify_user(cx, &request, token_protocol).await?;

    // §6.2.2 step 7: the applicable credentials.
    let with_list = !request.allow_list.is_empty();
    let mut credentials = applicable(cx, &request, user.verified)?;
    if credentials.is_empty() {
        // Presence first where asked, so that "no passkeys here" needs the user's gesture.
        if want_up && !user.present {
            cx.prompts()
                .presence(UserOperation::SignIn, Some(rp_id), None)
                .await?;
        }
        return Err(CTAP2_ERR_NO_CREDENTIALS);
    }

    // The account: picked on the phone where so configured.
    let user_selected = !with_list && credentials.len() > 1 && cx.config().select_account_on_device;
    if user_selected {
        let chosen = choose_account(cx, rp_id, &credentials).await?;
        credentials = vec![credentials.swap_remove(chosen)];
        user.present = true;
    }
    // §6.2.2 step 9: user presence.
    if want_up && !user.present {
        let shown_user = match credentials.as_slice() {
            [only] => only.user_name.clone(),
            _ => None,
        };
        cx.prompts()
            .presence(UserOperation::SignIn, Some(rp_id), shown_user.as_deref())
            .await?;
        user.present = true;
    }
    let user_present = want_up && user.present;
    // §6.2.2: a token is consumed only by an assertion with user presence; a silent (up=false)
    // probe, which clients use to filter an allowList, leaves it usable.
    if token_protocol.is_some() && want_up {
        cx.state.tokens.clear_user_flags();
        cx.state.tokens.retain_permissions(PERMISSION_LBW);
    }

    // §6.2.2 steps 10-12: sign with the first; the others wait for getNextAssertion.
    let pending = PendingAssertions {
        remaining: credentials,
        client_data_hash: request.client_data_hash,
        user_present,
        user_verified: user.verified,
        extensions,
        last: cx.now(),
    };
    let response = first_assertion(cx, pending, with_list, user_selected)?;
    Ok(response.into_value())
}

/// §6.2.2 step 7: the passkeys this request may use: the allowList's (one), or the rp's
/// discoverable ones newest first; credProtect hides those the request does not qualify for.
fn applicable(
    cx: &Context<'_>,
    request: &Request,
    user_verified: bool,
) -> CtapResult<Vec<Credential>> {
    if !request.allow_list.is_empty() {
        return allowed(cx, &request.allow_list, &request.rp_id, user_verified);
    }
    Ok(cx
        .vault()
        .credentials()
        .discoverable_for_rp(&request.rp_id)?
        .into_iter()
        .filter(|c| user_verified || c.cred_protect < CRED_PROTECT_UV_OPTIONAL_WITH_LIST)
        .collect())
}

/// The user picks one of `credentials` on the phone; its index.
async fn choose_account(
    cx: &Context<'_>,
    rp_id: &str,
    credentials: &[Credential],
) -> CtapResult<usize> {
    let accounts = credentials
        .iter()
        .map(|c| AccountOption {
            user_name: c.user_name.clone(),
            display_name: c.user_display_name.clone(),
            created_at: c.created_at,
        })
        .collect();
    cx.prompts().choose(rp_id, accounts).await
}

/// Signs with the first of `pending.remaining` (never empty); the rest wait for
/// getNextAssertion when the client chooses (no allowList). Tells the user of a sign-in, or
/// counts a silent assertion.
fn first_assertion(
    cx: &mut Context<'_>,
    mut pending: PendingAssertions,
    with_list: bool,
    user_selected: bool,
) -> CtapResult<Response> {
    let count = pending.remaining.len();
    let first = pending.remaining.remove(0);
    let mut response = assertion(cx, &first, &pending, with_list)?;
    if !with_list && count > 1 {
        response.number_of_credentials = Some(count as u64);
    }
    response.user_selected = user_selected;
    // A silent probe (up=false), which clients send before the real sign-in, is no sign-in.
    let signed_in = pending.user_present;
    if !with_list && !pending.remaining.is_empty() {
        pending.last = cx.now();
        let origin = cx.origin();
        cx.state
            .follow_ups
            .begin(origin, FollowUp::Assertions(pending));
    }
    if signed_in {
        crate::platform::tell(
            &*cx.engine.ui,
            UserEvent::SignedIn {
                rp_id: first.rp_id.clone(),
                user_name: first.user_name.clone(),
            },
        );
    } else {
        watch_silent(cx, &first.rp_id);
    }
    Ok(response)
}

/// User verification: through a token, or the phone's own; alwaysUv refuses neither.
async fn verify_user(
    cx: &mut Context<'_>,
    request: &Request,
    token_protocol: Option<PinUvAuthProtocol>,
) -> CtapResult<UserChecks> {
    let rp_id = &request.rp_id;
    if let (Some(param), Some(protocol)) = (&request.pin_uv_auth_param, token_protocol) {
        verify_token(cx, protocol, &request.client_data_hash, param)?;
        if !cx.state.tokens.has_permission(PERMISSION_GA) || !cx.state.tokens.bind_rp(rp_id) {
            return Err(CTAP2_ERR_PIN_AUTH_INVALID);
        }
        Ok(UserChecks {
            verified: cx.state.tokens.user_verified(),
            present: cx.state.tokens.user_present(cx.now()),
        })
    } else if request.options.uv == Some(true) {
        if !cx.config().builtin_uv {
            return Err(CTAP2_ERR_INVALID_OPTION);
        }
        builtin_uv(cx, UserOperation::SignIn, Some(rp_id)).await?;
        Ok(UserChecks {
            verified: true,
            present: true,
        })
    } else if always_uv(cx.vault())? {
        Err(CTAP2_ERR_PUAT_REQUIRED)
    } else {
        Ok(UserChecks::default())
    }
}

pub fn get_next_assertion(cx: &mut Context<'_>) -> CtapResult<Value> {
    let now = cx.now();
    let origin = cx.origin();
    // Only the origin that began the sequence continues it (see `follow_up`).
    let Some(mut pending) = cx.state.follow_ups.take_assertions(origin) else {
        return Err(CTAP2_ERR_NOT_ALLOWED);
    };
    if now.saturating_duration_since(pending.last) > NEXT_ASSERTION_WINDOW
        || pending.remaining.is_empty()
    {
        return Err(CTAP2_ERR_NOT_ALLOWED);
    }
    let next = pending.remaining.remove(0);
    let response = assertion(cx, &next, &pending, false)?;
    if !pending.user_present {
        watch_silent(cx, &next.rp_id);
    }
    if !pending.remaining.is_empty() {
        pending.last = now;
        cx.state
            .follow_ups
            .begin(origin, FollowUp::Assertions(pending));
    }
    Ok(response.into_value())
}

/// Counts a signed silent assertion when it goes to a paired PC over the link.
fn watch_silent(cx: &mut Context<'_>, rp_id: &str) {
    let Some(peer) = cx.origin().link_peer() else {
        return;
    };
    let now = cx.now();
    for record in cx.state.silent_watch.record(peer, now) {
        super::silent_watch::write(cx.engine, peer, rp_id, record);
    }
}

/// The allowList entries that are this rp's passkeys here, in list order.
fn allowed(
    cx: &Context<'_>,
    allow_list: &[Descriptor],
    rp_id: &str,
    user_verified: bool,
) -> CtapResult<Vec<Credential>> {
    let mut found = Vec::new();
    for d in allow_list
        .iter()
        .filter(|d| d.is_public_key)
        .take(usize::try_from(MAX_CREDENTIAL_COUNT_IN_LIST).unwrap_or(16))
    {
        if let Some(c) = cx.vault().credentials().get(&d.id)?
            && c.rp_id == rp_id
            && (user_verified || c.cred_protect < CRED_PROTECT_UV_REQUIRED)
        {
            found.push(c);
            // With an allowList one assertion is returned (§6.2.2 step 7.2 note).
            break;
        }
    }
    Ok(found)
}

/// One assertion with `credential` (numberOfCredentials and userSelected are the caller's).
fn assertion(
    cx: &mut Context<'_>,
    credential: &Credential,
    pending: &PendingAssertions,
    with_list: bool,
) -> CtapResult<Response> {
    // The secrets and the counter come from one read at the moment of use (`counters`).
    let (secrets, sign_count) = cx
        .state
        .counters
        .next(&cx.engine.vault, &credential.credential_id)?;
    // The passkey's own algorithm, as stored with it (ES256 or EdDSA).
    let signer = CredentialSigner::load(credential.algorithm, secrets.private_key.expose())?;
    let extensions = pending.extensions.outputs(
        credential.cred_blob.as_deref(),
        &secrets,
        pending.user_verified,
    )?;
    let auth_data = AuthData {
        rp_id_hash: rp_id_hash(&credential.rp_id),
        user_present: pending.user_present,
        user_verified: pending.user_verified,
        sign_count,
        attested: None,
        extensions: Some(extensions),
    }
    .to_bytes();
    let signature = signer.sign(&auth_data, &pending.client_data_hash)?;
    // The user handle identifies the account of a discoverable passkey; names only after UV
    // (§6.2.2 step 12: no personally identifying data without user verification).
    let user =
        (credential.discoverable && !(with_list && credential.user_id.is_empty())).then(|| {
            let mut user = vec![(Value::from("id"), Value::from(credential.user_id.clone()))];
            if pending.user_verified {
                if let Some(name) = &credential.user_name {
                    user.push((Value::from("name"), Value::from(name.as_str())));
                }
                if let Some(name) = &credential.user_display_name {
                    user.push((Value::from("displayName"), Value::from(name.as_str())));
                }
            }
            Value::map(user)
        });
    Ok(Response {
        credential_id: credential.credential_id.clone(),
        auth_data,
        signature,
        user,
        number_of_credentials: None,
        user_selected: false,
    })
}
