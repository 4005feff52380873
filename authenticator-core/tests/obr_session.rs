//! On-behalf registration sessions on a real engine and vault: a verified grant is offered to
//! the user; once accepted only getInfo (built-in UV, no client PIN) and in-scope
//! makeCredential are served, each registration audited, notified and answered with a receipt
//! signed by the device key; every refusal stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::obr::{KEY_ID, NOW, activated_vault, audit_kinds, fixed, make_credential};

use std::sync::Arc;
use std::time::Duration;

use authenticator_core::cbor;
use authenticator_core::ctap::EngineConfig;
use authenticator_core::link::KeyPair;
use authenticator_core::obr::session::{OPERATION_DENIED, ObrError, ObrSession, PASSKEY_EXISTS};
use authenticator_core::obr::{Grant, GrantError, Operation, Receipt};
use authenticator_core::platform::{UserEvent, UserOperation, VerificationOutcome};
use authenticator_core::request::{Origin, RequestSignals};
use authenticator_core::testkit::{Answer, ScriptedUser};
use authenticator_core::vault::Vault;
use authenticator_core::workspace::state;
use p256::ecdsa::SigningKey;

struct Setup {
    _dir: tempfile::TempDir,
    vault: Arc<Vault>,
    workspace: SigningKey,
    admin: [u8; 65],
}

fn setup() -> Setup {
    let (dir, vault, workspace) = activated_vault();
    let admin = *KeyPair::generate().unwrap().public_key();
    Setup {
        _dir: dir,
        vault,
        workspace,
        admin,
    }
}

fn grant(s: &Setup, id: u8, max: u8) -> Grant {
    Grant {
        grant_id: [id; 16],
        issued_at: NOW - 10,
        expires_at: NOW + 600,
        workspace_id: "ws1".into(),
        workspace_name: "Acme".into(),
        admin_id: "admin-1".into(),
        admin_name: "Bob Admin".into(),
        admin_static_key: s.admin,
        security_key_id: KEY_ID.into(),
        operations: vec![Operation::MakeCredential],
        rp_ids: vec!["crm.example".into()],
        max_registrations: max,
    }
}

/// The user, answering the approval (user verification) as `answer` says (a refusal is
/// `Declined`). The session must never ask them for presence: every prompt they see is the
/// approval's.
fn user(answer: Answer) -> Arc<ScriptedUser> {
    let user = ScriptedUser::new(Answer::Unavailable, answer);
    user.set_refused_verification(VerificationOutcome::Declined);
    user.on_prompt(|prompt| {
        assert_eq!(
            prompt.operation,
            UserOperation::OnBehalfRegistration,
            "the session must not ask the user for presence"
        );
    });
    Arc::new(user)
}

async fn accept(s: &Setup, bytes: &[u8], user: Arc<ScriptedUser>) -> Result<ObrSession, ObrError> {
    ObrSession::accept(
        s.vault.clone(),
        user,
        fixed(),
        EngineConfig::default(),
        bytes,
        &s.admin,
        Duration::from_millis(300),
    )
    .await
}

