//! The credential algorithms through the whole engine: which one pubKeyCredParams picks, what
//! the client gets (COSE key, attestation, assertion signatures checked by ed25519-dalek's and
//! p256's own verifiers), what the vault stores, and what a record this version cannot use, or
//! one written by the v1 code, does.

use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use p256::ecdsa::signature::Verifier as _;

use super::credential_key::{ALG_EDDSA, ALG_ES256};
use super::status::*;
use super::{AlwaysServe, CMD_GET_ASSERTION, CMD_GET_INFO, CMD_MAKE_CREDENTIAL, CtapEngine};
use super::{AttestationFormat, EngineConfig, key};
use crate::cbor::{self, Value};
use crate::platform::SystemClock;
use crate::request::{Origin, RequestSignals};
use crate::secret::SecretBytes;
use crate::testkit::{ScriptedUser, TestProtector};
use crate::vault::{Credential, CredentialSecrets, Vault};

const RP: &str = "example.com";
const CDH: [u8; 32] = [0x11; 32];

struct Phone {
    _dir: tempfile::TempDir,
    vault: Arc<Vault>,
    engine: CtapEngine,
}

fn phone_on(dir: tempfile::TempDir, vault: Vault, config: EngineConfig) -> Phone {
    let vault = Arc::new(vault);
    let engine = CtapEngine::new(
        vault.clone(),
        Arc::new(AlwaysServe),
        ScriptedUser::approving(),
        Arc::new(SystemClock),
        config,
    )
    .unwrap();
    Phone {
        _dir: dir,
        vault,
        engine,
    }
}

fn phone() -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(dir.path().join("vault.db"), &TestProtector::sealing()).unwrap();
    let config = EngineConfig {
        attestation: AttestationFormat::PackedSelf,
        ..EngineConfig::default()
    };
    phone_on(dir, vault, config)
}

fn t(s: &str) -> Value {
    Value::from(s)
}

fn param(alg: i64, kind: Value) -> Value {
    Value::map([(t("alg"), Value::int(alg)), (t("type"), kind)])
}

fn public_key(alg: i64) -> Value {
    param(alg, t("public-key"))
}

async fn call(phone: &Phone, command: u8, params: &Value) -> (u8, Option<Value>) {
    let mut request = vec![command];
    cbor::encode_into(params, &mut request);
    let response = phone
        .engine
        .handle(&request, &RequestSignals::new(Origin::app()))
        .await;
    let body = (response.len() > 1).then(|| cbor::decode(&response[1..]).unwrap());
    (response[0], body)
}

fn member(value: &Value, k: Value) -> &Value {
    &value.as_map().unwrap().iter().find(|(m, _)| *m == k).unwrap().1
}

fn int_member(value: &Value, k: i64) -> &Value {
    member(value, Value::int(k))
}

/// What a successful makeCredential told the client.
struct Made {
    auth_data: Vec<u8>,
    credential_id: Vec<u8>,
    cose_key: Value,
    cose_key_bytes: Vec<u8>,
    att_stmt: Value,
}

async fn make(phone: &Phone, params: Vec<Value>) -> Result<Made, u8> {
    let request = Value::map([
        (key(1), Value::from(CDH.to_vec())),
        (key(2), Value::map([(t("id"), t(RP))])),
        (key(3), Value::map([(t("id"), Value::from(vec![7u8; 16]))])),
        (key(4), Value::Array(params)),
    ]);
    let (status, body) = call(phone, CMD_MAKE_CREDENTIAL, &request).await;
    if status != CTAP2_OK {
        return Err(status);
    }
    let body = body.unwrap();
    assert_eq!(int_member(&body, 1).as_text(), Some("packed"));
    let auth_data = int_member(&body, 2).as_bytes().unwrap().to_vec();
    let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    let credential_id = auth_data[55..55 + len].to_vec();
    let (cose_key, rest) = cbor::decode_prefix(&auth_data[55 + len..]).unwrap();
    let cose_key_bytes = auth_data[55 + len..auth_data.len() - rest.len()].to_vec();
    Ok(Made {
        credential_id,
        cose_key,
        cose_key_bytes,
        att_stmt: int_member(&body, 3).clone(),
        auth_data,
    })
}

/// getAssertion with an allowList of one; `uv` asks for built-in user verification.
async fn assert_with(phone: &Phone, credential_id: &[u8], uv: bool) -> Result<(Vec<u8>, Vec<u8>), u8> {
    let mut request = vec![
        (key(1), t(RP)),
        (key(2), Value::from(CDH.to_vec())),
        (
            key(3),
            Value::Array(vec![Value::map([
                (t("id"), Value::from(credential_id.to_vec())),
                (t("type"), t("public-key")),
            ])]),
        ),
    ];
    if uv {
        request.push((key(5), Value::map([(t("uv"), Value::Bool(true))])));
    }
    let (status, body) = call(phone, CMD_GET_ASSERTION, &Value::map(request)).await;
    if status != CTAP2_OK {
        return Err(status);
    }
    let body = body.unwrap();
    Ok((
        int_member(&body, 2).as_bytes().unwrap().to_vec(),
        int_member(&body, 3).as_bytes().unwrap().to_vec(),
    ))
}

