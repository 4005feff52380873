//! Redeem (contract, phone endpoint 1): the answer's fields, idempotency for the same device,
//! and every error: 400 malformed, 404 unknown, 409 another device, 410 expired and revoked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{Phone, Server};
use serde_json::json;

#[tokio::test]
async fn redeem_answers_the_contract_fields() {
    let server = Server::start_with(&[
        "--name",
        "Acme Corp",
        "--relay-url",
        "http://127.0.0.1:9/relay",
    ]);
    let (alice, code) = server.user_with_key("alice@example.com", false).await;
    let mut phone = Phone::new(&server);
    let (status, body) = phone.redeem(&code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["security_key_id"].as_str().unwrap().starts_with("sk_"));
    assert_eq!(
        body["user"],
        json!({ "id": alice, "email": "alice@example.com", "display_name": "Test User" })
    );
    assert_eq!(body["workspace"]["name"], "Acme Corp");
    assert!(body["workspace"]["id"].is_string());
    let grant_key = B64
        .decode(body["grant_signing_key"].as_str().unwrap())
        .unwrap();
    assert_eq!(grant_key.len(), 65);
    assert!(p256::ecdsa::VerifyingKey::from_sec1_bytes(&grant_key).is_ok());
    assert_eq!(body["relay_url"], "http://127.0.0.1:9/relay");
    assert_eq!(body["status"], "active", "no client PIN: active at once");
    assert_eq!(
        body["pin_policy"],
        json!({ "client_pin": false, "force_change": false, "min_length": 4 })
    );
    assert!(
        body.get("pin_nonce").is_none(),
        "pin_nonce only with a client PIN"
    );

    let key = server.user("alice@example.com").await["key"].clone();
    assert_eq!(key["status"], "active");
    assert_eq!(key["security_key_id"], body["security_key_id"]);

    // The same grant-signing key for every phone of the workspace.
    let (_, bob_code) = server.user_with_key("bob@example.com", true).await;
    let mut bob_phone = Phone::new(&server);
    let (status, bob_body) = bob_phone.redeem(&bob_code).await;
    assert_eq!(status, 200);
    assert_eq!(bob_body["grant_signing_key"], body["grant_signing_key"]);
    assert_eq!(bob_body["status"], "pending");
    assert_eq!(
        bob_body["pin_policy"],
        json!({ "client_pin": true, "force_change": false, "min_length": 6 })
    );
    let nonce = B64.decode(bob_body["pin_nonce"].as_str().unwrap()).unwrap();
    assert_eq!(nonce.len(), 16);
    assert_ne!(bob_body["security_key_id"], body["security_key_id"]);
}

#[tokio::test]
async fn redeem_is_idempotent_for_the_same_device_only() {
    let server = Server::start();
    let (_, code) = server.user_with_key("alice@example.com", true).await;
    let mut phone = Phone::new(&server);
    let (status, first) = phone.redeem(&code).await;
    assert_eq!(status, 200);
    let (status, again) = phone.redeem(&code).await;
    assert_eq!((status, &again), (200, &first));
    let (status, lower) = phone.redeem(&code.to_lowercase()).await;
    assert_eq!(
        (status, &lower),
        (200, &first),
        "codes are case-insensitive"
    );

    let mut other = Phone::new(&server);
    let (status, error) = other.redeem(&code).await;
    assert_eq!(status, 409);
    assert_eq!(error["error"], "already_redeemed");
    assert!(error["message"].is_string());
}

#[tokio::test]
async fn unknown_and_malformed_redeems() {
    let server = Server::start();
    let (_, code) = server.user_with_key("alice@example.com", false).await;
    let mut phone = Phone::new(&server);
    let (status, error) = phone.redeem("0123456789ABCDEFGHJKMNPQRS").await;
    assert_eq!(
        (status, error["error"].as_str()),
        (404, Some("unknown_code"))
    );

    let good = json!({
        "code": code, "device_public_key": phone.public_key(),
        "device_name": "Phone", "platform": "android",
    });
    let mut cases = Vec::new();
    for (field, value) in [
        ("code", json!("TOO-SHORT")),
        ("code", json!("0123456789ABCDEFGHJKMNPQRU")),
        ("device_public_key", json!("AAAA")),
        ("device_public_key", json!(B64.encode([4u8; 65]))),
        (
            "device_public_key",
            json!(B64.encode(phone.key.verifying_key().to_sec1_point(true).as_bytes())),
        ),
        ("device_name", json!("")),
        ("platform", json!("windows")),
        ("platform", json!(3)),
    ] {
        let mut body = good.clone();
        body[field] = value;
        cases.push(body);
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("device_name");
    cases.push(missing);
    for body in cases {
        let (status, error) = phone.redeem_raw(body.clone()).await;
        assert_eq!(
            (status, error["error"].as_str()),
            (400, Some("bad_request")),
            "{body}"
        );
    }
    let response = server
        .http
        .post(format!("{}/api/v1/activations/redeem", server.url))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // None of that used the code up.
    assert_eq!(phone.redeem_raw(good).await.0, 200);
}

#[tokio::test]
async fn expired_link_is_gone() {
    let server = Server::start_with(&["--link-ttl-secs", "1"]);
    let (_, early) = server.user_with_key("early@example.com", false).await;
    let (_, late) = server.user_with_key("late@example.com", false).await;
    let mut early_phone = Phone::new(&server);
    assert_eq!(early_phone.redeem(&early).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

    let mut phone = Phone::new(&server);
    let (status, error) = phone.redeem(&late).await;
    assert_eq!((status, error["error"].as_str()), (410, Some("expired")));
    // Expiry limits the first redeem only: a retry by the phone that redeemed in time works.
    assert_eq!(early_phone.redeem(&early).await.0, 200);
}

#[tokio::test]
async fn revoked_or_deleted_assignment_is_gone() {
    let server = Server::start();
    let (alice, alice_code) = server.user_with_key("alice@example.com", false).await;
    let (bob, bob_code) = server.user_with_key("bob@example.com", false).await;
    let (carol, carol_code) = server.user_with_key("carol@example.com", false).await;

    let (status, _) = server
        .post(&format!("/admin/users/{alice}/revoke"), json!({}))
        .await;
    assert_eq!(status, 200);
    let mut phone = Phone::new(&server);
    let (status, error) = phone.redeem(&alice_code).await;
    assert_eq!((status, error["error"].as_str()), (410, Some("revoked")));

    assert_eq!(server.delete(&format!("/admin/users/{bob}")).await, 204);
    let (status, error) = phone.redeem(&bob_code).await;
    assert_eq!((status, error["error"].as_str()), (410, Some("revoked")));
    assert_eq!(server.delete(&format!("/admin/users/{bob}")).await, 404);

    // Revoked after redeem: the phone that redeemed gets 410 too.
    let mut carol_phone = Phone::new(&server);
    assert_eq!(carol_phone.redeem(&carol_code).await.0, 200);
    server
        .post(&format!("/admin/users/{carol}/revoke"), json!({}))
        .await;
    let (status, error) = carol_phone.redeem(&carol_code).await;
    assert_eq!((status, error["error"].as_str()), (410, Some("revoked")));
}

#[tokio::test]
async fn activation_link_page_is_served() {
    let server = Server::start();
    let (_, code) = server.user_with_key("alice@example.com", false).await;
    let response = server
        .http
        .get(format!("{}/activate?code={code}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("security key app"));
    let (status, error) = server.get("/api/v1/nothing-here").await;
    assert_eq!((status, error["error"].as_str()), (404, Some("not_found")));
}
