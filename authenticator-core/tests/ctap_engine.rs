//! The CTAP engine's guarantees that a client alone cannot see: sign counters that only move
//! forward across power cycles with few flushes, PIN retries that are durable, the core's own
//! timeout and cancellation around prompts. (Protocol conformance against a real client is in
//! tests/conformance, driven by python-fido2.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use authenticator_core::cbor::{self, Value};
use authenticator_core::ctap::pin_protocol::{PinUvAuthProtocol, platform_encapsulate};
use authenticator_core::ctap::{CtapEngine, EngineConfig};
use authenticator_core::platform::{
    AccountOption, PresencePrompt, SoftwareKeyProtector, SystemClock, UserEvent, UserInterface,
    UserInterfaceError, VerificationOutcome,
};
use authenticator_core::request::{Origin, RequestSignals};
use authenticator_core::vault::Vault;
use sha2::{Digest, Sha256};

/// A user who allows everything at once, or never answers.
struct User {
    answers: bool,
}

#[async_trait::async_trait]
impl UserInterface for User {
    async fn confirm_presence(&self, _: PresencePrompt) -> Result<bool, UserInterfaceError> {
        if !self.answers {
            std::future::pending::<()>().await;
        }
        Ok(true)
    }
    async fn verify_user(
        &self,
        p: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError> {
        self.confirm_presence(p)
            .await
            .map(|_| VerificationOutcome::Verified)
    }
    async fn choose_account(
        &self,
        _: String,
        _: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError> {
        Ok(Some(0))
    }
    fn notify(&self, _: UserEvent) -> Result<(), UserInterfaceError> {
        Ok(())
    }
}

struct Phone {
    _dir: tempfile::TempDir,
    vault: Arc<Vault>,
}

impl Phone {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let protector = SoftwareKeyProtector::new(dir.path().join("device.key"));
        let vault = Arc::new(Vault::open(dir.path().join("vault.db"), &protector).unwrap());
        Self { _dir: dir, vault }
    }

    /// A new engine on the same vault: the authenticator's power cycle.
    fn power_up(&self, answers: bool, timeout: Duration) -> CtapEngine {
        let config = EngineConfig {
            user_action_timeout: timeout,
            ..EngineConfig::default()
        };
        CtapEngine::new(
            self.vault.clone(),
            Arc::new(User { answers }),
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

#[tokio::test]
async fn a_user_who_does_not_answer_gets_user_action_timeout_and_nothing_is_stored() {
    let phone = Phone::new();
    let engine = phone.power_up(false, Duration::from_millis(50));
    let (status, _) = call(&engine, 0x01, make_credential_request("slow.example")).await;
    assert_eq!(status, 0x2F, "CTAP2_ERR_USER_ACTION_TIMEOUT");
    assert_eq!(phone.vault.credentials().count().unwrap(), 0);
}

#[tokio::test]
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

/// A user whose built-in verification answers `outcome`, recording every prompt.
struct Verifier {
    outcome: std::sync::Mutex<VerificationOutcome>,
    prompts: std::sync::Mutex<Vec<PresencePrompt>>,
}

impl Verifier {
    fn new(outcome: VerificationOutcome) -> Arc<Self> {
        Arc::new(Self {
            outcome: std::sync::Mutex::new(outcome),
            prompts: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn answer(&self, outcome: VerificationOutcome) {
        *self.outcome.lock().unwrap() = outcome;
    }

    fn prompts(&self) -> Vec<PresencePrompt> {
        self.prompts.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl UserInterface for Verifier {
    async fn confirm_presence(&self, p: PresencePrompt) -> Result<bool, UserInterfaceError> {
        self.prompts.lock().unwrap().push(p);
        Ok(true)
    }
    async fn verify_user(
        &self,
        p: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError> {
        self.prompts.lock().unwrap().push(p);
        Ok(*self.outcome.lock().unwrap())
    }
    async fn choose_account(
        &self,
        _: String,
        _: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError> {
        Ok(Some(0))
    }
    fn notify(&self, _: UserEvent) -> Result<(), UserInterfaceError> {
        Ok(())
    }
}

impl Phone {
    fn power_up_with(&self, user: Arc<Verifier>) -> CtapEngine {
        CtapEngine::new(
            self.vault.clone(),
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
    let user = Verifier::new(VerificationOutcome::Verified);
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
    let user = Verifier::new(VerificationOutcome::Verified);
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
    let user = Verifier::new(VerificationOutcome::Declined);
    let engine = phone.power_up_with(user.clone());
    for _ in 0..10 {
        let (status, _) = get_uv_token(&engine, GA, Some("example.com")).await;
        assert_eq!(status, 0x27, "CTAP2_ERR_OPERATION_DENIED");
    }
    assert_eq!(uv_retries(&engine).await, 8);

    user.answer(VerificationOutcome::Failed);
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

    user.answer(VerificationOutcome::Verified);
    let (status, token) = get_uv_token(&engine, GA, Some("example.com")).await;
    assert_eq!((status, token.is_some()), (0, true));
}

#[tokio::test]
async fn a_pin_installed_outside_ctap_ends_earlier_tokens() {
    let phone = Phone::new();
    let engine = phone.power_up_with(Verifier::new(VerificationOutcome::Verified));
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