#[tokio::test]
async fn an_accepted_grant_registers_in_scope_and_answers_with_a_receipt() {
    let s = setup();
    let ui = user(Answer::Yes);
    let session = accept(&s, &grant(&s, 1, 1).sign(&s.workspace), ui.clone())
        .await
        .unwrap();
    let prompt = ui.prompts()[0].clone();
    assert_eq!(prompt.operation, UserOperation::OnBehalfRegistration);
    assert!(
        prompt
            .message
            .contains("Bob Admin (Acme) asks to register up to 1 passkey(s)")
    );
    assert!(prompt.message.contains("crm.example"));
    let signals = RequestSignals::new(Origin::app());

    // getInfo: built-in UV, no client PIN, no PIN/UV auth tokens.
    let (info, _) = session.handle(&[0x04], &signals).await;
    assert_eq!(info[0], 0);
    let info = cbor::decode(&info[1..]).unwrap();
    let entries = info.as_map().unwrap();
    let options = entries
        .iter()
        .find(|(k, _)| k.as_int() == Some(4))
        .unwrap()
        .1
        .as_map()
        .unwrap();
    let option = |n: &str| {
        options
            .iter()
            .find(|(k, _)| k.as_text() == Some(n))
            .map(|(_, v)| v.as_bool())
    };
    assert_eq!(option("uv"), Some(Some(true)));
    assert_eq!(option("clientPin"), None);
    assert_eq!(option("pinUvAuthToken"), None);

    let (answer, registration) = session
        .handle(&make_credential("crm.example"), &signals)
        .await;
    assert_eq!(answer[0], 0, "makeCredential failed: {answer:02x?}");
    let registration = registration.unwrap();
    assert_eq!(
        (registration.index, registration.rp_id.as_str()),
        (1, "crm.example")
    );
    let device = SigningKey::from_slice(state::device_key(&s.vault).unwrap().expose()).unwrap();
    let device_pub = device
        .verifying_key()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();
    let receipt = Receipt::verify(&registration.receipt, &device_pub).unwrap();
    assert_eq!(receipt.grant_id, [1; 16]);
    assert_eq!(receipt.created_at, NOW);
    let stored = s.vault.credentials().list().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].credential_id, receipt.credential_id);
    assert_eq!(stored[0].rp_id, "crm.example");
    assert_eq!(
        ui.events().as_slice(),
        &[UserEvent::RegisteredOnYourBehalf {
            admin_name: "Bob Admin".into(),
            rp_id: "crm.example".into()
        }]
    );

    // The count is spent: refused, nothing stored.
    let (answer, registration) = session
        .handle(&make_credential("crm.example"), &signals)
        .await;
    assert_eq!((answer, registration), (vec![OPERATION_DENIED], None));
    assert_eq!(s.vault.credentials().count().unwrap(), 1);
    assert_eq!(
        audit_kinds(&s.vault),
        ["obr.grant.accepted", "obr.registration", "obr.refused"]
    );
    let entries = s.vault.audit().list().unwrap();
    assert_eq!(entries[1].details["rp_id"], "crm.example");
    assert_eq!(
        entries[2].details["reason"],
        "the grant allows 1 registration(s), all made"
    );
}

#[tokio::test]
async fn everything_but_get_info_and_in_scope_make_credential_is_refused() {
    let s = setup();
    let session = accept(&s, &grant(&s, 2, 5).sign(&s.workspace), user(Answer::Yes))
        .await
        .unwrap();
    let signals = RequestSignals::new(Origin::app());
    let (answer, registration) = session
        .handle(&make_credential("evil.example"), &signals)
        .await;
    assert_eq!((answer, registration), (vec![OPERATION_DENIED], None));
    // getAssertion, clientPIN (change PIN), reset, selection, credential management, config.
    for request in [
        vec![0x02, 0xa0],
        vec![0x06, 0xa1, 0x02, 0x04],
        vec![0x07],
        vec![0x0b],
        vec![0x0a, 0xa1, 0x01, 0x01],
        vec![0x0d, 0xa1, 0x01, 0x01],
    ] {
        let (answer, registration) = session.handle(&request, &signals).await;
        assert_eq!(
            (answer, registration),
            (vec![OPERATION_DENIED], None),
            "{request:02x?}"
        );
    }
    assert_eq!(s.vault.credentials().count().unwrap(), 0);
    let reasons: Vec<String> = s
        .vault
        .audit()
        .list()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "obr.refused")
        .map(|e| e.details["reason"].clone())
        .collect();
    assert_eq!(reasons.len(), 7);
    assert_eq!(
        reasons[0],
        "rp \"evil.example\" is outside the grant's scope"
    );
    assert_eq!(
        reasons[2],
        "command 0x06 is not allowed during on-behalf registration"
    );
}

