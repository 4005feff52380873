//! On-behalf registration (contract, "On-behalf registration"; issue 7 step 2): starting OBR
//! issues a grant the core's `obr::Grant::verify` accepts with the key the phone pinned at
//! redeem and queues an `obr_request` event; every refusal has its exact error and stores
//! nothing; stopping queues `obr_stopped`; receipts signed by the device key are recorded
//! once, every bad one is refused; the passkeys and grant lists show what happened; the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use authenticator_core::obr::{Grant, GrantError, Operation, Receipt};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{Phone, Server, Signing, new_key, now_secs};
use serde_json::{Value, json};

const SKEW: u64 = 30;

struct Admin {
    static_key: Vec<u8>,
    door: [u8; 16],
}

impl Admin {
    fn new() -> Self {
        let key = new_key();
        Self {
            static_key: key.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
            door: [0x5a; 16],
        }
    }

    fn start_body(&self, rp_ids: &[&str]) -> Value {
        json!({
            "admin_id": "adm_1",
            "admin_name": "Ann Admin",
            "admin_static_key": B64.encode(&self.static_key),
            "rp_ids": rp_ids,
            "relay_url": "http://127.0.0.1:9/relay",
            "admin_door": B64.encode(self.door),
        })
    }
}

/// A user whose phone redeemed without a client PIN (so the key is active): (user id, phone,
/// redeem answer).
async fn active_user(server: &Server, email: &str) -> (String, Phone, Value) {
    let (id, code) = server.user_with_key(email, false).await;
    let mut phone = Phone::new(server);
    let (status, redeemed) = phone.redeem(&code).await;
    assert_eq!(status, 200, "{redeemed}");
    (id, phone, redeemed)
}

fn assert_error(answer: &(u16, Value), status: u16, error: &str, message: &str) {
    assert_eq!(
        answer,
        &(status, json!({ "error": error, "message": message })),
        "expected {status} {error}"
    );
}

fn now() -> u64 {
    u64::try_from(now_secs()).unwrap()
}

