//! Platform services that the apps implement and hand to the core (uniffi foreign traits).
//!
//! `KeyProtector` is the platform key store: Android Keystore (StrongBox when available), the
//! iOS Secure Enclave, or on desktops and in tests the clearly named
//! [`SoftwareKeyProtector`]. Its errors tell a key that is *temporarily unavailable* (device
//! locked, before first unlock: retry later) from one that is *permanently lost* (restored
//! backup, invalidated key: recovery required). The core never answers either by making a new
//! vault key over an existing vault.
//!
//! `KeyProtector` also keeps the vault's optional *monotonic anchor*: a small opaque blob
//! (sealed by the core) naming the vault state's generation, stored where restoring or copying
//! the app's files does not reach. The core refuses a vault file older than its anchor, which is
//! the only way to see a whole-file rollback. The anchor is part of this trait rather than a
//! separate optional object given to `Authenticator::open` because it lives in the same
//! platform store as the wrapping key and shares its lifetime (a lost key makes the anchor
//! moot); one object means an app cannot forget to pass it. A platform without such a store
//! answers `Ok(None)` / `Ok(false)`. What each platform can promise (see
//! `proto/vault-format.md`): Android keeps it in `noBackupFilesDir` (never in Auto Backup or
//! device transfer; a rooted attacker can still write it); iOS in a keychain item
//! `AfterFirstUnlockThisDeviceOnly` (never migrated to another device; a restore of an
//! encrypted backup of the same device brings back the keychain and the file together, so it
//! does not show that rollback); the software protector in a file beside its key file (same
//! trust as the key file: for tests).

pub(crate) mod software_protector;

pub use software_protector::SoftwareKeyProtector;

/// Why the platform key store could not wrap or unwrap a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyProtectorError {
    /// The key exists but cannot be used now (device locked, before first unlock). Retry later.
    #[error("the device key is temporarily unavailable ({reason}); try again after unlocking")]
    TemporarilyUnavailable { reason: String },
    /// The key is gone for good (app data restored to another device, key invalidated).
    #[error("the device key is permanently lost ({reason}); the vault needs recovery")]
    PermanentlyLost { reason: String },
    /// The blob was wrapped by a different key than this device's.
    #[error("the wrapped secret belongs to a different device key")]
    WrongKey,
    /// Anything else, including an exception thrown by the app's implementation.
    #[error("the key protector failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyProtectorError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed {
            reason: error.reason,
        }
    }
}

/// What protects the vault key, for the settings screen and for support.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyProtectionInfo {
    /// True when the wrapping key lives in secure hardware (StrongBox, TEE, Secure Enclave).
    pub hardware_backed: bool,
    /// A short name of the mechanism, such as "android-strongbox" or "software-key-file".
    pub kind: String,
}

/// The platform key store: wraps the vault key so that it is stored only in wrapped form.
///
/// `unwrap` returns the secret that `wrap` was given, or an error; implementations should use
/// authenticated encryption so that a blob from another key gives `WrongKey`.
#[uniffi::export(foreign)]
pub trait KeyProtector: Send + Sync {
    /// Encrypts `secret` under the device key; the result is safe to store anywhere.
    fn wrap(&self, secret: Vec<u8>) -> Result<Vec<u8>, KeyProtectorError>;
    /// Decrypts a blob made by `wrap` on this device.
    fn unwrap(&self, blob: Vec<u8>) -> Result<Vec<u8>, KeyProtectorError>;
    /// Describes the protection, without touching the key.
    fn info(&self) -> Result<KeyProtectionInfo, KeyProtectorError>;
    /// The anchor blob last given to `store_anchor`, or `None` if none was stored or this
    /// platform keeps no anchor. Read once when the vault opens.
    fn load_anchor(&self) -> Result<Option<Vec<u8>>, KeyProtectorError>;
    /// Replaces the stored anchor blob with `anchor` (opaque, a few dozen bytes, sealed by the
    /// core), durably. Returns false if this platform keeps no anchor. Called after vault writes
    /// that matter for rollback (PIN attempts, settings, audit entries, counter blocks).
    fn store_anchor(&self, anchor: Vec<u8>) -> Result<bool, KeyProtectorError>;
}

/// Why the app could not show a prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum UserInterfaceError {
    /// The app cannot prompt now (no UI, app in background without a notification).
    #[error("the app cannot ask the user now: {reason}")]
    Unavailable { reason: String },
    /// Anything else, including an exception thrown by the app's implementation.
    #[error("the user interface failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for UserInterfaceError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed {
            reason: error.reason,
        }
    }
}

/// What the user is asked to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UserOperation {
    /// Create a passkey (makeCredential).
    Register,
    /// Sign in with a passkey (getAssertion).
    SignIn,
    /// A passkey for this site already exists here; the site is told so only after the user
    /// confirms (so a site cannot probe silently).
    AlreadyRegistered,
    /// Erase every passkey and the PIN (authenticatorReset).
    Reset,
    /// The PC asks the user to pick this authenticator among several (authenticatorSelection).
    Select,
    /// Unlock passkey management or settings with the phone's own user verification.
    Manage,
    /// Accept an administrator's grant to register passkeys on the user's behalf (the
    /// prompt's `user_name` is the administrator, `message` states scope, count and expiry).
    OnBehalfRegistration,
}

