//! authenticatorMakeCredential (CTAP 2.1 §6.1): create a passkey.
//!
//! Order of checks follows §6.1.2 so that clients see the errors they expect: parameters,
//! zero-length pinUvAuthParam, algorithms, options, user verification (token or built-in),
//! excludeList (presence is asked *before* CREDENTIAL_EXCLUDED so a site cannot probe
//! silently), user presence, then creation. Every passkey is stored in the vault, discoverable
//! or not, with a random 16-byte credential id; BE=0 and BS=0 (device-bound).
//!
//! The key's algorithm is the first entry of pubKeyCredParams whose type is "public-key" and
//! whose alg this authenticator supports (§6.1.2 step 3): ES256 (-7, a key from the pool) or
//! EdDSA (-8, made inline: see `credential_key`). The client chooses among supported
//! algorithms only; an unknown or mistyped entry is skipped, a malformed one is an error.

use super::auth_data::{AttestedCredential, AuthData, attestation_statement, rp_id_hash};
use super::client_pin::{answer_zero_length_param, builtin_uv, protocol, verify_token};
use super::credential_key::{Algorithm, CredentialSigner, NewCredentialKey, credential_public_key};
use super::extensions::{
    CRED_PROTECT_UV_OPTIONAL, CRED_PROTECT_UV_REQUIRED, RegistrationExtensions,
};
use super::get_info::{CREDENTIAL_ID_LENGTH, MAX_CREDENTIAL_COUNT_IN_LIST, always_uv};
use super::key_pool::CredentialKey;
use super::params::{Descriptor, MAX_RP_ID_BYTES, Options, descriptor_list, truncate_name};
use super::pin_protocol::PinUvAuthProtocol;
use super::status::*;
use super::token_state::{PERMISSION_LBW, PERMISSION_MC};
use super::{Context, decode_params, key};
use crate::cbor::{MapReader, Value};
use crate::platform::{UserEvent, UserOperation};
use crate::secret::random_array;
use crate::vault::{Credential, CredentialSecrets};

/// WebAuthn caps user handles at 64 bytes.
const MAX_USER_ID_LENGTH: usize = 64;

/// The parameters of a makeCredential request (§6.1 table), read in the order whose errors
/// clients expect: the top-level members, then rp, user, extensions, options and the
/// algorithms (a malformed entry anywhere is an error before any unsupported value is).
struct Request {
    client_data_hash: Vec<u8>,
    rp_id: String,
    rp_name: Option<String>,
    user_id: Vec<u8>,
    user_name: Option<String>,
    user_display_name: Option<String>,
    /// The first supported algorithm pubKeyCredParams offers, if any.
    algorithm: Option<Algorithm>,
    exclude_list: Vec<Descriptor>,
    extensions: RegistrationExtensions,
    options: Options,
    pin_uv_auth_param: Option<Vec<u8>>,
    pin_uv_auth_protocol: Option<u64>,
    enterprise_attestation: Option<u64>,
}

impl Request {
    fn parse(params: &[u8]) -> CtapResult<Self> {
        let mut p = decode_params(params)?;
        let client_data_hash = p.required_bytes(0x01)?;
        let rp = p.take(0x02).ok_or(CTAP2_ERR_MISSING_PARAMETER)?;
        let user = p.take(0x03).ok_or(CTAP2_ERR_MISSING_PARAMETER)?;
        let algorithms = p.take(0x04).ok_or(CTAP2_ERR_MISSING_PARAMETER)?;
        let exclude_list = descriptor_list(p.take(0x05))?;
        let extensions = p.take(0x06);
        let options = p.take(0x07);
        let pin_uv_auth_param = p.bytes(0x08)?;
        let pin_uv_auth_protocol = p.unsigned(0x09)?;
        let enterprise_attestation = p.unsigned(0x0A)?;

        let mut rp = MapReader::new(rp)?;
        let rp_id = rp.required_text("id")?;
        if rp_id.len() > MAX_RP_ID_BYTES {
            return Err(CTAP1_ERR_INVALID_LENGTH);
        }
        let rp_name = truncate_name(rp.text("name")?);
        let mut user = MapReader::new(user)?;
        let user_id = user.required_bytes("id")?;
        let user_name = truncate_name(user.text("name")?);
        let user_display_name = truncate_name(user.text("displayName")?);
        if user_id.len() > MAX_USER_ID_LENGTH {
            return Err(CTAP1_ERR_INVALID_LENGTH);
        }
        Ok(Self {
            extensions: RegistrationExtensions::parse(extensions.as_ref())?,
            options: Options::parse(options.as_ref())?,
            algorithm: choose_algorithm(&algorithms)?,
            client_data_hash,
            rp_id,
            rp_name,
            user_id,
            user_name,
            user_display_name,
            exclude_list,
            pin_uv_auth_param,
            pin_uv_auth_protocol,
            enterprise_attestation,
        })
    }
}