fn signed(auth_data: &[u8]) -> Vec<u8> {
    [auth_data, &CDH].concat()
}

fn ed25519_verifies(public_key: &[u8], auth_data: &[u8], signature: &[u8]) -> bool {
    let key = VerifyingKey::from_bytes(public_key.try_into().unwrap()).unwrap();
    let signature = Signature::from_slice(signature).unwrap();
    key.verify_strict(&signed(auth_data), &signature).is_ok()
}

fn es256_verifies(key: &p256::ecdsa::VerifyingKey, auth_data: &[u8], signature: &[u8]) -> bool {
    let signature = p256::ecdsa::Signature::from_der(signature).unwrap();
    key.verify(&signed(auth_data), &signature).is_ok()
}

/// [-8, -7]: the client prefers EdDSA, so the passkey is Ed25519, end to end.
#[tokio::test]
async fn eddsa_first_makes_an_ed25519_passkey_that_signs() {
    let phone = phone();
    let made = make(&phone, vec![public_key(ALG_EDDSA), public_key(ALG_ES256)])
        .await
        .unwrap();
    // COSE_Key OKP/Ed25519 in canonical order: {1: 1, 3: -8, -1: 6, -2: x}.
    assert_eq!(&made.cose_key_bytes[..10], &[0xA4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20]);
    assert_eq!(made.cose_key_bytes.len(), 10 + 32);
    let x = int_member(&made.cose_key, -2).as_bytes().unwrap().to_vec();
    // Packed self attestation with the credential's own key and alg -8.
    assert_eq!(member(&made.att_stmt, t("alg")).as_int(), Some(ALG_EDDSA));
    let sig = member(&made.att_stmt, t("sig")).as_bytes().unwrap();
    assert!(ed25519_verifies(&x, &made.auth_data, sig));

    // The vault keeps the algorithm and the 32-byte key with the passkey.
    let stored = phone.vault.credentials().get(&made.credential_id).unwrap().unwrap();
    assert_eq!((stored.algorithm, stored.public_key.clone()), (ALG_EDDSA, x.clone()));

    // getAssertion signs with the stored algorithm; a second one verifies too (new counter).
    for _ in 0..2 {
        let (auth_data, signature) = assert_with(&phone, &made.credential_id, false).await.unwrap();
        assert_eq!(signature.len(), 64);
        assert!(ed25519_verifies(&x, &auth_data, &signature));
        let mut forged = auth_data.clone();
        forged[32] ^= 0x04;
        assert!(!ed25519_verifies(&x, &forged, &signature));
    }
}

/// [-7, -8]: the client's order decides, so the passkey is ES256 as before.
#[tokio::test]
async fn es256_first_makes_an_es256_passkey() {
    let phone = phone();
    let made = make(&phone, vec![public_key(ALG_ES256), public_key(ALG_EDDSA)])
        .await
        .unwrap();
    assert_eq!(int_member(&made.cose_key, 1).as_int(), Some(2));
    assert_eq!(int_member(&made.cose_key, 3).as_int(), Some(ALG_ES256));
    assert_eq!(member(&made.att_stmt, t("alg")).as_int(), Some(ALG_ES256));
    let stored = phone.vault.credentials().get(&made.credential_id).unwrap().unwrap();
    assert_eq!(stored.algorithm, ALG_ES256);
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&stored.public_key).unwrap();
    let sig = member(&made.att_stmt, t("sig")).as_bytes().unwrap();
    assert!(es256_verifies(&key, &made.auth_data, sig));
    let (auth_data, signature) = assert_with(&phone, &made.credential_id, false).await.unwrap();
    assert!(es256_verifies(&key, &auth_data, &signature));
}

/// Unknown algorithms and entries of another type are skipped; the first usable one wins; with
/// none the client gets CTAP2_ERR_UNSUPPORTED_ALGORITHM and a malformed entry
/// CTAP2_ERR_CBOR_UNEXPECTED_TYPE (even after a usable one). Nothing is stored on an error.
#[tokio::test]
async fn pub_key_cred_params_are_walked_in_order() {
    let phone = phone();
    let alg_of = |made: &Made| int_member(&made.cose_key, 3).as_int();
    let made = make(&phone, vec![public_key(-257), public_key(-35), public_key(ALG_EDDSA)]).await;
    assert_eq!(made.as_ref().map(alg_of).ok(), Some(Some(ALG_EDDSA)));
    let made = make(&phone, vec![param(ALG_EDDSA, t("not-a-key")), public_key(ALG_ES256)]).await;
    assert_eq!(made.as_ref().map(alg_of).ok(), Some(Some(ALG_ES256)));
    let stored = phone.vault.credentials().count().unwrap();

    for (params, status) in [
        (vec![public_key(-257)], CTAP2_ERR_UNSUPPORTED_ALGORITHM),
        (vec![param(ALG_EDDSA, t("not-a-key"))], CTAP2_ERR_UNSUPPORTED_ALGORITHM),
        (vec![public_key(-35), public_key(-36)], CTAP2_ERR_UNSUPPORTED_ALGORITHM),
        (vec![], CTAP2_ERR_UNSUPPORTED_ALGORITHM),
        (vec![param(ALG_EDDSA, Value::int(5))], CTAP2_ERR_CBOR_UNEXPECTED_TYPE),
        (
            vec![public_key(ALG_EDDSA), param(ALG_ES256, Value::int(5))],
            CTAP2_ERR_CBOR_UNEXPECTED_TYPE,
        ),
        (
            vec![Value::map([(t("type"), t("public-key"))])],
            CTAP2_ERR_MISSING_PARAMETER,
        ),
    ] {
        assert_eq!(make(&phone, params).await.err(), Some(status.0));
    }
    assert_eq!(phone.vault.credentials().count().unwrap(), stored);
}

