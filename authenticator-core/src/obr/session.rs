//! An on-behalf registration session on the phone (DESIGN §8, proto/obr-grant.md): the grant
//! is verified and offered to the user, who must pass user verification to accept; then the
//! session serves the admin's FIDO2 client a restricted authenticator.
//!
//! Invariants:
//! - Nothing is served before the user accepted a verified grant; a grant id is remembered in
//!   the vault before the user is asked, so a grant is never offered twice.
//! - Only getInfo and makeCredential are served. getInfo advertises built-in user verification
//!   and neither a client PIN nor PIN/UV auth tokens (the admin does not know it); every other command is refused with
//!   CTAP2_ERR_OPERATION_DENIED and nothing changes.
//! - makeCredential runs only while the grant is live, for an RP id in its scope and below its
//!   count; out of scope it is refused before the engine sees it, so nothing is stored.
//! - OBR may only add (issue 13): a discoverable makeCredential whose rp id and user handle
//!   match one of the user's discoverable passkeys would replace it (CTAP 2.1 §6.1.2 step
//!   17.1), so it is refused before the engine sees it, and the refusal ends the session
//!   ([`ObrSession::refusal`], code [`PASSKEY_EXISTS`]): the admin's grant is spent on an
//!   attempt to take over an account the user already holds. Non-discoverable credentials and
//!   new user handles at the same RP are served as before.
//! - A zero-length pinUvAuthParam (CTAP 2.1 §6.1.2 step 1, the "which authenticator?" probe)
//!   is refused, not answered: its PIN_NOT_SET / PIN_INVALID would tell the admin whether the
//!   user has a PIN.
//! - A grant the workspace stopped is refused even when the stop arrives while the user is
//!   deciding: the stop list is read again after the user's answer.
//! - The registrations run on a separate engine instance over the same vault whose user
//!   interface approves registration prompts (the user accepted the grant with user
//!   verification) and refuses everything else; the user is notified of each registration.
//! - Every accepted, refused or completed step goes to the sealed audit trail; each
//!   registration is answered with a receipt signed by the device key.

use crate::hex::encode as hex;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use p256::ecdsa::SigningKey;
use sha2::{Digest, Sha256};

use super::audit;
use super::grant::{DEFAULT_SKEW_SECS, Grant, GrantError, SeenGrants, VerifiedGrant};
use super::receipt::Receipt;
use super::refusals::RefusalCode;
use crate::cbor::{self, Value};
use crate::ctap::{CtapEngine, EngineConfig};
use crate::platform::{
    AccountOption, Clock, PresencePrompt, UserEvent, UserInterface, UserInterfaceError,
    UserOperation, VerificationOutcome,
};
use crate::request::RequestSignals;
use crate::vault::{Setting, Vault};
use crate::workspace::{KeyStatusGate, state};

/// The vault setting that remembers grant ids already offered (obr-grant.md, replay); the
/// approvals read it too, to refuse a replayed `obr_request` at once.
/// CTAP command bytes this session knows.
const CMD_MAKE_CREDENTIAL: u8 = 0x01;
const CMD_GET_INFO: u8 = 0x04;
/// CTAP2_ERR_OPERATION_DENIED: the status of every refusal.
pub const OPERATION_DENIED: u8 = 0x27;
/// The refusal code (reported to the admin's tool and the workspace) of a registration that
/// would have replaced one of the user's discoverable passkeys.
pub const PASSKEY_EXISTS: RefusalCode = RefusalCode::PasskeyExists;
/// makeCredential parameter keys (CTAP 2.1 §6.1.1).
const MC_RP: i64 = 0x02;
const MC_USER: i64 = 0x03;
const MC_OPTIONS: i64 = 0x07;
const MC_PIN_UV_AUTH_PARAM: i64 = 0x08;
/// The getInfo key whose options are rewritten for an OBR session.
const INFO_OPTIONS: i64 = 0x04;

/// Why a grant was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ObrError {
    #[error("the phone is not activated with a workspace")]
    NotActivated,
    #[error("the grant was refused: {0}")]
    Grant(#[from] GrantError),
    #[error("the user declined the on-behalf registration")]
    Denied,
    #[error("the user did not answer in time")]
    Timeout,
    #[error("the workspace stopped the grant")]
    Stopped,
    #[error("the user interface failed: {0}")]
    Ui(String),
    #[error("the vault failed: {0}")]
    Vault(String),
}