/// The response (§6.1: fmt, authData, attStmt).
struct Response {
    fmt: &'static str,
    auth_data: Vec<u8>,
    att_stmt: Value,
}

impl Response {
    fn into_value(self) -> Value {
        Value::map([
            (key(0x01), Value::from(self.fmt)),
            (key(0x02), Value::from(self.auth_data)),
            (key(0x03), self.att_stmt),
        ])
    }
}

/// What user verification and presence this request has already established.
#[derive(Default)]
struct UserChecks {
    verified: bool,
    present: bool,
}

pub async fn make_credential(cx: &mut Context<'_>, params: &[u8]) -> CtapResult<Value> {
    let request = Request::parse(params)?;
    // §6.1.2 step 1: a zero-length pinUvAuthParam only asks whether a PIN is set.
    if request
        .pin_uv_auth_param
        .as_ref()
        .is_some_and(Vec::is_empty)
    {
        return Err(answer_zero_length_param(cx, UserOperation::Register, &request.rp_id).await);
    }
    let token_protocol = match &request.pin_uv_auth_param {
        Some(_) => Some(protocol(request.pin_uv_auth_protocol)?),
        None => None,
    };
    // §6.1.2 steps 3-5: what this authenticator supports.
    let Some(algorithm) = request.algorithm else {
        return Err(CTAP2_ERR_UNSUPPORTED_ALGORITHM);
    };
    if request.enterprise_attestation.is_some() {
        return Err(CTAP1_ERR_INVALID_PARAMETER);
    }
    if request.options.up == Some(false) {
        return Err(CTAP2_ERR_INVALID_OPTION);
    }
    // §6.1.2 steps 6-10: user verification.
    let user = verify_user(cx, &request, token_protocol).await?;
    // §6.1.2 step 11: excludeList.
    check_exclude_list(cx, &request, user.verified).await?;
    // §6.1.2 step 14: user presence.
    if !user.present {
        cx.prompts()
            .presence(
                UserOperation::Register,
                Some(&request.rp_id),
                request.user_name.as_deref(),
            )
            .await?;
    }
    if cx.vault().credentials().count()? >= cx.config().max_credentials {
        return Err(CTAP2_ERR_KEY_STORE_FULL);
    }
    // §6.1.2 steps 15-19: create and store the passkey, attest it.
    let response = create(cx, &request, algorithm, user.verified).await?;
    if token_protocol.is_some() {
        cx.state.tokens.clear_user_flags();
        cx.state.tokens.retain_permissions(PERMISSION_LBW);
    }
    crate::platform::tell(
        &*cx.engine.ui,
        UserEvent::PasskeyCreated {
            rp_id: request.rp_id,
            user_name: request.user_name,
        },
    );
    Ok(response.into_value())
}

/// User verification: through a token, or the phone's own, or (where allowed) none.
async fn verify_user(
    cx: &mut Context<'_>,
    request: &Request,
    token_protocol: Option<PinUvAuthProtocol>,
) -> CtapResult<UserChecks> {
    let rp_id = &request.rp_id;
    if let (Some(param), Some(protocol)) = (&request.pin_uv_auth_param, token_protocol) {
        verify_token(cx, protocol, &request.client_data_hash, param)?;
        if !cx.state.tokens.has_permission(PERMISSION_MC) || !cx.state.tokens.bind_rp(rp_id) {
            return Err(CTAP2_ERR_PIN_AUTH_INVALID);
        }
        return Ok(UserChecks {
            verified: cx.state.tokens.user_verified(),
            present: cx.state.tokens.user_present(cx.now()),
        });
    }
    // The PIN state and alwaysUv are read only when they decide something (vault reads).
    let protected = cx.config().builtin_uv || cx.vault().pin_state().load()?.pin_hash.is_some();
    if request.options.uv == Some(true) {
        if !cx.config().builtin_uv {
            return Err(CTAP2_ERR_INVALID_OPTION);
        }
        builtin_uv(cx, UserOperation::Register, Some(rp_id)).await?;
        // The phone's verification prompt named the site: it is the user's presence too.
        return Ok(UserChecks {
            verified: true,
            present: true,
        });
    }
    let discoverable = request.options.rk.unwrap_or(false);
    if protected && (discoverable || always_uv(cx.vault())?) {
        // §6.1.2 step 6: without makeCredUvNotRqd's exemption, UV is required.
        return Err(CTAP2_ERR_PUAT_REQUIRED);
    }
    Ok(UserChecks::default())
}