/// One thing a yes to a prompt lets the computer do. A prompt for a PIN/UV auth token lists
/// every right the token carries, so the user never approves more than they were shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PromptScope {
    /// Create a passkey at the prompt's site (CTAP permission mc).
    CreatePasskey,
    /// Sign in at the prompt's site (CTAP permission ga).
    SignIn,
    /// List and delete passkeys: every site's, or only the prompt's site when it names one
    /// (CTAP permission cm).
    ManagePasskeys,
    /// Change the security key's settings: minimum PIN length, forcing a PIN change, always
    /// requiring verification (CTAP permission acfg).
    ChangeSettings,
}

/// A request for the user's presence ("Sign in to example.com as alice?").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PresencePrompt {
    /// What the user is asked to allow.
    pub operation: UserOperation,
    /// The site concerned, if any ("example.com").
    pub rp_id: Option<String>,
    /// The account concerned, if known (or the administrator, for an approval).
    pub user_name: Option<String>,
    /// Everything a yes allows, in a fixed order; empty for prompts that grant nothing beyond
    /// the operation itself (reset, selection, an approval). An app that builds its own text
    /// must name each of these.
    pub scopes: Vec<PromptScope>,
    /// A ready-to-show sentence in English naming every scope; apps may build their own from
    /// the fields.
    pub message: String,
}

/// The answer to a user verification (`UserInterface::verify_user`).
///
/// `Declined` and `Failed` differ in cost: a failed verification spends one of the built-in
/// verification attempts (CTAP 2.1 uvRetries, 8 before verification is blocked); a decline
/// spends none and the request ends with CTAP2_ERR_OPERATION_DENIED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VerificationOutcome {
    /// The phone's owner was verified (biometrics or device credential).
    Verified,
    /// Someone tried and was not recognised, or the system locked verification out after
    /// such tries.
    Failed,
    /// The user said no: cancel, the negative button, or the system or app took the prompt
    /// down. Nobody was checked.
    Declined,
}

/// One account the user can choose among when signing in without a user name.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountOption {
    /// The account's user name at the site, if the site gave one.
    pub user_name: Option<String>,
    /// The account's display name, if the site gave one.
    pub display_name: Option<String>,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
}

/// Something the user should know about; shown without blocking.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum UserEvent {
    /// A passkey was registered at `rp_id`.
    PasskeyCreated {
        rp_id: String,
        user_name: Option<String>,
    },
    /// The user signed in at `rp_id`.
    SignedIn {
        rp_id: String,
        user_name: Option<String>,
    },
    /// A passkey was deleted from the PC (credential management).
    PasskeyDeleted {
        rp_id: String,
        user_name: Option<String>,
    },
    /// Every passkey and the PIN were erased (authenticatorReset).
    AuthenticatorReset,
    /// The client PIN was set or changed.
    PinChanged,
    /// An administrator registered a passkey for the user under an accepted grant.
    RegisteredOnYourBehalf { admin_name: String, rp_id: String },
    /// Too many wrong PINs: PIN entry is blocked until the phone's authenticator restarts.
    PinAuthBlocked,
    /// The PIN is blocked for good; only a reset makes the authenticator usable again.
    PinBlocked,
    /// A paired computer had the phone sign more silent assertions (sign-in signatures made
    /// without asking the user, which browsers use only to check which passkey is here) than
    /// a browser would: `count` within `window_minutes`. The user may want to remove it.
    SilentAssertionsFromComputer {
        computer_name: String,
        count: u32,
        window_minutes: u32,
    },
}

/// The app's prompts. The core enforces timeouts and cancellation around every call, so an
/// implementation may simply wait for the user.
#[uniffi::export(foreign)]
#[async_trait::async_trait]
pub trait UserInterface: Send + Sync {
    /// Asks the user to allow an operation (a tap on "Allow"). True if allowed.
    async fn confirm_presence(&self, prompt: PresencePrompt) -> Result<bool, UserInterfaceError>;
    /// Verifies the user with the phone's biometrics or device credential. Tell a decline
    /// (`Declined`: costs nothing) from a failed check (`Failed`: spends an attempt).
    async fn verify_user(
        &self,
        prompt: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError>;
    /// Lets the user pick one of several accounts for `rp_id`. The index, or None if declined.
    async fn choose_account(
        &self,
        rp_id: String,
        accounts: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError>;
    /// Tells the user something without waiting for an answer. An error (or an exception thrown
    /// by the app) is logged and otherwise ignored: a notice never changes an operation's result.
    fn notify(&self, event: UserEvent) -> Result<(), UserInterfaceError>;
}

/// Shows `event` through `ui`, logging (never propagating) a failure to show it.
pub fn tell(ui: &dyn UserInterface, event: UserEvent) {
    if let Err(error) = ui.notify(event) {
        tracing::debug!(%error, "a notice to the user was not shown");
    }
}

/// Wall-clock time for record timestamps (seconds since the Unix epoch). A trait so tests can
/// fix it; timers inside the engine use tokio's monotonic clock instead.
pub trait Clock: Send + Sync {
    fn now_unix_seconds(&self) -> u64;
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_seconds(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}
