//! The process-wide engines the CTAP targets drive.
//!
//! Made once per process (a `OnceLock`): one vault in `$TMPDIR/authenticator-core-fuzz-<pid>`
//! with a software key protector, a scripted user, and four engines over that vault that
//! differ in configuration (built-in UV on/off, account choice on the phone, attestation
//! format). All run on one current-thread tokio runtime whose clock is paused: a prompt the
//! scripted user never answers times out at once, and the engine's timers (token lifetime,
//! the getNextAssertion window) move only when a target advances the clock.
//!
//! Every engine allows authenticatorReset for a year after start-up (the product's 10 s
//! window would close after the first seconds of a run) and holds at most
//! [`MAX_CREDENTIALS`] passkeys, so that the vault stays small however long a run is.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authenticator_core::ctap::{AlwaysServe, AttestationFormat, CtapEngine, EngineConfig};
use authenticator_core::platform::{
    SoftwareKeyProtector, SystemClock, UserInterface, VerificationOutcome,
};
use authenticator_core::request::RequestSignals;
pub use authenticator_core::testkit::Answer;
use authenticator_core::testkit::ScriptedUser;
use authenticator_core::vault::Vault;
use tokio::runtime::Runtime;

pub const MAX_CREDENTIALS: u64 = 64;
/// Short, and on a paused clock anyway: an unanswered prompt costs no real time.
pub const USER_ACTION_TIMEOUT: Duration = Duration::from_millis(200);
pub const ENGINE_COUNT: usize = 4;

/// Reads a prompt's answer from two bits of a script byte: approve, refuse, the app cannot
/// ask (`UserInterfaceError::Unavailable`), never answer (the engine's timeout decides).
pub fn answer_from_bits(b: u8) -> Answer {
    match b & 3 {
        0 => Answer::Yes,
        1 => Answer::No,
        2 => Answer::Unavailable,
        _ => Answer::Never,
    }
}

pub struct Harness {
    pub runtime: Runtime,
    pub user: Arc<ScriptedUser>,
    pub vault: Arc<Vault>,
    pub engines: Vec<CtapEngine>,
    pub dir: PathBuf,
}

impl Harness {
    /// The process's harness, made on first use.
    pub fn get() -> &'static Harness {
        static HARNESS: OnceLock<Harness> = OnceLock::new();
        HARNESS.get_or_init(Harness::new)
    }

    fn new() -> Self {
        let base = std::env::temp_dir();
        remove_stale_dirs(&base);
        let dir = base.join(format!("authenticator-core-fuzz-{}", std::process::id()));
        // A leftover of an earlier process with the same pid.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fuzz vault dir");
        let protector = SoftwareKeyProtector::new(dir.join("vault.key"));
        let vault =
            Arc::new(Vault::open(dir.join("vault.db"), &protector).expect("open the fuzz vault"));
        let user = ScriptedUser::approving();
        // Millions of prompts in a run: keep no record of them.
        user.set_recording(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
        let configs = [
            (AttestationFormat::PackedSelf, true, false),
            (AttestationFormat::None, false, true),
            (AttestationFormat::PackedSelf, true, true),
            (AttestationFormat::None, false, false),
        ];
        // Inside the runtime, so that the engines' power-up instants are on its clock.
        let engines = {
            let _guard = runtime.enter();
            configs
                .iter()
                .map(|&(attestation, builtin_uv, select_account_on_device)| {
                    let config = EngineConfig {
                        attestation,
                        user_action_timeout: USER_ACTION_TIMEOUT,
                        builtin_uv,
                        select_account_on_device,
                        reset_window: Duration::from_secs(365 * 24 * 3600),
                        max_credentials: MAX_CREDENTIALS,
                    };
                    CtapEngine::new(
                        vault.clone(),
                        Arc::new(AlwaysServe),
                        user.clone() as Arc<dyn UserInterface>,
                        Arc::new(SystemClock),
                        config,
                    )
                    .expect("engine")
                })
                .collect()
        };
        Self {
            runtime,
            user,
            vault,
            engines,
            dir,
        }
    }

    /// Runs one raw request on `engine` (an index below [`ENGINE_COUNT`]).
    pub fn handle(&self, engine: usize, request: &[u8], signals: &RequestSignals) -> Vec<u8> {
        self.runtime
            .block_on(self.engines[engine].handle(request, signals))
    }

    /// Scripts the user for the next request: the answers to presence and to verification
    /// prompts, and the account index to pick (`u32::MAX` declines to pick). A refused
    /// verification is a decline when `choice` is odd, so both outcomes are reachable
    /// without another script bit.
    pub fn script_user(&self, presence: Answer, verification: Answer, choice: u32) {
        self.user.set_presence(presence);
        self.user.set_verification(verification);
        self.user.set_choice((choice != u32::MAX).then_some(choice));
        self.user.set_refused_verification(if choice % 2 == 1 {
            VerificationOutcome::Declined
        } else {
            VerificationOutcome::Failed
        });
    }

    /// A user who approves everything and picks the first account.
    pub fn approve_all(&self) {
        self.script_user(Answer::Yes, Answer::Yes, 0);
    }

    /// Moves the paused clock forward.
    pub fn advance(&self, by: Duration) {
        self.runtime.block_on(tokio::time::advance(by));
    }
}

/// Removes the vault dirs of fuzz processes that are gone (libFuzzer exits without running
/// destructors, so nobody else does).
fn remove_stale_dirs(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("authenticator-core-fuzz-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !PathBuf::from(format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