/// §6.1.2 step 11: a listed passkey of this rp here (one the request may see) is excluded,
/// after the user's presence, so that a site cannot probe for it silently.
async fn check_exclude_list(
    cx: &Context<'_>,
    request: &Request,
    user_verified: bool,
) -> CtapResult<()> {
    let rp_id = &request.rp_id;
    for descriptor in request
        .exclude_list
        .iter()
        .filter(|d| d.is_public_key)
        .take(usize::try_from(MAX_CREDENTIAL_COUNT_IN_LIST).unwrap_or(16))
    {
        let Some(existing) = cx.vault().credentials().get(&descriptor.id)? else {
            continue;
        };
        if existing.rp_id != *rp_id
            || (existing.cred_protect == CRED_PROTECT_UV_REQUIRED && !user_verified)
        {
            continue;
        }
        cx.prompts()
            .presence(
                UserOperation::AlreadyRegistered,
                Some(rp_id),
                existing.user_name.as_deref(),
            )
            .await?;
        return Err(CTAP2_ERR_CREDENTIAL_EXCLUDED);
    }
    Ok(())
}

/// Creates the passkey, stores it durably and attests it. Every passkey is stored, discoverable
/// or not, with a random 16-byte credential id.
async fn create(
    cx: &Context<'_>,
    request: &Request,
    algorithm: Algorithm,
    user_verified: bool,
) -> CtapResult<Response> {
    let rp_id = &request.rp_id;
    let discoverable = request.options.rk.unwrap_or(false);
    let extensions = &request.extensions;
    let NewCredentialKey {
        private_key,
        public_key,
        signer,
    } = new_key(cx, algorithm)?;
    let credential_id = random_array::<CREDENTIAL_ID_LENGTH>()
        .map_err(|_| CTAP1_ERR_OTHER)?
        .to_vec();
    let cred_protect = extensions.cred_protect.unwrap_or(CRED_PROTECT_UV_OPTIONAL);
    let (cred_random_with_uv, cred_random_without_uv) = extensions.hmac_secret_keys()?;
    let credential = Credential {
        credential_id: credential_id.clone(),
        rp_id: rp_id.clone(),
        rp_name: request.rp_name.clone(),
        user_id: request.user_id.clone(),
        user_name: request.user_name.clone(),
        user_display_name: request.user_display_name.clone(),
        algorithm: algorithm.cose(),
        public_key: public_key.clone(),
        discoverable,
        cred_protect,
        cred_blob: extensions.cred_blob_to_store(),
        created_at: cx.unix_now(),
        label: None,
        sign_count: 0,
    };
    let secrets = CredentialSecrets {
        private_key,
        cred_random_with_uv,
        cred_random_without_uv,
    };
    // A new discoverable passkey replaces the one for the same account (§6.1.2 step 17.1).
    if discoverable {
        for old in cx.vault().credentials().for_rp(rp_id)? {
            if old.discoverable && old.user_id == request.user_id {
                cx.vault().credentials().delete(&old.credential_id)?;
            }
        }
    }
    let min_pin_length = if extensions.min_pin_length {
        let pin = cx.vault().pin_state().load()?;
        pin.min_pin_length_rp_ids
            .iter()
            .any(|r| r == rp_id)
            .then_some(pin.min_pin_length)
    } else {
        None
    };
    let auth_data = AuthData {
        rp_id_hash: rp_id_hash(rp_id),
        user_present: true,
        user_verified,
        sign_count: 0,
        attested: Some(AttestedCredential {
            credential_id: &credential_id,
            public_key: credential_public_key(algorithm.cose(), &public_key)?,
        }),
        extensions: Some(extensions.outputs(cred_protect, min_pin_length)),
    }
    .to_bytes();

    // The attestation signature does not depend on the insert, so it is made on a blocking
    // thread while this one stores the passkey durably (mostly a wait for the disk's flush).
    // The insert stays here so that the flush's completion wakes this request directly, not a
    // helper that then has to wake it. The response is returned only when both succeeded; a
    // failed insert fails the request as it always did (the signature is then dropped).
    let format = cx.config().attestation;
    let signed = auth_data.clone();
    let client_data_hash = request.client_data_hash.clone();
    let attestation = tokio::task::spawn_blocking(move || {
        attestation_statement(format, &signer, &signed, &client_data_hash)
    });
    cx.vault().credentials().insert(&credential, &secrets)?;
    // Now, not at the take: the refill's key generation then runs after this request's
    // signature instead of competing with it for the other core.
    if algorithm == Algorithm::Es256 {
        drop(cx.engine.key_pool.refill_in_background());
    }
    // A JoinError means the signing task panicked or never ran (the runtime is shutting down).
    let (fmt, att_stmt) = attestation.await.map_err(|_| CTAP1_ERR_OTHER)??;
    Ok(Response {
        fmt,
        auth_data,
        att_stmt,
    })
}

