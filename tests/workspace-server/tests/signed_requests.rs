//! Request signatures (contract, phone endpoint 2): a good signature passes; a wrong key, a
//! tampered body, a stale or future timestamp, an unknown or mismatched key id, or a missing
//! header is 401 `bad_signature`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Phone, Server, Signing, new_key};

async fn active_phone(server: &Server) -> Phone {
    let (_, code) = server.user_with_key("alice@example.com", true).await;
    let mut phone = Phone::new(server);
    assert_eq!(phone.redeem(&code).await.0, 200);
    phone
}

#[tokio::test]
async fn good_signature_is_accepted() {
    let server = Server::start_with(&["--name", "Acme Corp"]);
    let phone = active_phone(&server).await;
    let (status, body) = phone.status().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["workspace"]["name"], "Acme Corp");

    // Within the ±300 s window either way.
    for offset in [-290, 290] {
        let signing = Signing {
            timestamp_offset: offset,
            ..Signing::default()
        };
        let (status, _) = phone
            .signed_with("GET", &phone.device_path(""), None, signing)
            .await;
        assert_eq!(status, 200, "offset {offset}");
    }
    // The query string is part of what is signed.
    let (status, body) = phone.events(0, 0).await;
    assert_eq!(status, 200, "{body}");
}

async fn assert_rejected(
    phone: &Phone,
    method: &str,
    path: &str,
    body: Option<&str>,
    signing: Signing,
) {
    let (status, error) = phone.signed_with(method, path, body, signing).await;
    assert_eq!(status, 401, "{error}");
    assert_eq!(error["error"], "bad_signature");
}

#[tokio::test]
async fn bad_signatures_are_401() {
    let server = Server::start();
    let phone = active_phone(&server).await;
    let path = phone.device_path("");

    let wrong_key = Signing {
        wrong_key: Some(new_key()),
        ..Signing::default()
    };
    assert_rejected(&phone, "GET", &path, None, wrong_key).await;
    for offset in [-301, -3600, 301, 3600] {
        let stale = Signing {
            timestamp_offset: offset,
            ..Signing::default()
        };
        assert_rejected(&phone, "GET", &path, None, stale).await;
    }
    let unknown = Signing {
        key_id: Some("sk_unknown".into()),
        ..Signing::default()
    };
    assert_rejected(
        &phone,
        "GET",
        "/api/v1/devices/sk_unknown",
        None,
        unknown.clone(),
    )
    .await;
    assert_rejected(&phone, "GET", &path, None, unknown).await;

    // A body other than the signed one.
    let pin_path = phone.device_path("/client-pin");
    let tampered = Signing {
        signed_body: Some(r#"{"proof":"AAAA"}"#.into()),
        ..Signing::default()
    };
    let body = format!(r#"{{"proof":"{}"}}"#, "B".repeat(43));
    assert_rejected(&phone, "POST", &pin_path, Some(&body), tampered).await;

    // Signed for one path or query, sent to another.
    let other_query = Signing {
        signed_path: Some(format!("{path}/events?after=0&wait=0")),
        ..Signing::default()
    };
    assert_rejected(
        &phone,
        "GET",
        &format!("{path}/events?after=1&wait=0"),
        None,
        other_query,
    )
    .await;
    let other_path = Signing {
        signed_path: Some(path.clone()),
        ..Signing::default()
    };
    assert_rejected(
        &phone,
        "POST",
        &phone.device_path("/revocation-ack"),
        Some("{}"),
        other_path,
    )
    .await;

    // Missing headers.
    let response = server
        .http
        .get(format!("{}{path}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "bad_signature");

    // Rejected requests changed nothing: the PIN attempts are all still there.
    let (status, error) = phone.submit_pin("000000x").await;
    assert_eq!((status, error["attempts_left"].as_u64()), (403, Some(4)));
}