/// One registration made under the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub index: u8,
    pub rp_id: String,
    /// The receipt signed by the device key (COSE_Sign1), for the workspace.
    pub receipt: Vec<u8>,
}

/// An accepted grant, serving the admin's client.
pub struct ObrSession {
    grant: VerifiedGrant,
    engine: CtapEngine,
    vault: Arc<Vault>,
    user: Arc<dyn UserInterface>,
    clock: Arc<dyn Clock>,
    device_key: SigningKey,
    registered: Mutex<u8>,
    /// Set once a request was refused in a way that ends the grant (its code).
    refusal: Mutex<Option<RefusalCode>>,
}

impl std::fmt::Debug for ObrSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObrSession")
            .field("grant", self.grant.grant())
            .finish_non_exhaustive()
    }
}

fn grant_details(grant: &Grant) -> Vec<(&'static str, String)> {
    vec![
        ("grant_id", hex(&grant.grant_id)),
        ("admin", grant.admin_name.clone()),
        ("workspace", grant.workspace_name.clone()),
        ("rp_ids", grant.rp_ids.join(" ")),
        ("max_registrations", grant.max_registrations.to_string()),
        ("expires_at", grant.expires_at.to_string()),
    ]
}

/// The sentence shown with the approval prompt; `now` is the phone's clock (unix seconds).
pub fn approval_message(grant: &Grant, now: u64) -> String {
    let minutes = grant.expires_at.saturating_sub(now).div_ceil(60);
    format!(
        "{} ({}) asks to register up to {} passkey(s) for you at {} within the next {} \
         minute(s). Verify to allow.",
        grant.admin_name,
        grant.workspace_name,
        grant.max_registrations,
        grant.rp_ids.join(", "),
        minutes
    )
}

