//! authenticatorClientPIN (CTAP 2.1 §6.5): PIN set/change, retries, key agreement, and the
//! pinUvAuthToken through the PIN or through the phone's built-in user verification.
//!
//! Invariants (STYLE.md pitfalls):
//! - PINs are checked by the PIN-attempt rule in `vault::pin_state` (shared with the app's
//!   PIN change): the retry counter is decremented durably *before* the PIN hash is compared,
//!   so killing the app mid-check cannot refund a guess; a match restores it to 8; three
//!   consecutive mismatches block PIN entry (PIN_AUTH_BLOCKED) until a power cycle. Here, a
//!   mismatch also regenerates the key agreement key.
//! - Only LEFT(SHA-256(PIN), 16) is stored; the PIN is checked for 4..=63 bytes and the
//!   configured minimum length in code points.
//! - forcePINChange makes getPinToken fail with PIN_INVALID and the permissions variant with
//!   PIN_POLICY_VIOLATION.
//! - A right PIN restores the built-in verification attempts (uvRetries) as well; a declined
//!   verification spends none (OPERATION_DENIED), only a failed one does.
//! - The verification prompt for getPinUvAuthTokenUsingUvWithPermissions names every right
//!   the token will carry (`PromptScope`s: create a passkey, sign in, manage passkeys, change
//!   settings, with the rp id where bound). A UV token is for the web (mc, ga) or for managing
//!   the phone (cm, acfg), never both: UNAUTHORIZED_PERMISSION, before any prompt. Why refuse
//!   rather than name both: the web rights are asked for by a browser on a site's behalf many
//!   times a day and are answered by habit, so a settings change riding on that one tap is
//!   exactly what a hostile PC would try; a separate prompt of its own makes the user decide
//!   on it. No real client needs the mix: python-fido2's client asks for mc, mc|ga (to filter
//!   an excludeList), or ga, plus lbw from its largeBlob extension
//!   (`fido2/client/__init__.py`, `_Ctap2ClientBackend`); libfido2 asks one permission per
//!   command (`src/pin.c`, `encode_uv_permission`); cm and acfg come from separate
//!   management calls. The PIN variant keeps accepting any mix: the user typed the PIN into
//!   that PC and so trusts it with everything the PIN allows.
//! - Tokens carry the PIN generation they were granted under; a PIN installed outside CTAP
//!   (the phone's settings, activation with the workspace's PIN) ends them, like changePIN.

use super::cose::{ALG_ECDH_ES_HKDF_256, ec2_public_key, parse_key_agreement};
use super::pin_protocol::{KeyAgreementKey, PinUvAuthProtocol, SharedSecret};
use super::prompts::scopes_of;
use super::status::*;
use super::token_state::{
    PERMISSION_ACFG, PERMISSION_CM, PERMISSION_GA, PERMISSION_MC, SUPPORTED_PERMISSIONS,
};
use super::{Context, decode_params, key};
use crate::cbor::Value;
use crate::platform::{PromptScope, UserEvent, UserOperation, VerificationOutcome};
use crate::secret::SecretBytes;
use crate::vault::{
    AttemptError, MAX_UV_RETRIES, PinOutcome, PinRefused, install_pin, pin_code_points, pin_hash,
};

const GET_PIN_RETRIES: u64 = 0x01;
const GET_KEY_AGREEMENT: u64 = 0x02;
const SET_PIN: u64 = 0x03;
const CHANGE_PIN: u64 = 0x04;
const GET_PIN_TOKEN: u64 = 0x05;
const GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS: u64 = 0x06;
const GET_UV_RETRIES: u64 = 0x07;
const GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS: u64 = 0x09;

/// The permissions that manage the phone itself rather than serve a site.
const MANAGEMENT_PERMISSIONS: u8 = PERMISSION_CM | PERMISSION_ACFG;
/// newPinEnc carries the PIN padded to 64 bytes (§6.5.5.5).
const PADDED_PIN_LEN: usize = 64;

