//! The CTAP engine's guarantees that a client alone cannot see: sign counters that only move
//! forward across power cycles with few flushes, PIN retries that are durable, the core's own
//! timeout and cancellation around prompts. (Protocol conformance against a real client is in
//! tests/conformance, driven by python-fido2.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use authenticator_core::cbor::{self, Value};
use authenticator_core::ctap::pin_protocol::{PinUvAuthProtocol, platform_encapsulate};
use authenticator_core::ctap::{AlwaysServe, CtapEngine, EngineConfig};
use authenticator_core::platform::{SystemClock, VerificationOutcome};
use authenticator_core::request::{Origin, RequestSignals};
use authenticator_core::testkit::{Answer, ScriptedUser, TestProtector};
use authenticator_core::vault::Vault;
use sha2::{Digest, Sha256};

struct Phone {
    _dir: tempfile::TempDir,
    vault: Arc<Vault>,
}

impl Phone {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vault =
            Arc::new(Vault::open(dir.path().join("vault.db"), &TestProtector::sealing()).unwrap());
        Self { _dir: dir, vault }
    }

    /// A new engine on the same vault: the authenticator's power cycle, with a user who allows
    /// everything at once (`answers`) or never answers.
    fn power_up(&self, answers: bool, timeout: Duration) -> CtapEngine {
        let answer = if answers { Answer::Yes } else { Answer::Never };
        let config = EngineConfig {
            user_action_timeout: timeout,
            ..EngineConfig::default()
        };
        CtapEngine::new(
            self.vault.clone(),
            Arc::new(AlwaysServe),
            Arc::new(ScriptedUser::new(answer, answer)),
            Arc::new(SystemClock),
            config,
        )
        .unwrap()
    }
}

fn k(n: i64) -> Value {
    Value::int(n)
}

fn t(s: &str) -> Value {
    Value::from(s)
}

async fn call(engine: &CtapEngine, command: u8, params: Value) -> (u8, Option<Value>) {
    let mut request = vec![command];
    request.extend_from_slice(&cbor::encode(&params));
    let response = engine
        .handle(&request, &RequestSignals::new(Origin::app()))
        .await;
    let body = (response.len() > 1).then(|| cbor::decode(&response[1..]).unwrap());
    (response[0], body)
}

fn member(value: &Value, key: i64) -> &Value {
    &value
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_int() == Some(key))
        .unwrap()
        .1
}

fn make_credential_request(rp: &str) -> Value {
    Value::map([
        (k(1), Value::from(vec![1u8; 32])),
        (k(2), Value::map([(t("id"), t(rp))])),
        (
            k(3),
            Value::map([
                (t("id"), Value::from(vec![7u8; 8])),
                (t("name"), t("alice")),
            ]),
        ),
        (
            k(4),
            Value::Array(vec![Value::map([
                (t("alg"), Value::int(-7)),
                (t("type"), t("public-key")),
            ])]),
        ),
    ])
}

async fn register(engine: &CtapEngine, rp: &str) -> Vec<u8> {
    let (status, body) = call(engine, 0x01, make_credential_request(rp)).await;
    assert_eq!(status, 0);
    let auth_data = member(body.as_ref().unwrap(), 2).as_bytes().unwrap();
    let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    auth_data[55..55 + len].to_vec()
}

async fn sign_count(engine: &CtapEngine, rp: &str, credential_id: &[u8]) -> u32 {
    let request = Value::map([
        (k(1), t(rp)),
        (k(2), Value::from(vec![2u8; 32])),
        (
            k(3),
            Value::Array(vec![Value::map([
                (t("id"), Value::from(credential_id.to_vec())),
                (t("type"), t("public-key")),
            ])]),
        ),
    ]);
    let (status, body) = call(engine, 0x02, request).await;
    assert_eq!(status, 0);
    let auth_data = member(body.as_ref().unwrap(), 2).as_bytes().unwrap();
    u32::from_be_bytes(auth_data[33..37].try_into().unwrap())
}

#[tokio::test]
async fn sign_counters_only_move_forward_across_power_cycles_with_few_flushes() {
    let phone = Phone::new();
    let mut engine = phone.power_up(true, Duration::from_secs(5));
    let id = register(&engine, "counter.example").await;
    let mut last = 0;
    let (assertions, cycles) = (400u32, 4u32);
    for i in 0..assertions {
        if i > 0 && i % (assertions / cycles) == 0 {
            engine = phone.power_up(true, Duration::from_secs(5));
        }
        let count = sign_count(&engine, "counter.example", &id).await;
        assert!(count > last, "counter went from {last} to {count}");
        last = count;
    }
    // The durable reservation covers every value handed out, and it was written about once per
    // 128 assertions (plus once per power cycle), not once per assertion.
    let reserved = phone
        .vault
        .credentials()
        .get(&id)
        .unwrap()
        .unwrap()
        .sign_count;
    assert!(reserved >= last);
    let flushes = reserved / 128;
    assert!(
        flushes <= assertions / 128 + cycles + 1,
        "{flushes} reservations"
    );
}

