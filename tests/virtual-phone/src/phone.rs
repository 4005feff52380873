//! The virtual phone's shell around the core, as the Kotlin and Swift shells are: one
//! `Authenticator` opened on the data folder with the phone's key store (the software key
//! protector, the desktop's stand-in for Android Keystore / the Secure Enclave), the scripted
//! user, and a logger appending the core's log lines to `core.log` in the data folder (not
//! stderr: tests compare the CLI's stderr exactly). Every command goes through it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use authenticator_core::api::{
    Authenticator, AuthenticatorOptions, CoreLogger, LogLevel, LoggerError, default_options,
};
use authenticator_core::platform::{SoftwareKeyProtector, UserInterface};

/// The name the workspace shows for this phone.
pub const DEVICE_NAME: &str = "virtual-phone";

/// How long one relay long-poll waits, in milliseconds: the link service picks up new
/// pairings at this pace (the product's 25 s would slow the tests down).
const RELAY_POLL_WAIT_MS: u64 = 5_000;

/// The core's log, beside the vault.
const LOG_FILE: &str = "core.log";

/// The key file beside the vault.
const KEY_FILE: &str = "device.key";

/// Prints `say`'s line on stdout at once (tests read stdout line by line).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The core's log lines (info and above), appended to a file: `LEVEL target: message`.
struct FileLogger(PathBuf);

impl CoreLogger for FileLogger {
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), LoggerError> {
        if matches!(level, LogLevel::Debug | LogLevel::Trace) {
            return Ok(());
        }
        let failed = |e: std::io::Error| LoggerError::Failed {
            reason: e.to_string(),
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .map_err(failed)?;
        writeln!(file, "{level:?} {target}: {message}").map_err(failed)
    }
}

/// What the command line sets of the core's options.
#[derive(Debug, Clone)]
pub struct Settings {
    pub workspace_timeout_ms: u64,
    pub allow_insecure_loopback: bool,
}

impl Settings {
    /// The product's options with the command line's settings and `device_name`.
    pub fn options(&self, device_name: &str) -> AuthenticatorOptions {
        AuthenticatorOptions {
            allow_insecure_loopback: self.allow_insecure_loopback,
            workspace_request_timeout_ms: self.workspace_timeout_ms,
            relay_poll_wait_ms: RELAY_POLL_WAIT_MS,
            ..default_options(device_name.to_owned())
        }
    }
}

/// The phone's key store: the software key protector with its key file in `data_dir`.
pub fn key_store(data_dir: &Path) -> SoftwareKeyProtector {
    SoftwareKeyProtector::new(data_dir.join(KEY_FILE))
}

/// Opens the phone's authenticator on `data_dir`.
pub fn open(
    data_dir: &Path,
    user: Arc<dyn UserInterface>,
    options: AuthenticatorOptions,
) -> Result<Arc<Authenticator>, String> {
    let dir = data_dir
        .to_str()
        .ok_or_else(|| format!("{} is not a usable folder name", data_dir.display()))?;
    Authenticator::open(
        dir.to_owned(),
        Arc::new(key_store(data_dir)),
        user,
        Some(Arc::new(FileLogger(data_dir.join(LOG_FILE)))),
        options,
    )
    .map_err(|e| e.to_string())
}
