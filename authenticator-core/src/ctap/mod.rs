//! The CTAP 2.1 authenticator engine (FIDO CTAP 2.1 specification, "CTAP 2.1").
//!
//! [`CtapEngine::handle`] takes one request (command byte + CBOR) from any transport and
//! returns the response (status byte + CBOR). Requests are served one at a time (getInfo, which
//! needs no volatile state, is answered at once even while another request waits for the
//! user): the engine's state (PIN/UV token, key agreement key, getNextAssertion and credential-management
//! enumeration state, sign-counter blocks) lives behind one async mutex. Each request carries
//! its [`Origin`](crate::request::Origin) in its [`RequestSignals`]; follow-up state belongs
//! to the origin that began it (see `follow_up`). Everything that
//! must survive a restart lives in the vault; everything here is "volatile" in the spec's sense
//! and is reset by a power cycle, which for the phone is a restart of the core or a new
//! engine for a new link session.
//!
//! One file per command (`authenticator_config` is authenticatorConfig, §6.11); `cose`,
//! `credential_key` (the passkeys' algorithms, ES256 and EdDSA, and their signer), `auth_data`, `pin_protocol`, `token_state`, `counters`, `prompts` (asking the user, with
//! the engine's timeout, cancel and keepalive rules), `extensions` and `key_pool` are the
//! shared pieces. The engine's own settings are [`EngineConfig`], here.

mod auth_data;

mod authenticator_config;
mod client_pin;
mod cose;
mod credential_key;
mod counters;
mod credential_management;
mod extensions;
mod follow_up;
mod get_assertion;
mod get_info;
mod key_pool;
mod make_credential;
mod params;
pub mod pin_protocol;
mod prompts;
mod reset;
mod selection;
mod silent_watch;
pub mod status;
mod token_state;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::cbor::{self, Value};
pub use auth_data::AttestationFormat;
use status::{CTAP1_ERR_INVALID_COMMAND, CTAP1_ERR_INVALID_LENGTH, CtapError, CtapResult};

use crate::platform::{Clock, UserInterface};
use crate::request::{Origin, RequestSignals};
use crate::secret::RandomUnavailable;
use crate::vault::Vault;

/// CTAP 2.1 §6 command bytes.
pub const CMD_MAKE_CREDENTIAL: u8 = 0x01;
pub const CMD_GET_ASSERTION: u8 = 0x02;
pub const CMD_GET_INFO: u8 = 0x04;
pub const CMD_CLIENT_PIN: u8 = 0x06;
pub const CMD_RESET: u8 = 0x07;
pub const CMD_GET_NEXT_ASSERTION: u8 = 0x08;
pub const CMD_CREDENTIAL_MANAGEMENT: u8 = 0x0A;
pub const CMD_SELECTION: u8 = 0x0B;
pub const CMD_CONFIG: u8 = 0x0D;
/// The CTAP 2.1 preview command number of credentialManagement, still used by some clients
/// that see "FIDO_2_1_PRE" in getInfo.
pub const CMD_CREDENTIAL_MANAGEMENT_PREVIEW: u8 = 0x41;

/// How the engine behaves; the defaults are the product's.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub attestation: AttestationFormat,
    /// How long the user has to answer a prompt.
    pub user_action_timeout: Duration,
    /// The phone offers its own user verification (biometrics / device credential).
    pub builtin_uv: bool,
    /// When several discoverable passkeys match and the client sent no allowList, let the user
    /// pick on the phone (one assertion, `userSelected`) instead of returning them all for the
    /// client's chooser (numberOfCredentials + getNextAssertion).
    pub select_account_on_device: bool,
    /// authenticatorReset is allowed only this long after power-up (CTAP 2.1 §6.6: 10 s).
    pub reset_window: Duration,
    /// Largest number of passkeys the vault accepts.
    pub max_credentials: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            attestation: AttestationFormat::PackedSelf,
            user_action_timeout: Duration::from_secs(30),
            builtin_uv: true,
            select_account_on_device: false,
            reset_window: Duration::from_secs(10),
            max_credentials: 10_000,
        }
    }
}

/// Whether the engine may serve requests now. The engine does not know why a phone would
/// refuse (a workspace key that is pending, suspended, revoked or locked): whoever builds the
/// engine gives it the policy (the facade and OBR sessions pass the workspace's key-status
/// gate, `workspace::KeyStatusGate`), so the engine depends on nothing above it.
pub trait ServingPolicy: Send + Sync {
    /// `Ok(true)` to serve; `Ok(false)` refuses everything but getInfo and selection with
    /// CTAP2_ERR_OPERATION_DENIED; an error is answered as the vault error's status.
    fn serving_allowed(&self) -> Result<bool, crate::vault::VaultError>;
}

/// The policy of a standalone authenticator, which no one can suspend: always serve.
#[derive(Debug, Clone, Copy, Default)]
#[cfg(any(test, feature = "pc"))]
pub struct AlwaysServe;

#[cfg(any(test, feature = "pc"))]
impl ServingPolicy for AlwaysServe {
    fn serving_allowed(&self) -> Result<bool, crate::vault::VaultError> {
        Ok(true)
    }
}

