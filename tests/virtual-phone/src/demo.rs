//! `virtual-phone demo`: the main job of the README. It starts the emulated workspace, where
//! the administrator adds a user and assigns a smartphone security key with a client PIN; the
//! phone activates from the emailed link and the user enters the emailed PIN. The phone then
//! registers a passkey with that PIN for a demo relying party and signs in with its built-in
//! user verification, each answer verified as a WebAuthn server would; the vault is closed,
//! searched for anything readable, reopened, and used again. Last, the user's PC joins: the
//! reference relay and the emulated pairing tool start, the phone pairs from the tool's code,
//! and the PC signs in through the tool's CTAPHID socket and the relay. Then an administrator
//! registers a passkey at another relying party on the user's behalf (a workspace grant, the
//! admin's pairing tool, the user's approval with user verification on the phone, a signed
//! receipt), and the user signs in with it from their own PC. Every step is printed; any
//! mismatch is an error (non-zero exit).
//!
//! The phone is the core's API only (`Authenticator`, as an app holds it); the PC's and the
//! relying party's parts build CTAP requests with the shared CBOR codec and run the PC's half
//! of the PIN protocol (`pin_client`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use authenticator_core::api::{Authenticator, KeyState};
use authenticator_core::cbor::{self, Value};

use sha2::{Digest, Sha256};

use crate::hid_client::HidClient;
use crate::link_processes::{start_admin_tool, start_pairing_tool, start_relay};
use crate::phone::Settings;
use crate::pin_client::random_array;
use crate::relying_party::{Registered, RelyingParty};
use crate::scripted_ui::{Answer, ScriptedApprover, ScriptedUser};
use crate::workspace_process::Workspace;

const RP_ID: &str = "demo.example";
const USER_NAME: &str = "alice@acme.example";
const PC_NAME: &str = "Alice's laptop";
const PHONE_NAME: &str = "Alice's phone";
const OBR_RP: &str = "crm.acme.example";

type Step<T> = Result<T, String>;