/// Reads pinUvAuthProtocol: absent is MISSING_PARAMETER, unknown is INVALID_PARAMETER.
pub(super) fn protocol(number: Option<u64>) -> CtapResult<PinUvAuthProtocol> {
    PinUvAuthProtocol::from_u64(number.ok_or(CTAP2_ERR_MISSING_PARAMETER)?)
        .ok_or(CTAP1_ERR_INVALID_PARAMETER)
}

/// A zero-length pinUvAuthParam asks "is a PIN set?" after a touch (§6.1.2 step 1.1,
/// §6.2.2 step 1.1): the answer is PIN_NOT_SET or PIN_INVALID, never success.
pub(super) async fn answer_zero_length_param(
    cx: &Context<'_>,
    operation: UserOperation,
    rp_id: &str,
) -> CtapError {
    if let Err(e) = cx.prompts().presence(operation, Some(rp_id), None).await {
        return e;
    }
    match cx.vault().pin_state().load() {
        Ok(pin) if pin.pin_hash.is_some() => CTAP2_ERR_PIN_INVALID,
        Ok(_) => CTAP2_ERR_PIN_NOT_SET,
        Err(e) => e.into(),
    }
}

/// The phone's built-in user verification with its retry counter (§6.5.5.8 steps, used by
/// makeCredential/getAssertion's `uv` option); the prompt names `operation`'s own scope.
/// Ok(()) when verified; see [`builtin_uv_for`] for the other answers.
pub(super) async fn builtin_uv(
    cx: &Context<'_>,
    operation: UserOperation,
    rp_id: Option<&str>,
) -> CtapResult<()> {
    builtin_uv_for(cx, operation, scopes_of(operation), rp_id).await
}

/// Built-in user verification whose prompt names `scopes`. Ok(()) when verified;
/// UV_INVALID or UV_BLOCKED when it failed; OPERATION_DENIED when the user declined, which
/// costs no attempt: only a failed check counts towards uvRetries.
async fn builtin_uv_for(
    cx: &Context<'_>,
    operation: UserOperation,
    scopes: Vec<PromptScope>,
    rp_id: Option<&str>,
) -> CtapResult<()> {
    if !cx.config().builtin_uv {
        return Err(CTAP2_ERR_INVALID_OPTION);
    }
    if cx.vault().pin_state().load()?.uv_retries == 0 {
        return Err(CTAP2_ERR_UV_BLOCKED);
    }
    // Durable decrement before the attempt, like the PIN counter.
    cx.vault()
        .pin_state()
        .update(|s| s.uv_retries = s.uv_retries.saturating_sub(1))?;
    let outcome = cx.prompts().verify(operation, scopes, rp_id).await;
    match outcome {
        Ok(VerificationOutcome::Verified) => {
            cx.vault()
                .pin_state()
                .update(|s| s.uv_retries = MAX_UV_RETRIES)?;
            Ok(())
        }
        Ok(VerificationOutcome::Failed) => {
            if cx.vault().pin_state().load()?.uv_retries == 0 {
                Err(CTAP2_ERR_UV_BLOCKED)
            } else {
                Err(CTAP2_ERR_UV_INVALID)
            }
        }
        // Nobody was checked (the user declined, the app could not ask, nobody answered, the
        // PC cancelled): the attempt is given back. Killed mid-prompt, it stays spent.
        Ok(VerificationOutcome::Declined) | Err(_) => {
            cx.vault().pin_state().update(|s| {
                s.uv_retries = s.uv_retries.saturating_add(1).min(MAX_UV_RETRIES);
            })?;
            Err(outcome.err().unwrap_or(CTAP2_ERR_OPERATION_DENIED))
        }
    }
}

/// The members of a clientPIN request (§6.5.5 table), each read for its type in key order.
struct Request {
    pin_uv_auth_protocol: Option<u64>,
    sub_command: u64,
    key_agreement: Option<Value>,
    pin_uv_auth_param: Option<Vec<u8>>,
    new_pin_enc: Option<Vec<u8>>,
    pin_hash_enc: Option<Vec<u8>>,
    permissions: Option<u64>,
    rp_id: Option<String>,
}

