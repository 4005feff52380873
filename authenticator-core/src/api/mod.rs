//! The exported surface (uniffi): one long-lived [`Authenticator`] per process, opened on a data
//! folder with the app's [`KeyProtector`] and [`UserInterface`], and an optional [`CoreLogger`].
//! Kotlin and Swift see exactly what is exported here and in the sibling files (activation,
//! PIN, passkeys, pairing, the link service, OBR approvals, `handle_ctap`, the CTAP
//! channels of the app's transports, and hybrid sessions with browsers).
//!
//! Invariants: no panic crosses the boundary (async work runs on the object's own tokio
//! runtime and a panic there, or in a sync call, becomes [`AuthenticatorError::Internal`]);
//! every error is one [`AuthenticatorError`]; nothing secret is logged or put in an error.

mod activation;
#[cfg(target_os = "android")]
mod android;
mod approvals;
mod channel;
mod ctap;
mod error;
mod hybrid;
mod link_service;
mod logger;
mod maintenance;
mod pairing;
mod passkeys;
mod pin;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use activation::{
    ActivationLinkInfo, EnrollmentInfo, KeyState, RefusedApproval, WorkspaceUpdate,
};
/// The workspace poll behind `check_workspace`, for the white-box OBR tests.
#[cfg(feature = "testkit")]
pub use activation::{Polled, poll_workspace};
pub use approvals::{
    ApprovalEvent, ApprovalObserver, ApprovalOutcome, ApprovalRequest, AuditRecord,
    RefusalReportState,
};
pub use channel::{CtapChannel, CtapRequestState};
pub use error::AuthenticatorError;
pub use hybrid::{AdvertiserError, HybridAdvertiser, HybridOperation, HybridServed, LinkedBrowser};
pub use link_service::{LinkObserver, LinkServiceEvent};
pub use logger::{CoreLogger, LogLevel, LoggerError};
pub use maintenance::IdleMaintenance;
pub use pairing::PairedComputer;
pub use passkeys::Passkey;
pub use pin::PinStatus;

use crate::ctap::{AttestationFormat, CtapEngine, EngineConfig};
use crate::link::relay::{DEFAULT_POLL_WAIT, RelayConfig};
use crate::obr::runner::DEFAULT_ANSWER_TIMEOUT;
use crate::platform::{Clock, KeyProtectionInfo, KeyProtector, SystemClock, UserInterface};
use crate::vault::Vault;
use crate::workspace::DEFAULT_REQUEST_TIMEOUT;
use crate::workspace::KeyStatusGate;

/// The vault's file name inside the data folder.
pub const VAULT_FILE: &str = "vault.db";

/// How the authenticator behaves; [`default_options`] gives the product's values.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuthenticatorOptions {
    /// The name the workspace and paired computers show for this phone ("Alice's Pixel 8").
    pub device_name: String,
    /// Accept `http://` workspace and relay addresses on a loopback host. Tests and local
    /// emulators only; an app leaves it false.
    pub allow_insecure_loopback: bool,
    /// How long a prompt to the user may wait before the request fails, in milliseconds.
    pub user_action_timeout_ms: u64,
    /// When several passkeys fit a sign-in without a user name, let the user pick one on the
    /// phone (`choose_account`) instead of sending them all to the PC's own chooser.
    pub choose_account_on_phone: bool,
    /// The phone offers its own user verification (biometrics or the device credential,
    /// `verify_user`); without it getInfo has no "uv" option and PCs use the client PIN.
    #[uniffi(default = true)]
    pub builtin_user_verification: bool,
    /// New passkeys carry a "packed" self attestation; without it, the "none" format.
    #[uniffi(default = true)]
    pub self_attestation: bool,
    /// How long one request to the workspace may take, in milliseconds (1 ms to 10 minutes).
    #[uniffi(default = 20000)]
    pub workspace_request_timeout_ms: u64,
    /// How long the administrator's tool waits for the user's decision on an on-behalf
    /// registration request, in milliseconds (1 ms to 10 minutes; then it is told `timeout`).
    #[uniffi(default = 60000)]
    pub approval_answer_timeout_ms: u64,
    /// How long one long-poll at a relay waits, in milliseconds (1 ms to 10 minutes): the
    /// link service notices new pairings at this pace.
    #[uniffi(default = 25000)]
    pub relay_poll_wait_ms: u64,
    /// The tunnel server `serve_hybrid` opens its tunnel at, by its CTAP 2.2 id (0 =
    /// cable.ua5v.com, 1 = cable.auth.com, 256 and up hashed names); the advert names it.
    #[uniffi(default = 0)]
    pub hybrid_tunnel_server_id: u16,
    /// Replaces `wss://{domain}` of the hybrid tunnel URL while the advert still names
    /// `hybrid_tunnel_server_id`: a test tunnel server (`ws://` needs
    /// `allow_insecure_loopback` and a loopback host). An app leaves it unset.
    #[uniffi(default = None)]
    pub hybrid_tunnel_url: Option<String>,
}

