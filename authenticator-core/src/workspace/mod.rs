//! The phone's side of the workspace (`proto/workspace-api.yaml`): what it knows of its
//! membership and how it talks to the server. Both enrollment (`enroll`: activation, the
//! client PIN, status) and on-behalf registration (`obr`: receipts, refusal reports) stand on
//! it; neither calls the other, and the facade (`api`) hands each the events that are theirs.
//!
//! - `state`: the enrollment record, the device identity key and the OBR key, sealed in the
//!   vault; [`KeyStatusGate`], the serving policy the CTAP engines are given.
//! - `client`: the HTTPS client, request signing, the endpoints and their typed answers.
//! - `events`: the workspace's event list, typed once ([`events::WorkspaceEvent`]).
//! - [`Connection`]: the signed client of an enrolled phone.
//!
//! Invariants: every call after redeem is signed with the device key, which never leaves the
//! vault's sealed settings and appears in no error or log; an unactivated phone has no
//! connection (`WorkspaceError::NotActivated`).

pub mod client;
mod error;
pub mod events;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use p256::ecdsa::SigningKey;

pub use client::{DEFAULT_REQUEST_TIMEOUT, DeviceIdentity, WorkspaceClient};
pub use error::WorkspaceError;
pub use state::{Enrollment, KeyStatus, PinPolicy};

use crate::ctap::ServingPolicy;
use crate::vault::{Vault, VaultError};

/// The device identity key that signs this phone's workspace requests and OBR receipts.
pub fn device_signing_key(vault: &Vault) -> Result<SigningKey, WorkspaceError> {
    let secret = state::device_key(vault)?;
    SigningKey::from_slice(secret.expose())
        .map_err(|_| WorkspaceError::UnexpectedResponse("stored device key is invalid".into()))
}

/// An enrolled phone's signed client: the workspace it is enrolled with and the identity that
/// signs for it.
pub struct Connection {
    pub client: WorkspaceClient,
    pub device: DeviceIdentity,
}

impl Connection {
    /// To the workspace of `enrollment`; each request may take up to `timeout`.
    pub fn to(
        vault: &Vault,
        enrollment: &Enrollment,
        timeout: Duration,
    ) -> Result<Self, WorkspaceError> {
        let client = WorkspaceClient::new(&enrollment.api_base, timeout)?;
        let device = DeviceIdentity {
            security_key_id: enrollment.security_key_id.clone(),
            key: device_signing_key(vault)?,
        };
        Ok(Self { client, device })
    }

    /// To the workspace this phone is enrolled with now.
    pub fn enrolled(vault: &Vault, timeout: Duration) -> Result<Self, WorkspaceError> {
        let enrollment = state::load(vault)?.ok_or(WorkspaceError::NotActivated)?;
        Self::to(vault, &enrollment, timeout)
    }

    /// Posts an on-behalf registration receipt (one round of the client's retries); a receipt
    /// the workspace already holds counts as posted.
    pub async fn post_obr_receipt(&self, receipt: &[u8]) -> Result<(), WorkspaceError> {
        self.client
            .post_obr_receipt(&self.device, receipt)
            .await
            .map(|_| ())
    }

    /// Reports that the phone refused the grant `grant_id` (its b64url id) with `code` (one
    /// round of the client's retries). `Ok(false)` if the workspace does not know the grant.
    pub async fn post_obr_refusal(
        &self,
        grant_id: &str,
        code: &str,
    ) -> Result<bool, WorkspaceError> {
        self.client
            .post_obr_refusal(&self.device, grant_id, code)
            .await
    }
}

/// The serving policy of a phone that may belong to a workspace: serve while unactivated
/// (standalone) or active; a pending, suspended, revoked or locked workspace key refuses
/// (`state::serving_allowed`). The facade's engine and every OBR session's engine get it.
#[derive(Clone)]
pub struct KeyStatusGate {
    vault: Arc<Vault>,
}

impl KeyStatusGate {
    pub fn new(vault: Arc<Vault>) -> Self {
        Self { vault }
    }
}

impl ServingPolicy for KeyStatusGate {
    fn serving_allowed(&self) -> Result<bool, VaultError> {
        state::serving_allowed(&self.vault)
    }
}