fn grant_id_of(started: &Value) -> [u8; 16] {
    B64.decode(started["grant_id"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn receipt(grant_id: [u8; 16], index: u8, rp_id: &str, credential: &[u8]) -> Receipt {
    Receipt {
        grant_id,
        index,
        rp_id: rp_id.into(),
        credential_id: credential.to_vec(),
        aaguid: [7; 16],
        created_at: now(),
        auth_data_hash: Receipt::hash_auth_data(b"authenticator data"),
    }
}

async fn send_receipt(phone: &Phone, bytes: &[u8]) -> (u16, Value) {
    let body = json!({ "receipt": B64.encode(bytes) }).to_string();
    phone
        .signed("POST", &phone.device_path("/obr-receipts"), Some(&body))
        .await
}

async fn start(server: &Server, user: &str, body: Value) -> (u16, Value) {
    server.post(&format!("/admin/users/{user}/obr"), body).await
}

async fn obr_list(server: &Server) -> Vec<Value> {
    let (status, list) = server.get("/admin/obr").await;
    assert_eq!(status, 200);
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn start_issues_a_grant_the_phone_verifies_and_queues_the_request() {
    let server = Server::start_with(&["--name", "Acme Corp"]);
    let (alice, phone, redeemed) = active_user(&server, "alice@example.com").await;
    let admin = Admin::new();
    let mut body = admin.start_body(&["example.com", "login.example.org"]);
    body["max_registrations"] = json!(3);
    body["duration_secs"] = json!(300);

    // The phone is already waiting on its long-poll when the administrator starts.
    let poll = phone.events(0, 30);
    let admin_call = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        start(&server, &alice, body).await
    };
    let started_at = Instant::now();
    let ((poll_status, events), (status, started)) = tokio::join!(poll, admin_call);
    assert_eq!(status, 201, "{started}");
    assert!(
        started_at.elapsed() < Duration::from_secs(10),
        "woken by the event"
    );

    // The answer.
    let answer = started.as_object().unwrap();
    let mut keys: Vec<&str> = answer.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "device_public_key",
            "expires_at",
            "grant",
            "grant_id",
            "obr_public_key",
            "security_key_id"
        ]
    );
    assert_eq!(started["security_key_id"], redeemed["security_key_id"]);
    assert_eq!(started["device_public_key"], phone.public_key());
    // The tool authenticates the phone by its OBR key, which is not the device key.
    assert_eq!(started["obr_public_key"], phone.obr_public_key());
    assert_ne!(started["obr_public_key"], started["device_public_key"]);
    let grant_bytes = B64.decode(started["grant"].as_str().unwrap()).unwrap();

    // The grant verifies with the key the phone pinned at redeem, as the phone will check it.
    let pinned = B64
        .decode(redeemed["grant_signing_key"].as_str().unwrap())
        .unwrap();
    let verified = Grant::verify(
        &grant_bytes,
        &pinned,
        &phone.security_key_id,
        &admin.static_key,
        now(),
        SKEW,
    )
    .expect("the phone accepts the grant");
    let grant = verified.grant();
    assert_eq!(grant.grant_id, grant_id_of(&started));
    assert_eq!(
        grant.workspace_id,
        redeemed["workspace"]["id"].as_str().unwrap()
    );
    assert_eq!(grant.workspace_name, "Acme Corp");
    assert_eq!(grant.admin_id, "adm_1");
    assert_eq!(grant.admin_name, "Ann Admin");
    assert_eq!(
        grant.admin_static_key.as_slice(),
        admin.static_key.as_slice()
    );
    assert_eq!(grant.security_key_id, phone.security_key_id);
    assert_eq!(grant.operations, [Operation::MakeCredential]);
    assert_eq!(grant.rp_ids, ["example.com", "login.example.org"]);
    assert_eq!(grant.max_registrations, 3);
    assert_eq!(grant.expires_at - grant.issued_at, 300);
    assert!(grant.issued_at.abs_diff(now()) <= 2);
    // Bound to this admin tool and this key: anyone else is refused.
    let other_tool = Admin::new();
    assert_eq!(
        Grant::verify(
            &grant_bytes,
            &pinned,
            &phone.security_key_id,
            &other_tool.static_key,
            now(),
            SKEW
        )
        .unwrap_err(),
        GrantError::WrongPeer
    );
    assert_eq!(
        Grant::verify(
            &grant_bytes,
            &pinned,
            "sk_other",
            &admin.static_key,
            now(),
            SKEW
        )
        .unwrap_err(),
        GrantError::WrongSecurityKey
    );
    let stranger = new_key();
    assert_eq!(
        Grant::verify(
            &grant_bytes,
            stranger.verifying_key().to_sec1_point(false).as_bytes(),
            &phone.security_key_id,
            &admin.static_key,
            now(),
            SKEW
        )
        .unwrap_err(),
        GrantError::KidMismatch
    );

    // The event that woke the phone.
    assert_eq!(poll_status, 200);
    assert_eq!(
        events,
        json!({
            "events": [{
                "seq": 1,
                "type": "obr_request",
                "grant_id": started["grant_id"],
                "grant": started["grant"],
                "relay_url": "http://127.0.0.1:9/relay",
                "admin_door": B64.encode(admin.door),
                "admin_name": "Ann Admin",
                "expires_at": grant.expires_at,
            }],
            "next": 1,
        })
    );

    // The grant list.
    let list = obr_list(&server).await;
    assert_eq!(list.len(), 1);
    let entry = &list[0];
    assert_eq!(entry["grant_id"], started["grant_id"]);
    assert_eq!(entry["grant"], started["grant"]);
    assert_eq!(entry["user_id"], alice.as_str());
    assert_eq!(entry["email"], "alice@example.com");
    assert_eq!(entry["security_key_id"], phone.security_key_id.as_str());
    assert_eq!(entry["admin_id"], "adm_1");
    assert_eq!(entry["admin_name"], "Ann Admin");
    assert_eq!(entry["rp_ids"], json!(["example.com", "login.example.org"]));
    assert_eq!(entry["max_registrations"], 3);
    assert_eq!(entry["registrations"], 0);
    assert_eq!(entry["status"], "running");
    assert_eq!(entry["relay_url"], "http://127.0.0.1:9/relay");
    assert_eq!(entry["admin_door"], B64.encode(admin.door));
    assert_eq!(entry["expires_at"], started["expires_at"]);
    assert!(entry.get("stopped_at").is_none());
}

#[tokio::test]
async fn start_defaults_to_one_registration_for_ten_minutes() {
    let server = Server::start();
    let (alice, phone, redeemed) = active_user(&server, "alice@example.com").await;
    let admin = Admin::new();
    let (status, started) = start(&server, &alice, admin.start_body(&["example.com"])).await;
    assert_eq!(status, 201, "{started}");
    let pinned = B64
        .decode(redeemed["grant_signing_key"].as_str().unwrap())
        .unwrap();
    let verified = Grant::verify(
        &B64.decode(started["grant"].as_str().unwrap()).unwrap(),
        &pinned,
        &phone.security_key_id,
        &admin.static_key,
        now(),
        SKEW,
    )
    .unwrap();
    assert_eq!(verified.max_registrations(), 1);
    assert_eq!(
        verified.grant().expires_at - verified.grant().issued_at,
        600
    );
}

#[tokio::test]
async fn start_refusals_have_exact_errors_and_store_nothing() {
    let server = Server::start();
    let (alice, phone, _) = active_user(&server, "alice@example.com").await;
    let admin = Admin::new();
    let good = admin.start_body(&["example.com"]);
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let bad_request = |message: &str| json!({ "error": "bad_request", "message": message });
    let cases: Vec<(Value, Value)> = vec![
        (
            with("rp_ids", json!([])),
            bad_request(
                "rp_ids is required: name 1 to 16 relying parties (an OBR grant without an RP \
                 scope is never issued, obr-grant.md §3.2)",
            ),
        ),
        (
            {
                let mut body = good.clone();
                body.as_object_mut().unwrap().remove("rp_ids");
                body
            },
            bad_request(
                "rp_ids is required: name 1 to 16 relying parties (an OBR grant without an RP \
                 scope is never issued, obr-grant.md §3.2)",
            ),
        ),
        (
            with(
                "rp_ids",
                json!(
                    (0..17)
                        .map(|i| format!("rp{i}.example"))
                        .collect::<Vec<_>>()
                ),
            ),
            bad_request("rp_ids names 17 relying parties; at most 16 are allowed"),
        ),
        (
            with("rp_ids", json!(["example.com", "Example.org"])),
            bad_request(
                "rp_ids[1] \"Example.org\" is not an RP id: lower-case letters, digits, \"-\" \
                 and \".\" only, no empty label, at most 253 bytes",
            ),
        ),
        (
            with("rp_ids", json!(["example.com", "example.com"])),
            bad_request("rp_ids[1] \"example.com\" is listed twice"),
        ),
        (
            with("max_registrations", json!(0)),
            bad_request("max_registrations must be 1 to 25"),
        ),
        (
            with("max_registrations", json!(26)),
            bad_request("max_registrations must be 1 to 25"),
        ),
        (
            with("duration_secs", json!(0)),
            bad_request("duration_secs must be 1 to 900 (15 minutes)"),
        ),
        (
            with("duration_secs", json!(901)),
            bad_request("duration_secs must be 1 to 900 (15 minutes)"),
        ),
        (
            with("admin_id", json!("")),
            bad_request("admin_id must be 1 to 64 bytes of text without control characters"),
        ),
        (
            with("admin_id", json!("a".repeat(65))),
            bad_request("admin_id must be 1 to 64 bytes of text without control characters"),
        ),
        (
            with("admin_name", json!("Ann\u{202e}nimdA")),
            bad_request("admin_name must be 1 to 128 bytes of text without control characters"),
        ),
        (
            with("admin_name", json!("Ann\nAdmin")),
            bad_request("admin_name must be 1 to 128 bytes of text without control characters"),
        ),
    ];
    let bad_key = bad_request(
        "admin_static_key must be base64url (no padding) of a 65-byte uncompressed P-256 point",
    );
    let mut not_on_curve = admin.static_key.clone();
    not_on_curve[64] ^= 1;
    let compressed = new_key()
        .verifying_key()
        .to_sec1_point(true)
        .as_bytes()
        .to_vec();
    let key_cases = [
        json!("not base64!"),
        json!(B64.encode(&admin.static_key[..64])),
        json!(B64.encode(&not_on_curve)),
        json!(B64.encode(compressed)),
    ]
    .map(|key| (with("admin_static_key", key), bad_key.clone()));
    let bad_door = bad_request("admin_door must be base64url (no padding) of 16 bytes");
    let door_cases = [json!(B64.encode([1u8; 15])), json!("=+/")]
        .map(|door| (with("admin_door", door), bad_door.clone()));
    let bad_url = bad_request(
        "relay_url must be an https:// URL (http:// only to a loopback host) of at most 2048 \
         characters",
    );
    let url_cases = [
        json!("ftp://relay.example.com"),
        json!("http://relay.example.com"),
        json!("https://"),
        json!("relay.example.com"),
    ]
    .map(|url| (with("relay_url", url), bad_url.clone()));
    for (body, expected) in cases
        .into_iter()
        .chain(key_cases)
        .chain(door_cases)
        .chain(url_cases)
    {
        let answer = start(&server, &alice, body.clone()).await;
        assert_eq!(answer, (400, expected), "{body}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("admin_door");
    let (status, error) = start(&server, &alice, missing).await;
    assert_eq!((status, &error["error"]), (400, &json!("bad_request")));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body: missing field `admin_door`"),
        "{error}"
    );

    assert_error(
        &start(&server, "usr_nobody", good.clone()).await,
        404,
        "unknown_user",
        "no user with this id",
    );
    let bob = server.add_user("bob@example.com", "Bob").await;
    assert_error(
        &start(&server, &bob, good.clone()).await,
        409,
        "no_key",
        "the user has no security key assigned",
    );
    server.assign(&bob, false, false).await;
    assert_error(
        &start(&server, &bob, good.clone()).await,
        409,
        "key_not_active",
        "the user's security key is not activated yet; OBR needs an active key",
    );
    let (carol, code) = server.user_with_key("carol@example.com", true).await;
    let mut carols_phone = Phone::new(&server);
    assert_eq!(carols_phone.redeem(&code).await.0, 200);
    assert_error(
        &start(&server, &carol, good.clone()).await,
        409,
        "key_not_active",
        "the user's security key is pending; OBR needs an active key",
    );
    let (dave, _, _) = active_user(&server, "dave@example.com").await;
    server
        .post(&format!("/admin/users/{dave}/suspend"), json!({}))
        .await;
    assert_error(
        &start(&server, &dave, good.clone()).await,
        409,
        "key_not_active",
        "the user's security key is suspended; OBR needs an active key",
    );
    server
        .post(&format!("/admin/users/{dave}/revoke"), json!({}))
        .await;
    assert_error(
        &start(&server, &dave, good.clone()).await,
        409,
        "key_not_active",
        "the user's security key is revoked; OBR needs an active key",
    );

    // Nothing was issued and the phone heard of nothing.
    assert!(obr_list(&server).await.is_empty());
    assert_eq!(
        phone.events(0, 0).await.1,
        json!({ "events": [], "next": 0 })
    );

    // One running grant per user.
    let (status, first) = start(&server, &alice, good.clone()).await;
    assert_eq!(status, 201);
    assert_error(
        &start(&server, &alice, good.clone()).await,
        409,
        "obr_running",
        &format!(
            "OBR is already running for this user (grant {}); stop it first",
            first["grant_id"].as_str().unwrap()
        ),
    );
    assert_eq!(obr_list(&server).await.len(), 1);
    assert_eq!(phone.events(0, 0).await.1["next"], 1);
}

#[tokio::test]
async fn stop_queues_an_event_and_ends_the_grant() {
    let server = Server::start();
    let (alice, phone, _) = active_user(&server, "alice@example.com").await;
    let admin = Admin::new();
    let (_, started) = start(&server, &alice, admin.start_body(&["example.com"])).await;
    let grant_id = started["grant_id"].as_str().unwrap();

    let poll = phone.events(1, 30);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server
            .http
            .delete(format!("{}/admin/obr/{grant_id}", server.url))
            .send()
            .await
            .unwrap()
    };
    let ((_, events), response) = tokio::join!(poll, stop);
    assert_eq!(response.status().as_u16(), 200);
    let stopped: Value = response.json().await.unwrap();
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["grant_id"], grant_id);
    assert!(stopped["stopped_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        events,
        json!({ "events": [{ "seq": 2, "type": "obr_stopped", "grant_id": grant_id }], "next": 2 })
    );

    // Stopping again changes nothing and queues nothing.
    let again = server
        .http
        .delete(format!("{}/admin/obr/{grant_id}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(phone.events(2, 0).await.1["events"], json!([]));
    assert_eq!(obr_list(&server).await[0]["status"], "stopped");

    // Unknown and malformed ids.
    let delete = |id: String| {
        let server = &server;
        async move {
            let response = server
                .http
                .delete(format!("{}/admin/obr/{id}", server.url))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    assert_error(
        &delete(B64.encode([9u8; 16])).await,
        404,
        "unknown_grant",
        "no grant with this id",
    );
    assert_error(
        &delete("abc".into()).await,
        400,
        "bad_request",
        "a grant id is base64url (no padding) of 16 bytes",
    );

    // The user is free for a new grant.
    let (status, _) = start(&server, &alice, admin.start_body(&["example.com"])).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn expired_and_completed_grants_cannot_be_stopped_and_free_the_user() {
    let server = Server::start();
    let (alice, phone, _) = active_user(&server, "alice@example.com").await;
    let admin = Admin::new();
    let mut body = admin.start_body(&["example.com"]);
    body["duration_secs"] = json!(1);
    let (_, short) = start(&server, &alice, body).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(obr_list(&server).await[0]["status"], "expired");
    let id = short["grant_id"].as_str().unwrap();
    let response = server
        .http
        .delete(format!("{}/admin/obr/{id}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "error": "not_running", "message": "the grant is expired; there is nothing to stop" })
    );

    let (status, single) = start(&server, &alice, admin.start_body(&["example.com"])).await;
    assert_eq!(status, 201, "{single}");
    let bytes = receipt(grant_id_of(&single), 1, "example.com", b"cred-1").sign(&phone.key);
    assert_eq!(send_receipt(&phone, &bytes).await.0, 201);
    assert_eq!(obr_list(&server).await[1]["status"], "completed");
    let id = single["grant_id"].as_str().unwrap();
    let response = server
        .http
        .delete(format!("{}/admin/obr/{id}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    assert_eq!(
        response.json::<Value>().await.unwrap()["message"],
        "the grant is completed; there is nothing to stop"
    );
    assert_eq!(
        start(&server, &alice, admin.start_body(&["example.com"]))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn suspending_or_revoking_stops_the_running_grant() {
    let server = Server::start();
    let (alice, phone, _) = active_user(&server, "alice@example.com").await;
    let admin = Admin::new();
    let (_, started) = start(&server, &alice, admin.start_body(&["example.com"])).await;
    server
        .post(&format!("/admin/users/{alice}/suspend"), json!({}))
        .await;
    let (_, events) = phone.events(1, 0).await;
    assert_eq!(
        events["events"],
        json!([
            { "seq": 2, "type": "status", "status": "suspended" },
            { "seq": 3, "type": "obr_stopped", "grant_id": started["grant_id"] },
        ])
    );
    assert_eq!(obr_list(&server).await[0]["status"], "stopped");

    // A registration made before the stop still gets its receipt recorded.
    let bytes = receipt(grant_id_of(&started), 1, "example.com", b"cred").sign(&phone.key);
    assert_eq!(send_receipt(&phone, &bytes).await.0, 201);

    server
        .post(&format!("/admin/users/{alice}/resume"), json!({}))
        .await;
    let (_, again) = start(&server, &alice, admin.start_body(&["example.com"])).await;
    server.delete(&format!("/admin/users/{alice}")).await;
    let (_, events) = phone.events(5, 0).await;
    assert_eq!(
        events["events"],
        json!([
            { "seq": 6, "type": "status", "status": "revoked" },
            { "seq": 7, "type": "obr_stopped", "grant_id": again["grant_id"] },
        ])
    );
}

#[tokio::test]
async fn receipts_are_recorded_once_and_bad_ones_refused() {
    let server = Server::start();
    let (alice, phone, _) = active_user(&server, "alice@example.com").await;
    let admin = Admin::new();
    let mut body = admin.start_body(&["example.com", "example.org"]);
    body["max_registrations"] = json!(3);
    let (_, started) = start(&server, &alice, body).await;
    let grant_id = grant_id_of(&started);

    // Accepted once.
    let first = receipt(grant_id, 1, "example.com", b"credential-one");
    let first_bytes = first.sign(&phone.key);
    assert_eq!(
        send_receipt(&phone, &first_bytes).await,
        (
            201,
            json!({
                "grant_id": started["grant_id"],
                "index": 1,
                "registrations": 1,
                "max_registrations": 3,
            })
        )
    );
    assert_error(
        &send_receipt(&phone, &first_bytes).await,
        409,
        "already_recorded",
        "this receipt is already recorded",
    );

    // Forged: signed by a key that is not the device's.
    let forged = receipt(grant_id, 2, "example.com", b"forged").sign(&new_key());
    assert_eq!(
        send_receipt(&phone, &forged).await,
        (
            422,
            json!({
                "error": "invalid_receipt",
                "reason": "kid_mismatch",
                "message": "the receipt was refused: the receipt names another key than the device key",
            })
        )
    );
    // Tampered: the device's receipt with one signature byte changed.
    let mut tampered = receipt(grant_id, 2, "example.com", b"tampered").sign(&phone.key);
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(
        send_receipt(&phone, &tampered).await.1["reason"],
        "bad_signature"
    );
    assert_eq!(
        send_receipt(&phone, b"not a receipt").await,
        (
            422,
            json!({
                "error": "invalid_receipt",
                "reason": "not_cose_sign1",
                "message": "the receipt was refused: the receipt is not a tagged COSE_Sign1 of four items",
            })
        )
    );
    let not_b64 = json!({ "receipt": "***" }).to_string();
    assert_error(
        &phone
            .signed("POST", &phone.device_path("/obr-receipts"), Some(&not_b64))
            .await,
        400,
        "bad_request",
        "receipt must be base64url (no padding)",
    );

    // Outside the grant.
    assert_error(
        &send_receipt(
            &phone,
            &receipt(grant_id, 2, "login.example.com", b"c2").sign(&phone.key),
        )
        .await,
        422,
        "rp_out_of_scope",
        "the receipt's RP id is not in the grant's RP ids",
    );
    assert_error(
        &send_receipt(
            &phone,
            &receipt(grant_id, 4, "example.com", b"c4").sign(&phone.key),
        )
        .await,
        422,
        "count_exceeded",
        "registration 4 is beyond the grant's maximum of 3",
    );
    assert_error(
        &send_receipt(
            &phone,
            &receipt(grant_id, 1, "example.org", b"other").sign(&phone.key),
        )
        .await,
        409,
        "duplicate_index",
        "registration 1 under this grant already has another receipt",
    );
    assert_error(
        &send_receipt(
            &phone,
            &receipt(grant_id, 2, "example.org", b"credential-one").sign(&phone.key),
        )
        .await,
        409,
        "duplicate_credential",
        "another receipt under this grant names the same credential id",
    );
    assert_error(
        &send_receipt(
            &phone,
            &receipt([3; 16], 1, "example.com", b"c").sign(&phone.key),
        )
        .await,
        404,
        "unknown_grant",
        "no grant with this id was issued to this security key",
    );
    let mut early = receipt(grant_id, 2, "example.com", b"early");
    early.created_at = now() - 600;
    assert_error(
        &send_receipt(&phone, &early.sign(&phone.key)).await,
        422,
        "not_yet_valid",
        "the registration is dated before the grant was issued (check the phone's clock)",
    );
    let mut late = receipt(grant_id, 2, "example.com", b"late");
    late.created_at = now() + 700;
    assert_error(
        &send_receipt(&phone, &late.sign(&phone.key)).await,
        409,
        "grant_expired",
        "the registration is dated after the grant expired",
    );

    // Another user's phone cannot report under this grant, even signing correctly.
    let (_, bobs_phone, _) = active_user(&server, "bob@example.com").await;
    assert_error(
        &send_receipt(
            &bobs_phone,
            &receipt(grant_id, 2, "example.com", b"bob").sign(&bobs_phone.key),
        )
        .await,
        404,
        "unknown_grant",
        "no grant with this id was issued to this security key",
    );
    // The request signature is checked first.
    let body = json!({ "receipt": B64.encode(receipt(grant_id, 2, "example.com", b"x").sign(&phone.key)) })
        .to_string();
    let wrong = Signing {
        wrong_key: Some(new_key()),
        ..Signing::default()
    };
    let (status, error) = phone
        .signed_with(
            "POST",
            &phone.device_path("/obr-receipts"),
            Some(&body),
            wrong,
        )
        .await;
    assert_eq!((status, &error["error"]), (401, &json!("bad_signature")));

    // A second registration; then stop: one made before the stop is recorded, one dated
    // after stop + 30 s is not.
    let second = receipt(grant_id, 2, "example.org", b"credential-two");
    assert_eq!(send_receipt(&phone, &second.sign(&phone.key)).await.0, 201);
    let stop = server
        .http
        .delete(format!(
            "{}/admin/obr/{}",
            server.url,
            started["grant_id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status().as_u16(), 200);
    let mut after_stop = receipt(grant_id, 3, "example.com", b"after");
    after_stop.created_at = now() + 31;
    assert_error(
        &send_receipt(&phone, &after_stop.sign(&phone.key)).await,
        409,
        "grant_stopped",
        "the registration is dated after the administrator stopped OBR",
    );

    // The passkeys view: exactly the two recorded, with their receipts.
    let (status, passkeys) = server.get(&format!("/admin/users/{alice}/passkeys")).await;
    assert_eq!(status, 200);
    let passkeys = passkeys.as_array().unwrap();
    assert_eq!(passkeys.len(), 2);
    for (entry, expected) in passkeys.iter().zip([&first, &second]) {
        assert_eq!(entry["rp_id"], expected.rp_id.as_str());
        assert_eq!(entry["credential_id"], B64.encode(&expected.credential_id));
        assert_eq!(entry["index"], expected.index);
        assert_eq!(entry["grant_id"], started["grant_id"]);
        assert_eq!(entry["admin_id"], "adm_1");
        assert_eq!(entry["admin_name"], "Ann Admin");
        assert_eq!(entry["security_key_id"], phone.security_key_id.as_str());
        assert_eq!(entry["aaguid"], B64.encode([7u8; 16]));
        assert_eq!(entry["auth_data_hash"], B64.encode(expected.auth_data_hash));
        assert!(entry["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(entry["received_at"].as_str().unwrap().ends_with('Z'));
        let stored = B64.decode(entry["receipt"].as_str().unwrap()).unwrap();
        let device_key = phone.key.verifying_key().to_sec1_point(false);
        assert_eq!(
            &Receipt::verify(&stored, device_key.as_bytes()).unwrap(),
            expected
        );
    }
    let list = obr_list(&server).await;
    assert_eq!(
        (&list[0]["status"], &list[0]["registrations"]),
        (&json!("stopped"), &json!(2))
    );
}

#[tokio::test]
async fn passkeys_of_unknown_or_fresh_users() {
    let server = Server::start();
    let (alice, _, _) = active_user(&server, "alice@example.com").await;
    assert_eq!(
        server.get(&format!("/admin/users/{alice}/passkeys")).await,
        (200, json!([]))
    );
    assert_error(
        &server.get("/admin/users/usr_nobody/passkeys").await,
        404,
        "unknown_user",
        "no user with this id",
    );
    assert_eq!(server.get("/admin/obr").await, (200, json!([])));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn cli_starts_lists_and_stops() {
    let server = Server::start();
    let (_, phone, redeemed) = active_user(&server, "alice@example.com").await;
    let admin = Admin::new();
    let (ok, out, _) = server.cli(&["obr-list"]);
    assert!(ok);
    assert_eq!(out, "no on-behalf registrations\n");
    let (ok, out, _) = server.cli(&["passkeys", "alice@example.com"]);
    assert!(ok);
    assert_eq!(out, "no passkeys registered for alice@example.com\n");

    let key_hex = hex(&admin.static_key);
    let door_hex = hex(&admin.door);
    let (ok, out, err) = server.cli(&[
        "obr-start",
        "alice@example.com",
        "--rp",
        "example.com",
        "--rp",
        "example.org",
        "--count",
        "2",
        "--minutes",
        "5",
        "--admin-key",
        &key_hex,
        "--relay",
        "https://relay.example.net",
        "--door",
        &door_hex,
        "--admin-name",
        "Ann Admin",
    ]);
    assert!(ok, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .to_owned()
    };
    assert!(
        out.starts_with("OBR started for alice@example.com until "),
        "{out}"
    );
    let grant_id = field("grant_id");
    assert_eq!(field("security_key_id"), phone.security_key_id);
    assert_eq!(field("device_public_key"), phone.public_key());
    let pinned = B64
        .decode(redeemed["grant_signing_key"].as_str().unwrap())
        .unwrap();
    let verified = Grant::verify(
        &B64.decode(field("grant")).unwrap(),
        &pinned,
        &phone.security_key_id,
        &admin.static_key,
        now(),
        SKEW,
    )
    .unwrap();
    assert_eq!(verified.grant().admin_name, "Ann Admin");
    assert_eq!(verified.grant().admin_id, "admin");
    assert_eq!(verified.grant().max_registrations, 2);
    assert_eq!(
        verified.grant().expires_at - verified.grant().issued_at,
        300
    );
    let (_, events) = phone.events(0, 0).await;
    assert_eq!(events["events"][0]["admin_door"], B64.encode(admin.door));
    assert_eq!(
        events["events"][0]["relay_url"],
        "https://relay.example.net"
    );

    // The same key in base64url is accepted too; OBR is running, so the server refuses.
    let (ok, _, err) = server.cli(&[
        "obr-start",
        "alice@example.com",
        "--rp",
        "example.com",
        "--admin-key",
        &B64.encode(&admin.static_key),
        "--relay",
        "https://relay.example.net",
        "--door",
        &door_hex,
    ]);
    assert!(!ok);
    assert_eq!(
        err,
        format!(
            "error: OBR is already running for this user (grant {grant_id}); stop it first \
             (obr_running, HTTP 409)\n"
        )
    );
    let (ok, _, err) = server.cli(&[
        "obr-start",
        "alice@example.com",
        "--rp",
        "example.com",
        "--admin-key",
        &key_hex,
        "--relay",
        "https://relay.example.net",
        "--door",
        "abcd",
    ]);
    assert!(!ok);
    assert_eq!(err, "error: --door must be 16 bytes in hex or base64url\n");
    let (ok, _, err) = server.cli(&[
        "obr-start",
        "alice@example.com",
        "--admin-key",
        &key_hex,
        "--relay",
        "https://relay.example.net",
        "--door",
        &door_hex,
    ]);
    assert!(!ok);
    assert!(err.contains("--rp <RP>"), "{err}");
    let (ok, _, err) = server.cli(&[
        "obr-start",
        "alice@example.com",
        "--rp",
        "example.com",
        "--minutes",
        "16",
        "--admin-key",
        &key_hex,
        "--relay",
        "https://relay.example.net",
        "--door",
        &door_hex,
    ]);
    assert!(!ok);
    assert!(err.contains("16 is not in 1..=15"), "{err}");

    let bytes = receipt(
        B64.decode(&grant_id).unwrap().try_into().unwrap(),
        1,
        "example.org",
        b"cli-credential",
    )
    .sign(&phone.key);
    assert_eq!(send_receipt(&phone, &bytes).await.0, 201);

    let (ok, out, _) = server.cli(&["obr-list"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("GRANT ID"), "{out}");
    for cell in [
        grant_id.as_str(),
        "alice@example.com",
        "Ann Admin",
        "running",
        "1/2",
        "example.com,example.org",
    ] {
        assert!(lines[1].contains(cell), "{cell} in {out}");
    }
    let (ok, out, _) = server.cli(&["passkeys", "alice@example.com"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("RP ID"), "{out}");
    for cell in [
        "example.org",
        &B64.encode(b"cli-credential"),
        grant_id.as_str(),
        "Ann Admin",
    ] {
        assert!(lines[1].contains(cell), "{cell} in {out}");
    }
    assert!(lines[1].trim_end().ends_with(" 1"), "{out}");

    let (ok, out, _) = server.cli(&["obr-stop", &grant_id]);
    assert!(ok);
    assert_eq!(
        out,
        format!("OBR {grant_id} for alice@example.com: stopped (1 of 2 registrations)\n")
    );
    let (ok, _, err) = server.cli(&["obr-stop", &B64.encode([1u8; 16])]);
    assert!(!ok);
    assert_eq!(
        err,
        "error: no grant with this id (unknown_grant, HTTP 404)\n"
    );
}

/// A phone activated before it had an OBR key (redeem without `obr_public_key`) cannot be
/// offered OBR until it tells its OBR key with a signed `obr-key`; the key is set once and
/// must not be the device key.
#[tokio::test]
async fn a_phone_without_an_obr_key_gets_none_until_it_registers_one_signed() {
    let server = Server::start();
    let (id, code) = server.user_with_key("olga@example.com", false).await;
    let mut phone = Phone::new(&server);
    let (status, redeemed) = phone
        .redeem_raw(json!({
            "code": code,
            "device_public_key": phone.public_key(),
            "device_name": "Old phone",
            "platform": "virtual",
        }))
        .await;
    assert_eq!(status, 200, "{redeemed}");
    assert!(redeemed.get("obr_public_key").is_none());
    phone.security_key_id = redeemed["security_key_id"].as_str().unwrap().to_owned();
    let admin = Admin::new();
    assert_error(
        &start(&server, &id, admin.start_body(&["example.com"])).await,
        409,
        "no_obr_key",
        "the user's phone has not told its OBR key yet (it does at its next events poll); try \
         again shortly",
    );

    let path = phone.device_path("/obr-key");
    let body = |key: String| json!({ "obr_public_key": key }).to_string();
    // The device key is not an OBR key; an unsigned or wrongly signed call changes nothing.
    let (status, error) = phone
        .signed("POST", &path, Some(&body(phone.public_key())))
        .await;
    assert_eq!((status, &error["error"]), (400, &json!("bad_request")));
    let (status, _) = phone
        .signed_with(
            "POST",
            &path,
            Some(&body(phone.obr_public_key())),
            Signing {
                wrong_key: Some(new_key()),
                ..Signing::default()
            },
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        start(&server, &id, admin.start_body(&["example.com"]))
            .await
            .0,
        409
    );

    // Signed by the device key: stored, and handed to the admin's tool at start.
    let (status, _) = phone
        .signed("POST", &path, Some(&body(phone.obr_public_key())))
        .await;
    assert_eq!(status, 204);
    let (status, again) = phone
        .signed("POST", &path, Some(&body(phone.obr_public_key())))
        .await;
    assert_eq!(status, 204, "{again}");
    let other = B64.encode(new_key().verifying_key().to_sec1_point(false).as_bytes());
    assert_error(
        &phone.signed("POST", &path, Some(&body(other))).await,
        409,
        "obr_key_set",
        "another OBR key is already registered for this security key",
    );
    let (status, started) = start(&server, &id, admin.start_body(&["example.com"])).await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["obr_public_key"], phone.obr_public_key());
}