/// A clientPIN subcommand with the members it requires (§6.5.5.x), present and typed.
enum SubCommand {
    GetPinRetries,
    GetUvRetries,
    GetKeyAgreement,
    SetPin {
        protocol: PinUvAuthProtocol,
        key_agreement: Value,
        new_pin_enc: Vec<u8>,
        pin_uv_auth_param: Vec<u8>,
    },
    ChangePin {
        protocol: PinUvAuthProtocol,
        key_agreement: Value,
        new_pin_enc: Vec<u8>,
        pin_hash_enc: Vec<u8>,
        pin_uv_auth_param: Vec<u8>,
    },
    GetPinToken {
        protocol: PinUvAuthProtocol,
        key_agreement: Value,
        pin_hash_enc: Vec<u8>,
    },
    GetPinUvAuthTokenUsingPinWithPermissions {
        protocol: PinUvAuthProtocol,
        key_agreement: Value,
        pin_hash_enc: Vec<u8>,
        permissions: u64,
        rp_id: Option<String>,
    },
    GetPinUvAuthTokenUsingUvWithPermissions {
        protocol: PinUvAuthProtocol,
        key_agreement: Value,
        permissions: u64,
        rp_id: Option<String>,
    },
}

impl Request {
    fn parse(params: &[u8]) -> CtapResult<Self> {
        let mut p = decode_params(params)?;
        Ok(Self {
            pin_uv_auth_protocol: p.unsigned(0x01)?,
            sub_command: p.required_unsigned(0x02)?,
            key_agreement: p.take(0x03),
            pin_uv_auth_param: p.bytes(0x04)?,
            new_pin_enc: p.bytes(0x05)?,
            pin_hash_enc: p.bytes(0x06)?,
            permissions: p.unsigned(0x09)?,
            rp_id: p.text(0x0A)?,
        })
    }

    /// The subcommand with its required members: the protocol first (absent is
    /// MISSING_PARAMETER, unknown INVALID_PARAMETER), then each member in the spec's order.
    fn sub_command(self) -> CtapResult<SubCommand> {
        let need = |member: Option<Vec<u8>>| member.ok_or(CTAP2_ERR_MISSING_PARAMETER);
        let protocol = || protocol(self.pin_uv_auth_protocol);
        let key_agreement = |ka: Option<Value>| ka.ok_or(CTAP2_ERR_MISSING_PARAMETER);
        Ok(match self.sub_command {
            GET_PIN_RETRIES => SubCommand::GetPinRetries,
            GET_UV_RETRIES => SubCommand::GetUvRetries,
            GET_KEY_AGREEMENT => {
                protocol()?;
                SubCommand::GetKeyAgreement
            }
            SET_PIN => SubCommand::SetPin {
                protocol: protocol()?,
                key_agreement: key_agreement(self.key_agreement)?,
                new_pin_enc: need(self.new_pin_enc)?,
                pin_uv_auth_param: need(self.pin_uv_auth_param)?,
            },
            CHANGE_PIN => SubCommand::ChangePin {
                protocol: protocol()?,
                key_agreement: key_agreement(self.key_agreement)?,
                new_pin_enc: need(self.new_pin_enc)?,
                pin_hash_enc: need(self.pin_hash_enc)?,
                pin_uv_auth_param: need(self.pin_uv_auth_param)?,
            },
            GET_PIN_TOKEN => {
                let protocol = protocol()?;
                // The legacy subcommand takes neither (§6.5.5.7.1).
                if self.permissions.is_some() || self.rp_id.is_some() {
                    return Err(CTAP1_ERR_INVALID_PARAMETER);
                }
                SubCommand::GetPinToken {
                    protocol,
                    key_agreement: key_agreement(self.key_agreement)?,
                    pin_hash_enc: need(self.pin_hash_enc)?,
                }
            }
            GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS => {
                SubCommand::GetPinUvAuthTokenUsingPinWithPermissions {
                    protocol: protocol()?,
                    key_agreement: key_agreement(self.key_agreement)?,
                    pin_hash_enc: need(self.pin_hash_enc)?,
                    permissions: self.permissions.ok_or(CTAP2_ERR_MISSING_PARAMETER)?,
                    rp_id: self.rp_id,
                }
            }
            GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS => {
                SubCommand::GetPinUvAuthTokenUsingUvWithPermissions {
                    protocol: protocol()?,
                    key_agreement: key_agreement(self.key_agreement)?,
                    permissions: self.permissions.ok_or(CTAP2_ERR_MISSING_PARAMETER)?,
                    rp_id: self.rp_id,
                }
            }
            _ => return Err(CTAP2_ERR_INVALID_SUBCOMMAND),
        })
    }
}

