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

#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use client::{DEFAULT_REQUEST_TIMEOUT, DeviceIdentity, WorkspaceClient};
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub use error::WorkspaceError;
#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::{AlwaysServe, CtapEngine, EngineConfig};
    use crate::request::{Origin, RequestSignals};
    use crate::testkit::{FakeClock, ScriptedUser, TestProtector};

    /// CTAP 2.1 §6 command bytes and statuses (§8.2) the checks below use.
    const GET_INFO: u8 = 0x04;
    const GET_NEXT_ASSERTION: u8 = 0x08;
    const OK: u8 = 0x00;
    const NOT_ALLOWED: u8 = 0x30;
    const OPERATION_DENIED: u8 = 0x27;

    fn vault_with(status: Option<KeyStatus>) -> (tempfile::TempDir, Arc<Vault>) {
        let dir = tempfile::tempdir().unwrap();
        let vault =
            Arc::new(Vault::open(dir.path().join("v.db"), &TestProtector::sealing()).unwrap());
        if let Some(status) = status {
            let enrollment = Enrollment {
                status,
                api_base: "https://ws.example".into(),
                code_hash: vec![0; 32],
                security_key_id: "sk_1".into(),
                user_id: "u1".into(),
                user_email: "alice@acme.example".into(),
                user_display_name: "Alice".into(),
                workspace_id: "ws1".into(),
                workspace_name: "Acme".into(),
                grant_signing_key: Vec::new(),
                relay_url: String::new(),
                pin_policy: PinPolicy {
                    client_pin: false,
                    force_change: false,
                    min_length: 4,
                },
                pin_nonce: None,
                events_seen: 0,
                revocation_acknowledged: false,
            };
            state::store(&vault, &enrollment).unwrap();
        }
        (dir, vault)
    }

    /// The first byte of the engine's answer to `request`.
    async fn status(engine: &CtapEngine, request: &[u8]) -> u8 {
        let signals = RequestSignals::new(Origin::app());
        engine.handle(request, &signals).await[0]
    }

    fn engine(vault: &Arc<Vault>, serving: Arc<dyn ServingPolicy>) -> CtapEngine {
        CtapEngine::new(
            vault.clone(),
            serving,
            ScriptedUser::approving(),
            Arc::new(FakeClock::at(1_800_000_000)),
            EngineConfig::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_gate_lets_an_engine_serve_only_a_standalone_or_active_key() {
        for (key, serves) in [
            (None, true),
            (Some(KeyStatus::Active), true),
            (Some(KeyStatus::Pending), false),
            (Some(KeyStatus::Suspended), false),
            (Some(KeyStatus::Revoked), false),
            (Some(KeyStatus::Locked), false),
        ] {
            let (_dir, vault) = vault_with(key);
            let gated = engine(&vault, Arc::new(KeyStatusGate::new(vault.clone())));
            let expected = if serves {
                NOT_ALLOWED
            } else {
                OPERATION_DENIED
            };
            assert_eq!(
                status(&gated, &[GET_NEXT_ASSERTION]).await,
                expected,
                "{key:?}"
            );
            // getInfo is answered whatever the workspace says.
            assert_eq!(status(&gated, &[GET_INFO]).await, OK, "{key:?}");
        }
    }

    #[tokio::test]
    async fn an_engine_asks_the_policy_it_was_given() {
        // A suspended key's vault, but an engine given the standalone policy: the engine has no
        // rule of its own, so it serves (the facade and OBR therefore must pass the gate).
        let (_dir, vault) = vault_with(Some(KeyStatus::Suspended));
        let standalone = engine(&vault, Arc::new(AlwaysServe));
        assert_eq!(
            status(&standalone, &[GET_NEXT_ASSERTION]).await,
            NOT_ALLOWED
        );
        struct Refusing;
        impl ServingPolicy for Refusing {
            fn serving_allowed(&self) -> Result<bool, VaultError> {
                Ok(false)
            }
        }
        let (_dir, vault) = vault_with(None);
        let refusing = engine(&vault, Arc::new(Refusing));
        assert_eq!(
            status(&refusing, &[GET_NEXT_ASSERTION]).await,
            OPERATION_DENIED
        );
    }
}