#[tokio::test]
async fn refused_grants_store_nothing_and_say_why() {
    let s = setup();
    // The user declines; the same grant cannot be offered again.
    let bytes = grant(&s, 3, 1).sign(&s.workspace);
    assert!(matches!(
        accept(&s, &bytes, user(Answer::No)).await.unwrap_err(),
        ObrError::Denied
    ));
    assert!(matches!(
        accept(&s, &bytes, user(Answer::Yes)).await.unwrap_err(),
        ObrError::Grant(GrantError::Replayed)
    ));
    // The user does not answer in time.
    assert!(matches!(
        accept(&s, &grant(&s, 4, 1).sign(&s.workspace), user(Answer::Never))
            .await
            .unwrap_err(),
        ObrError::Timeout
    ));
    // Forged, for another key, expired, from another admin tool.
    let forger = SigningKey::from_slice(&[9u8; 32]).unwrap();
    let ui = user(Answer::Yes);
    let forged = accept(&s, &grant(&s, 5, 1).sign(&forger), ui.clone()).await;
    assert!(matches!(
        forged.unwrap_err(),
        ObrError::Grant(GrantError::KidMismatch)
    ));
    let mut other_key = grant(&s, 6, 1);
    other_key.security_key_id = "sk_someone_else".into();
    let err = accept(&s, &other_key.sign(&s.workspace), ui.clone()).await;
    assert!(matches!(
        err.unwrap_err(),
        ObrError::Grant(GrantError::WrongSecurityKey)
    ));
    let mut expired = grant(&s, 7, 1);
    expired.issued_at = NOW - 900;
    expired.expires_at = NOW - 60;
    let err = accept(&s, &expired.sign(&s.workspace), ui.clone()).await;
    assert!(matches!(
        err.unwrap_err(),
        ObrError::Grant(GrantError::Expired)
    ));
    let mut other_tool = grant(&s, 8, 1);
    other_tool.admin_static_key = *KeyPair::generate().unwrap().public_key();
    let err = accept(&s, &other_tool.sign(&s.workspace), ui.clone()).await;
    assert!(matches!(
        err.unwrap_err(),
        ObrError::Grant(GrantError::WrongPeer)
    ));
    // The user was asked only for the grants that verified.
    assert!(ui.prompts().is_empty());
    assert_eq!(s.vault.credentials().count().unwrap(), 0);
    assert_eq!(
        audit_kinds(&s.vault),
        [
            "obr.grant.declined",
            "obr.grant.refused",
            "obr.grant.declined",
            "obr.grant.refused",
            "obr.grant.refused",
            "obr.grant.refused",
            "obr.grant.refused",
        ]
    );
}

/// The user's own discoverable passkey at `rp` for `user_id`, as their PC would have made it.
fn users_own_passkey(s: &Setup, rp: &str, user_id: &[u8]) -> Vec<u8> {
    use authenticator_core::secret::SecretBytes;
    use authenticator_core::vault::{Credential, CredentialSecrets};
    let credential_id = vec![0x55; 16];
    let key = SigningKey::from_slice(&[3u8; 32]).unwrap();
    s.vault
        .credentials()
        .insert(
            &Credential {
                credential_id: credential_id.clone(),
                rp_id: rp.into(),
                rp_name: None,
                user_id: user_id.to_vec(),
                user_name: Some("alice".into()),
                user_display_name: None,
                algorithm: -7,
                public_key: key.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
                discoverable: true,
                cred_protect: 1,
                cred_blob: None,
                created_at: NOW - 1000,
                label: None,
                sign_count: 0,
            },
            &CredentialSecrets {
                private_key: SecretBytes::new(vec![3u8; 32]),
                cred_random_with_uv: None,
                cred_random_without_uv: None,
            },
        )
        .unwrap();
    credential_id
}

/// `make_credential` with the user handle, the rk option and extra parameters changed.
fn make_credential_with(
    rp: &str,
    user_id: &[u8],
    rk: bool,
    extra: &[(i64, cbor::Value)],
) -> Vec<u8> {
    use cbor::Value;
    let Value::Map(mut entries) = cbor::decode(&make_credential(rp)[1..]).unwrap() else {
        unreachable!()
    };
    for (k, v) in entries.iter_mut() {
        match k.as_int() {
            Some(3) => {
                *v = Value::map([
                    (Value::from("id"), Value::Bytes(user_id.to_vec())),
                    (Value::from("name"), Value::from("alice")),
                ]);
            }
            Some(7) => {
                *v = Value::map([
                    (Value::from("rk"), Value::Bool(rk)),
                    (Value::from("uv"), Value::Bool(true)),
                ]);
            }
            _ => {}
        }
    }
    entries.extend(extra.iter().map(|(k, v)| (Value::int(*k), v.clone())));
    let mut request = vec![0x01];
    request.extend(cbor::encode(&Value::map(entries)));
    request
}