/// The responses (§6.5.5 table: keyAgreement 1, pinUvAuthToken 2, pinRetries 3,
/// powerCycleState 4, uvRetries 5).
enum Response {
    PinRetries {
        retries: u8,
        power_cycle_state: bool,
    },
    UvRetries(u8),
    KeyAgreement(Value),
    /// The token, encrypted for the platform.
    Token(Vec<u8>),
    Empty,
}

impl Response {
    fn into_value(self) -> Value {
        match self {
            Self::PinRetries {
                retries,
                power_cycle_state,
            } => Value::map([
                (key(0x03), Value::Unsigned(u64::from(retries))),
                (key(0x04), Value::Bool(power_cycle_state)),
            ]),
            Self::UvRetries(retries) => {
                Value::map([(key(0x05), Value::Unsigned(u64::from(retries)))])
            }
            Self::KeyAgreement(key_agreement) => Value::map([(key(0x01), key_agreement)]),
            Self::Token(encrypted) => Value::map([(key(0x02), Value::from(encrypted))]),
            Self::Empty => Value::map([]),
        }
    }
}

pub async fn client_pin(cx: &mut Context<'_>, params: &[u8]) -> CtapResult<Value> {
    let sub_command = Request::parse(params)?.sub_command()?;
    // Read before any PIN is checked: a PIN installed outside CTAP while this request runs
    // then still ends the token it grants (see `CtapEngine::pin_changed_outside_ctap`).
    let generation = cx.engine.pin_generation();
    let response = match sub_command {
        SubCommand::GetPinRetries => Response::PinRetries {
            retries: cx.vault().pin_state().load()?.pin_retries,
            power_cycle_state: cx.state.pin_mismatches.blocked(),
        },
        SubCommand::GetUvRetries => {
            if !cx.config().builtin_uv {
                return Err(CTAP2_ERR_INVALID_SUBCOMMAND);
            }
            Response::UvRetries(cx.vault().pin_state().load()?.uv_retries)
        }
        SubCommand::GetKeyAgreement => {
            let (x, y) = cx.state.key_agreement.public_coordinates();
            Response::KeyAgreement(ec2_public_key(ALG_ECDH_ES_HKDF_256, &x, &y))
        }
        SubCommand::SetPin {
            protocol,
            key_agreement,
            new_pin_enc,
            pin_uv_auth_param,
        } => {
            set_pin(
                cx,
                protocol,
                key_agreement,
                &new_pin_enc,
                &pin_uv_auth_param,
            )?;
            Response::Empty
        }
        SubCommand::ChangePin {
            protocol,
            key_agreement,
            new_pin_enc,
            pin_hash_enc,
            pin_uv_auth_param,
        } => {
            change_pin(
                cx,
                protocol,
                key_agreement,
                &new_pin_enc,
                &pin_hash_enc,
                &pin_uv_auth_param,
            )?;
            Response::Empty
        }
        SubCommand::GetPinToken {
            protocol,
            key_agreement,
            pin_hash_enc,
        } => {
            let shared = shared_secret(cx, protocol, key_agreement)?;
            check_pin(cx, &shared, &pin_hash_enc)?;
            if cx.vault().pin_state().load()?.force_change {
                return Err(CTAP2_ERR_PIN_INVALID);
            }
            // The legacy token carries the mc and ga permissions (§6.5.5.7.1).
            let permissions = PERMISSION_MC | PERMISSION_GA;
            grant_token(cx, &shared, permissions, None, false, generation)?
        }
        SubCommand::GetPinUvAuthTokenUsingPinWithPermissions {
            protocol,
            key_agreement,
            pin_hash_enc,
            permissions,
            rp_id,
        } => {
            let permissions = check_permissions(permissions, rp_id.as_deref())?;
            let shared = shared_secret(cx, protocol, key_agreement)?;
            check_pin(cx, &shared, &pin_hash_enc)?;
            if cx.vault().pin_state().load()?.force_change {
                return Err(CTAP2_ERR_PIN_POLICY_VIOLATION);
            }
            grant_token(cx, &shared, permissions, rp_id, false, generation)?
        }
        SubCommand::GetPinUvAuthTokenUsingUvWithPermissions {
            protocol,
            key_agreement,
            permissions,
            rp_id,
        } => token_using_uv(cx, protocol, key_agreement, permissions, rp_id, generation).await?,
    };
    Ok(response.into_value())
}

/// getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3): the phone's own verification, whose
/// prompt names everything the token will allow (module header).
async fn token_using_uv(
    cx: &mut Context<'_>,
    protocol: PinUvAuthProtocol,
    key_agreement: Value,
    permissions: u64,
    rp_id: Option<String>,
    generation: u64,
) -> CtapResult<Response> {
    let permissions = check_permissions(permissions, rp_id.as_deref())?;
    check_one_kind_of_use(permissions)?;
    if !cx.config().builtin_uv {
        return Err(CTAP2_ERR_NOT_ALLOWED);
    }
    let shared = shared_secret(cx, protocol, key_agreement)?;
    let operation = if permissions & MANAGEMENT_PERMISSIONS != 0 {
        UserOperation::Manage
    } else if permissions & PERMISSION_MC != 0 {
        UserOperation::Register
    } else {
        UserOperation::SignIn
    };
    builtin_uv_for(cx, operation, scopes(permissions), rp_id.as_deref()).await?;
    // The phone's own verification prompt is a user action on the phone: it counts as
    // presence for the operation the token is then used for.
    grant_token(cx, &shared, permissions, rp_id, true, generation)
}

/// Permissions must be non-zero and known; mc/ga need an rp id (§6.5.5.7.2 steps 3-5).
fn check_permissions(permissions: u64, rp_id: Option<&str>) -> CtapResult<u8> {
    if permissions == 0 {
        return Err(CTAP1_ERR_INVALID_PARAMETER);
    }
    let permissions = u8::try_from(permissions).map_err(|_| CTAP2_ERR_UNAUTHORIZED_PERMISSION)?;
    if permissions & !SUPPORTED_PERMISSIONS != 0 {
        return Err(CTAP2_ERR_UNAUTHORIZED_PERMISSION);
    }
    if permissions & (PERMISSION_MC | PERMISSION_GA) != 0 && rp_id.is_none() {
        return Err(CTAP2_ERR_MISSING_PARAMETER);
    }
    Ok(permissions)
}

/// One built-in verification, one kind of use (module header): a UV token is either for the
/// web (mc, ga: a site's registration or sign-in) or for managing the phone (cm, acfg), never
/// both. CTAP2_ERR_UNAUTHORIZED_PERMISSION, before anyone is asked (§6.5.5.7.2: permissions
/// the authenticator will not grant).
fn check_one_kind_of_use(permissions: u8) -> CtapResult<()> {
    let web = permissions & (PERMISSION_MC | PERMISSION_GA) != 0;
    let management = permissions & MANAGEMENT_PERMISSIONS != 0;
    if web && management {
        Err(CTAP2_ERR_UNAUTHORIZED_PERMISSION)
    } else {
        Ok(())
    }
}

