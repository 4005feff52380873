//! Shared by the OBR integration tests: the kit's clock at a fixed time, a vault activated with a workspace whose
//! grant-signing key the test holds, a makeCredential request, and the audit trail's kinds.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use authenticator_core::cbor::{self, Value};
use authenticator_core::platform::SoftwareKeyProtector;
use authenticator_core::testkit::FakeClock;
use authenticator_core::vault::Vault;
use authenticator_core::workspace::state::{self, Enrollment, KeyStatus, PinPolicy};
use p256::ecdsa::SigningKey;

pub const NOW: u64 = 1_800_000_000;
pub const KEY_ID: &str = "sk_phone_1";
pub const RELAY: &str = "https://relay.example";

/// The test kit's clock, at [`NOW`].
pub fn fixed() -> Arc<FakeClock> {
    Arc::new(FakeClock::at(NOW))
}

/// A vault in a new folder, activated as `KEY_ID` with a workspace whose grant-signing key is
/// returned.
pub fn activated_vault() -> (tempfile::TempDir, Arc<Vault>, SigningKey) {
    let dir = tempfile::tempdir().unwrap();
    let protector = SoftwareKeyProtector::new(dir.path().join("device.key"));
    let vault = Arc::new(Vault::open(dir.path().join("vault.db"), &protector).unwrap());
    let workspace = activate(&vault);
    (dir, vault, workspace)
}

/// Stores an enrollment as `KEY_ID` in `vault` (as activation would have); returns the
/// workspace's grant-signing key.
pub fn activate(vault: &Vault) -> SigningKey {
    let workspace = SigningKey::from_slice(&[7u8; 32]).unwrap();
    state::store(
        vault,
        &Enrollment {
            status: KeyStatus::Active,
            api_base: "https://ws.example".into(),
            code_hash: vec![0; 32],
            security_key_id: KEY_ID.into(),
            user_id: "u1".into(),
            user_email: "alice@acme.example".into(),
            user_display_name: "Alice".into(),
            workspace_id: "ws1".into(),
            workspace_name: "Acme".into(),
            grant_signing_key: workspace
                .verifying_key()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec(),
            relay_url: RELAY.into(),
            pin_policy: PinPolicy {
                client_pin: false,
                force_change: false,
                min_length: 4,
            },
            pin_nonce: None,
            events_seen: 0,
            revocation_acknowledged: false,
        },
    )
    .unwrap();
    workspace
}

/// A makeCredential request (command byte and CBOR) for a discoverable passkey at `rp` with
/// built-in user verification.
pub fn make_credential(rp: &str) -> Vec<u8> {
    let mut request = vec![0x01];
    request.extend(cbor::encode(&Value::map([
        (Value::int(1), Value::Bytes(vec![1; 32])),
        (
            Value::int(2),
            Value::map([(Value::from("id"), Value::from(rp))]),
        ),
        (
            Value::int(3),
            Value::map([
                (Value::from("id"), Value::Bytes(b"user-1".to_vec())),
                (Value::from("name"), Value::from("alice")),
            ]),
        ),
        (
            Value::int(4),
            Value::Array(vec![Value::map([
                (Value::from("alg"), Value::int(-7)),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ),
        (
            Value::int(7),
            Value::map([
                (Value::from("rk"), Value::Bool(true)),
                (Value::from("uv"), Value::Bool(true)),
            ]),
        ),
    ])));
    request
}

pub fn audit_kinds(vault: &Vault) -> Vec<String> {
    vault
        .audit()
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}