// On tokio's paused clock: the user's 30 s run out at once, without waiting them.
#[tokio::test(start_paused = true)]
async fn a_user_who_does_not_answer_gets_user_action_timeout_and_nothing_is_stored() {
    let phone = Phone::new();
    let engine = phone.power_up(false, Duration::from_secs(30));
    let (status, _) = call(&engine, 0x01, make_credential_request("slow.example")).await;
    assert_eq!(status, 0x2F, "CTAP2_ERR_USER_ACTION_TIMEOUT");
    assert_eq!(phone.vault.credentials().count().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_ends_a_waiting_request_with_keepalive_cancel() {
    let phone = Phone::new();
    let engine = Arc::new(phone.power_up(false, Duration::from_secs(30)));
    let signals = RequestSignals::new(Origin::app());
    let request = {
        let mut r = vec![0x01];
        r.extend_from_slice(&cbor::encode(&make_credential_request("c.example")));
        r
    };
    let waiting = {
        let (engine, signals) = (engine.clone(), signals.clone());
        tokio::spawn(async move { engine.handle(&request, &signals).await })
    };
    for _ in 0..100 {
        if signals.is_waiting_for_user() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        signals.is_waiting_for_user(),
        "the engine tells the transport it waits"
    );
    signals.cancel();
    assert_eq!(
        waiting.await.unwrap(),
        vec![0x2D],
        "CTAP2_ERR_KEEPALIVE_CANCEL"
    );
    assert!(!signals.is_waiting_for_user());
}

/// clientPIN with protocol two as a platform would: (keyAgreement, shared secret).
async fn key_agreement(
    engine: &CtapEngine,
) -> (Value, authenticator_core::ctap::pin_protocol::SharedSecret) {
    let (status, body) = call(
        engine,
        0x06,
        Value::map([(k(1), Value::Unsigned(2)), (k(2), Value::Unsigned(2))]),
    )
    .await;
    assert_eq!(status, 0);
    let cose = member(body.as_ref().unwrap(), 1);
    let x = member(cose, -2).as_bytes().unwrap().to_vec();
    let y = member(cose, -3).as_bytes().unwrap().to_vec();
    let (px, py, shared) = platform_encapsulate(PinUvAuthProtocol::Two, &x, &y).unwrap();
    let platform_key = Value::map([
        (k(1), Value::int(2)),
        (k(3), Value::int(-25)),
        (k(-1), Value::int(1)),
        (k(-2), Value::from(px.to_vec())),
        (k(-3), Value::from(py.to_vec())),
    ]);
    (platform_key, shared)
}

async fn set_pin(engine: &CtapEngine, pin: &str) {
    let (platform_key, shared) = key_agreement(engine).await;
    let mut padded = pin.as_bytes().to_vec();
    padded.resize(64, 0);
    let new_pin_enc = shared.encrypt(&padded).unwrap();
    let param = shared.authenticate(&new_pin_enc);
    let (status, _) = call(
        engine,
        0x06,
        Value::map([
            (k(1), Value::Unsigned(2)),
            (k(2), Value::Unsigned(3)),
            (k(3), platform_key),
            (k(4), Value::from(param)),
            (k(5), Value::from(new_pin_enc)),
        ]),
    )
    .await;
    assert_eq!(status, 0);
}

async fn get_pin_token(engine: &CtapEngine, pin: &str) -> u8 {
    let (platform_key, shared) = key_agreement(engine).await;
    let hash = Sha256::digest(pin.as_bytes());
    let pin_hash_enc = shared.encrypt(&hash[..16]).unwrap();
    let (status, _) = call(
        engine,
        0x06,
        Value::map([
            (k(1), Value::Unsigned(2)),
            (k(2), Value::Unsigned(5)),
            (k(3), platform_key),
            (k(6), Value::from(pin_hash_enc)),
        ]),
    )
    .await;
    status
}

#[tokio::test]
async fn wrong_pins_count_durably_and_block_until_a_power_cycle() {
    let phone = Phone::new();
    let engine = phone.power_up(true, Duration::from_secs(5));
    set_pin(&engine, "123456").await;
    let retries = || phone.vault.pin_state().load().unwrap().pin_retries;
    assert_eq!(retries(), 8);
    assert_eq!(get_pin_token(&engine, "000000").await, 0x31, "PIN_INVALID");
    assert_eq!(
        retries(),
        7,
        "the decrement is in the vault, not only in memory"
    );
    assert_eq!(get_pin_token(&engine, "000001").await, 0x31);
    assert_eq!(
        get_pin_token(&engine, "000002").await,
        0x34,
        "PIN_AUTH_BLOCKED"
    );
    // Blocked: even the right PIN is refused, and no retry is spent.
    assert_eq!(get_pin_token(&engine, "123456").await, 0x34);
    assert_eq!(retries(), 5);
    // A power cycle lifts the block; the right PIN restores the counter.
    let engine = phone.power_up(true, Duration::from_secs(5));
    assert_eq!(get_pin_token(&engine, "123456").await, 0x00);
    assert_eq!(retries(), 8);
}

/// A user whose built-in verification answers `outcome` (and who allows every presence
/// prompt), recording every prompt.
fn verifier(outcome: VerificationOutcome) -> Arc<ScriptedUser> {
    let user = ScriptedUser::approving();
    answer(&user, outcome);
    user
}

/// From now on `user`'s verification answers `outcome`.
fn answer(user: &ScriptedUser, outcome: VerificationOutcome) {
    if outcome == VerificationOutcome::Verified {
        user.set_verification(Answer::Yes);
    } else {
        user.set_verification(Answer::No);
        user.set_refused_verification(outcome);
    }
}

impl Phone {
    fn power_up_with(&self, user: Arc<ScriptedUser>) -> CtapEngine {
        CtapEngine::new(
            self.vault.clone(),
            Arc::new(AlwaysServe),
            user,
            Arc::new(SystemClock),
            EngineConfig::default(),
        )
        .unwrap()
    }
}

const MC: u64 = 0x01;
const GA: u64 = 0x02;
const CM: u64 = 0x04;
const ACFG: u64 = 0x20;

/// getPinUvAuthTokenUsingUvWithPermissions (protocol two): the status and the token.
async fn get_uv_token(
    engine: &CtapEngine,
    permissions: u64,
    rp_id: Option<&str>,
) -> (u8, Option<Vec<u8>>) {
    let (platform_key, shared) = key_agreement(engine).await;
    let mut params = vec![
        (k(1), Value::Unsigned(2)),
        (k(2), Value::Unsigned(6)),
        (k(3), platform_key),
        (k(9), Value::Unsigned(permissions)),
    ];
    if let Some(rp) = rp_id {
        params.push((k(0x0A), t(rp)));
    }
    let (status, body) = call(engine, 0x06, Value::map(params)).await;
    let token = body.map(|b| {
        let encrypted = member(&b, 2).as_bytes().unwrap().to_vec();
        shared.decrypt(&encrypted).unwrap().expose().to_vec()
    });
    (status, token)
}

async fn uv_retries(engine: &CtapEngine) -> u64 {
    let (status, body) = call(
        engine,
        0x06,
        Value::map([(k(1), Value::Unsigned(2)), (k(2), Value::Unsigned(7))]),
    )
    .await;
    assert_eq!(status, 0);
    member(body.as_ref().unwrap(), 5).as_unsigned().unwrap()
}

/// credentialManagement getCredsMetadata with `token`: the status.
async fn creds_metadata(engine: &CtapEngine, token: &[u8]) -> u8 {
    use authenticator_core::ctap::pin_protocol::authenticate_with_token;
    let param = authenticate_with_token(PinUvAuthProtocol::Two, token, &[0x01]);
    let (status, _) = call(
        engine,
        0x0A,
        Value::map([
            (k(1), Value::Unsigned(1)),
            (k(3), Value::Unsigned(2)),
            (k(4), Value::from(param)),
        ]),
    )
    .await;
    status
}

#[tokio::test]
async fn a_uv_token_prompt_names_every_right_the_token_carries() {
    use authenticator_core::platform::{PromptScope, UserOperation};
    let phone = Phone::new();
    let user = verifier(VerificationOutcome::Verified);
    let engine = phone.power_up_with(user.clone());

    let (status, _) = get_uv_token(&engine, MC | GA, Some("example.com")).await;
    assert_eq!(status, 0);
    let (status, _) = get_uv_token(&engine, CM | ACFG, None).await;
    assert_eq!(status, 0);
    let (status, _) = get_uv_token(&engine, CM, Some("example.com")).await;
    assert_eq!(status, 0);
    let shown: Vec<_> = user
        .prompts()
        .into_iter()
        .map(|p| (p.operation, p.scopes, p.message))
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                UserOperation::Register,
                vec![PromptScope::CreatePasskey, PromptScope::SignIn],
                "Create a passkey for example.com and sign in to example.com?".to_owned()
            ),
            (
                UserOperation::Manage,
                vec![PromptScope::ManagePasskeys, PromptScope::ChangeSettings],
                "Manage the passkeys on this phone and change this phone's security key \
                 settings?"
                    .to_owned()
            ),
            (
                UserOperation::Manage,
                vec![PromptScope::ManagePasskeys],
                "Manage the passkeys for example.com on this phone?".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_sign_in_prompt_cannot_carry_management_rights() {
    let phone = Phone::new();
    let user = verifier(VerificationOutcome::Verified);
    let engine = phone.power_up_with(user.clone());
    for permissions in [GA | ACFG, MC | ACFG, GA | CM, MC | GA | CM | ACFG] {
        let (status, token) = get_uv_token(&engine, permissions, Some("example.com")).await;
        assert_eq!(
            (status, token),
            (0x40, None),
            "CTAP2_ERR_UNAUTHORIZED_PERMISSION for {permissions:#x}"
        );
    }
    assert!(user.prompts().is_empty(), "refused before anyone is asked");
    assert_eq!(uv_retries(&engine).await, 8, "and no attempt is spent");
}

#[tokio::test]
async fn declining_verification_costs_nothing_and_a_right_pin_restores_the_attempts() {
    let phone = Phone::new();
    let user = verifier(VerificationOutcome::Declined);
    let engine = phone.power_up_with(user.clone());
    for _ in 0..10 {
        let (status, _) = get_uv_token(&engine, GA, Some("example.com")).await;
        assert_eq!(status, 0x27, "CTAP2_ERR_OPERATION_DENIED");
    }
    assert_eq!(uv_retries(&engine).await, 8);

    answer(&user, VerificationOutcome::Failed);
    for left in (5..8).rev() {
        let (status, _) = get_uv_token(&engine, GA, Some("example.com")).await;
        assert_eq!(status, 0x3F, "CTAP2_ERR_UV_INVALID");
        assert_eq!(uv_retries(&engine).await, left);
    }
    set_pin(&engine, "123456").await;
    assert_eq!(get_pin_token(&engine, "000000").await, 0x31, "PIN_INVALID");
    assert_eq!(uv_retries(&engine).await, 5, "a wrong PIN restores nothing");
    assert_eq!(get_pin_token(&engine, "123456").await, 0x00);
    assert_eq!(uv_retries(&engine).await, 8);

    answer(&user, VerificationOutcome::Verified);
    let (status, token) = get_uv_token(&engine, GA, Some("example.com")).await;
    assert_eq!((status, token.is_some()), (0, true));
}

#[tokio::test]
async fn a_pin_installed_outside_ctap_ends_earlier_tokens() {
    let phone = Phone::new();
    let engine = phone.power_up_with(verifier(VerificationOutcome::Verified));
    let (status, token) = get_uv_token(&engine, CM, None).await;
    assert_eq!(status, 0);
    let token = token.unwrap();
    assert_eq!(creds_metadata(&engine, &token).await, 0x00);
    engine.pin_changed_outside_ctap();
    assert_eq!(
        creds_metadata(&engine, &token).await,
        0x33,
        "CTAP2_ERR_PIN_AUTH_INVALID"
    );
    let (status, token) = get_uv_token(&engine, CM, None).await;
    assert_eq!(status, 0);
    assert_eq!(
        creds_metadata(&engine, &token.unwrap()).await,
        0x00,
        "a token granted afterwards works"
    );
}

// Malformed requests: every command's statuses, frozen from the engine before its requests
// were typed (the order of checks decides which of several faults is reported).

fn mc_base() -> Vec<(Value, Value)> {
    vec![
        (k(1), Value::from(vec![1u8; 32])),
        (k(2), Value::map([(t("id"), t("example.com"))])),
        (k(3), Value::map([(t("id"), Value::from(vec![7u8; 8]))])),
        (
            k(4),
            Value::Array(vec![Value::map([
                (t("alg"), Value::int(-7)),
                (t("type"), t("public-key")),
            ])]),
        ),
    ]
}

fn ga_base() -> Vec<(Value, Value)> {
    vec![(k(1), t("example.com")), (k(2), Value::from(vec![1u8; 32]))]
}

/// `base` with `key` replaced by `value` (`None`: removed).
fn with(mut base: Vec<(Value, Value)>, key: i64, value: Option<Value>) -> Vec<(Value, Value)> {
    base.retain(|(k, _)| k.as_int() != Some(key));
    if let Some(value) = value {
        base.push((k(key), value));
    }
    base
}

fn bytes(n: usize) -> Value {
    Value::from(vec![0x5au8; n])
}

fn u(n: u64) -> Value {
    Value::Unsigned(n)
}

/// (name, command, parameters) for requests that need no state to be answered.
#[rustfmt::skip]
fn stateless_malformed() -> Vec<(&'static str, u8, Vec<u8>)> {
    let enc = |entries: Vec<(Value, Value)>| cbor::encode(&Value::map(entries));
    let alg = |a: Value, ty: Value| Value::map([(t("alg"), a), (t("type"), ty)]);
    let mut cases: Vec<(&'static str, u8, Vec<u8>)> = vec![
        ("mc empty", 0x01, vec![]),
        ("mc not a map", 0x01, cbor::encode(&Value::Array(vec![]))),
        ("mc bad cbor", 0x01, vec![0xa1, 0x01]),
        ("mc 1 missing", 0x01, enc(with(mc_base(), 1, None))),
        ("mc 1 text", 0x01, enc(with(mc_base(), 1, Some(t("x"))))),
        ("mc 2 missing", 0x01, enc(with(mc_base(), 2, None))),
        ("mc 2 text", 0x01, enc(with(mc_base(), 2, Some(t("x"))))),
        ("mc rp id missing", 0x01, enc(with(mc_base(), 2, Some(Value::map([(t("name"), t("n"))]))))),
        ("mc rp id bytes", 0x01, enc(with(mc_base(), 2, Some(Value::map([(t("id"), bytes(3))]))))),
        ("mc rp id too long", 0x01, enc(with(mc_base(), 2, Some(Value::map([(t("id"), Value::from("a".repeat(300)))]))))),
        ("mc rp name int", 0x01, enc(with(mc_base(), 2, Some(Value::map([(t("id"), t("example.com")), (t("name"), u(1))]))))),
        ("mc 3 missing", 0x01, enc(with(mc_base(), 3, None))),
        ("mc 3 array", 0x01, enc(with(mc_base(), 3, Some(Value::Array(vec![]))))),
        ("mc user id missing", 0x01, enc(with(mc_base(), 3, Some(Value::map([(t("name"), t("a"))]))))),
        ("mc user id text", 0x01, enc(with(mc_base(), 3, Some(Value::map([(t("id"), t("a"))]))))),
        ("mc user id 65 bytes", 0x01, enc(with(mc_base(), 3, Some(Value::map([(t("id"), bytes(65))]))))),
        ("mc user name bytes", 0x01, enc(with(mc_base(), 3, Some(Value::map([(t("id"), bytes(4)), (t("name"), bytes(1))]))))),
        ("mc user displayName int", 0x01, enc(with(mc_base(), 3, Some(Value::map([(t("id"), bytes(4)), (t("displayName"), u(1))]))))),
        ("mc 4 missing", 0x01, enc(with(mc_base(), 4, None))),
        ("mc 4 map", 0x01, enc(with(mc_base(), 4, Some(Value::map([]))))),
        ("mc 4 entry alg missing", 0x01, enc(with(mc_base(), 4, Some(Value::Array(vec![Value::map([(t("type"), t("public-key"))])]))))),
        ("mc 4 entry alg text", 0x01, enc(with(mc_base(), 4, Some(Value::Array(vec![alg(t("x"), t("public-key"))]))))),
        ("mc 4 entry type int", 0x01, enc(with(mc_base(), 4, Some(Value::Array(vec![alg(Value::int(-7), u(1))]))))),
        ("mc 4 entry not map", 0x01, enc(with(mc_base(), 4, Some(Value::Array(vec![u(1)]))))),
        ("mc 4 rs256 only", 0x01, enc(with(mc_base(), 4, Some(Value::Array(vec![alg(Value::int(-257), t("public-key"))]))))),
        ("mc 4 empty", 0x01, enc(with(mc_base(), 4, Some(Value::Array(vec![]))))),
        ("mc 5 map", 0x01, enc(with(mc_base(), 5, Some(Value::map([]))))),
        ("mc 5 entry id missing", 0x01, enc(with(mc_base(), 5, Some(Value::Array(vec![Value::map([(t("type"), t("public-key"))])]))))),
        ("mc 5 entry id text", 0x01, enc(with(mc_base(), 5, Some(Value::Array(vec![Value::map([(t("type"), t("public-key")), (t("id"), t("x"))])]))))),
        ("mc 5 entry type missing", 0x01, enc(with(mc_base(), 5, Some(Value::Array(vec![Value::map([(t("id"), bytes(16))])]))))),
        ("mc 6 array", 0x01, enc(with(mc_base(), 6, Some(Value::Array(vec![]))))),
        ("mc 6 credProtect text", 0x01, enc(with(mc_base(), 6, Some(Value::map([(t("credProtect"), t("x"))]))))),
        ("mc 6 credProtect 9", 0x01, enc(with(mc_base(), 6, Some(Value::map([(t("credProtect"), u(9))]))))),
        ("mc 6 hmac-secret int", 0x01, enc(with(mc_base(), 6, Some(Value::map([(t("hmac-secret"), u(1))]))))),
        ("mc 6 credBlob text", 0x01, enc(with(mc_base(), 6, Some(Value::map([(t("credBlob"), t("x"))]))))),
        ("mc 6 credBlob too long", 0x01, enc(with(mc_base(), 6, Some(Value::map([(t("credBlob"), bytes(33))]))))),
        ("mc 6 minPinLength int", 0x01, enc(with(mc_base(), 6, Some(Value::map([(t("minPinLength"), u(1))]))))),
        ("mc 7 array", 0x01, enc(with(mc_base(), 7, Some(Value::Array(vec![]))))),
        ("mc 7 rk int", 0x01, enc(with(mc_base(), 7, Some(Value::map([(t("rk"), u(1))]))))),
        ("mc 7 up false", 0x01, enc(with(mc_base(), 7, Some(Value::map([(t("up"), Value::Bool(false))]))))),
        ("mc 7 uv text", 0x01, enc(with(mc_base(), 7, Some(Value::map([(t("uv"), t("x"))]))))),
        ("mc 8 text", 0x01, enc(with(mc_base(), 8, Some(t("x"))))),
        ("mc 8 without 9", 0x01, enc(with(mc_base(), 8, Some(bytes(32))))),
        ("mc 8 with 9=3", 0x01, enc(with(with(mc_base(), 8, Some(bytes(32))), 9, Some(u(3))))),
        ("mc 8 with 9=2", 0x01, enc(with(with(mc_base(), 8, Some(bytes(32))), 9, Some(u(2))))),
        ("mc 9 text", 0x01, enc(with(mc_base(), 9, Some(t("x"))))),
        ("mc 10 text", 0x01, enc(with(mc_base(), 10, Some(t("x"))))),
        ("mc 10 = 1", 0x01, enc(with(mc_base(), 10, Some(u(1))))),
        ("mc 4 missing and 5 bad", 0x01, enc(with(with(mc_base(), 4, None), 5, Some(u(1))))),
        ("mc 5 bad and rp id missing", 0x01, enc(with(with(mc_base(), 5, Some(u(1))), 2, Some(Value::map([]))))),
        ("mc rp id missing and 9 text", 0x01, enc(with(with(mc_base(), 9, Some(t("x"))), 2, Some(Value::map([]))))),
        ("mc user id long and 7 bad", 0x01, enc(with(with(mc_base(), 7, Some(u(1))), 3, Some(Value::map([(t("id"), bytes(65))]))))),
        ("mc 6 bad and 7 bad", 0x01, enc(with(with(mc_base(), 6, Some(u(1))), 7, Some(u(1))))),
        ("mc 7 bad and 4 entry bad", 0x01, enc(with(with(mc_base(), 7, Some(u(1))), 4, Some(Value::Array(vec![u(1)]))))),
        ("mc rs256 and 10 and up false", 0x01, enc(with(with(with(mc_base(), 4, Some(Value::Array(vec![alg(Value::int(-257), t("public-key"))]))), 10, Some(u(1))), 7, Some(Value::map([(t("up"), Value::Bool(false))]))))),
        ("mc 10 and up false", 0x01, enc(with(with(mc_base(), 10, Some(u(1))), 7, Some(Value::map([(t("up"), Value::Bool(false))]))))),
        ("mc rs256 and 8 empty", 0x01, enc(with(with(mc_base(), 4, Some(Value::Array(vec![alg(Value::int(-257), t("public-key"))]))), 8, Some(bytes(0))))),
        ("mc up false and 8 without 9", 0x01, enc(with(with(mc_base(), 7, Some(Value::map([(t("up"), Value::Bool(false))]))), 8, Some(bytes(32))))),
        ("mc rk true without pin", 0x01, enc(with(mc_base(), 7, Some(Value::map([(t("rk"), Value::Bool(true))]))))),
        ("ga empty", 0x02, vec![]),
        ("ga not a map", 0x02, cbor::encode(&u(1))),
        ("ga 1 missing", 0x02, enc(with(ga_base(), 1, None))),
        ("ga 1 bytes", 0x02, enc(with(ga_base(), 1, Some(bytes(3))))),
        ("ga 2 missing", 0x02, enc(with(ga_base(), 2, None))),
        ("ga 2 text", 0x02, enc(with(ga_base(), 2, Some(t("x"))))),
        ("ga 3 map", 0x02, enc(with(ga_base(), 3, Some(Value::map([]))))),
        ("ga 3 entry id missing", 0x02, enc(with(ga_base(), 3, Some(Value::Array(vec![Value::map([(t("type"), t("public-key"))])]))))),
        ("ga 3 entry not map", 0x02, enc(with(ga_base(), 3, Some(Value::Array(vec![t("x")]))))),
        ("ga 4 array", 0x02, enc(with(ga_base(), 4, Some(Value::Array(vec![]))))),
        ("ga 4 hmac-secret int", 0x02, enc(with(ga_base(), 4, Some(Value::map([(t("hmac-secret"), u(1))]))))),
        ("ga 4 hmac-secret empty map", 0x02, enc(with(ga_base(), 4, Some(Value::map([(t("hmac-secret"), Value::map([]))]))))),
        ("ga 4 credBlob int", 0x02, enc(with(ga_base(), 4, Some(Value::map([(t("credBlob"), u(1))]))))),
        ("ga 5 array", 0x02, enc(with(ga_base(), 5, Some(Value::Array(vec![]))))),
        ("ga 5 up int", 0x02, enc(with(ga_base(), 5, Some(Value::map([(t("up"), u(1))]))))),
        ("ga 5 rk true", 0x02, enc(with(ga_base(), 5, Some(Value::map([(t("rk"), Value::Bool(true))]))))),
        ("ga 5 rk false", 0x02, enc(with(ga_base(), 5, Some(Value::map([(t("rk"), Value::Bool(false))]))))),
        ("ga 6 text", 0x02, enc(with(ga_base(), 6, Some(t("x"))))),
        ("ga 6 without 7", 0x02, enc(with(ga_base(), 6, Some(bytes(32))))),
        ("ga 6 with 7=5", 0x02, enc(with(with(ga_base(), 6, Some(bytes(32))), 7, Some(u(5))))),
        ("ga 6 with 7=1", 0x02, enc(with(with(ga_base(), 6, Some(bytes(16))), 7, Some(u(1))))),
        ("ga 7 text", 0x02, enc(with(ga_base(), 7, Some(t("x"))))),
        ("ga 4 bad and 5 bad", 0x02, enc(with(with(ga_base(), 4, Some(u(1))), 5, Some(u(1))))),
        ("ga 4 bad and 7 bad", 0x02, enc(with(with(ga_base(), 4, Some(u(1))), 7, Some(t("x"))))),
        ("ga 3 bad and 1 missing", 0x02, enc(with(with(ga_base(), 3, Some(u(1))), 1, None))),
        ("ga rk and 6 without 7", 0x02, enc(with(with(ga_base(), 5, Some(Value::map([(t("rk"), Value::Bool(true))]))), 6, Some(bytes(32))))),
        ("ga up false and 6 empty", 0x02, enc(with(with(ga_base(), 5, Some(Value::map([(t("up"), Value::Bool(false))]))), 6, Some(bytes(0))))),
        ("ga no credentials", 0x02, enc(ga_base())),
        ("ga silent no credentials", 0x02, enc(with(ga_base(), 5, Some(Value::map([(t("up"), Value::Bool(false))]))))),
        ("gna with params", 0x08, enc(vec![])),
        ("gna nothing pending", 0x08, vec![]),
        ("info with params", 0x04, enc(vec![])),
        ("selection with params", 0x0B, enc(vec![])),
        ("reset with params", 0x07, enc(vec![])),
        ("unknown command", 0x42, vec![]),
    ];
    let pin = |entries: Vec<(i64, Value)>| {
        cbor::encode(&Value::map(entries.into_iter().map(|(key, v)| (k(key), v))))
    };
    let ka = || Value::map([(k(1), Value::int(2))]);
    cases.extend([
        ("pin empty", 0x06, vec![]),
        ("pin not a map", 0x06, cbor::encode(&t("x"))),
        ("pin 2 missing", 0x06, pin(vec![(1, u(2))])),
        ("pin 2 text", 0x06, pin(vec![(1, u(2)), (2, t("x"))])),
        ("pin 1 text", 0x06, pin(vec![(1, t("x")), (2, u(1))])),
        ("pin 4 text", 0x06, pin(vec![(2, u(1)), (4, t("x"))])),
        ("pin 5 text", 0x06, pin(vec![(2, u(1)), (5, t("x"))])),
        ("pin 6 text", 0x06, pin(vec![(2, u(1)), (6, t("x"))])),
        ("pin 9 text", 0x06, pin(vec![(2, u(1)), (9, t("x"))])),
        ("pin 10 bytes", 0x06, pin(vec![(2, u(1)), (10, bytes(2))])),
        ("pin 9 negative", 0x06, pin(vec![(2, u(1)), (9, Value::int(-1))])),
        ("pin unknown subcommand", 0x06, pin(vec![(1, u(2)), (2, u(0xff))])),
        ("pin subcommand 8", 0x06, pin(vec![(1, u(2)), (2, u(8))])),
        ("pin getPinRetries without protocol", 0x06, pin(vec![(2, u(1))])),
        ("pin getUvRetries", 0x06, pin(vec![(2, u(7))])),
        ("pin getKeyAgreement without protocol", 0x06, pin(vec![(2, u(2))])),
        ("pin getKeyAgreement protocol 3", 0x06, pin(vec![(1, u(3)), (2, u(2))])),
        ("pin setPin without protocol", 0x06, pin(vec![(2, u(3))])),
        ("pin setPin 3 missing", 0x06, pin(vec![(1, u(2)), (2, u(3)), (4, bytes(32)), (5, bytes(80))])),
        ("pin setPin 5 missing", 0x06, pin(vec![(1, u(2)), (2, u(3)), (3, ka()), (4, bytes(32))])),
        ("pin setPin 4 missing", 0x06, pin(vec![(1, u(2)), (2, u(3)), (3, ka()), (5, bytes(80))])),
        ("pin setPin bad key", 0x06, pin(vec![(1, u(2)), (2, u(3)), (3, ka()), (4, bytes(32)), (5, bytes(80))])),
        ("pin setPin key not map", 0x06, pin(vec![(1, u(2)), (2, u(3)), (3, u(1)), (4, bytes(32)), (5, bytes(80))])),
        ("pin changePin 6 missing", 0x06, pin(vec![(1, u(2)), (2, u(4)), (3, ka()), (4, bytes(32)), (5, bytes(80))])),
        ("pin changePin 4 missing", 0x06, pin(vec![(1, u(2)), (2, u(4)), (3, ka()), (5, bytes(80)), (6, bytes(32))])),
        ("pin changePin no pin", 0x06, pin(vec![(1, u(2)), (2, u(4)), (3, ka()), (4, bytes(32)), (5, bytes(80)), (6, bytes(32))])),
        ("pin getPinToken with 9", 0x06, pin(vec![(1, u(2)), (2, u(5)), (3, ka()), (6, bytes(32)), (9, u(1))])),
        ("pin getPinToken with 10", 0x06, pin(vec![(1, u(2)), (2, u(5)), (3, ka()), (6, bytes(32)), (10, t("a"))])),
        ("pin getPinToken with 9 no protocol", 0x06, pin(vec![(2, u(5)), (9, u(1))])),
        ("pin getPinToken 3 missing", 0x06, pin(vec![(1, u(2)), (2, u(5)), (6, bytes(32))])),
        ("pin getPinToken 6 missing", 0x06, pin(vec![(1, u(2)), (2, u(5)), (3, ka())])),
        ("pin getPinToken bad key", 0x06, pin(vec![(1, u(2)), (2, u(5)), (3, ka()), (6, bytes(32))])),
        ("pin 9: 9 missing", 0x06, pin(vec![(1, u(2)), (2, u(9)), (3, ka()), (6, bytes(32))])),
        ("pin 9: 6 missing", 0x06, pin(vec![(1, u(2)), (2, u(9)), (3, ka()), (9, u(1))])),
        ("pin 9: permissions 0", 0x06, pin(vec![(1, u(2)), (2, u(9)), (3, ka()), (6, bytes(32)), (9, u(0))])),
        ("pin 9: permissions 0x100", 0x06, pin(vec![(1, u(2)), (2, u(9)), (3, ka()), (6, bytes(32)), (9, u(0x100))])),
        ("pin 9: permissions 0x40", 0x06, pin(vec![(1, u(2)), (2, u(9)), (3, ka()), (6, bytes(32)), (9, u(0x40))])),
        ("pin 9: mc without rp", 0x06, pin(vec![(1, u(2)), (2, u(9)), (3, ka()), (6, bytes(32)), (9, u(1))])),
        ("pin 9: bad key", 0x06, pin(vec![(1, u(2)), (2, u(9)), (3, ka()), (6, bytes(32)), (9, u(4))])),
        ("pin 6: 9 missing", 0x06, pin(vec![(1, u(2)), (2, u(6)), (3, ka())])),
        ("pin 6: 3 missing", 0x06, pin(vec![(1, u(2)), (2, u(6)), (9, u(4))])),
        ("pin 6: mixed", 0x06, pin(vec![(1, u(2)), (2, u(6)), (3, ka()), (9, u(0x21)), (10, t("a"))])),
        ("pin 6: bad key", 0x06, pin(vec![(1, u(2)), (2, u(6)), (3, ka()), (9, u(4))])),
        ("cm empty", 0x0A, vec![]),
        ("cm 1 missing", 0x0A, pin(vec![(3, u(2))])),
        ("cm 1 text", 0x0A, pin(vec![(1, t("x"))])),
        ("cm 3 text", 0x0A, pin(vec![(1, u(1)), (3, t("x"))])),
        ("cm 4 text", 0x0A, pin(vec![(1, u(1)), (4, t("x"))])),
        ("cm unknown subcommand", 0x0A, pin(vec![(1, u(0x42))])),
        ("cm getNextRp", 0x0A, pin(vec![(1, u(3))])),
        ("cm getNextCredential", 0x0A, pin(vec![(1, u(5))])),
        ("cm metadata without 4", 0x0A, pin(vec![(1, u(1)), (3, u(2))])),
        ("cm metadata without 3", 0x0A, pin(vec![(1, u(1)), (4, bytes(32))])),
        ("cm metadata 3=7", 0x0A, pin(vec![(1, u(1)), (3, u(7)), (4, bytes(32))])),
        ("cm metadata no token", 0x0A, pin(vec![(1, u(1)), (3, u(2)), (4, bytes(32))])),
        ("cm delete 2 bad, no token", 0x0A, pin(vec![(1, u(6)), (2, u(1)), (3, u(2)), (4, bytes(32))])),
        ("acfg empty", 0x0D, vec![]),
        ("acfg 1 missing", 0x0D, pin(vec![(3, u(2))])),
        ("acfg 1 text", 0x0D, pin(vec![(1, t("x"))])),
        ("acfg 3 text", 0x0D, pin(vec![(1, u(2)), (3, t("x"))])),
        ("acfg 4 text", 0x0D, pin(vec![(1, u(2)), (4, t("x"))])),
        ("acfg enterprise", 0x0D, pin(vec![(1, u(1))])),
        ("acfg vendor", 0x0D, pin(vec![(1, u(0xff))])),
        ("acfg toggle without 4", 0x0D, pin(vec![(1, u(2))])),
        ("acfg toggle without 3", 0x0D, pin(vec![(1, u(2)), (4, bytes(32))])),
        ("acfg toggle 3=9", 0x0D, pin(vec![(1, u(2)), (3, u(9)), (4, bytes(32))])),
        ("acfg toggle no token", 0x0D, pin(vec![(1, u(2)), (3, u(2)), (4, bytes(32))])),
    ]);
    cases
}

/// Sub-command parameters are read only once a token authenticated them: (name, command,
/// subCommand, subCommandParams).
#[rustfmt::skip]
fn authenticated_malformed() -> Vec<(&'static str, u8, u64, Option<Value>)> {
    let sp = |entries: Vec<(i64, Value)>| {
        Some(Value::map(entries.into_iter().map(|(key, v)| (k(key), v))))
    };
    let descriptor = |id: Value| Value::map([(t("type"), t("public-key")), (t("id"), id)]);
    vec![
        ("cm metadata", 0x0A, 1, None),
        ("cm metadata with params", 0x0A, 1, sp(vec![(1, u(1))])),
        ("cm rps begin, none", 0x0A, 2, None),
        ("cm creds begin without params", 0x0A, 4, None),
        ("cm creds begin params not map", 0x0A, 4, Some(u(1))),
        ("cm creds begin 1 missing", 0x0A, 4, sp(vec![(2, bytes(32))])),
        ("cm creds begin 1 text", 0x0A, 4, sp(vec![(1, t("x"))])),
        ("cm creds begin none", 0x0A, 4, sp(vec![(1, bytes(32))])),
        ("cm delete without params", 0x0A, 6, None),
        ("cm delete params array", 0x0A, 6, Some(Value::Array(vec![]))),
        ("cm delete 2 missing", 0x0A, 6, sp(vec![(1, bytes(32))])),
        ("cm delete 2 not map", 0x0A, 6, sp(vec![(2, bytes(16))])),
        ("cm delete 2 id missing", 0x0A, 6, sp(vec![(2, Value::map([(t("type"), t("public-key"))]))])),
        ("cm delete 2 id text", 0x0A, 6, sp(vec![(2, descriptor(t("x")))])),
        ("cm delete unknown", 0x0A, 6, sp(vec![(2, descriptor(bytes(16)))])),
        ("cm update without params", 0x0A, 7, None),
        ("cm update 2 missing", 0x0A, 7, sp(vec![(3, Value::map([(t("id"), bytes(4))]))])),
        ("cm update 3 missing", 0x0A, 7, sp(vec![(2, descriptor(bytes(16)))])),
        ("cm update 3 not map", 0x0A, 7, sp(vec![(2, descriptor(bytes(16))), (3, u(1))])),
        ("cm update user id missing", 0x0A, 7, sp(vec![(2, descriptor(bytes(16))), (3, Value::map([(t("name"), t("a"))]))])),
        ("cm update user name int", 0x0A, 7, sp(vec![(2, descriptor(bytes(16))), (3, Value::map([(t("id"), bytes(4)), (t("name"), u(1))]))])),
        ("cm update unknown", 0x0A, 7, sp(vec![(2, descriptor(bytes(16))), (3, Value::map([(t("id"), bytes(4))]))])),
        ("cm update 2 bad and 3 bad", 0x0A, 7, sp(vec![(2, u(1)), (3, u(1))])),
        ("acfg min params not map", 0x0D, 3, Some(u(1))),
        ("acfg min 1 text", 0x0D, 3, sp(vec![(1, t("x"))])),
        ("acfg min 1 = 64", 0x0D, 3, sp(vec![(1, u(64))])),
        ("acfg min 1 = 300", 0x0D, 3, sp(vec![(1, u(300))])),
        ("acfg min 1 = 2", 0x0D, 3, sp(vec![(1, u(2))])),
        ("acfg min 2 not array", 0x0D, 3, sp(vec![(2, t("x"))])),
        ("acfg min 2 entry bytes", 0x0D, 3, sp(vec![(2, Value::Array(vec![bytes(1)]))])),
        ("acfg min 2 nine ids", 0x0D, 3, sp(vec![(2, Value::Array(vec![t("a"); 9]))])),
        ("acfg min 3 int", 0x0D, 3, sp(vec![(3, u(1))])),
        ("acfg min 3 true without pin", 0x0D, 3, sp(vec![(3, Value::Bool(true))])),
        ("acfg min 1 bad and 2 bad", 0x0D, 3, sp(vec![(1, t("x")), (2, t("x"))])),
        ("acfg min 2 long and 3 bad", 0x0D, 3, sp(vec![(2, Value::Array(vec![t("a"); 9])), (3, u(1))])),
        ("acfg min 1 = 64 and 3 bad", 0x0D, 3, sp(vec![(1, u(64)), (3, u(1))])),
        ("acfg min 6", 0x0D, 3, sp(vec![(1, u(6))])),
        ("acfg min back to 5", 0x0D, 3, sp(vec![(1, u(5))])),
        ("acfg toggle", 0x0D, 2, None),
    ]
}

async fn status_of(engine: &CtapEngine, command: u8, params: &[u8]) -> u8 {
    let mut request = vec![command];
    request.extend_from_slice(params);
    engine
        .handle(&request, &RequestSignals::new(Origin::app()))
        .await[0]
}

/// The status of an authenticated subcommand: a fresh token with `permission` authenticates
/// subCommand || subCommandParams (authenticatorConfig: prefixed by 32×0xff || 0x0d).
async fn authenticated_status_of(
    engine: &CtapEngine,
    command: u8,
    sub_command: u64,
    sub_params: Option<Value>,
    permission: u64,
) -> u8 {
    use authenticator_core::ctap::pin_protocol::authenticate_with_token;
    let (status, token) = get_uv_token(engine, permission, None).await;
    assert_eq!(status, 0);
    let mut message = if command == 0x0D {
        let mut m = vec![0xff; 32];
        m.push(0x0D);
        m
    } else {
        Vec::new()
    };
    message.push(u8::try_from(sub_command).unwrap());
    if let Some(sp) = &sub_params {
        message.extend_from_slice(&cbor::encode(sp));
    }
    let param = authenticate_with_token(PinUvAuthProtocol::Two, &token.unwrap(), &message);
    let mut entries = vec![
        (k(1), Value::Unsigned(sub_command)),
        (k(3), Value::Unsigned(2)),
        (k(4), Value::from(param)),
    ];
    if let Some(sp) = sub_params {
        entries.push((k(2), sp));
    }
    status_of(engine, command, &cbor::encode(&Value::map(entries))).await
}
/// Every status here was read from the engine as it was before the requests were typed
/// (ed06c11), request by request, and is kept as it was.
#[rustfmt::skip]
const STATELESS_STATUSES: &[(&str, u8)] = &[
    ("mc empty", 0x14),
    ("mc not a map", 0x11),
    ("mc bad cbor", 0x12),
    ("mc 1 missing", 0x14),
    ("mc 1 text", 0x11),
    ("mc 2 missing", 0x14),
    ("mc 2 text", 0x11),
    ("mc rp id missing", 0x14),
    ("mc rp id bytes", 0x11),
    ("mc rp id too long", 0x03),
    ("mc rp name int", 0x11),
    ("mc 3 missing", 0x14),
    ("mc 3 array", 0x11),
    ("mc user id missing", 0x14),
    ("mc user id text", 0x11),
    ("mc user id 65 bytes", 0x03),
    ("mc user name bytes", 0x11),
    ("mc user displayName int", 0x11),
    ("mc 4 missing", 0x14),
    ("mc 4 map", 0x11),
    ("mc 4 entry alg missing", 0x14),
    ("mc 4 entry alg text", 0x11),
    ("mc 4 entry type int", 0x11),
    ("mc 4 entry not map", 0x11),
    ("mc 4 rs256 only", 0x26),
    ("mc 4 empty", 0x26),
    ("mc 5 map", 0x11),
    ("mc 5 entry id missing", 0x14),
    ("mc 5 entry id text", 0x11),
    ("mc 5 entry type missing", 0x14),
    ("mc 6 array", 0x11),
    ("mc 6 credProtect text", 0x11),
    ("mc 6 credProtect 9", 0x02),
    ("mc 6 hmac-secret int", 0x11),
    ("mc 6 credBlob text", 0x11),
    ("mc 6 credBlob too long", 0x00),
    ("mc 6 minPinLength int", 0x11),
    ("mc 7 array", 0x11),
    ("mc 7 rk int", 0x11),
    ("mc 7 up false", 0x2c),
    ("mc 7 uv text", 0x11),
    ("mc 8 text", 0x11),
    ("mc 8 without 9", 0x14),
    ("mc 8 with 9=3", 0x02),
    ("mc 8 with 9=2", 0x33),
    ("mc 9 text", 0x11),
    ("mc 10 text", 0x11),
    ("mc 10 = 1", 0x02),
    ("mc 4 missing and 5 bad", 0x14),
    ("mc 5 bad and rp id missing", 0x11),
    ("mc rp id missing and 9 text", 0x11),
    ("mc user id long and 7 bad", 0x03),
    ("mc 6 bad and 7 bad", 0x11),
    ("mc 7 bad and 4 entry bad", 0x11),
    ("mc rs256 and 10 and up false", 0x26),
    ("mc 10 and up false", 0x02),
    ("mc rs256 and 8 empty", 0x35),
    ("mc up false and 8 without 9", 0x14),
    ("mc rk true without pin", 0x36),
    ("ga empty", 0x14),
    ("ga not a map", 0x11),
    ("ga 1 missing", 0x14),
    ("ga 1 bytes", 0x11),
    ("ga 2 missing", 0x14),
    ("ga 2 text", 0x11),
    ("ga 3 map", 0x11),
    ("ga 3 entry id missing", 0x14),
    ("ga 3 entry not map", 0x11),
    ("ga 4 array", 0x11),
    ("ga 4 hmac-secret int", 0x11),
    ("ga 4 hmac-secret empty map", 0x14),
    ("ga 4 credBlob int", 0x11),
    ("ga 5 array", 0x11),
    ("ga 5 up int", 0x11),
    ("ga 5 rk true", 0x2b),
    ("ga 5 rk false", 0x2b),
    ("ga 6 text", 0x11),
    ("ga 6 without 7", 0x14),
    ("ga 6 with 7=5", 0x02),
    ("ga 6 with 7=1", 0x33),
    ("ga 7 text", 0x11),
    ("ga 4 bad and 5 bad", 0x11),
    ("ga 4 bad and 7 bad", 0x11),
    ("ga 3 bad and 1 missing", 0x14),
    ("ga rk and 6 without 7", 0x14),
    ("ga up false and 6 empty", 0x35),
    ("ga no credentials", 0x2e),
    ("ga silent no credentials", 0x2e),
    ("gna with params", 0x03),
    ("gna nothing pending", 0x30),
    ("info with params", 0x03),
    ("selection with params", 0x03),
    ("reset with params", 0x03),
    ("unknown command", 0x01),
    ("pin empty", 0x14),
    ("pin not a map", 0x11),
    ("pin 2 missing", 0x14),
    ("pin 2 text", 0x11),
    ("pin 1 text", 0x11),
    ("pin 4 text", 0x11),
    ("pin 5 text", 0x11),
    ("pin 6 text", 0x11),
    ("pin 9 text", 0x11),
    ("pin 10 bytes", 0x11),
    ("pin 9 negative", 0x11),
    ("pin unknown subcommand", 0x3e),
    ("pin subcommand 8", 0x3e),
    ("pin getPinRetries without protocol", 0x00),
    ("pin getUvRetries", 0x00),
    ("pin getKeyAgreement without protocol", 0x14),
    ("pin getKeyAgreement protocol 3", 0x02),
    ("pin setPin without protocol", 0x14),
    ("pin setPin 3 missing", 0x14),
    ("pin setPin 5 missing", 0x14),
    ("pin setPin 4 missing", 0x14),
    ("pin setPin bad key", 0x14),
    ("pin setPin key not map", 0x02),
    ("pin changePin 6 missing", 0x14),
    ("pin changePin 4 missing", 0x14),
    ("pin changePin no pin", 0x14),
    ("pin getPinToken with 9", 0x02),
    ("pin getPinToken with 10", 0x02),
    ("pin getPinToken with 9 no protocol", 0x14),
    ("pin getPinToken 3 missing", 0x14),
    ("pin getPinToken 6 missing", 0x14),
    ("pin getPinToken bad key", 0x14),
    ("pin 9: 9 missing", 0x14),
    ("pin 9: 6 missing", 0x14),
    ("pin 9: permissions 0", 0x02),
    ("pin 9: permissions 0x100", 0x40),
    ("pin 9: permissions 0x40", 0x40),
    ("pin 9: mc without rp", 0x14),
    ("pin 9: bad key", 0x14),
    ("pin 6: 9 missing", 0x14),
    ("pin 6: 3 missing", 0x14),
    ("pin 6: mixed", 0x40),
    ("pin 6: bad key", 0x14),
    ("cm empty", 0x14),
    ("cm 1 missing", 0x14),
    ("cm 1 text", 0x11),
    ("cm 3 text", 0x11),
    ("cm 4 text", 0x11),
    ("cm unknown subcommand", 0x3e),
    ("cm getNextRp", 0x30),
    ("cm getNextCredential", 0x30),
    ("cm metadata without 4", 0x36),
    ("cm metadata without 3", 0x14),
    ("cm metadata 3=7", 0x02),
    ("cm metadata no token", 0x33),
    ("cm delete 2 bad, no token", 0x33),
    ("acfg empty", 0x14),
    ("acfg 1 missing", 0x14),
    ("acfg 1 text", 0x11),
    ("acfg 3 text", 0x11),
    ("acfg 4 text", 0x11),
    ("acfg enterprise", 0x3e),
    ("acfg vendor", 0x3e),
    ("acfg toggle without 4", 0x36),
    ("acfg toggle without 3", 0x14),
    ("acfg toggle 3=9", 0x02),
    ("acfg toggle no token", 0x33),
];

#[rustfmt::skip]
const AUTHENTICATED_STATUSES: &[(&str, u8)] = &[
    ("cm metadata", 0x00),
    ("cm metadata with params", 0x00),
    ("cm rps begin, none", 0x2e),
    ("cm creds begin without params", 0x14),
    ("cm creds begin params not map", 0x11),
    ("cm creds begin 1 missing", 0x14),
    ("cm creds begin 1 text", 0x11),
    ("cm creds begin none", 0x2e),
    ("cm delete without params", 0x14),
    ("cm delete params array", 0x11),
    ("cm delete 2 missing", 0x14),
    ("cm delete 2 not map", 0x11),
    ("cm delete 2 id missing", 0x14),
    ("cm delete 2 id text", 0x11),
    ("cm delete unknown", 0x2e),
    ("cm update without params", 0x14),
    ("cm update 2 missing", 0x14),
    ("cm update 3 missing", 0x14),
    ("cm update 3 not map", 0x11),
    ("cm update user id missing", 0x14),
    ("cm update user name int", 0x11),
    ("cm update unknown", 0x2e),
    ("cm update 2 bad and 3 bad", 0x11),
    ("acfg min params not map", 0x11),
    ("acfg min 1 text", 0x11),
    ("acfg min 1 = 64", 0x37),
    ("acfg min 1 = 300", 0x37),
    ("acfg min 1 = 2", 0x37),
    ("acfg min 2 not array", 0x11),
    ("acfg min 2 entry bytes", 0x11),
    ("acfg min 2 nine ids", 0x37),
    ("acfg min 3 int", 0x11),
    ("acfg min 3 true without pin", 0x35),
    ("acfg min 1 bad and 2 bad", 0x11),
    ("acfg min 2 long and 3 bad", 0x37),
    ("acfg min 1 = 64 and 3 bad", 0x11),
    ("acfg min 6", 0x00),
    ("acfg min back to 5", 0x37),
    ("acfg toggle", 0x00),
];

#[tokio::test]
async fn malformed_requests_keep_their_statuses() {
    let phone = Phone::new();
    let engine = phone.power_up_with(verifier(VerificationOutcome::Verified));
    let cases = stateless_malformed();
    assert_eq!(cases.len(), STATELESS_STATUSES.len());
    for ((name, command, params), (expected_name, expected)) in
        cases.into_iter().zip(STATELESS_STATUSES)
    {
        assert_eq!(name, *expected_name);
        let status = status_of(&engine, command, &params).await;
        assert_eq!(status, *expected, "{name}");
    }
    let cases = authenticated_malformed();
    assert_eq!(cases.len(), AUTHENTICATED_STATUSES.len());
    for ((name, command, sub_command, sub_params), (expected_name, expected)) in
        cases.into_iter().zip(AUTHENTICATED_STATUSES)
    {
        assert_eq!(name, *expected_name);
        let permission = if command == 0x0D { ACFG } else { CM };
        let status =
            authenticated_status_of(&engine, command, sub_command, sub_params, permission).await;
        assert_eq!(status, *expected, "{name}");
    }
}