fn step(n: u32, text: &str) {
    println!("[{n}] {text}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The phone: the core's API with a user who approves everything (on-behalf registration
/// requests too), printing the sessions' events.
fn open_phone(dir: &Path) -> Step<Arc<Authenticator>> {
    let user = Arc::new(ScriptedApprover {
        user: ScriptedUser {
            presence: Answer::Approve,
            verification: Answer::Approve,
        },
        obr: Answer::Approve,
    });
    let settings = Settings {
        workspace_timeout_ms: 20_000,
        allow_insecure_loopback: true,
    };
    let phone = crate::phone::open(dir, user, settings.options(PHONE_NAME))?;
    phone.set_approval_observer(Some(Arc::new(crate::obr::Printer)));
    Ok(phone)
}

async fn call(phone: &Authenticator, command: u8, params: Option<Value>) -> Vec<u8> {
    phone.handle_ctap(request(command, params)).await
}

fn request(command: u8, params: Option<Value>) -> Vec<u8> {
    let mut request = vec![command];
    if let Some(p) = params {
        request.extend_from_slice(&cbor::encode(&p));
    }
    request
}

/// How a sign-in reaches the phone: straight into its engine, or from the user's PC through
/// the pairing tool's CTAPHID socket and the relay.
enum Via<'a> {
    Phone(&'a Authenticator),
    Pc(&'a HidClient),
}

impl Via<'_> {
    async fn call(&self, command: u8, params: Option<Value>) -> Step<Vec<u8>> {
        match self {
            Via::Phone(phone) => Ok(call(phone, command, params).await),
            Via::Pc(client) => client.cbor(request(command, params)).await,
        }
    }
}

fn k(n: i64) -> Value {
    Value::int(n)
}

fn options_uv() -> Value {
    Value::map([(Value::from("uv"), Value::Bool(true))])
}

pub async fn run(dir: &Path) -> Step<()> {
    let rp = RelyingParty { id: RP_ID.into() };

    step(1, "starting the emulated workspace server");
    let workspace = Workspace::start()?;
    println!("    workspace at {}", workspace.url);

    step(
        2,
        &format!(
            "administrator: add {USER_NAME}, assign a smartphone security key with Client PIN"
        ),
    );
    workspace
        .add_user_with_phone_key(USER_NAME, "Alice Liddell", true)
        .await?;
    let mail = workspace.outbox(USER_NAME).await?;
    let link = mail
        .iter()
        .find_map(|m| m["link"].as_str())
        .ok_or("no activation email in the outbox")?
        .to_owned();
    let pin = mail
        .iter()
        .find_map(|m| m["pin"].as_str())
        .ok_or("no PIN email in the outbox")?
        .to_owned();
    println!("    outbox: activation link {link}");
    println!(
        "    outbox: a separate email with the {}-digit client PIN",
        pin.len()
    );
    println!(
        "    the administrator sees the key as {}",
        workspace.key_status(USER_NAME).await?
    );

    step(
        3,
        &format!(
            "phone: activating from the link (vault at {})",
            dir.join("vault.db").display()
        ),
    );
    let phone = open_phone(dir)?;
    let info = phone.key_protection().map_err(|e| e.to_string())?;
    println!(
        "    key protection: {} (hardware backed: {})",
        info.kind, info.hardware_backed
    );
    let before = phone.passkeys().map_err(|e| e.to_string())?.len();
    println!("    the vault holds {before} passkey(s)");
    if let Some(earlier) = phone.enrollment().map_err(|e| e.to_string())? {
        return Err(format!(
            "{} already holds a phone activated for {} by an earlier run; run the demo on a new folder",
            dir.display(),
            earlier.workspace_name
        ));
    }
    let enrollment = phone.activate(link).await.map_err(|e| e.to_string())?;
    println!(
        "    {} at {}: status {}",
        enrollment.user_display_name,
        enrollment.workspace_name,
        state_name(enrollment.status)
    );

    step(4, "phone: the user enters the PIN from the email");
    let enrollment = phone
        .submit_activation_pin(pin.clone())
        .await
        .map_err(|e| e.to_string())?;
    if enrollment.status != KeyState::Active {
        return Err(format!(
            "the key is {} after the PIN",
            state_name(enrollment.status)
        ));
    }
    println!(
        "    status {}; the administrator sees the key as {}",
        state_name(enrollment.status),
        workspace.key_status(USER_NAME).await?
    );

    step(5, "getInfo: what the authenticator says about itself");
    let answer = call(&phone, 0x04, None).await;
    let info = cbor::decode(answer.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?;
    let versions: Vec<&str> = member(&info, 1)?
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_text).collect())
        .unwrap_or_default();
    let client_pin = member(&info, 4)?
        .as_map()
        .and_then(|o| o.iter().find(|(k, _)| k.as_text() == Some("clientPin")))
        .and_then(|(_, v)| v.as_bool())
        .unwrap_or(false);
    let aaguid = member(&info, 3)?
        .as_bytes()
        .ok_or("the AAGUID is not bytes")?;
    println!(
        "    versions {versions:?}, AAGUID {}, client PIN set: {client_pin}",
        hex(aaguid)
    );

    step(
        6,
        &format!("registering a passkey for {USER_NAME} at {RP_ID} with the emailed PIN"),
    );
    let challenge: [u8; 32] = random_array()?;
    let (_, client_data_hash) = rp.client_data("webauthn.create", &challenge);
    let token = pin_token(&phone, &pin).await?;
    let user_id: [u8; 16] = random_array()?;
    let request = make_credential_params(
        RP_ID,
        "Demo RP",
        &client_data_hash,
        &user_id,
        false,
        vec![
            (
                k(8),
                Value::from(crate::pin_client::authenticate(&token, &client_data_hash)?),
            ),
            (k(9), Value::Unsigned(2)),
        ],
    );
    let answer = call(&phone, 0x01, Some(request)).await;
    let (mut registered, parsed, fmt) = rp.verify_registration(&answer, &client_data_hash)?;
    println!(
        "    the relying party verified the {fmt} attestation: credential {}, flags {:#04x} (UP, UV, AT), counter {}",
        hex(&registered.credential_id[..8]),
        parsed.flags,
        parsed.sign_count
    );

    step(
        7,
        "signing in with the passkey (allowList; the phone's built-in user verification)",
    );
    sign_in(Via::Phone(&phone), &rp, &mut registered, true).await?;

    step(
        8,
        "signing in again without a user name (discoverable passkey)",
    );
    sign_in(Via::Phone(&phone), &rp, &mut registered, false).await?;

    step(
        9,
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

    step(10, "restarting the phone and signing in once more");
    let phone = open_phone(dir)?;
    for p in phone.passkeys().map_err(|e| e.to_string())? {
        println!(
            "    stored: {}  {:<16} {:<22} counter reserved up to {}",
            p.id.get(..11).unwrap_or(&p.id),
            p.rp_id,
            p.user_name.as_deref().unwrap_or("-"),
            p.sign_count
        );
    }
    sign_in(Via::Phone(&phone), &rp, &mut registered, true).await?;

    step(
        11,
        "the user's PC: starting the cloud relay and the pairing tool; the phone scans its code",
    );
    let (_relay, relay_url) = start_relay()?;
    println!("    relay at {relay_url} (it only ever sees ciphertext)");
    let (mut tool, tool_address, code) = start_pairing_tool(&dir.join("pc"), &relay_url, PC_NAME)?;
    println!("    the pairing tool shows a code of {} digits", code.len());
    let paired = phone.pair(code).await.map_err(|e| e.to_string())?;
    let phone_name = tool.wait_for("paired with ", Duration::from_secs(20))?;
    println!(
        "    phone: paired with {:?}; the PC: paired with {phone_name:?}",
        paired.name
    );

    step(
        12,
        "signing in from the PC's browser: CTAPHID -> pairing tool -> relay -> phone",
    );
    phone
        .start_link_service(false, None)
        .map_err(|e| e.to_string())?;
    let pc = HidClient::connect(&tool_address).await?;
    let result = sign_in(Via::Pc(&pc), &rp, &mut registered, true).await;
    if let Err(e) = result {
        phone.stop_link_service();
        return Err(e);
    }

    step(
        13,
        &format!("administrator: registers a passkey at {OBR_RP} on {USER_NAME}'s behalf"),
    );
    let result = on_behalf(&phone, dir, &relay_url, &workspace.url).await;
    let (obr_rp, mut obr_registered) = match result {
        Ok(r) => r,
        Err(e) => {
            phone.stop_link_service();
            return Err(e);
        }
    };

    step(
        14,
        &format!("the user signs in at {OBR_RP} with that passkey from their own paired PC"),
    );
    let result = sign_in(Via::Pc(&pc), &obr_rp, &mut obr_registered, true).await;
    phone.stop_link_service();
    result?;

    step(
        15,
        "done: activated with the client PIN; registration and sign-in verified end to end, \
         on the phone, from a paired PC through the relay, and on the user's behalf",
    );
    Ok(())
}

/// makeCredential parameters for a discoverable passkey for Alice at `rp_id`: with `uv` the
/// phone's built-in user verification, else whatever `extra` carries (a PIN token).
fn make_credential_params(
    rp_id: &str,
    rp_name: &str,
    client_data_hash: &[u8],
    user_id: &[u8],
    uv: bool,
    extra: Vec<(Value, Value)>,
) -> Value {
    let mut options = vec![(Value::from("rk"), Value::Bool(true))];
    if uv {
        options.push((Value::from("uv"), Value::Bool(true)));
    }
    let mut entries = vec![
        (k(1), Value::from(client_data_hash.to_vec())),
        (
            k(2),
            Value::map([
                (Value::from("id"), Value::from(rp_id)),
                (Value::from("name"), Value::from(rp_name)),
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
        (k(7), Value::map(options)),
    ];
    entries.extend(extra);
    Value::map(entries)
}

/// The administrator's tool starts an on-behalf registration; the phone takes the request from
/// its workspace events, the user approves with user verification, the admin's client
/// registers through the tool and the relay, and the relying party verifies it.
async fn on_behalf(
    phone: &Arc<Authenticator>,
    dir: &Path,
    relay_url: &str,
    workspace_url: &str,
) -> Step<(RelyingParty, Registered)> {
    let (mut admin, admin_address, grant_id) = start_admin_tool(
        &dir.join("admin-pc"),
        relay_url,
        workspace_url,
        USER_NAME,
        OBR_RP,
    )?;
    println!(
        "    the workspace issued grant {grant_id}: 1 passkey at {OBR_RP}, bound to the admin's tool"
    );
    let update = phone.check_workspace(5).await.map_err(|e| e.to_string())?;
    let pending = update
        .new_approvals
        .into_iter()
        .next()
        .ok_or("the phone received no on-behalf registration request")?;
    println!(
        "    phone: request from {} for {}, the user approves with user verification",
        pending.admin_name,
        pending.rp_ids.join(", ")
    );
    let session = {
        let phone = phone.clone();
        tokio::spawn(async move { phone.decide_approval(pending.id, true).await })
    };
    admin.wait_for("obr accepted", Duration::from_secs(30))?;
    let admin_pc = HidClient::connect(&admin_address).await?;
    let rp = RelyingParty { id: OBR_RP.into() };
    let challenge: [u8; 32] = random_array()?;
    let (_, client_data_hash) = rp.client_data("webauthn.create", &challenge);
    let user_id: [u8; 16] = random_array()?;
    let request = make_credential_params(
        OBR_RP,
        "Acme CRM",
        &client_data_hash,
        &user_id,
        true,
        vec![],
    );
    let answer = Via::Pc(&admin_pc).call(0x01, Some(request)).await?;
    let (registered, parsed, fmt) = rp.verify_registration(&answer, &client_data_hash)?;
    println!(
        "    the relying party verified the {fmt} attestation from the admin's client: credential {}, flags {:#04x}",
        hex(&registered.credential_id[..8]),
        parsed.flags
    );
    let receipt = admin.wait_for("receipt ", Duration::from_secs(20))?;
    println!("    the admin's tool verified the phone's signed receipt: {receipt}");
    match session.await {
        Ok(Ok(outcome)) => println!(
            "    phone: {} registration(s), {} receipt(s) posted to the workspace; session ended: {}",
            outcome.registered_rp_ids.len(),
            outcome.receipts_posted,
            outcome.ended
        ),
        Ok(Err(e)) => return Err(format!("the phone's on-behalf session failed: {e}")),
        Err(e) => return Err(format!("the phone's on-behalf session panicked: {e}")),
    }
    let audited = phone
        .audit_log()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|e| e.kind == "obr.registration")
        .count();
    println!("    the phone's audit trail lists {audited} on-behalf registration(s)");
    Ok((rp, registered))
}

async fn sign_in(
    via: Via<'_>,
    rp: &RelyingParty,
    registered: &mut Registered,
    with_allow_list: bool,
) -> Step<()> {
    let challenge: [u8; 32] = random_array()?;
    let (_, client_data_hash) = rp.client_data("webauthn.get", &challenge);
    let mut request = vec![
        (k(1), Value::from(rp.id.as_str())),
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
    let answer = via.call(0x02, Some(Value::map(request))).await?;
    let parsed = rp.verify_assertion(&answer, &client_data_hash, registered)?;
    println!(
        "    the relying party verified the signature: flags {:#04x}, counter {previous} -> {}",
        parsed.flags, parsed.sign_count
    );
    Ok(())
}

/// A pinUvAuthToken with the mc and ga permissions for the demo rp, through the client PIN
/// (PIN/UV auth protocol two), as a PC's FIDO2 client gets it.
async fn pin_token(phone: &Authenticator, pin: &str) -> Step<Vec<u8>> {
    let answer = call(
        phone,
        0x06,
        Some(Value::map([
            (k(1), Value::Unsigned(2)),
            (k(2), Value::Unsigned(2)),
        ])),
    )
    .await;
    let body = cbor::decode(answer.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?;
    let cose = member(&body, 1)?;
    let x = member(cose, -2)?.as_bytes().ok_or("x is not bytes")?;
    let y = member(cose, -3)?.as_bytes().ok_or("y is not bytes")?;
    let (px, py, shared) = crate::pin_client::encapsulate(x, y)?;
    let pin_hash = Sha256::digest(pin.as_bytes());
    let pin_hash_enc = shared.encrypt(&pin_hash[..16])?;
    let platform_key = Value::map([
        (k(1), Value::int(2)),
        (k(3), Value::int(-25)),
        (k(-1), Value::int(1)),
        (k(-2), Value::from(px.to_vec())),
        (k(-3), Value::from(py.to_vec())),
    ]);
    let answer = call(
        phone,
        0x06,
        Some(Value::map([
            (k(1), Value::Unsigned(2)),
            (k(2), Value::Unsigned(9)),
            (k(3), platform_key),
            (k(6), Value::from(pin_hash_enc)),
            (k(9), Value::Unsigned(0x03)),
            (k(10), Value::from(RP_ID)),
        ])),
    )
    .await;
    match answer.split_first() {
        Some((0, rest)) => {
            let body = cbor::decode(rest).map_err(|e| e.to_string())?;
            let encrypted = member(&body, 2)?.as_bytes().ok_or("token is not bytes")?;
            let token = shared.decrypt(encrypted)?;
            println!("    the PC's client got a PIN token from the phone with the emailed PIN");
            Ok(token)
        }
        Some((status, _)) => Err(format!("the phone refused the PIN: status {status:#04x}")),
        None => Err("empty clientPIN answer".into()),
    }
}

fn state_name(state: KeyState) -> &'static str {
    crate::enrollment::state_name(state)
}

fn member(value: &Value, key: i64) -> Step<&Value> {
    crate::relying_party::field(value.as_map().ok_or("the answer is not a map")?, key)
}