fn refusal_reasons(vault: &Vault) -> Vec<String> {
    vault
        .audit()
        .list()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "obr.refused")
        .map(|e| e.details["reason"].clone())
        .collect()
}

#[tokio::test]
async fn a_registration_that_would_replace_the_users_own_passkey_is_refused_and_ends_the_grant() {
    let s = setup();
    let own = users_own_passkey(&s, "crm.example", b"alice-1");
    let session = accept(&s, &grant(&s, 9, 5).sign(&s.workspace), user(Answer::Yes))
        .await
        .unwrap();
    let signals = RequestSignals::new(Origin::app());
    assert_eq!(session.refusal(), None);
    let (answer, registration) = session
        .handle(
            &make_credential_with("crm.example", b"alice-1", true, &[]),
            &signals,
        )
        .await;
    assert_eq!((answer, registration), (vec![OPERATION_DENIED], None));
    assert_eq!(session.refusal(), Some(PASSKEY_EXISTS));
    // The user's passkey is untouched and nothing was added.
    let stored = s.vault.credentials().list().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].credential_id, own);
    assert!(s.vault.credentials().secrets(&own).unwrap().is_some());
    let reasons = refusal_reasons(&s.vault);
    assert_eq!(
        reasons,
        [
            "passkey_exists: the registration at \"crm.example\" would replace the user's own passkey"
        ]
    );
    // Once refused, the grant serves nothing more, not even an otherwise fine registration.
    let (answer, _) = session
        .handle(
            &make_credential_with("crm.example", b"alice-2", true, &[]),
            &signals,
        )
        .await;
    assert_eq!(answer, vec![OPERATION_DENIED]);
    assert_eq!(s.vault.credentials().count().unwrap(), 1);
}

#[tokio::test]
async fn new_user_handles_and_non_discoverable_credentials_at_the_same_rp_are_still_served() {
    let s = setup();
    let own = users_own_passkey(&s, "crm.example", b"alice-1");
    let session = accept(&s, &grant(&s, 10, 5).sign(&s.workspace), user(Answer::Yes))
        .await
        .unwrap();
    let signals = RequestSignals::new(Origin::app());
    for request in [
        make_credential_with("crm.example", b"alice-2", true, &[]),
        make_credential_with("crm.example", b"alice-1", false, &[]),
    ] {
        let (answer, registration) = session.handle(&request, &signals).await;
        assert_eq!(answer[0], 0, "{answer:02x?}");
        assert!(registration.is_some());
    }
    assert_eq!(session.refusal(), None);
    let stored = s.vault.credentials().list().unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().any(|c| c.credential_id == own));
}

#[tokio::test]
async fn a_zero_length_pin_uv_auth_param_probe_is_denied_and_tells_nothing() {
    let s = setup();
    let session = accept(&s, &grant(&s, 11, 1).sign(&s.workspace), user(Answer::Yes))
        .await
        .unwrap();
    let signals = RequestSignals::new(Origin::app());
    let probe = make_credential_with(
        "crm.example",
        b"alice-1",
        true,
        &[
            (8, cbor::Value::Bytes(Vec::new())),
            (9, cbor::Value::int(1)),
        ],
    );
    let (answer, registration) = session.handle(&probe, &signals).await;
    assert_eq!((answer, registration), (vec![OPERATION_DENIED], None));
    assert_eq!(session.refusal(), None);
    assert_eq!(s.vault.credentials().count().unwrap(), 0);
    assert_eq!(
        refusal_reasons(&s.vault),
        ["a zero-length pinUvAuthParam probe"]
    );
    // The probe used nothing up: the registration itself is served.
    let (answer, _) = session
        .handle(&make_credential("crm.example"), &signals)
        .await;
    assert_eq!(answer[0], 0);
}

#[tokio::test]
async fn a_grant_stopped_while_the_user_decides_is_refused_when_the_user_accepts() {
    let s = setup();
    // A user who approves, but the workspace's stop arrives (through the events poll) while
    // the prompt is up.
    let ui = Arc::new(ScriptedUser::new(Answer::No, Answer::Yes));
    let vault = s.vault.clone();
    ui.on_prompt(move |_| {
        authenticator_core::obr::approvals::stop(&vault, NOW, &[12; 16]).unwrap();
    });
    let err = ObrSession::accept(
        s.vault.clone(),
        ui,
        fixed(),
        EngineConfig::default(),
        &grant(&s, 12, 1).sign(&s.workspace),
        &s.admin,
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ObrError::Stopped), "{err:?}");
    let entries = s.vault.audit().list().unwrap();
    let declined = entries
        .iter()
        .find(|e| e.kind == "obr.grant.declined")
        .unwrap();
    assert_eq!(
        declined.details["reason"],
        "the workspace stopped the grant"
    );
    assert!(!entries.iter().any(|e| e.kind == "obr.grant.accepted"));
}

