//! A phone that refuses a grant before connecting (contract, phone endpoint 8
//! `obr-refusals`): the grant becomes `refused` with the phone's code, only once, only for the
//! key it was issued to; and the OBR grant test faults (`POST /admin/faults` kind `obr_grant`)
//! make the `obr_request` event carry a grant the phone's `Grant::verify_unbound` refuses with
//! exactly the matching code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use authenticator_core::obr::{Grant, GrantError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{Phone, Server, new_key, now_secs};
use serde_json::{Value, json};

fn start_body() -> Value {
    let key = new_key();
    json!({
        "admin_id": "adm_1",
        "admin_name": "Ann Admin",
        "admin_static_key": B64.encode(key.verifying_key().to_sec1_point(false).as_bytes()),
        "rp_ids": ["example.com"],
        "relay_url": "http://127.0.0.1:9/relay",
        "admin_door": B64.encode([0x5a; 16]),
    })
}

async fn active_user(server: &Server, email: &str) -> (String, Phone, Value) {
    let (id, code) = server.user_with_key(email, false).await;
    let mut phone = Phone::new(server);
    let (status, redeemed) = phone.redeem(&code).await;
    assert_eq!(status, 200, "{redeemed}");
    (id, phone, redeemed)
}

async fn start(server: &Server, user: &str) -> Value {
    let (status, started) = server
        .post(&format!("/admin/users/{user}/obr"), start_body())
        .await;
    assert_eq!(status, 201, "{started}");
    started
}

async fn refuse(phone: &Phone, body: Value) -> (u16, Value) {
    phone
        .signed(
            "POST",
            &phone.device_path("/obr-refusals"),
            Some(&body.to_string()),
        )
        .await
}

async fn record(server: &Server, grant_id: &Value) -> Value {
    let (_, list) = server.get("/admin/obr").await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|g| &g["grant_id"] == grant_id)
        .cloned()
        .expect("listed")
}

/// The newest `obr_request` event the phone has.
async fn newest_request(phone: &Phone) -> Value {
    let (status, events) = phone.events(0, 0).await;
    assert_eq!(status, 200);
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["type"] == "obr_request")
        .cloned()
        .expect("an obr_request event")
}

fn now() -> u64 {
    u64::try_from(now_secs()).unwrap()
}

