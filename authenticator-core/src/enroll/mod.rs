//! Enrollment: from the administrator's activation link to an active phone security key
//! (DESIGN §6, `proto/workspace-api.yaml`).
//!
//! - `activation_link`: strict parsing of activation links (https app link and app-scheme
//!   forms).
//! - The workspace client and the enrollment record it signs with live one floor down, in
//!   `crate::workspace` (OBR uses them too).
//!
//! Enrollment applies the workspace's status events; the events of on-behalf registration are
//! not its business: [`Enroller::fetch_events`] hands the typed events to the caller (the
//! facade), which gives the OBR ones to `obr` before [`Enroller::apply_events`] stores how far
//! the phone has read.
//!
//! Status machine: unactivated -> pending (waiting for the client PIN) -> active; the
//! workspace may move an activated key to suspended or revoked, and too many wrong client PINs
//! lock it. Revocation wipes the passkeys only once the server has confirmed the status, and
//! keeps the audit trail. Every step stores its result before it returns, so a failed or
//! interrupted call can simply be repeated.

pub mod activation_link;
mod error;

use std::collections::BTreeMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use p256::ecdsa::SigningKey;
use sha2::{Digest, Sha256};

use activation_link::{ActivationLink, ParseOptions};
use client::{DeviceIdentity, WorkspaceClient, decode_b64};
pub use error::EnrollError;
pub use state::{Enrollment, KeyStatus, PinPolicy};

use crate::platform::Clock;
use crate::vault::Vault;
use crate::workspace::events::{self, Event, WorkspaceEvent};
use crate::workspace::{Connection, WorkspaceError, client, device_signing_key, state};

/// Enrollment operations on one vault.
pub struct Enroller<'a> {
    pub vault: &'a Vault,
    pub clock: &'a dyn Clock,
    /// The name the workspace shows for this device.
    pub device_name: &'a str,
    /// How long one request to the workspace may take (see `client::DEFAULT_REQUEST_TIMEOUT`).
    pub request_timeout: Duration,
}