#[tokio::test]
async fn a_key_the_workspace_suspends_during_the_session_registers_nothing() {
    let s = setup();
    let session = accept(&s, &grant(&s, 13, 2).sign(&s.workspace), user(Answer::Yes))
        .await
        .unwrap();
    // The administrator suspends the key once the user accepted (the events poll stores the
    // confirmed status): the session's engine serves nothing more, as the phone's own.
    let mut enrollment = state::load(&s.vault).unwrap().unwrap();
    enrollment.status = state::KeyStatus::Suspended;
    state::store(&s.vault, &enrollment).unwrap();
    let signals = RequestSignals::new(Origin::on_behalf_registration());
    let (answer, registration) = session
        .handle(&make_credential("crm.example"), &signals)
        .await;
    assert_eq!((answer, registration), (vec![OPERATION_DENIED], None));
    assert_eq!(s.vault.credentials().count().unwrap(), 0);
}

/// OBR offers EdDSA too (issue 16): the session serves the engine's getInfo and makeCredential,
/// so an admin's client that prefers Ed25519 (an `ed25519-sk` key) gets an Ed25519 passkey; the
/// receipt covers its authData, whose COSE key names alg -8, so the workspace sees which.
#[tokio::test]
async fn an_admin_client_preferring_eddsa_registers_an_ed25519_passkey() {
    use cbor::Value;
    use sha2::{Digest, Sha256};
    let s = setup();
    let session = accept(&s, &grant(&s, 1, 1).sign(&s.workspace), user(Answer::Yes))
        .await
        .unwrap();
    let signals = RequestSignals::new(Origin::app());
    let member = |v: &Value, k: i64| {
        v.as_map()
            .unwrap()
            .iter()
            .find(|(m, _)| m.as_int() == Some(k))
            .unwrap()
            .1
            .clone()
    };
    let (info, _) = session.handle(&[0x04], &signals).await;
    let algorithms = member(&cbor::decode(&info[1..]).unwrap(), 0x0A);
    let algorithms: Vec<Option<i64>> = algorithms
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_map()
                .unwrap()
                .iter()
                .find_map(|(k, v)| (k.as_text() == Some("alg")).then(|| v.as_int()).flatten())
        })
        .collect();
    assert_eq!(algorithms, [Some(-7), Some(-8)]);

    let Value::Map(mut entries) = cbor::decode(&make_credential("crm.example")[1..]).unwrap()
    else {
        unreachable!()
    };
    let param = |alg: i64| {
        Value::map([
            (Value::from("alg"), Value::int(alg)),
            (Value::from("type"), Value::from("public-key")),
        ])
    };
    for (k, v) in entries.iter_mut() {
        if k.as_int() == Some(4) {
            *v = Value::Array(vec![param(-8), param(-7)]);
        }
    }
    let mut request = vec![0x01];
    request.extend(cbor::encode(&Value::map(entries)));
    let (answer, registration) = session.handle(&request, &signals).await;
    assert_eq!(answer[0], 0, "makeCredential failed: {answer:02x?}");
    let auth_data = member(&cbor::decode(&answer[1..]).unwrap(), 2);
    let device = SigningKey::from_slice(state::device_key(&s.vault).unwrap().expose()).unwrap();
    let device_pub = device
        .verifying_key()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();
    let receipt = Receipt::verify(&registration.unwrap().receipt, &device_pub).unwrap();
    assert_eq!(
        receipt.auth_data_hash,
        <[u8; 32]>::from(Sha256::digest(auth_data.as_bytes().unwrap()))
    );
    let stored = s
        .vault
        .credentials()
        .get(&receipt.credential_id)
        .unwrap()
        .unwrap();
    assert_eq!((stored.algorithm, stored.public_key.len()), (-8, 32));
}