/// What a token with `permissions` lets the computer do, as the user is shown it.
fn scopes(permissions: u8) -> Vec<PromptScope> {
    [
        (PERMISSION_MC, PromptScope::CreatePasskey),
        (PERMISSION_GA, PromptScope::SignIn),
        (PERMISSION_CM, PromptScope::ManagePasskeys),
        (PERMISSION_ACFG, PromptScope::ChangeSettings),
    ]
    .into_iter()
    .filter(|(bit, _)| permissions & bit != 0)
    .map(|(_, scope)| scope)
    .collect()
}

fn shared_secret(
    cx: &Context<'_>,
    protocol: PinUvAuthProtocol,
    key_agreement: Value,
) -> CtapResult<SharedSecret> {
    let (x, y) = parse_key_agreement(key_agreement)?;
    cx.state
        .key_agreement
        .shared_secret(protocol, &x, &y)
        .map_err(|_| CTAP1_ERR_INVALID_PARAMETER)
}

/// Decrypts newPinEnc and checks the PIN policy; returns (LEFT(SHA-256(pin),16), code points).
fn new_pin(
    cx: &Context<'_>,
    shared: &SharedSecret,
    new_pin_enc: &[u8],
) -> CtapResult<(SecretBytes, u8)> {
    let expected = match shared.protocol() {
        PinUvAuthProtocol::One => PADDED_PIN_LEN,
        PinUvAuthProtocol::Two => PADDED_PIN_LEN + 16,
    };
    if new_pin_enc.len() != expected {
        return Err(CTAP1_ERR_INVALID_PARAMETER);
    }
    let padded = shared
        .decrypt(new_pin_enc)
        .map_err(|_| CTAP2_ERR_PIN_AUTH_INVALID)?;
    let pin = padded.expose();
    let end = pin.iter().position(|b| *b == 0).unwrap_or(pin.len());
    let pin = &pin[..end];
    let min = cx.vault().pin_state().load()?.min_pin_length;
    let code_points = pin_code_points(pin, min).ok_or(CTAP2_ERR_PIN_POLICY_VIOLATION)?;
    Ok((pin_hash(pin), code_points))
}

fn set_pin(
    cx: &mut Context<'_>,
    protocol: PinUvAuthProtocol,
    key_agreement: Value,
    new_pin_enc: &[u8],
    param: &[u8],
) -> CtapResult<()> {
    if cx.vault().pin_state().load()?.pin_hash.is_some() {
        return Err(CTAP2_ERR_NOT_ALLOWED);
    }
    let shared = shared_secret(cx, protocol, key_agreement)?;
    if !shared.verify(new_pin_enc, param) {
        return Err(CTAP2_ERR_PIN_AUTH_INVALID);
    }
    let (hash, code_points) = new_pin(cx, &shared, new_pin_enc)?;
    cx.vault()
        .pin_state()
        .update(|s| install_pin(s, hash, code_points))?;
    Ok(())
}

fn change_pin(
    cx: &mut Context<'_>,
    protocol: PinUvAuthProtocol,
    key_agreement: Value,
    new_pin_enc: &[u8],
    pin_hash_enc: &[u8],
    param: &[u8],
) -> CtapResult<()> {
    let shared = shared_secret(cx, protocol, key_agreement)?;
    let mut message = Vec::with_capacity(new_pin_enc.len() + pin_hash_enc.len());
    message.extend_from_slice(new_pin_enc);
    message.extend_from_slice(pin_hash_enc);
    // Blocking and "not set" are reported before the authentication check (§6.5.5.6 order).
    cx.vault()
        .pin_state()
        .begin_attempt(Some(&cx.state.pin_mismatches))
        .map_err(refused)?;
    if !shared.verify(&message, param) {
        return Err(CTAP2_ERR_PIN_AUTH_INVALID);
    }
    check_pin(cx, &shared, pin_hash_enc)?;
    let (hash, code_points) = new_pin(cx, &shared, new_pin_enc)?;
    let old = cx.vault().pin_state().load()?;
    if old.force_change && old.pin_hash.as_ref().is_some_and(|h| *h == hash) {
        return Err(CTAP2_ERR_PIN_POLICY_VIOLATION);
    }
    cx.vault()
        .pin_state()
        .update(|s| install_pin(s, hash, code_points))?;
    cx.state.tokens.stop_using();
    crate::platform::tell(&*cx.engine.ui, UserEvent::PinChanged);
    Ok(())
}