#[tokio::test]
async fn refusal_marks_the_grant_once_and_only_for_its_key() {
    let server = Server::start();
    let (alice, phone, _) = active_user(&server, "alice@example.com").await;
    let (_, bob_phone, _) = active_user(&server, "bob@example.com").await;
    let started = start(&server, &alice).await;
    let id = started["grant_id"].clone();

    // Bad bodies.
    for bad in [
        json!({ "grant_id": "xx", "code": "expired" }),
        json!({ "grant_id": id, "code": "" }),
        json!({ "grant_id": id, "code": "Expired" }),
        json!({ "grant_id": id, "code": "a".repeat(65) }),
        json!({ "grant_id": id }),
    ] {
        let (status, error) = refuse(&phone, bad.clone()).await;
        assert_eq!(
            (status, error["error"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
    // Another key, or an unknown id: 404.
    let (status, error) = refuse(&bob_phone, json!({ "grant_id": id, "code": "expired" })).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (404, Some("unknown_grant"))
    );
    let (status, error) = refuse(
        &phone,
        json!({ "grant_id": B64.encode([1; 16]), "code": "expired" }),
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (404, Some("unknown_grant"))
    );
    // Unsigned: 401.
    let (status, _) = server
        .post(
            &phone.device_path("/obr-refusals"),
            json!({ "grant_id": id, "code": "expired" }),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(record(&server, &id).await["status"], "running");

    // The refusal: 204, refused with the code; a second one keeps the first outcome.
    let (status, body) = refuse(&phone, json!({ "grant_id": id, "code": "bad_signature" })).await;
    assert_eq!((status, body), (204, Value::Null));
    let entry = record(&server, &id).await;
    assert_eq!(entry["status"], "refused");
    assert_eq!(entry["refusal_code"], "bad_signature");
    assert!(entry["stopped_at"].is_string());
    assert_eq!(
        refuse(&phone, json!({ "grant_id": id, "code": "denied" }))
            .await
            .0,
        204
    );
    assert_eq!(record(&server, &id).await["refusal_code"], "bad_signature");
    // Not running any more: cannot be stopped, and the user may start again.
    assert_eq!(
        server
            .delete(&format!("/admin/obr/{}", id.as_str().unwrap()))
            .await,
        409
    );
    let again = start(&server, &alice).await;

    // A stopped grant keeps "stopped".
    assert_eq!(
        server
            .delete(&format!(
                "/admin/obr/{}",
                again["grant_id"].as_str().unwrap()
            ))
            .await,
        200
    );
    assert_eq!(
        refuse(
            &phone,
            json!({ "grant_id": again["grant_id"], "code": "expired" })
        )
        .await
        .0,
        204
    );
    let entry = record(&server, &again["grant_id"]).await;
    assert_eq!(entry["status"], "stopped");
    assert!(entry.get("refusal_code").is_none());
}

/// Arms one OBR grant fault, starts OBR, and returns (start answer, the event it queued, the
/// phone's verdict on the event's grant).
async fn faulty_start(
    server: &Server,
    user: &str,
    phone: &Phone,
    pinned: &[u8],
    fault: &str,
) -> (Value, Value, Result<[u8; 16], GrantError>) {
    let (status, rule) = server
        .post(
            "/admin/faults",
            json!({ "kind": "obr_grant", "grant_fault": fault }),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(
        rule,
        json!({ "kind": "obr_grant", "grant_fault": fault, "count": 1 })
    );
    let started = start(server, user).await;
    let event = newest_request(phone).await;
    let grant = B64.decode(event["grant"].as_str().unwrap()).unwrap();
    let verdict = Grant::verify_unbound(&grant, pinned, &phone.security_key_id, now(), 30)
        .map(|v| v.grant_id);
    (started, event, verdict)
}

#[tokio::test]
async fn grant_faults_make_the_phone_refuse_and_the_admin_sees_it() {
    let server = Server::start();
    let (alice, phone, redeemed) = active_user(&server, "alice@example.com").await;
    let pinned = B64
        .decode(redeemed["grant_signing_key"].as_str().unwrap())
        .unwrap();

    // A clean grant first: the one a replay repeats.
    let first = start(&server, &alice).await;
    let first_event = newest_request(&phone).await;
    assert_eq!(first_event["grant_id"], first["grant_id"]);
    assert_eq!(first_event["grant"], first["grant"]);
    assert_eq!(
        server
            .delete(&format!(
                "/admin/obr/{}",
                first["grant_id"].as_str().unwrap()
            ))
            .await,
        200
    );

    for (fault, expected) in [
        ("forge_signature", GrantError::BadSignature),
        ("other_key", GrantError::WrongSecurityKey),
        ("expired", GrantError::Expired),
    ] {
        let (started, event, verdict) = faulty_start(&server, &alice, &phone, &pinned, fault).await;
        assert_eq!(verdict.unwrap_err(), expected, "{fault}");
        // The event names the grant's own id; the record keeps the real grant.
        assert_eq!(event["grant_id"], started["grant_id"], "{fault}");
        assert_ne!(event["grant"], started["grant"], "{fault}");
        let entry = record(&server, &started["grant_id"]).await;
        assert_eq!(entry["grant"], started["grant"]);
        assert_eq!(entry["status"], "running");
        // The event's expires_at is the real one, so a phone does not skip it unparsed.
        assert!(event["expires_at"].as_u64().unwrap() > now(), "{fault}");
        let code = expected.code();
        let (status, _) = refuse(
            &phone,
            json!({ "grant_id": event["grant_id"], "code": code }),
        )
        .await;
        assert_eq!(status, 204);
        let entry = record(&server, &started["grant_id"]).await;
        assert_eq!(
            (entry["status"].as_str(), entry["refusal_code"].as_str()),
            (Some("refused"), Some(code))
        );
    }

    // Replay: the event repeats the previous obr_request (the expired fault's) bytes and id;
    // the phone has seen that id and refuses `replayed` for it; the new grant is refused.
    let previous = newest_request(&phone).await;
    let (started, event, _) = faulty_start(&server, &alice, &phone, &pinned, "replay").await;
    assert_eq!(event["grant_id"], previous["grant_id"]);
    assert_eq!(event["grant"], previous["grant"]);
    assert_ne!(event["grant_id"], started["grant_id"]);
    let (status, _) = refuse(
        &phone,
        json!({ "grant_id": event["grant_id"], "code": "replayed" }),
    )
    .await;
    assert_eq!(status, 204);
    let entry = record(&server, &started["grant_id"]).await;
    assert_eq!(
        (entry["status"].as_str(), entry["refusal_code"].as_str()),
        (Some("refused"), Some("replayed"))
    );
    // The earlier grant keeps its own outcome.
    assert_eq!(
        record(&server, &previous["grant_id"]).await["refusal_code"],
        "expired"
    );

    // Without a fault armed the next start is clean again; bad fault bodies are refused;
    // DELETE /admin/faults clears grant faults too.
    let (status, _) = server
        .post(
            "/admin/faults",
            json!({ "kind": "obr_grant", "grant_fault": "teapot" }),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .post(
            "/admin/faults",
            json!({ "kind": "obr_grant", "grant_fault": "expired", "count": 0 }),
        )
        .await;
    assert_eq!(status, 400);
    server
        .post(
            "/admin/faults",
            json!({ "kind": "obr_grant", "grant_fault": "expired" }),
        )
        .await;
    assert_eq!(server.delete("/admin/faults").await, 204);
    let clean = start(&server, &alice).await;
    let event = newest_request(&phone).await;
    assert_eq!(event["grant"], clean["grant"]);
    assert!(
        Grant::verify_unbound(
            &B64.decode(event["grant"].as_str().unwrap()).unwrap(),
            &pinned,
            &phone.security_key_id,
            now(),
            30
        )
        .is_ok()
    );
}