/// The authenticator: answers CTAP requests from any transport.
pub struct CtapEngine {
    vault: Arc<Vault>,
    /// Asked before every command but getInfo and selection.
    serving: Arc<dyn ServingPolicy>,
    ui: Arc<dyn UserInterface>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    state: Mutex<EngineState>,
    /// Credential keys made ahead of time for makeCredential.
    key_pool: Arc<key_pool::KeyPool>,
    /// Counts PINs installed outside CTAP; a token granted under an older count is void.
    /// Atomic so that a PIN change never waits for a request that holds `state`.
    pin_generation: AtomicU64,
}

/// Volatile state, reset at power-up.
struct EngineState {
    powered_up_at: Instant,
    tokens: token_state::TokenState,
    key_agreement: pin_protocol::KeyAgreementKey,
    /// Consecutive wrong PINs since power-up; 3 block PIN entry until the next power cycle.
    pin_mismatches: crate::vault::PinMismatches,
    /// getNextAssertion and enumeration state, per origin.
    follow_ups: follow_up::FollowUps,
    /// Signed silent assertions per paired PC.
    silent_watch: silent_watch::SilentWatch,
    counters: counters::CounterBlocks,
}

impl CtapEngine {
    /// An engine on `vault` that asks `serving` before every request but getInfo and
    /// selection. There is no default policy: a phone that belongs to a workspace must pass
    /// the workspace's key-status gate, and only a standalone authenticator `AlwaysServe`.
    pub fn new(
        vault: Arc<Vault>,
        serving: Arc<dyn ServingPolicy>,
        ui: Arc<dyn UserInterface>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Self, RandomUnavailable> {
        let key_pool = Arc::new(key_pool::KeyPool::new(key_pool::CAPACITY));
        // Inside a runtime the pool fills now; otherwise from the first makeCredential on.
        drop(key_pool.refill_in_background());
        Ok(Self {
            vault,
            serving,
            ui,
            clock,
            config,
            state: Mutex::new(EngineState {
                powered_up_at: Instant::now(),
                tokens: token_state::TokenState::new()?,
                key_agreement: pin_protocol::KeyAgreementKey::generate()
                    .map_err(|_| RandomUnavailable)?,
                pin_mismatches: crate::vault::PinMismatches::default(),
                follow_ups: follow_up::FollowUps::default(),
                silent_watch: silent_watch::SilentWatch::default(),
                counters: counters::CounterBlocks::default(),
            }),
            key_pool,
            pin_generation: AtomicU64::new(0),
        })
    }

    #[cfg(any(test, feature = "pc"))]
    pub fn vault(&self) -> &Arc<Vault> {
        &self.vault
    }

    /// The PIN was set or changed outside CTAP (the phone's own settings, activation with the
    /// workspace's PIN): PIN/UV auth tokens issued before stop working, as after clientPIN
    /// changePIN. Takes effect at once, even while a request is running.
    pub fn pin_changed_outside_ctap(&self) {
        self.pin_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// See `pin_changed_outside_ctap`.
    pub(crate) fn pin_generation(&self) -> u64 {
        self.pin_generation.load(Ordering::SeqCst)
    }

    /// The conversation `origin` ended (a closed connection or link session): its follow-up
    /// state goes at once instead of waiting to be pushed out.
    /// A link session's signed silent assertions not audited yet are audited now.
    pub async fn origin_ended(&self, origin: &Origin) {
        let mut state = self.state.lock().await;
        state.follow_ups.end(origin);
        if let Some(peer) = origin.link_peer()
            && let Some(record) = state.silent_watch.session_ended(peer)
        {
            silent_watch::write(self, peer, "", record);
        }
    }

    /// The getInfo response a hybrid session puts in its post-handshake message (CBOR, no
    /// status byte; CTAP 2.2 §11.5): the same the session's getInfo command answers.
    pub fn hybrid_get_info(&self) -> CtapResult<Vec<u8>> {
        get_info::get_info(&self.vault, &self.config, get_info::Form::Hybrid)
            .map(|info| cbor::encode(&info))
    }

    /// Whether the phone offers its own user verification (hybrid needs it).
    pub fn has_builtin_uv(&self) -> bool {
        self.config.builtin_uv
    }

    /// Answers one request from `signals.origin()`: `command || CBOR parameters` in,
    /// `status || CBOR` out.
    pub async fn handle(&self, request: &[u8], signals: &RequestSignals) -> Vec<u8> {
        let Some((&command, params)) = request.split_first() else {
            return vec![CTAP1_ERR_INVALID_LENGTH.0];
        };
        let origin = signals.origin();
        if command == CMD_GET_INFO {
            // getInfo ends its origin's follow-up state like any other command (§6.3, §6.8),
            // but is answered at once: while another request runs (it waits for the user, say)
            // the state is left as it is. That is the origin's own state, so nothing is served
            // to anyone else by it.
            if let Ok(mut state) = self.state.try_lock() {
                state.follow_ups.before_command(origin, false, false);
            }
            let form = match origin.kind() {
                crate::request::OriginKind::Hybrid => get_info::Form::Hybrid,
                _ => get_info::Form::Ordinary,
            };
            return respond(no_params(params).and_then(|()| {
                get_info::get_info(&self.vault, &self.config, form).map(Some)
            }));
        }
        let mut state = self.state.lock().await;
        // State for follow-up commands lives only until any other command from the same
        // origin (§6.3, §6.8); other origins' commands leave it alone.
        state.follow_ups.before_command(
            origin,
            command == CMD_GET_NEXT_ASSERTION,
            command == CMD_CREDENTIAL_MANAGEMENT || command == CMD_CREDENTIAL_MANAGEMENT_PREVIEW,
        );
        // A workspace key that is pending, suspended, revoked or locked serves nothing but
        // getInfo and selection (the workspace decides; the engine's `ServingPolicy` says).
        if command != CMD_GET_INFO && command != CMD_SELECTION {
            match self.serving.serving_allowed() {
                Ok(true) => {}
                Ok(false) => return vec![status::CTAP2_ERR_OPERATION_DENIED.0],
                Err(e) => return vec![CtapError::from(e).0],
            }
        }
        let mut cx = Context {
            engine: self,
            state: &mut state,
            signals,
        };
        let result = match command {
            CMD_MAKE_CREDENTIAL => make_credential::make_credential(&mut cx, params)
                .await
                .map(Some),
            CMD_GET_ASSERTION => get_assertion::get_assertion(&mut cx, params)
                .await
                .map(Some),
            CMD_GET_NEXT_ASSERTION => match no_params(params) {
                Ok(()) => get_assertion::get_next_assertion(&mut cx).map(Some),
                Err(e) => Err(e),
            },
            CMD_CLIENT_PIN => client_pin::client_pin(&mut cx, params).await.map(Some),
            CMD_RESET => match no_params(params) {
                // The passkeys every other origin's sequence lists are gone.
                Ok(()) => reset::reset(&mut cx).await.map(|()| {
                    cx.state.follow_ups.end_all();
                    None
                }),
                Err(e) => Err(e),
            },
            CMD_CREDENTIAL_MANAGEMENT | CMD_CREDENTIAL_MANAGEMENT_PREVIEW => {
                credential_management::credential_management(&mut cx, params).await
            }
            CMD_SELECTION => match no_params(params) {
                Ok(()) => selection::selection(&cx).await.map(|()| None),
                Err(e) => Err(e),
            },
            CMD_CONFIG => authenticator_config::config(&mut cx, params)
                .await
                .map(|()| None),
            _ => Err(CTAP1_ERR_INVALID_COMMAND),
        };
        respond(result)
    }
}

/// `status || CBOR`.
fn respond(result: CtapResult<Option<Value>>) -> Vec<u8> {
    match result {
        Ok(None) => vec![status::CTAP2_OK],
        Ok(Some(value)) => {
            let mut out = vec![status::CTAP2_OK];
            cbor::encode_into(&value, &mut out);
            out
        }
        Err(CtapError(code)) => vec![code],
    }
}

/// Commands without parameters must not be sent any.
fn no_params(params: &[u8]) -> CtapResult<()> {
    if params.is_empty() {
        Ok(())
    } else {
        Err(CTAP1_ERR_INVALID_LENGTH)
    }
}

/// Decodes a command's parameters: one canonical CBOR map.
fn decode_params(params: &[u8]) -> CtapResult<cbor::MapReader> {
    if params.is_empty() {
        return Err(status::CTAP2_ERR_MISSING_PARAMETER);
    }
    let value = cbor::decode(params)?;
    cbor::MapReader::new(value).map_err(|_| status::CTAP2_ERR_CBOR_UNEXPECTED_TYPE)
}

/// What a command handler works with.
struct Context<'a> {
    engine: &'a CtapEngine,
    state: &'a mut EngineState,
    signals: &'a RequestSignals,
}

impl<'a> Context<'a> {
    fn prompts(&self) -> prompts::Prompts<'_> {
        prompts::Prompts {
            ui: self.engine.ui.as_ref(),
            signals: self.signals,
            timeout: self.engine.config.user_action_timeout,
        }
    }

    fn vault(&self) -> &Vault {
        &self.engine.vault
    }

    /// Where the request came from (a reference that outlives `self`'s borrows of the state).
    fn origin(&self) -> &'a Origin {
        self.signals.origin()
    }

    fn config(&self) -> &EngineConfig {
        &self.engine.config
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_now(&self) -> u64 {
        self.engine.clock.now_unix_seconds()
    }
}

/// Key of a CBOR map entry, for building responses.
fn key(k: i64) -> Value {
    Value::int(k)
}

impl crate::request::CtapHandler for CtapEngine {
    fn handle_cbor<'a>(
        &'a self,
        request: Vec<u8>,
        signals: RequestSignals,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<u8>> + Send + 'a>> {
        Box::pin(async move { self.handle(&request, &signals).await })
    }

    fn origin_ended<'a>(
        &'a self,
        origin: &'a Origin,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(CtapEngine::origin_ended(self, origin))
    }
}

#[cfg(test)]
mod algorithm_tests;
