//! `virtual-phone demo`: the main job of the README. The phone's authenticator registers a
//! passkey for a demo relying party and signs in with it, each answer verified as a WebAuthn
//! server would; the vault is then closed, searched for anything readable, reopened, and used
//! again. Every step is printed; any mismatch is an error (non-zero exit).

use std::path::Path;
use std::sync::Arc;

use authenticator_core::ctap::cbor::{self, Value};
use authenticator_core::ctap::{AAGUID, CtapEngine, EngineConfig};
use authenticator_core::platform::{KeyProtector, SoftwareKeyProtector};
use authenticator_core::request::RequestSignals;
use authenticator_core::secret::random_array;
use authenticator_core::vault::SCHEMA_VERSION;

use crate::relying_party::{Registered, RelyingParty};
use crate::scripted_ui::{Answer, ScriptedUser};

const RP_ID: &str = "demo.example";
const USER_NAME: &str = "alice@corp.example";

type Step<T> = Result<T, String>;

fn step(n: u32, text: &str) {
    println!("[{n}] {text}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn engine(dir: &Path) -> Step<Arc<CtapEngine>> {
    let user = Arc::new(ScriptedUser {
        presence: Answer::Approve,
        verification: Answer::Approve,
    });
    crate::open_engine(dir, user, EngineConfig::default())
}

async fn call(engine: &CtapEngine, command: u8, params: Option<Value>) -> Vec<u8> {
    let mut request = vec![command];
    if let Some(p) = params {
        request.extend_from_slice(&cbor::encode(&p));
    }
    engine.handle(&request, &RequestSignals::new()).await
}

fn k(n: i64) -> Value {
    Value::int(n)
}

fn options_uv() -> Value {
    Value::map([(Value::from("uv"), Value::Bool(true))])
}

pub async fn run(dir: &Path) -> Step<()> {
    let protector = SoftwareKeyProtector::new(dir.join("device.key"));
    let info = protector.info();
    let rp = RelyingParty { id: RP_ID.into() };

    step(
        1,
        &format!(
            "starting the phone with its vault at {}",
            dir.join("vault.db").display()
        ),
    );
    println!(
        "    key protection: {} (hardware backed: {}), vault schema {SCHEMA_VERSION}",
        info.kind, info.hardware_backed
    );
    let phone = engine(dir)?;
    let before = phone
        .vault()
        .credentials()
        .count()
        .map_err(|e| e.to_string())?;
    println!("    the vault holds {before} passkey(s)");

    step(2, "getInfo: what the authenticator says about itself");
    let answer = call(&phone, 0x04, None).await;
    let info = cbor::decode(answer.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?;
    let info = info.as_map().ok_or("getInfo is not a map")?;
    let versions: Vec<&str> = info
        .iter()
        .find(|(key, _)| key.as_int() == Some(1))
        .and_then(|(_, v)| v.as_array())
        .map(|a| a.iter().filter_map(Value::as_text).collect())
        .unwrap_or_default();
    println!("    versions {versions:?}, AAGUID {}", hex(&AAGUID));

    step(
        3,
        &format!("registering a passkey for {USER_NAME} at {RP_ID} (built-in user verification)"),
    );
    let challenge: [u8; 32] = random_array().map_err(|e| e.to_string())?;
    let (_, client_data_hash) = rp.client_data("webauthn.create", &challenge);
    let user_id: [u8; 16] = random_array().map_err(|e| e.to_string())?;
    let request = Value::map([
        (k(1), Value::from(client_data_hash.clone())),
        (
            k(2),
            Value::map([
                (Value::from("id"), Value::from(RP_ID)),
                (Value::from("name"), Value::from("Demo RP")),
            ]),
        ),
        (
            k(3),
            Value::map([
                (Value::from("id"), Value::from(user_id.to_vec())),
                (Value::from("name"), Value::from(USER_NAME)),
                (Value::from("displayName"), Value::from("Alice")),
            ]),
        ),
        (
            k(4),
            Value::Array(vec![Value::map([
                (Value::from("alg"), Value::int(-7)),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ),
        (
            k(7),
            Value::map([
                (Value::from("rk"), Value::Bool(true)),
                (Value::from("uv"), Value::Bool(true)),
            ]),
        ),
    ]);
    let answer = call(&phone, 0x01, Some(request)).await;
    let (mut registered, parsed, fmt) = rp.verify_registration(&answer, &client_data_hash)?;
    println!(
        "    the relying party verified the {fmt} attestation: credential {}, flags {:#04x} (UP, UV, AT), counter {}",
        hex(&registered.credential_id[..8]),
        parsed.flags,
        parsed.sign_count
    );

    step(4, "signing in with the passkey (allowList)");
    sign_in(&phone, &rp, &mut registered, true).await?;

    step(
        5,
        "signing in again without a user name (discoverable passkey)",
    );
    sign_in(&phone, &rp, &mut registered, false).await?;

    step(
        6,
        "stopping the phone and searching the vault file for anything readable",
    );
    drop(phone);
    let bytes = std::fs::read(dir.join("vault.db")).map_err(|e| e.to_string())?;
    for needle in [
        RP_ID.as_bytes(),
        USER_NAME.as_bytes(),
        &registered.credential_id,
    ] {
        if bytes.windows(needle.len()).any(|w| w == needle) {
            return Err(
                "the vault file holds an rp id, user name or credential id in the clear".into(),
            );
        }
    }
    println!("    no rp id, user name or credential id appears in the file");

    step(7, "restarting the phone and signing in once more");
    let phone = engine(dir)?;
    for c in phone
        .vault()
        .credentials()
        .list()
        .map_err(|e| e.to_string())?
    {
        println!(
            "    stored: {}  {:<16} {:<22} counter reserved up to {}",
            hex(&c.credential_id[..8]),
            c.rp_id,
            c.user_name.as_deref().unwrap_or("-"),
            c.sign_count
        );
    }
    sign_in(&phone, &rp, &mut registered, true).await?;

    step(8, "done: registration and sign-in verified end to end");
    Ok(())
}

async fn sign_in(
    phone: &CtapEngine,
    rp: &RelyingParty,
    registered: &mut Registered,
    with_allow_list: bool,
) -> Step<()> {
    let challenge: [u8; 32] = random_array().map_err(|e| e.to_string())?;
    let (_, client_data_hash) = rp.client_data("webauthn.get", &challenge);
    let mut request = vec![
        (k(1), Value::from(RP_ID)),
        (k(2), Value::from(client_data_hash.clone())),
        (k(5), options_uv()),
    ];
    if with_allow_list {
        request.push((
            k(3),
            Value::Array(vec![Value::map([
                (
                    Value::from("id"),
                    Value::from(registered.credential_id.clone()),
                ),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ));
    }
    let previous = registered.sign_count;
    let answer = call(phone, 0x02, Some(Value::map(request))).await;
    let parsed = rp.verify_assertion(&answer, &client_data_hash, registered)?;
    println!(
        "    the relying party verified the signature: flags {:#04x}, counter {previous} -> {}",
        parsed.flags, parsed.sign_count
    );
    Ok(())
}