/// getInfo's algorithms (0x0A): ES256 then EdDSA.
#[tokio::test]
async fn get_info_lists_es256_then_eddsa() {
    let phone = phone();
    let response = phone
        .engine
        .handle(&[CMD_GET_INFO], &RequestSignals::new(Origin::app()))
        .await;
    let info = cbor::decode(&response[1..]).unwrap();
    let algorithms = int_member(&info, 0x0A).as_array().unwrap();
    let listed: Vec<(i64, &str)> = algorithms
        .iter()
        .map(|a| {
            (
                member(a, t("alg")).as_int().unwrap(),
                member(a, t("type")).as_text().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, vec![(-7, "public-key"), (-8, "public-key")]);
}

/// A record whose algorithm this version does not know (a newer app's, or a bug's) fails the
/// assertion with CTAP1_ERR_OTHER and loses nothing; the other passkeys still sign.
#[tokio::test]
async fn a_stored_passkey_of_an_unknown_algorithm_is_refused_and_kept() {
    let phone = phone();
    let good = make(&phone, vec![public_key(ALG_EDDSA)]).await.unwrap();
    let odd_id = vec![0x42; 16];
    let key = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
    phone
        .vault
        .credentials()
        .insert(
            &Credential {
                credential_id: odd_id.clone(),
                rp_id: RP.into(),
                rp_name: None,
                user_id: vec![1; 8],
                user_name: None,
                user_display_name: None,
                algorithm: -257,
                public_key: key.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
                discoverable: true,
                cred_protect: 1,
                cred_blob: None,
                created_at: 0,
                label: None,
                sign_count: 0,
            },
            &CredentialSecrets {
                private_key: SecretBytes::new(vec![3; 32]),
                cred_random_with_uv: None,
                cred_random_without_uv: None,
            },
        )
        .unwrap();
    assert_eq!(
        assert_with(&phone, &odd_id, false).await.err(),
        Some(CTAP1_ERR_OTHER.0)
    );
    assert_eq!(phone.vault.credentials().count().unwrap(), 2);
    assert!(phone.vault.credentials().get(&odd_id).unwrap().is_some());
    assert!(assert_with(&phone, &good.credential_id, false).await.is_ok());
}

/// A vault written by the v1 code (before EdDSA) opens, and its ES256 passkey still signs with
/// its stored private key. The fixture has a PIN and alwaysUv on, so the assertion uses the
/// phone's built-in user verification.
#[tokio::test]
async fn an_old_vaults_es256_passkey_still_signs() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault-v1");
    let dir = tempfile::tempdir().unwrap();
    for file in ["vault.db", "device.key"] {
        std::fs::copy(fixture.join(file), dir.path().join(file)).unwrap();
    }
    let protector = crate::platform::SoftwareKeyProtector::new(dir.path().join("device.key"));
    let vault = Vault::open(dir.path().join("vault.db"), &protector).unwrap();
    let config = EngineConfig {
        builtin_uv: true,
        ..EngineConfig::default()
    };
    let phone = phone_on(dir, vault, config);
    // What tests/vault.rs's fill_v1_fixture stored: credential id, rp and private key [7; 32].
    let credential_id = b"\x8f\x11credential-id-alice-01";
    let stored = phone.vault.credentials().get(credential_id).unwrap().unwrap();
    assert_eq!(stored.algorithm, ALG_ES256);
    let request = Value::map([
        (key(1), t("secret-bank.example")),
        (key(2), Value::from(CDH.to_vec())),
        (
            key(3),
            Value::Array(vec![Value::map([
                (t("id"), Value::from(credential_id.to_vec())),
                (t("type"), t("public-key")),
            ])]),
        ),
        (key(5), Value::map([(t("uv"), Value::Bool(true))])),
    ]);
    let (status, body) = call(&phone, CMD_GET_ASSERTION, &request).await;
    assert_eq!(status, CTAP2_OK);
    let body = body.unwrap();
    let auth_data = int_member(&body, 2).as_bytes().unwrap();
    let signature = int_member(&body, 3).as_bytes().unwrap();
    let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
    assert!(es256_verifies(key.verifying_key(), auth_data, signature));
}