/// The product's options, with `device_name` as given.
#[uniffi::export]
pub fn default_options(device_name: String) -> AuthenticatorOptions {
    AuthenticatorOptions {
        device_name,
        allow_insecure_loopback: false,
        user_action_timeout_ms: 30_000,
        choose_account_on_phone: false,
        builtin_user_verification: true,
        self_attestation: true,
        workspace_request_timeout_ms: duration_ms(DEFAULT_REQUEST_TIMEOUT),
        approval_answer_timeout_ms: duration_ms(DEFAULT_ANSWER_TIMEOUT),
        relay_poll_wait_ms: duration_ms(DEFAULT_POLL_WAIT),
        hybrid_tunnel_server_id: 0,
        hybrid_tunnel_url: None,
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The longest any of the options' times may be, in milliseconds (10 minutes).
const MAX_OPTION_MS: u64 = 600_000;

/// The phone's authenticator: its vault, its CTAP engine and its services.
#[derive(uniffi::Object)]
pub struct Authenticator {
    vault: Arc<Vault>,
    engine: Arc<CtapEngine>,
    /// The origin of every `handle_ctap` request: the app is one caller of the engine.
    app_origin: crate::request::Origin,
    engine_config: EngineConfig,
    protector: Arc<dyn KeyProtector>,
    user: Arc<dyn UserInterface>,
    clock: Arc<dyn Clock>,
    options: AuthenticatorOptions,
    /// Taken (and shut down without waiting) on drop.
    runtime: Option<tokio::runtime::Runtime>,
    link: Mutex<Option<link_service::Running>>,
    /// Told of the progress of `decide_approval` sessions.
    approval_observer: Mutex<Option<Arc<dyn approvals::ApprovalObserver>>>,
    /// The running `serve_hybrid` session's cancellation, if one runs.
    hybrid: Mutex<Option<crate::request::RequestSignals>>,
}

#[uniffi::export]
impl Authenticator {
    /// Opens the vault in `data_dir` (creating the folder and a new vault on first use) with
    /// the platform's key protector. Fails with `KeyTemporarilyUnavailable` before the first
    /// unlock (try again later), `KeyPermanentlyLost` when the device key is gone, and
    /// `VaultUnreadable` for a vault of another key or a newer app, and for a damaged or
    /// foreign file: that file is moved aside (`vault.db.unreadable-TIME`, never deleted), so
    /// the next `open` makes a new, empty vault (the app should tell the user first).
    /// `logger` receives the core's log lines from then on; there is one per process (the
    /// latest given), and `None` leaves the current one in place.
    #[uniffi::constructor]
    pub fn open(
        data_dir: String,
        key_protector: Arc<dyn KeyProtector>,
        user_interface: Arc<dyn UserInterface>,
        logger: Option<Arc<dyn CoreLogger>>,
        options: AuthenticatorOptions,
    ) -> Result<Arc<Self>, AuthenticatorError> {
        guard(move || {
            if let Some(logger) = logger {
                logger::install(logger);
            }
            if data_dir.trim().is_empty() || data_dir.contains('\0') {
                return Err(AuthenticatorError::invalid(
                    "the data folder must be a path to a folder of the app's",
                ));
            }
            if user_given_name(&options.device_name, 64).is_none() {
                return Err(AuthenticatorError::invalid(
                    "the device name must have 1 to 64 characters, without control characters",
                ));
            }
            for (value, what) in [
                (options.user_action_timeout_ms, "user action timeout"),
                (
                    options.workspace_request_timeout_ms,
                    "workspace request timeout",
                ),
                (
                    options.approval_answer_timeout_ms,
                    "approval answer timeout",
                ),
                (options.relay_poll_wait_ms, "relay poll wait"),
            ] {
                if value == 0 || value > MAX_OPTION_MS {
                    return Err(AuthenticatorError::invalid(format!(
                        "the {what} must be between 1 ms and 10 minutes"
                    )));
                }
            }
            let data_dir = PathBuf::from(data_dir);
            std::fs::create_dir_all(&data_dir).map_err(|e| AuthenticatorError::Storage {
                reason: format!("cannot create the data folder: {e}"),
            })?;
            // The vault first: a runtime dropped on an error path would panic when `open` is
            // called from async code (a runtime may not be dropped there).
            let vault = Arc::new(Vault::open_anchored(
                data_dir.join(VAULT_FILE),
                key_protector.clone(),
            )?);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("authenticator-core")
                .enable_all()
                .build()
                .map_err(|e| {
                    AuthenticatorError::internal(format!("cannot start its threads: {e}"))
                })?;
            let engine_config = EngineConfig {
                user_action_timeout: Duration::from_millis(options.user_action_timeout_ms),
                select_account_on_device: options.choose_account_on_phone,
                builtin_uv: options.builtin_user_verification,
                attestation: if options.self_attestation {
                    AttestationFormat::PackedSelf
                } else {
                    AttestationFormat::None
                },
                ..EngineConfig::default()
            };
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            // Inside the runtime so that the engine's key pool fills in the background at once.
            let engine = {
                let _entered = runtime.enter();
                CtapEngine::new(
                    vault.clone(),
                    // A workspace key that is not active serves nothing but getInfo and
                    // selection.
                    Arc::new(KeyStatusGate::new(vault.clone())),
                    user_interface.clone(),
                    clock.clone(),
                    engine_config.clone(),
                )
            };
            let engine = match engine {
                Ok(engine) => engine,
                Err(e) => {
                    runtime.shutdown_background();
                    return Err(AuthenticatorError::internal(e));
                }
            };
            tracing::info!("authenticator opened");
            Ok(Arc::new(Self {
                vault,
                engine: Arc::new(engine),
                app_origin: crate::request::Origin::app(),
                engine_config,
                protector: key_protector,
                user: user_interface,
                clock,
                options,
                runtime: Some(runtime),
                link: Mutex::new(None),
                approval_observer: Mutex::new(None),
                hybrid: Mutex::new(None),
            }))
        })
    }

    /// What protects the vault key (for the settings screen and support).
    pub fn key_protection(&self) -> Result<KeyProtectionInfo, AuthenticatorError> {
        guard(|| Ok(self.protector.info()?))
    }
}

impl Authenticator {
    fn handle(&self) -> Result<&tokio::runtime::Handle, AuthenticatorError> {
        self.runtime
            .as_ref()
            .map(|r| r.handle())
            .ok_or_else(|| AuthenticatorError::internal("the authenticator is closing"))
    }

    /// Runs `work` on the object's runtime and waits for it from any executor; a panic in it
    /// becomes `Internal`.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, AuthenticatorError>> + Send + 'static,
    ) -> Result<T, AuthenticatorError> {
        match self.handle()?.spawn(work).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(AuthenticatorError::internal(
                "an internal error stopped the operation; nothing else was affected",
            )),
            Err(_) => Err(AuthenticatorError::internal("the operation was cancelled")),
        }
    }

    fn relay_config(&self) -> RelayConfig {
        RelayConfig {
            allow_insecure_loopback: self.options.allow_insecure_loopback,
            poll_wait: Duration::from_millis(self.options.relay_poll_wait_ms),
        }
    }

    fn workspace_request_timeout(&self) -> Duration {
        Duration::from_millis(self.options.workspace_request_timeout_ms)
    }

    fn now(&self) -> u64 {
        self.clock.now_unix_seconds()
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        if let Ok(mut link) = self.link.lock() {
            link.take();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs a sync call, turning a panic into `Internal` instead of letting it reach the app.
fn guard<T>(call: impl FnOnce() -> Result<T, AuthenticatorError>) -> Result<T, AuthenticatorError> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| {
        Err(AuthenticatorError::internal(
            "an internal error stopped the operation; nothing else was affected",
        ))
    })
}

/// Parses an id shown to the app in hex; `what` names it in the error.
/// A name the user gives (the device, a linked browser), trimmed, if it has 1 to `max`
/// characters and no control characters.
fn user_given_name(name: &str, max: usize) -> Option<&str> {
    let name = name.trim();
    (!name.is_empty() && name.chars().count() <= max && !name.chars().any(char::is_control))
        .then_some(name)
}

fn parse_hex(text: &str, what: &str) -> Result<Vec<u8>, AuthenticatorError> {
    crate::hex::decode(text)
        .filter(|bytes| bytes.len() <= 64)
        .ok_or_else(|| AuthenticatorError::invalid(format!("this is not {what}")))
}
