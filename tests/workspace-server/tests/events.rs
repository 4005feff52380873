//! Status events and revocation (contract, phone endpoints 4-6): suspend, resume and revoke
//! reach a waiting long-poll at once; `after`/`next` page through the inbox; the phone's
//! revocation acknowledgement shows in the admin user list; a deleted user's phone still
//! learns that it was revoked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Phone, Server};
use serde_json::json;

async fn activated(server: &Server, email: &str) -> (String, Phone) {
    let (id, code) = server.user_with_key(email, false).await;
    let mut phone = Phone::new(server);
    assert_eq!(phone.redeem(&code).await.0, 200);
    (id, phone)
}

#[tokio::test]
async fn long_poll_wakes_on_suspend_resume_and_revoke() {
    let server = Server::start();
    let (alice, phone) = activated(&server, "alice@example.com").await;
    let (status, body) = phone.events(0, 0).await;
    assert_eq!((status, &body), (200, &json!({ "events": [], "next": 0 })));

    let mut after = 0;
    for (action, expected) in [
        ("suspend", "suspended"),
        ("resume", "active"),
        ("revoke", "revoked"),
    ] {
        let started = Instant::now();
        let poll = phone.events(after, 30);
        let admin = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server
                .post(&format!("/admin/users/{alice}/{action}"), json!({}))
                .await
        };
        let ((status, body), (admin_status, user)) = tokio::join!(poll, admin);
        assert_eq!(admin_status, 200, "{user}");
        assert_eq!(user["key"]["status"], expected);
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "woken by the event, not the timeout"
        );
        after += 1;
        assert_eq!(
            body,
            json!({ "events": [{ "seq": after, "type": "status", "status": expected }], "next": after })
        );
        assert_eq!(phone.status().await.1["status"], expected);
    }

    let (_, all) = phone.events(0, 0).await;
    let statuses: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["suspended", "active", "revoked"]);
    assert_eq!(all["next"], 3);
    let (_, tail) = phone.events(2, 0).await;
    assert_eq!(tail["events"].as_array().unwrap().len(), 1);
    assert_eq!(tail["next"], 3);

    // Revoking twice emits nothing new.
    server
        .post(&format!("/admin/users/{alice}/revoke"), json!({}))
        .await;
    assert_eq!(
        phone.events(3, 0).await.1,
        json!({ "events": [], "next": 3 })
    );
}

#[tokio::test]
async fn long_poll_times_out_empty_and_rejects_long_waits() {
    let server = Server::start();
    let (_, phone) = activated(&server, "alice@example.com").await;
    let started = Instant::now();
    let (status, body) = phone.events(0, 1).await;
    assert_eq!((status, &body), (200, &json!({ "events": [], "next": 0 })));
    assert!(started.elapsed() >= Duration::from_millis(900));
    let (status, error) = phone.events(0, 31).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("bad_request"))
    );
}

#[tokio::test]
async fn pin_pending_key_resumes_to_pending() {
    let server = Server::start();
    let (alice, code) = server.user_with_key("alice@example.com", true).await;
    let pin = server.latest_pin("alice@example.com").await;
    let mut phone = Phone::new(&server);
    assert_eq!(phone.redeem(&code).await.0, 200);
    server
        .post(&format!("/admin/users/{alice}/suspend"), json!({}))
        .await;
    let (status, error) = phone.submit_pin(&pin).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("not_pending"))
    );
    let (_, user) = server
        .post(&format!("/admin/users/{alice}/resume"), json!({}))
        .await;
    assert_eq!(user["key"]["status"], "pending");
    assert_eq!(phone.submit_pin(&pin).await.0, 200);
    let (_, events) = phone.events(0, 0).await;
    let statuses: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["suspended", "pending", "active"]);

    let (status, error) = server
        .post(&format!("/admin/users/{alice}/resume"), json!({}))
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("invalid_state"))
    );
}

#[tokio::test]
async fn revocation_ack_is_recorded() {
    let server = Server::start();
    let (alice, phone) = activated(&server, "alice@example.com").await;
    let (status, error) = phone.revocation_ack().await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("not_revoked"))
    );

    let (ok, _, _) = server.cli(&["revoke", "alice@example.com"]);
    assert!(ok);
    let key = server.user("alice@example.com").await["key"].clone();
    assert_eq!(
        (
            key["status"].as_str(),
            key["revocation_acknowledged"].as_bool()
        ),
        (Some("revoked"), Some(false))
    );

    let (status, body) = phone.revocation_ack().await;
    assert_eq!((status, body), (200, json!({})));
    assert_eq!(phone.revocation_ack().await.0, 200, "idempotent");
    let key = server.user("alice@example.com").await["key"].clone();
    assert_eq!(key["revocation_acknowledged"], true);

    let (_, out, _) = server.cli(&["users"]);
    let line = out.lines().find(|l| l.starts_with("alice@")).unwrap();
    assert!(
        line.contains("revoked") && line.trim_end().ends_with("yes"),
        "{out}"
    );
    let (_, jobs) = server
        .get(&format!("/admin/users/{alice}/binding-jobs"))
        .await;
    assert_eq!(jobs[0]["status"], "revoked");
}

#[tokio::test]
async fn deleted_users_phone_still_sees_the_revocation() {
    let server = Server::start();
    let (alice, phone) = activated(&server, "alice@example.com").await;
    let poll = phone.events(0, 30);
    let delete = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.delete(&format!("/admin/users/{alice}")).await
    };
    let ((status, body), deleted) = tokio::join!(poll, delete);
    assert_eq!(deleted, 204);
    assert_eq!(status, 200);
    assert_eq!(body["events"][0]["status"], "revoked");
    let (status, body) = phone.status().await;
    assert_eq!((status, body["status"].as_str()), (200, Some("revoked")));
    assert_eq!(phone.revocation_ack().await.0, 200);
    let (_, users) = server.get("/admin/users").await;
    assert_eq!(users, json!([]));
}
