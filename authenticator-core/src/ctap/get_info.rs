//! authenticatorGetInfo (CTAP 2.1 §6.4): what this authenticator supports and how it is set up.
//!
//! The limits advertised here are the ones the other commands enforce.
//!
//! Two forms: the ordinary one (every transport but hybrid), and the one a hybrid session
//! (CTAP 2.2 §11.5) sends in its post-handshake message and answers getInfo with. A hybrid
//! browser is told of the phone's built-in user verification and nothing of the client PIN
//! (no `clientPin`, no `pinUvAuthToken`, no PIN/UV auth protocols, no PIN-bound extensions or
//! settings), as Chromium's phone side does (`v2_authenticator.cc` `BuildGetInfoResponse`),
//! so the browser sends one request with `uv` and no PIN exchange; the session refuses the
//! PIN and management commands anyway. `transports` names every transport the authenticator
//! can be reached over (CTAP 2.2 §6.4 key 0x09, values of WebAuthn's
//! `AuthenticatorTransport`): USB (CTAPHID) and hybrid, in both forms.

use super::auth_data::AAGUID;
use super::credential_key::Algorithm;
use super::status::CtapResult;
use super::{EngineConfig, key};
use crate::cbor::Value;
use crate::vault::{Setting, Vault};

/// Largest request the engine accepts: one full CTAPHID message (CTAP 2.1 §11.2.4).
pub const MAX_MSG_SIZE: u64 = 7609;
/// Entries of an allowList/excludeList the engine looks at.
pub const MAX_CREDENTIAL_COUNT_IN_LIST: u64 = 16;
/// Our credential ids are 16 random bytes; longer ids in a list cannot be ours.
pub const CREDENTIAL_ID_LENGTH: usize = 16;
pub const MAX_CREDENTIAL_ID_LENGTH: u64 = 64;
/// credBlob: bytes stored with a passkey.
pub const MAX_CRED_BLOB_LENGTH: usize = 32;
/// setMinPINLength: rp ids that may read the minimum PIN length.
pub const MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH: usize = 8;
const FIRMWARE_VERSION: u64 = 1;
/// USER_VERIFY_FINGERPRINT_INTERNAL | PASSCODE_INTERNAL | FACEPRINT_INTERNAL (FIDO Registry
/// §3.1): the phone's biometric prompt falls back to the device credential.
const UV_MODALITY: u64 = 0x0002 | 0x0004 | 0x0010;

/// Whether alwaysUv is on (CTAP 2.1 §7.2.2; the setting `Setting::AlwaysUv`).
pub fn always_uv(vault: &Vault) -> CtapResult<bool> {
    Ok(vault
        .settings()
        .get::<bool>(Setting::AlwaysUv)?
        .unwrap_or(false))
}

/// `versions` (0x01), the same in both forms (FIDO_2_2 is not claimed: proto/hybrid.md).
const VERSIONS: [&str; 3] = ["FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1"];

/// `options` (0x04) as a map of names to booleans, in the order given.
fn option_map(options: Vec<(&str, bool)>) -> Value {
    Value::map(
        options
            .into_iter()
            .map(|(name, on)| (Value::from(name), Value::Bool(on))),
    )
}

fn text_array(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(*s)).collect())
}

/// The transports of key 0x09 (WebAuthn `AuthenticatorTransport` values).
pub const TRANSPORTS: [&str; 2] = ["usb", "hybrid"];

/// Which form of the response to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// CTAPHID, the PC link, the app's channels, OBR sessions.
    Ordinary,
    /// A hybrid session: built-in UV only, nothing of the client PIN.
    Hybrid,
}

/// The response in `form`. Needs no volatile state, so it is answered without waiting for a
/// request in progress.
pub fn get_info(vault: &Vault, config: &EngineConfig, form: Form) -> CtapResult<Value> {
    let pin = vault.pin_state().load()?;
    let always_uv = always_uv(vault)?;
    let stored = vault.credentials().count()?;
    Ok(Response {
        client_pin: pin.pin_hash.is_some(),
        always_uv,
        builtin_uv: config.builtin_uv,
        force_pin_change: pin.force_change,
        min_pin_length: pin.min_pin_length,
        remaining_discoverable_credentials: config.max_credentials.saturating_sub(stored),
    }
    .into_value(form))
}

/// What getInfo reports that depends on how the phone is set up; the rest is constant.
struct Response {
    client_pin: bool,
    always_uv: bool,
    builtin_uv: bool,
    force_pin_change: bool,
    min_pin_length: u8,
    remaining_discoverable_credentials: u64,
}