impl ObrSession {
    /// Verifies `grant_bytes` (received from the link peer whose authenticated static key is
    /// `link_peer_static`), remembers its id, and asks the user, who must pass user
    /// verification within `answer_timeout`. `engine_config` is the phone's engine
    /// configuration; the session's engine always has built-in user verification.
    pub async fn accept(
        vault: Arc<Vault>,
        user: Arc<dyn UserInterface>,
        clock: Arc<dyn Clock>,
        engine_config: EngineConfig,
        grant_bytes: &[u8],
        link_peer_static: &[u8],
        answer_timeout: Duration,
    ) -> Result<Self, ObrError> {
        let vault_err = |e: crate::vault::VaultError| ObrError::Vault(e.to_string());
        let now = clock.now_unix_seconds();
        let enrollment = state::load(&vault)
            .map_err(vault_err)?
            .ok_or(ObrError::NotActivated)?;
        let verified = Grant::verify(
            grant_bytes,
            &enrollment.grant_signing_key,
            &enrollment.security_key_id,
            link_peer_static,
            now,
            DEFAULT_SKEW_SECS,
        );
        let verified = match verified {
            Ok(v) => v,
            Err(e) => {
                audit(
                    &vault,
                    now,
                    "obr.grant.refused",
                    &[("reason", e.code().into())],
                );
                return Err(e.into());
            }
        };
        let mut seen: SeenGrants = vault
            .settings()
            .get(Setting::ObrSeenGrants)
            .map_err(vault_err)?
            .unwrap_or_default();
        if let Err(e) = seen.remember(&verified, now) {
            audit(
                &vault,
                now,
                "obr.grant.refused",
                &[("reason", e.code().into())],
            );
            return Err(e.into());
        }
        vault
            .settings()
            .set(Setting::ObrSeenGrants, &seen)
            .map_err(vault_err)?;
        let grant = verified.grant();
        let prompt = PresencePrompt {
            operation: UserOperation::OnBehalfRegistration,
            rp_id: grant.rp_ids.first().cloned(),
            user_name: Some(grant.admin_name.clone()),
            // The grant's own limits (sites, count, expiry) are in the message.
            scopes: Vec::new(),
            message: approval_message(grant, now),
        };
        let answer = tokio::time::timeout(answer_timeout, user.verify_user(prompt)).await;
        let outcome = match answer {
            Ok(Ok(VerificationOutcome::Verified)) => Ok(()),
            Ok(Ok(VerificationOutcome::Failed | VerificationOutcome::Declined)) => {
                Err(ObrError::Denied)
            }
            Ok(Err(e)) => Err(ObrError::Ui(e.to_string())),
            Err(_) => Err(ObrError::Timeout),
        };
        // The workspace may have stopped the grant while the user decided (obr_stopped is
        // recorded by the events poll running alongside): a stopped grant is never served.
        let outcome = match outcome {
            Ok(())
                if super::approvals::is_stopped(&vault, &grant.grant_id).map_err(vault_err)? =>
            {
                Err(ObrError::Stopped)
            }
            other => other,
        };
        let mut details = grant_details(grant);
        if let Err(e) = outcome {
            details.push(("reason", e.to_string()));
            audit(
                &vault,
                clock.now_unix_seconds(),
                "obr.grant.declined",
                &details,
            );
            return Err(e);
        }
        audit(
            &vault,
            clock.now_unix_seconds(),
            "obr.grant.accepted",
            &details,
        );
        let device_key = state::device_key(&vault).map_err(vault_err).and_then(|k| {
            SigningKey::from_slice(k.expose())
                .map_err(|_| ObrError::Vault("the device key is damaged".into()))
        })?;
        let session_ui = Arc::new(GrantedUser { user: user.clone() });
        let config = EngineConfig {
            builtin_uv: true,
            select_account_on_device: false,
            ..engine_config
        };
        // A key the workspace suspends during the session stops serving, as the phone's own
        // engine does.
        let engine = CtapEngine::new(
            vault.clone(),
            Arc::new(KeyStatusGate::new(vault.clone())),
            session_ui,
            clock.clone(),
            config,
        )
        .map_err(|_| ObrError::Vault("the random number generator failed".into()))?;
        Ok(Self {
            grant: verified,
            engine,
            vault,
            user,
            clock,
            device_key,
            registered: Mutex::new(0),
            refusal: Mutex::new(None),
        })
    }

    pub fn grant(&self) -> &Grant {
        self.grant.grant()
    }