/// Checks pinHashEnc against the stored PIN through the PIN-attempt rule
/// (`vault::pin_state`: durable decrement first, constant-time compare, restore or block).
fn check_pin(cx: &mut Context<'_>, shared: &SharedSecret, pin_hash_enc: &[u8]) -> CtapResult<()> {
    // Through the engine's reference, so the attempt does not hold `cx` borrowed.
    let engine = cx.engine;
    let attempt = engine
        .vault
        .pin_state()
        .begin_attempt(Some(&cx.state.pin_mismatches))
        .map_err(refused)?;
    let expected_len = match shared.protocol() {
        PinUvAuthProtocol::One => 16,
        PinUvAuthProtocol::Two => 32,
    };
    if pin_hash_enc.len() != expected_len {
        return Err(CTAP1_ERR_INVALID_PARAMETER);
    }
    let outcome = attempt
        .spend_and_compare(Some(&mut cx.state.pin_mismatches), || {
            shared
                .decrypt(pin_hash_enc)
                .map_err(|_| CTAP2_ERR_PIN_AUTH_INVALID)
        })
        .map_err(|e| match e {
            AttemptError::Vault(e) => e.into(),
            AttemptError::Given(e) => e,
        })?;
    if outcome == PinOutcome::Right {
        return Ok(());
    }
    // A mismatch also replaces the key agreement key (§6.5.5.5).
    cx.state.key_agreement = KeyAgreementKey::generate().map_err(|_| CTAP1_ERR_OTHER)?;
    if let Some(event) = outcome.event() {
        crate::platform::tell(&*cx.engine.ui, event);
    }
    Err(match outcome {
        PinOutcome::Blocked => CTAP2_ERR_PIN_BLOCKED,
        PinOutcome::AuthBlocked => CTAP2_ERR_PIN_AUTH_BLOCKED,
        PinOutcome::Right | PinOutcome::Wrong { .. } => CTAP2_ERR_PIN_INVALID,
    })
}

/// The status for a PIN attempt the rule refused before anything was spent.
fn refused(refusal: PinRefused) -> CtapError {
    match refusal {
        PinRefused::NotSet => CTAP2_ERR_PIN_NOT_SET,
        PinRefused::Blocked => CTAP2_ERR_PIN_BLOCKED,
        PinRefused::AuthBlocked => CTAP2_ERR_PIN_AUTH_BLOCKED,
        PinRefused::Vault(e) => e.into(),
    }
}

fn grant_token(
    cx: &mut Context<'_>,
    shared: &SharedSecret,
    permissions: u8,
    rp_id: Option<String>,
    user_present: bool,
    pin_generation: u64,
) -> CtapResult<Response> {
    let now = cx.now();
    let token = cx
        .state
        .tokens
        .grant(
            shared.protocol(),
            permissions,
            rp_id,
            user_present,
            pin_generation,
            now,
        )
        .map_err(|_| CTAP1_ERR_OTHER)?;
    let encrypted = shared.encrypt(token).map_err(|_| CTAP1_ERR_OTHER)?;
    Ok(Response::Token(encrypted))
}

/// Verifies a pinUvAuthParam made with the current token (used by every command that takes
/// one): the token must be in use with this protocol, granted under the current PIN, and
/// authenticate `message`.
pub(super) fn verify_token(
    cx: &mut Context<'_>,
    protocol: PinUvAuthProtocol,
    message: &[u8],
    param: &[u8],
) -> CtapResult<()> {
    let now = cx.now();
    cx.state
        .tokens
        .end_if_pin_changed(cx.engine.pin_generation());
    if cx.state.tokens.verify(protocol, message, param, now) {
        Ok(())
    } else {
        Err(CTAP2_ERR_PIN_AUTH_INVALID)
    }
}