impl Response {
    /// The §6.4 map (versions 1, extensions 2, aaguid 3, options 4, maxMsgSize 5,
    /// pinUvAuthProtocols 6, ..., remainingDiscoverableCredentials 0x14).
    fn into_value(self, form: Form) -> Value {
        if form == Form::Hybrid {
            return self.into_hybrid_value();
        }
        let mut options = vec![
            ("rk", true),
            ("up", true),
            ("plat", false),
            ("clientPin", self.client_pin),
            ("pinUvAuthToken", true),
            ("credMgmt", true),
            ("authnrCfg", true),
            ("setMinPINLength", true),
            // Non-discoverable passkeys may be made without UV unless alwaysUv is on (§6.4).
            ("makeCredUvNotRqd", !self.always_uv),
            ("alwaysUv", self.always_uv),
        ];
        if self.builtin_uv {
            options.push(("uv", true));
        }
        let options = option_map(options);

        Value::map([
            (key(0x01), text_array(&VERSIONS)),
            (
                key(0x02),
                text_array(&["credProtect", "hmac-secret", "credBlob", "minPinLength"]),
            ),
            (key(0x03), Value::from(AAGUID.to_vec())),
            (key(0x04), options),
            (key(0x05), Value::Unsigned(MAX_MSG_SIZE)),
            (
                key(0x06),
                Value::Array(vec![Value::Unsigned(2), Value::Unsigned(1)]),
            ),
            (key(0x07), Value::Unsigned(MAX_CREDENTIAL_COUNT_IN_LIST)),
            (key(0x08), Value::Unsigned(MAX_CREDENTIAL_ID_LENGTH)),
            (key(0x09), text_array(&TRANSPORTS)),
            (
                key(0x0A),
                algorithms(),
            ),
            (key(0x0C), Value::Bool(self.force_pin_change)),
            (key(0x0D), Value::Unsigned(u64::from(self.min_pin_length))),
            (key(0x0E), Value::Unsigned(FIRMWARE_VERSION)),
            (key(0x0F), Value::Unsigned(MAX_CRED_BLOB_LENGTH as u64)),
            (
                key(0x10),
                Value::Unsigned(MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH as u64),
            ),
            (key(0x11), Value::Unsigned(3)),
            (key(0x12), Value::Unsigned(UV_MODALITY)),
            (
                key(0x14),
                Value::Unsigned(self.remaining_discoverable_credentials),
            ),
        ])
    }

    /// The hybrid form: what the ordinary form says minus everything of the client PIN
    /// (clientPin, pinUvAuthToken, pinUvAuthProtocols 6, forcePINChange 0x0C, minPINLength
    /// 0x0D, maxRPIDsForSetMinPINLength 0x10), of management over the tunnel (credMgmt,
    /// authnrCfg, setMinPINLength, alwaysUv) and the extensions that need a PIN/UV auth
    /// protocol's shared secret or a PIN (hmac-secret, minPinLength).
    fn into_hybrid_value(self) -> Value {
        let mut options = vec![("rk", true), ("up", true), ("plat", false)];
        if self.builtin_uv {
            options.push(("uv", true));
        }
        let options = option_map(options);
        Value::map([
            (key(0x01), text_array(&VERSIONS)),
            (key(0x02), text_array(&["credProtect", "credBlob"])),
            (key(0x03), Value::from(AAGUID.to_vec())),
            (key(0x04), options),
            (key(0x05), Value::Unsigned(MAX_MSG_SIZE)),
            (key(0x07), Value::Unsigned(MAX_CREDENTIAL_COUNT_IN_LIST)),
            (key(0x08), Value::Unsigned(MAX_CREDENTIAL_ID_LENGTH)),
            (key(0x09), text_array(&TRANSPORTS)),
            (
                key(0x0A),
                algorithms(),
            ),
            (key(0x0E), Value::Unsigned(FIRMWARE_VERSION)),
            (key(0x0F), Value::Unsigned(MAX_CRED_BLOB_LENGTH as u64)),
            (key(0x12), Value::Unsigned(UV_MODALITY)),
            (
                key(0x14),
                Value::Unsigned(self.remaining_discoverable_credentials),
            ),
        ])
    }
}

/// `algorithms` (0x0A): every supported credential algorithm, ES256 first (CTAP 2.1 §6.4: in
/// order of preference; clients that take the first get the most widely verified one).
fn algorithms() -> Value {
    Value::Array(
        Algorithm::SUPPORTED
            .iter()
            .map(|alg| {
                Value::map([
                    (Value::from("alg"), Value::int(alg.cose())),
                    (Value::from("type"), Value::from("public-key")),
                ])
            })
            .collect(),
    )
}
