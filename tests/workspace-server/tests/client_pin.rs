//! Client PIN (contract, phone endpoint 3): the mailed PIN's proof activates the key; five
//! wrong proofs lock it (423) until the administrator assigns again; a key that is not
//! waiting for a PIN answers 409.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Phone, Server};
use serde_json::json;

#[tokio::test]
async fn right_pin_activates_and_binds() {
    let server = Server::start();
    let alice = server.add_user("alice@example.com", "Alice").await;
    server.assign(&alice, true, true).await;
    let code = server.latest_code("alice@example.com").await;
    let pin = server.latest_pin("alice@example.com").await;
    let mut phone = Phone::new(&server);
    let (status, body) = phone.redeem(&code).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
    assert_eq!(body["pin_policy"]["force_change"], true);
    assert_eq!(
        server.user("alice@example.com").await["key"]["status"],
        "pending"
    );
    let (_, jobs) = server
        .get(&format!("/admin/users/{alice}/binding-jobs"))
        .await;
    assert_eq!(jobs[0]["status"], "pending");
    assert_eq!(jobs[0]["security_key_id"], phone.security_key_id.as_str());
    assert!(jobs[0].get("bound_at").is_none());

    // One wrong try first: it costs an attempt but the right PIN still works.
    let (status, error) = phone.submit_pin("not the pin").await;
    assert_eq!(status, 403);
    assert_eq!(error["error"], "wrong_pin");
    assert_eq!(error["attempts_left"], 4);

    let (status, body) = phone.submit_pin(&pin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "status": "active", "force_change": true }));
    assert_eq!(phone.status().await.1["status"], "active");
    assert_eq!(
        server.user("alice@example.com").await["key"]["status"],
        "active"
    );
    let (_, jobs) = server
        .get(&format!("/admin/users/{alice}/binding-jobs"))
        .await;
    assert_eq!(jobs[0]["status"], "bound");
    assert!(jobs[0]["bound_at"].is_string());

    let (status, error) = phone.submit_pin(&pin).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("not_pending"))
    );
}

#[tokio::test]
async fn five_wrong_pins_lock_until_reassigned() {
    let server = Server::start();
    let alice = server.add_user("alice@example.com", "Alice").await;
    server.assign(&alice, true, false).await;
    let code = server.latest_code("alice@example.com").await;
    let pin = server.latest_pin("alice@example.com").await;
    let mut phone = Phone::new(&server);
    assert_eq!(phone.redeem(&code).await.0, 200);

    let wrong = if pin == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        let (status, error) = phone.submit_pin(wrong).await;
        assert_eq!(status, 403);
        assert_eq!(error["attempts_left"], left);
    }
    let (status, error) = phone.submit_pin(wrong).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (423, Some("locked")),
        "the fifth wrong proof locks"
    );
    let (status, _) = phone.submit_pin(&pin).await;
    assert_eq!(status, 423, "even the right PIN is refused now");

    assert_eq!(phone.status().await.1["status"], "locked");
    assert_eq!(
        server.user("alice@example.com").await["key"]["status"],
        "locked"
    );
    let (_, jobs) = server
        .get(&format!("/admin/users/{alice}/binding-jobs"))
        .await;
    assert_eq!(jobs[0]["status"], "locked");
    let (status, error) = phone.redeem(&code).await;
    assert_eq!((status, error["error"].as_str()), (423, Some("locked")));
    let (_, events) = phone.events(0, 0).await;
    assert_eq!(
        events["events"],
        json!([{ "seq": 1, "type": "status", "status": "locked" }])
    );

    // The administrator assigns again: a new link and PIN; the locked key stays locked.
    let (ok, _, _) = server.cli(&["assign", "alice@example.com", "--client-pin"]);
    assert!(ok);
    let new_code = server.latest_code("alice@example.com").await;
    let new_pin = server.latest_pin("alice@example.com").await;
    assert_ne!(new_code, code);
    assert_eq!(
        server.user("alice@example.com").await["key"]["status"],
        "pending"
    );
    assert_eq!(phone.status().await.1["status"], "locked");
    let (_, jobs) = server
        .get(&format!("/admin/users/{alice}/binding-jobs"))
        .await;
    assert_eq!(jobs.as_array().unwrap().len(), 2);

    let mut again = Phone {
        key: phone.key.clone(),
        ..Phone::new(&server)
    };
    assert_eq!(again.redeem(&new_code).await.0, 200);
    assert_ne!(again.security_key_id, phone.security_key_id);
    assert_eq!(again.submit_pin(&new_pin).await.0, 200);
    assert_eq!(
        server.user("alice@example.com").await["key"]["status"],
        "active"
    );
}

#[tokio::test]
async fn no_pin_expected_without_client_pin() {
    let server = Server::start();
    let (_, code) = server.user_with_key("alice@example.com", false).await;
    let mut phone = Phone::new(&server);
    assert_eq!(phone.redeem(&code).await.0, 200);
    let (status, error) = phone.submit_pin("123456").await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("not_pending"))
    );

    let body = json!({ "proof": "too-short" }).to_string();
    let (status, error) = phone
        .signed("POST", &phone.device_path("/client-pin"), Some(&body))
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("bad_request"))
    );
}