    /// Registrations made so far.
    pub fn registered(&self) -> u8 {
        *self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The code of a refusal that ends the grant ([`PASSKEY_EXISTS`]), once one happened: the
    /// caller reports it to the admin's tool and the workspace and ends the session.
    pub fn refusal(&self) -> Option<RefusalCode> {
        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers one CTAP request from the admin's client: the response (status ‖ CBOR), and
    /// the registration it made, if any.
    pub async fn handle(
        &self,
        request: &[u8],
        signals: &RequestSignals,
    ) -> (Vec<u8>, Option<Registration>) {
        match request.first().copied() {
            Some(CMD_GET_INFO) => (self.get_info(request, signals).await, None),
            Some(CMD_MAKE_CREDENTIAL) => self.make_credential(request, signals).await,
            other => {
                self.refuse(&format!(
                    "command 0x{:02x} is not allowed during on-behalf registration",
                    other.unwrap_or(0)
                ));
                (vec![OPERATION_DENIED], None)
            }
        }
    }

    fn refuse(&self, reason: &str) {
        audit(
            &self.vault,
            self.clock.now_unix_seconds(),
            "obr.refused",
            &[
                ("grant_id", hex(&self.grant.grant().grant_id)),
                ("reason", reason.to_owned()),
            ],
        );
    }

    /// The engine's getInfo without the clientPin and pinUvAuthToken options: the admin's
    /// client then asks for built-in user verification with the `uv` option.
    async fn get_info(&self, request: &[u8], signals: &RequestSignals) -> Vec<u8> {
        let answer = self.engine.handle(request, signals).await;
        let Some((&0, body)) = answer.split_first() else {
            return answer;
        };
        let Ok(Value::Map(entries)) = cbor::decode(body) else {
            return answer;
        };
        // pinUvAuthProtocols (key 6) stays: clients such as python-fido2 need it to set up
        // their PIN/UV helper even when they then use built-in user verification.
        let entries = entries.into_iter().map(|(k, v)| {
            if k.as_int() != Some(INFO_OPTIONS) {
                return (k, v);
            }
            let options = v.as_map().map(|o| o.to_vec()).unwrap_or_default();
            let options = options
                .into_iter()
                .filter(|(name, _)| !matches!(name.as_text(), Some("clientPin" | "pinUvAuthToken")))
                .map(|(name, value)| {
                    if name.as_text() == Some("uv") {
                        (name, Value::Bool(true))
                    } else {
                        (name, value)
                    }
                });
            (k, Value::map(options))
        });
        let mut out = vec![0u8];
        out.extend_from_slice(&cbor::encode(&Value::map(entries)));
        out
    }

    async fn make_credential(
        &self,
        request: &[u8],
        signals: &RequestSignals,
    ) -> (Vec<u8>, Option<Registration>) {
        let now = self.clock.now_unix_seconds();
        let params = McParams::read(&request[1..]);
        let rp_id = params.rp_id.clone();
        let refusal = if self.refusal().is_some() {
            Some("the grant was refused".to_owned())
        } else if !self.grant.is_live(now) {
            Some("the grant has expired".to_owned())
        } else if self.registered() >= self.grant.max_registrations() {
            Some(format!(
                "the grant allows {} registration(s), all made",
                self.grant.max_registrations()
            ))
        } else {
            match &rp_id {
                None => Some("makeCredential without an rp id".to_owned()),
                Some(rp) if !self.grant.allows_rp(rp) => {
                    Some(format!("rp {rp:?} is outside the grant's scope"))
                }
                Some(_) if params.zero_length_pin_uv_auth_param => {
                    Some("a zero-length pinUvAuthParam probe".to_owned())
                }
                Some(rp) => match self.replaces_users_passkey(rp, &params) {
                    Ok(false) => None,
                    Ok(true) => {
                        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(PASSKEY_EXISTS);
                        Some(format!(
                            "{PASSKEY_EXISTS}: the registration at {rp:?} would replace the \
                             user's own passkey"
                        ))
                    }
                    Err(e) => Some(format!("the user's passkeys could not be read: {e}")),
                },
            }
        };
        if let Some(reason) = refusal {
            self.refuse(&reason);
            return (vec![OPERATION_DENIED], None);
        }
        let rp_id = rp_id.unwrap_or_default();
        let answer = self.engine.handle(request, signals).await;
        if answer.first() != Some(&0) {
            return (answer, None);
        }
        let Some((auth_data, credential_id, aaguid)) = registered_credential(&answer[1..]) else {
            return (answer, None);
        };
        let index = {
            let mut registered = self
                .registered
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *registered += 1;
            *registered
        };
        let grant = self.grant.grant();
        let receipt = Receipt {
            grant_id: grant.grant_id,
            index,
            rp_id: rp_id.clone(),
            credential_id: credential_id.clone(),
            aaguid,
            created_at: now,
            auth_data_hash: Sha256::digest(&auth_data).into(),
        }
        .sign(&self.device_key);
        audit(
            &self.vault,
            now,
            "obr.registration",
            &[
                ("grant_id", hex(&grant.grant_id)),
                ("admin", grant.admin_name.clone()),
                ("rp_id", rp_id.clone()),
                ("credential_id", hex(&credential_id)),
                ("index", index.to_string()),
            ],
        );
        crate::platform::tell(
            &*self.user,
            UserEvent::RegisteredOnYourBehalf {
                admin_name: grant.admin_name.clone(),
                rp_id: rp_id.clone(),
            },
        );
        (
            answer,
            Some(Registration {
                index,
                rp_id,
                receipt,
            }),
        )
    }
}

/// What the session's checks read from a makeCredential request before the engine parses it
/// fully; a field that is missing or of the wrong type reads as absent (the engine then
/// answers the request's own error).
struct McParams {
    /// rp (key 2), member "id".
    rp_id: Option<String>,
    /// user (key 3), member "id": the user handle.
    user_id: Option<Vec<u8>>,
    /// options (key 7), member "rk" is `true`.
    discoverable: bool,
    /// pinUvAuthParam (key 8) is a zero-length byte string.
    zero_length_pin_uv_auth_param: bool,
}

impl McParams {
    fn read(params: &[u8]) -> Self {
        let entries = match cbor::decode(params) {
            Ok(Value::Map(entries)) => entries,
            _ => Vec::new(),
        };
        let field = |key: i64| {
            entries
                .iter()
                .find(|(k, _)| k.as_int() == Some(key))
                .map(|(_, v)| v)
        };
        let member = |key: i64, name: &str| {
            field(key)?
                .as_map()?
                .iter()
                .find(|(k, _)| k.as_text() == Some(name))
                .map(|(_, v)| v.clone())
        };
        Self {
            rp_id: member(MC_RP, "id").and_then(|v| v.as_text().map(str::to_owned)),
            user_id: member(MC_USER, "id").and_then(|v| v.as_bytes().map(<[u8]>::to_vec)),
            discoverable: matches!(member(MC_OPTIONS, "rk"), Some(Value::Bool(true))),
            zero_length_pin_uv_auth_param: field(MC_PIN_UV_AUTH_PARAM)
                .and_then(Value::as_bytes)
                .is_some_and(<[u8]>::is_empty),
        }
    }
}

impl ObrSession {
    /// Whether the request would replace a discoverable passkey of the user's: it asks for a
    /// discoverable credential at `rp_id` with the user handle of an existing discoverable one
    /// (the engine's §6.1.2 step 17.1 would delete that one).
    fn replaces_users_passkey(
        &self,
        rp_id: &str,
        params: &McParams,
    ) -> Result<bool, crate::vault::VaultError> {
        let (true, Some(user_id)) = (params.discoverable, &params.user_id) else {
            return Ok(false);
        };
        Ok(self
            .vault
            .credentials()
            .discoverable_for_rp(rp_id)?
            .iter()
            .any(|c| &c.user_id == user_id))
    }
}

/// authData, credential id and AAGUID of a successful makeCredential response body.
fn registered_credential(body: &[u8]) -> Option<(Vec<u8>, Vec<u8>, [u8; 16])> {
    let Ok(Value::Map(entries)) = cbor::decode(body) else {
        return None;
    };
    let auth_data = entries
        .iter()
        .find(|(k, _)| k.as_int() == Some(2))?
        .1
        .as_bytes()?
        .to_vec();
    // rpIdHash 32 | flags 1 | signCount 4 | AAGUID 16 | credentialIdLength 2 | credentialId
    let aaguid: [u8; 16] = auth_data.get(37..53)?.try_into().ok()?;
    let len = usize::from(u16::from_be_bytes(auth_data.get(53..55)?.try_into().ok()?));
    let credential_id = auth_data.get(55..55 + len)?.to_vec();
    Some((auth_data, credential_id, aaguid))
}

/// The session engine's user: registrations were approved with the grant; anything else that
/// would need the user is refused (the admin cannot answer the user's prompts).
struct GrantedUser {
    user: Arc<dyn UserInterface>,
}

#[async_trait]
impl UserInterface for GrantedUser {
    async fn confirm_presence(&self, prompt: PresencePrompt) -> Result<bool, UserInterfaceError> {
        Ok(prompt.operation == UserOperation::Register)
    }

    async fn verify_user(
        &self,
        prompt: PresencePrompt,
    ) -> Result<VerificationOutcome, UserInterfaceError> {
        // The grant stands for the user's verification of registrations only; anything else
        // is declined, which spends no attempt.
        Ok(if prompt.operation == UserOperation::Register {
            VerificationOutcome::Verified
        } else {
            VerificationOutcome::Declined
        })
    }

    async fn choose_account(
        &self,
        _rp_id: String,
        _accounts: Vec<AccountOption>,
    ) -> Result<Option<u32>, UserInterfaceError> {
        Ok(None)
    }

    fn notify(&self, event: UserEvent) -> Result<(), UserInterfaceError> {
        // PasskeyCreated is replaced by the session's own RegisteredOnYourBehalf.
        if matches!(event, UserEvent::PasskeyCreated { .. }) {
            return Ok(());
        }
        self.user.notify(event)
    }
}
