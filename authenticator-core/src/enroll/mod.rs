//! Enrollment: from the administrator's activation link to an active phone security key
//! (DESIGN §6, `proto/workspace-api.yaml`).
//!
//! - `link`: strict parsing of activation links (https app link and app-scheme forms).
//! - `client`: the workspace API over HTTPS, requests signed with the device identity key.
//! - `state`: the enrollment record and device key, sealed in the vault.
//!
//! Status machine: unactivated -> pending (waiting for the client PIN) -> active; the
//! workspace may move an activated key to suspended or revoked, and too many wrong client PINs
//! lock it. Revocation wipes the passkeys only once the server has confirmed the status, and
//! keeps the audit trail. Every step stores its result before it returns, so a failed or
//! interrupted call can simply be repeated.

pub mod activation_link;
pub mod client;
mod error;
pub mod state;

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
        let secret = state::device_key(self.vault)?;
        SigningKey::from_slice(secret.expose())
            .map_err(|_| EnrollError::UnexpectedResponse("stored device key is invalid".into()))
    }

    /// A client for the enrolled workspace and the identity that signs for this device.
    fn connect(
        &self,
        enrollment: &Enrollment,
    ) -> Result<(WorkspaceClient, DeviceIdentity), EnrollError> {
        let client = WorkspaceClient::new(&enrollment.api_base, self.request_timeout)?;
        let device = DeviceIdentity {
            security_key_id: enrollment.security_key_id.clone(),
            key: self.signing_key()?,
        };
        Ok((client, device))
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
            EnrollError::UnexpectedResponse(format!("unknown status {}", current.status))
        })?;
        let previous_seen = state::load(self.vault)?
            .filter(|e| e.security_key_id == answer.security_key_id)
            .map(|e| e.events_seen)
            .unwrap_or(0);
        let grant_signing_key = decode_b64(&answer.grant_signing_key)?;
        if p256::ecdsa::VerifyingKey::from_sec1_bytes(&grant_signing_key).is_err() {
            return Err(EnrollError::UnexpectedResponse(
                "the grant-signing key is not a P-256 key".into(),
            ));
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
        let mut enrollment = state::load(self.vault)?.ok_or(EnrollError::NotActivated)?;
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
        let (client, device) = self.connect(&enrollment)?;
        let answer = match client.submit_pin_proof(&device, &proof).await {
            Err(EnrollError::ActivationLocked) => {
                enrollment.status = KeyStatus::Locked;
                state::store(self.vault, &enrollment)?;
                self.audit("enroll.locked", &enrollment)?;
                return Err(EnrollError::ActivationLocked);
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
        let enrollment = state::load(self.vault)?.ok_or(EnrollError::NotActivated)?;
        let (client, device) = self.connect(&enrollment)?;
        let answer = client.device(&device).await?;
        let status = KeyStatus::parse(&answer.status).ok_or_else(|| {
            EnrollError::UnexpectedResponse(format!("unknown status {}", answer.status))
        })?;
        self.apply(&client, &device, enrollment, status, None).await
    }

    /// Waits up to `wait` for the workspace's next events and applies them (OBR events too,
    /// see [`poll`](Self::poll)).
    pub async fn poll_events(&self, wait: Duration) -> Result<Enrollment, EnrollError> {
        self.poll(wait).await.map(|p| p.enrollment)
    }

    /// Waits up to `wait` for the workspace's next events and applies them: status changes,
    /// `obr_request` (verified without the link binding and kept as a pending approval, or
    /// audited `obr.grant.refused` and dropped) and `obr_stopped` (the pending approval goes
    /// and a running session ends). Unknown event types are skipped. A refused `obr_request`
    /// (but a stopped one) is reported to the workspace under the event's own `grant_id` once
    /// the events are stored, within `obr::link::REFUSAL_REPORT_BUDGET` in all, and audited
    /// `obr.refusal.reported` or `obr.refusal.unreported`.
    pub async fn poll(&self, wait: Duration) -> Result<Polled, EnrollError> {
        let enrollment = state::load(self.vault)?.ok_or(EnrollError::NotActivated)?;
        let (client, device) = self.connect(&enrollment)?;
        self.ensure_obr_key_registered(&client, &device, &enrollment)
            .await;
        let answer = client.events(&device, enrollment.events_seen, wait).await?;
        let mut obr_requests = Vec::new();
        let mut obr_stopped = Vec::new();
        let mut obr_refused = Vec::new();
        let now = self.clock.now_unix_seconds();
        for event in answer
            .events
            .iter()
            .filter(|e| e.seq > enrollment.events_seen)
        {
            match event.kind.as_str() {
                "obr_request" => {
                    let grant = event.grant.as_deref().and_then(|g| decode_b64(g).ok());
                    let door = event.admin_door.as_deref().and_then(|d| decode_b64(d).ok());
                    let received = crate::obr::link::receive_request(
                        self.vault,
                        now,
                        grant.as_deref(),
                        event.relay_url.as_deref().unwrap_or(""),
                        door.as_deref(),
                    )?;
                    match received {
                        crate::obr::link::Received::Pending(p) => obr_requests.push(p),
                        crate::obr::link::Received::Refused(code) => {
                            tracing::info!("obr request refused: {code}");
                            if crate::obr::link::is_reportable(&code) {
                                obr_refused.push(crate::obr::link::ObrRefusal {
                                    grant_id: crate::obr::link::event_grant_id(
                                        event.grant_id.as_deref(),
                                    ),
                                    code,
                                    report: crate::obr::link::RefusalReport::NotSent(
                                        "not reported yet".into(),
                                    ),
                                });
                            }
                        }
                        crate::obr::link::Received::AlreadyPending => {}
                    }
                }
                "obr_stopped" => {
                    let id = event
                        .grant_id
                        .as_deref()
                        .and_then(|g| decode_b64(g).ok())
                        .and_then(|g| <[u8; 16]>::try_from(g.as_slice()).ok());
                    if let Some(id) = id {
                        crate::obr::link::stop(self.vault, now, &id)?;
                        obr_stopped.push(id);
                    }
                }
                _ => {}
            }
        }
        let status = answer
            .events
            .iter()
            .filter(|e| e.kind == "status")
            .filter_map(|e| e.status.as_deref().and_then(KeyStatus::parse))
            .next_back();
        let enrollment = match status {
            Some(status) => {
                // An event only says something changed; the signed status fetch confirms it.
                let confirmed = client.device(&device).await?;
                let confirmed = KeyStatus::parse(&confirmed.status).unwrap_or(status);
                self.apply(&client, &device, enrollment, confirmed, Some(answer.next))
                    .await?
            }
            None => {
                let mut enrollment = enrollment;
                enrollment.events_seen = enrollment.events_seen.max(answer.next);
                state::store(self.vault, &enrollment)?;
                enrollment
            }
        };
        self.report_obr_refusals(&client, &device, &mut obr_refused)
            .await;
        Ok(Polled {
            enrollment,
            obr_requests,
            obr_stopped,
            obr_refused,
        })
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

    /// Reports refused `obr_request`s to the workspace, one after the other, within
    /// `REFUSAL_REPORT_BUDGET` in all (the client retries transport failures), and audits each.
    async fn report_obr_refusals(
        &self,
        client: &WorkspaceClient,
        device: &DeviceIdentity,
        refusals: &mut [crate::obr::link::ObrRefusal],
    ) {
        use crate::obr::link::{
            REFUSAL_REPORT_BUDGET, RefusalReport, audit_refusal_report, await_refusal_report,
            grant_id_b64,
        };
        let deadline = tokio::time::Instant::now() + REFUSAL_REPORT_BUDGET;
        for refusal in refusals.iter_mut() {
            refusal.report = match &refusal.grant_id {
                None => RefusalReport::NotSent("the event carries no valid grant id".into()),
                Some(id) => {
                    let id = grant_id_b64(id);
                    await_refusal_report(
                        deadline,
                        client.post_obr_refusal(device, &id, &refusal.code),
                    )
                    .await
                }
            };
            audit_refusal_report(
                self.vault,
                self.clock.now_unix_seconds(),
                refusal.grant_id.as_ref(),
                &refusal.code,
                &refusal.report,
            );
        }
    }

    /// Reports to the workspace that the phone refused the grant `grant_id` (its b64url id)
    /// with `code` (one round of the client's retries). `Ok(false)` if the workspace does not
    /// know the grant.
    pub async fn post_obr_refusal(&self, grant_id: &str, code: &str) -> Result<bool, EnrollError> {
        let enrollment = state::load(self.vault)?.ok_or(EnrollError::NotActivated)?;
        let (client, device) = self.connect(&enrollment)?;
        client.post_obr_refusal(&device, grant_id, code).await
    }

    /// Posts an on-behalf registration receipt to the workspace (one round of the client's
    /// retries); a receipt the workspace already holds counts as posted.
    pub async fn post_obr_receipt(&self, receipt: &[u8]) -> Result<(), EnrollError> {
        let enrollment = state::load(self.vault)?.ok_or(EnrollError::NotActivated)?;
        let (client, device) = self.connect(&enrollment)?;
        client.post_obr_receipt(&device, receipt).await.map(|_| ())
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

/// What one poll of the workspace's events brought.
#[derive(Debug)]
pub struct Polled {
    pub enrollment: Enrollment,
    /// New pending OBR approvals, in event order.
    pub obr_requests: Vec<crate::obr::link::PendingApproval>,
    /// Grant ids the workspace stopped.
    pub obr_stopped: Vec<[u8; 16]>,
    /// `obr_request`s refused on arrival (but stopped ones), in event order, with how
    /// reporting them to the workspace went.
    pub obr_refused: Vec<crate::obr::link::ObrRefusal>,
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