/// A fresh key of `algorithm`: ES256 keys come from the pool, Ed25519 ones are made now.
fn new_key(cx: &Context<'_>, algorithm: Algorithm) -> CtapResult<NewCredentialKey> {
    match algorithm {
        Algorithm::Es256 => {
            let CredentialKey {
                private_key,
                signing_key,
            } = cx.engine.key_pool.take()?;
            let public_key = signing_key
                .verifying_key()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec();
            let signer =
                CredentialSigner::Es256(zeroize::Zeroizing::new(*signing_key.as_nonzero_scalar()));
            Ok(NewCredentialKey {
                private_key,
                public_key,
                signer,
            })
        }
        Algorithm::EdDsa => NewCredentialKey::ed25519(),
    }
}

/// pubKeyCredParams (§6.1.2 step 3): every entry must be a well-formed {alg, type}; the first
/// with type "public-key" and a supported alg is chosen, in the client's order.
fn choose_algorithm(value: &Value) -> CtapResult<Option<Algorithm>> {
    let items = value.as_array().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE)?;
    let mut chosen = None;
    for item in items {
        let mut m = MapReader::new(item.clone())?;
        let alg = m.required_int("alg")?;
        let kind = m.required_text("type")?;
        if chosen.is_none() && kind == "public-key" {
            chosen = Algorithm::from_cose(alg);
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{CMD_MAKE_CREDENTIAL, CtapEngine, EngineConfig};
    use super::*;
    use crate::cbor::{self, Value};
    use crate::ctap::credential_key::ALG_ES256;
    use crate::platform::SystemClock;
    use crate::request::{Origin, RequestSignals};
    use crate::testkit::{ScriptedUser, TestProtector};
    use crate::vault::Vault;

    fn request() -> Vec<u8> {
        let t = Value::from;
        let params = Value::map([
            (key(1), Value::from(vec![0x11u8; 32])),
            (key(2), Value::map([(t("id"), t("example.com"))])),
            (key(3), Value::map([(t("id"), Value::from(vec![7u8; 16]))])),
            (
                key(4),
                Value::Array(vec![Value::map([
                    (t("alg"), Value::int(ALG_ES256)),
                    (t("type"), t("public-key")),
                ])]),
            ),
        ]);
        let mut out = vec![CMD_MAKE_CREDENTIAL];
        cbor::encode_into(&params, &mut out);
        out
    }

    /// The typed request holds what the map said: names cut to 64 bytes, ES256 offered only
    /// when an entry names it, options and the PIN members as given.
    #[test]
    fn a_request_parses_into_its_members() {
        let t = Value::from;
        let entries = |algorithm: i64| {
            Value::map([
                (key(1), Value::from(vec![0x11u8; 32])),
                (
                    key(2),
                    Value::map([
                        (t("id"), t("example.com")),
                        (t("name"), Value::from("x".repeat(70))),
                    ]),
                ),
                (
                    key(3),
                    Value::map([
                        (t("id"), Value::from(vec![7u8; 16])),
                        (t("displayName"), t("Al")),
                    ]),
                ),
                (
                    key(4),
                    Value::Array(vec![Value::map([
                        (t("alg"), Value::int(algorithm)),
                        (t("type"), t("public-key")),
                    ])]),
                ),
                (key(7), Value::map([(t("rk"), Value::Bool(true))])),
                (key(9), Value::Unsigned(2)),
            ])
        };
        let request = Request::parse(&cbor::encode(&entries(ALG_ES256))).unwrap();
        assert_eq!(request.rp_id, "example.com");
        assert_eq!(request.rp_name.as_deref().map(str::len), Some(64));
        assert_eq!(request.user_id, vec![7u8; 16]);
        assert_eq!(request.user_name, None);
        assert_eq!(request.user_display_name.as_deref(), Some("Al"));
        assert_eq!(request.algorithm, Some(Algorithm::Es256));
        assert_eq!((request.options.rk, request.options.up), (Some(true), None));
        assert_eq!(request.pin_uv_auth_param, None);
        assert_eq!(request.pin_uv_auth_protocol, Some(2));
        assert!(request.exclude_list.is_empty());
        let rs256_only = Request::parse(&cbor::encode(&entries(-257))).unwrap();
        assert_eq!(rs256_only.algorithm, None);
    }

    /// The insert runs beside the attestation signature: when it fails, the client gets the
    /// storage error and no attestation, and nothing is stored.
    #[tokio::test]
    async fn a_failed_insert_fails_the_request_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let vault =
            Arc::new(Vault::open(dir.path().join("vault.db"), &TestProtector::sealing()).unwrap());
        let engine = CtapEngine::new(
            vault.clone(),
            Arc::new(super::super::AlwaysServe),
            ScriptedUser::approving(),
            Arc::new(SystemClock),
            EngineConfig::default(),
        )
        .unwrap();
        // A trigger on the vault's own connection makes every insert fail.
        vault
            .read(|conn| {
                Ok(conn.execute_batch(
                    "CREATE TEMP TRIGGER refuse_passkeys BEFORE INSERT ON credentials
                     BEGIN SELECT RAISE(ABORT, 'refused'); END",
                )?)
            })
            .unwrap();
        let response = engine
            .handle(&request(), &RequestSignals::new(Origin::app()))
            .await;
        assert_eq!(response, vec![CTAP1_ERR_OTHER.0]);
        assert_eq!(vault.credentials().count().unwrap(), 0);

        vault
            .read(|conn| Ok(conn.execute_batch("DROP TRIGGER refuse_passkeys")?))
            .unwrap();
        let response = engine
            .handle(&request(), &RequestSignals::new(Origin::app()))
            .await;
        assert_eq!(response[0], CTAP2_OK);
        assert_eq!(vault.credentials().count().unwrap(), 1);
    }

    /// SQLite's automatic checkpoint (1,000 WAL pages) used to run inside whichever
    /// registration crossed it. Registrations well past that threshold run none; the idle hook
    /// does, and empties the log.
    #[tokio::test]
    async fn a_checkpoint_never_runs_inside_a_registration() {
        const SQLITE_AUTOCHECKPOINT_PAGES: u64 = 1_000;
        let dir = tempfile::tempdir().unwrap();
        let vault =
            Arc::new(Vault::open(dir.path().join("vault.db"), &TestProtector::plain()).unwrap());
        let engine = CtapEngine::new(
            vault.clone(),
            Arc::new(super::super::AlwaysServe),
            ScriptedUser::approving(),
            Arc::new(SystemClock),
            EngineConfig::default(),
        )
        .unwrap();
        let mut registrations = 0;
        while vault.wal_frames() <= SQLITE_AUTOCHECKPOINT_PAGES + 200 && registrations < 3_000 {
            let response = engine
                .handle(&request(), &RequestSignals::new(Origin::app()))
                .await;
            assert_eq!(response[0], CTAP2_OK);
            registrations += 1;
        }
        assert!(
            vault.wal_frames() > SQLITE_AUTOCHECKPOINT_PAGES,
            "the log was emptied on the way: {} frames after {registrations} registrations",
            vault.wal_frames()
        );
        assert_eq!(
            vault.checkpoint_counts(),
            crate::vault::CheckpointCounts {
                on_request_path: 0,
                idle: 0
            }
        );
        let report = vault.maintain().unwrap();
        assert!(report.checkpointed_frames > SQLITE_AUTOCHECKPOINT_PAGES);
        assert_eq!(report.passkeys, registrations);
        assert_eq!(vault.wal_frames(), 0);
        assert_eq!(
            vault.checkpoint_counts(),
            crate::vault::CheckpointCounts {
                on_request_path: 0,
                idle: 1
            }
        );
        // Nothing left to copy: the next idle run does no checkpoint.
        assert_eq!(vault.maintain().unwrap().checkpointed_frames, 0);
        assert_eq!(vault.checkpoint_counts().idle, 1);
    }
}