impl Enroller<'_> {
    fn signing_key(&self) -> Result<SigningKey, EnrollError> {
        Ok(device_signing_key(self.vault)?)
    }

    /// A client for the enrolled workspace and the identity that signs for this device.
    fn connect(&self, enrollment: &Enrollment) -> Result<Connection, EnrollError> {
        Ok(Connection::to(
            self.vault,
            enrollment,
            self.request_timeout,
        )?)
    }

    /// The current enrollment, if any.
    pub fn current(&self) -> Result<Option<Enrollment>, EnrollError> {
        Ok(state::load(self.vault)?)
    }

    /// Activates from a link: redeems it with the workspace and stores the result.
    pub async fn activate(
        &self,
        link_text: &str,
        options: ParseOptions,
    ) -> Result<Enrollment, EnrollError> {
        let link = ActivationLink::parse(link_text, options)?;
        let code_hash = Sha256::digest(link.code().as_bytes()).to_vec();
        if let Some(existing) = state::load(self.vault)? {
            let same_link = existing.code_hash == code_hash && existing.api_base == link.api_base();
            let finished = matches!(existing.status, KeyStatus::Revoked | KeyStatus::Locked);
            if !same_link && !finished {
                return Err(EnrollError::AlreadyActivated {
                    workspace: existing.workspace_name,
                });
            }
        }
        let key = self.signing_key()?;
        let public = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        let obr_public = state::obr_public_key(self.vault)?;
        let client = WorkspaceClient::new(&link.api_base(), self.request_timeout)?;
        let answer = client
            .redeem(link.code(), &public, &obr_public, self.device_name)
            .await?;
        // A repeated redeem returns the first answer as it was; the signed status call says
        // where the key is now (it may have become active since).
        let device = DeviceIdentity {
            security_key_id: answer.security_key_id.clone(),
            key,
        };
        let current = client.device(&device).await?;
        let status = KeyStatus::parse(&current.status).ok_or_else(|| {
            WorkspaceError::UnexpectedResponse(format!("unknown status {}", current.status))
        })?;
        let previous_seen = state::load(self.vault)?
            .filter(|e| e.security_key_id == answer.security_key_id)
            .map(|e| e.events_seen)
            .unwrap_or(0);
        let grant_signing_key = decode_b64(&answer.grant_signing_key)?;
        if p256::ecdsa::VerifyingKey::from_sec1_bytes(&grant_signing_key).is_err() {
            return Err(WorkspaceError::UnexpectedResponse(
                "the grant-signing key is not a P-256 key".into(),
            )
            .into());
        }
        // The workspace echoes the OBR key it stored; without the echo the next events poll
        // registers it (`obr-key`).
        let obr_key_stored = answer
            .obr_public_key
            .as_deref()
            .and_then(|k| decode_b64(k).ok())
            .is_some_and(|k| k == obr_public);
        let enrollment = Enrollment {
            status,
            api_base: link.api_base(),
            code_hash,
            security_key_id: answer.security_key_id,
            user_id: answer.user.id,
            user_email: answer.user.email,
            user_display_name: answer.user.display_name,
            workspace_id: answer.workspace.id,
            workspace_name: answer.workspace.name,
            grant_signing_key,
            relay_url: answer.relay_url,
            pin_policy: PinPolicy {
                client_pin: answer.pin_policy.client_pin,
                force_change: answer.pin_policy.force_change,
                min_length: answer.pin_policy.min_length,
            },
            pin_nonce: answer.pin_nonce.as_deref().map(decode_b64).transpose()?,
            events_seen: previous_seen,
            revocation_acknowledged: false,
        };
        state::store(self.vault, &enrollment)?;
        if obr_key_stored {
            state::set_obr_key_registered(self.vault, &enrollment.security_key_id)?;
        }
        self.audit("enroll.activated", &enrollment)?;
        Ok(enrollment)
    }

    /// Proves the delivered client PIN to the workspace and installs it as the CTAP PIN.
    pub async fn submit_pin(&self, pin: &str) -> Result<Enrollment, EnrollError> {
        let mut enrollment = state::load(self.vault)?.ok_or(WorkspaceError::NotActivated)?;
        if enrollment.status != KeyStatus::Pending || !enrollment.pin_policy.client_pin {
            return Err(EnrollError::NoPinExpected {
                status: enrollment.status.as_str().into(),
            });
        }
        let min = enrollment.pin_policy.min_length.max(4);
        // The client PIN's own policy (`vault::pin_state`), before the workspace is asked.
        let code_points = crate::vault::pin_code_points(pin.as_bytes(), min)
            .ok_or(EnrollError::InvalidPin { min })?;
        let nonce = enrollment.pin_nonce.clone().unwrap_or_default();
        let proof = pin_proof(pin, &enrollment.security_key_id, &nonce);
        let Connection { client, device } = self.connect(&enrollment)?;
        let answer = match client.submit_pin_proof(&device, &proof).await {
            Err(crate::workspace::WorkspaceError::ActivationLocked) => {
                enrollment.status = KeyStatus::Locked;
                state::store(self.vault, &enrollment)?;
                self.audit("enroll.locked", &enrollment)?;
                return Err(WorkspaceError::ActivationLocked.into());
            }
            other => other?,
        };
        // The workspace accepted the PIN: it becomes the authenticator's client PIN, installed
        // as clientPIN installs one (the caller then ends earlier PIN/UV auth tokens).
        let hash = crate::vault::pin_hash(pin.as_bytes());
        let force_change = answer.force_change || enrollment.pin_policy.force_change;
        self.vault.pin_state().update(|s| {
            crate::vault::install_pin(s, hash, code_points);
            s.force_change = force_change;
            s.min_pin_length = s.min_pin_length.max(min);
        })?;
        enrollment.status = KeyStatus::parse(&answer.status).unwrap_or(KeyStatus::Active);
        enrollment.pin_nonce = None;
        state::store(self.vault, &enrollment)?;
        self.audit("enroll.pin_installed", &enrollment)?;
        Ok(enrollment)
    }

    /// Asks the workspace for the key's status and applies it.
    pub async fn refresh(&self) -> Result<Enrollment, EnrollError> {
        let enrollment = state::load(self.vault)?.ok_or(WorkspaceError::NotActivated)?;
        let Connection { client, device } = self.connect(&enrollment)?;
        let answer = client.device(&device).await?;
        let status = KeyStatus::parse(&answer.status).ok_or_else(|| {
            WorkspaceError::UnexpectedResponse(format!("unknown status {}", answer.status))
        })?;
        self.apply(&client, &device, enrollment, status, None).await
    }

    /// Waits up to `wait` for the workspace's next events (first registering the OBR key if
    /// the workspace does not hold it yet) and types them; nothing is applied yet. The caller
    /// hands the OBR events (`obr_request`, `obr_stopped`) to `obr`, then calls
    /// [`apply_events`](Self::apply_events), so an interrupted poll reads them again.
    pub async fn fetch_events(&self, wait: Duration) -> Result<FetchedEvents, EnrollError> {
        let enrollment = state::load(self.vault)?.ok_or(WorkspaceError::NotActivated)?;
        let connection = self.connect(&enrollment)?;
        self.ensure_obr_key_registered(&connection.client, &connection.device, &enrollment)
            .await;
        let answer = connection
            .client
            .events(&connection.device, enrollment.events_seen, wait)
            .await?;
        Ok(FetchedEvents {
            events: events::parse(&answer.events),
            next: answer.next,
            enrollment,
            connection,
        })
    }

    /// Applies fetched events: the last status event (confirmed by the signed status fetch),
    /// and how far the phone has read. Returns the enrollment and the connection (for the
    /// caller's refusal reports).
    pub async fn apply_events(
        &self,
        fetched: FetchedEvents,
    ) -> Result<(Enrollment, Connection), EnrollError> {
        let FetchedEvents {
            enrollment,
            connection,
            events,
            next,
        } = fetched;
        let Connection { client, device } = &connection;
        let status = events
            .iter()
            .filter_map(|e| match e.event {
                WorkspaceEvent::Status(status) => Some(status),
                _ => None,
            })
            .next_back();
        let enrollment = match status {
            Some(status) => {
                // An event only says something changed; the signed status fetch confirms it.
                let confirmed = client.device(device).await?;
                let confirmed = KeyStatus::parse(&confirmed.status).unwrap_or(status);
                self.apply(client, device, enrollment, confirmed, Some(next))
                    .await?
            }
            None => {
                let mut enrollment = enrollment;
                enrollment.events_seen = enrollment.events_seen.max(next);
                state::store(self.vault, &enrollment)?;
                enrollment
            }
        };
        Ok((enrollment, connection))
    }

    /// A phone activated before the OBR key existed (or whose workspace did not echo it)
    /// tells the workspace its OBR key, signed with the device key, before anything else of
    /// OBR can run; an active or pending key only. Success is audited; a failure is logged
    /// (not audited: it would repeat at every poll) and tried again at the next poll, and the
    /// events still get through. Until it succeeds the workspace refuses to start OBR for
    /// this phone (`no_obr_key`), so the phone is never offered OBR under another key.
    async fn ensure_obr_key_registered(
        &self,
        client: &WorkspaceClient,
        device: &DeviceIdentity,
        enrollment: &Enrollment,
    ) {
        if !matches!(enrollment.status, KeyStatus::Active | KeyStatus::Pending) {
            return;
        }
        let result = async {
            if state::obr_key_registered(self.vault, &enrollment.security_key_id)? {
                return Ok(false);
            }
            let public = state::obr_public_key(self.vault)?;
            client.register_obr_key(device, &public).await?;
            state::set_obr_key_registered(self.vault, &enrollment.security_key_id)?;
            Ok::<_, EnrollError>(true)
        }
        .await;
        match result {
            Ok(false) => {}
            Ok(true) => {
                let now = self.clock.now_unix_seconds();
                let kind = "enroll.obr_key.registered";
                if let Err(e) = self.vault.audit().append(now, kind, BTreeMap::new()) {
                    tracing::warn!("audit entry {kind} not written: {e}");
                }
            }
            Err(e) => tracing::warn!("the OBR key was not registered with the workspace: {e}"),
        }
    }

    async fn apply(
        &self,
        client: &WorkspaceClient,
        device: &DeviceIdentity,
        mut enrollment: Enrollment,
        status: KeyStatus,
        events_seen: Option<u64>,
    ) -> Result<Enrollment, EnrollError> {
        if let Some(seen) = events_seen {
            enrollment.events_seen = enrollment.events_seen.max(seen);
        }
        let changed = enrollment.status != status;
        enrollment.status = status;
        if status == KeyStatus::Revoked && !enrollment.revocation_acknowledged {
            // The server confirmed the revocation: the workspace's passkeys and client PIN go;
            // the audit trail stays.
            self.vault.credentials().delete_all()?;
            self.vault.pin_state().reset()?;
            state::store(self.vault, &enrollment)?;
            client.acknowledge_revocation(device).await?;
            enrollment.revocation_acknowledged = true;
        }
        state::store(self.vault, &enrollment)?;
        if changed {
            self.audit(&format!("enroll.{}", status.as_str()), &enrollment)?;
        }
        Ok(enrollment)
    }

    fn audit(&self, kind: &str, enrollment: &Enrollment) -> Result<(), EnrollError> {
        let details = BTreeMap::from([
            (
                "security_key_id".to_string(),
                enrollment.security_key_id.clone(),
            ),
            ("workspace".to_string(), enrollment.workspace_name.clone()),
            ("status".to_string(), enrollment.status.as_str().to_string()),
        ]);
        self.vault
            .audit()
            .append(self.clock.now_unix_seconds(), kind, details)?;
        Ok(())
    }
}

/// The workspace's events as fetched, not applied yet.
pub struct FetchedEvents {
    /// The enrollment before the events.
    pub enrollment: Enrollment,
    pub connection: Connection,
    /// Every event of the answer, typed, in order.
    pub events: Vec<Event>,
    /// Where the next poll starts.
    pub next: u64,
}

impl FetchedEvents {
    /// The events this phone has not seen before, in order.
    pub fn new_events(&self) -> impl Iterator<Item = &WorkspaceEvent> {
        let seen = self.enrollment.events_seen;
        self.events
            .iter()
            .filter(move |e| e.seq > seen)
            .map(|e| &e.event)
    }
}

/// HMAC-SHA256(key = SHA-256(PIN), "client-pin/v1" || security key id || nonce): proves the
/// PIN to the workspace without sending it.
pub fn pin_proof(pin: &str, security_key_id: &str, nonce: &[u8]) -> Vec<u8> {
    let key = zeroize::Zeroizing::new(Sha256::digest(pin.as_bytes()));
    let Ok(mut mac) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key) else {
        return Vec::new();
    };
    mac.update(b"client-pin/v1");
    mac.update(security_key_id.as_bytes());
    mac.update(nonce);
    mac.finalize().into_bytes().to_vec()
}
