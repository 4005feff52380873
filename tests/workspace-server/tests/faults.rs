//! Fault injection (contract, "Fault injection for tests"): armed failures hit only phone
//! requests under the prefix, exactly `count` times, change no state, and can be cleared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Phone, Server};
use serde_json::json;

#[tokio::test]
async fn status_faults_fail_then_succeed() {
    let server = Server::start();
    let (_, code) = server.user_with_key("alice@example.com", false).await;
    let (status, rule) = server
        .post(
            "/admin/faults",
            json!({ "path_prefix": "/api/v1/activations", "count": 2, "kind": "status_503" }),
        )
        .await;
    assert_eq!(status, 201, "{rule}");

    let mut phone = Phone::new(&server);
    for _ in 0..2 {
        let (status, error) = phone.redeem(&code).await;
        assert_eq!(
            (status, error["error"].as_str()),
            (503, Some("unavailable"))
        );
    }
    // Admin endpoints are never affected.
    assert_eq!(server.get("/admin/users").await.0, 200);
    let (status, body) = phone.redeem(&code).await;
    assert_eq!(status, 200, "{body}");

    server
        .post(
            "/admin/faults",
            json!({ "path_prefix": "/api/v1/devices", "count": 1, "kind": "status_500" }),
        )
        .await;
    // Redeem is outside the prefix.
    assert_eq!(phone.redeem(&code).await.0, 200);
    let (status, error) = phone.status().await;
    assert_eq!((status, error["error"].as_str()), (500, Some("internal")));
    assert_eq!(phone.status().await.0, 200);
}

#[tokio::test]
async fn delay_and_clear() {
    let server = Server::start();
    let (_, code) = server.user_with_key("alice@example.com", false).await;
    server
        .post(
            "/admin/faults",
            json!({ "path_prefix": "/api/v1/", "count": 1, "kind": "delay_ms", "delay_ms": 400 }),
        )
        .await;
    let mut phone = Phone::new(&server);
    let started = Instant::now();
    assert_eq!(phone.redeem(&code).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));

    server
        .post(
            "/admin/faults",
            json!({ "path_prefix": "/api/v1/", "count": 5, "kind": "status_503" }),
        )
        .await;
    assert_eq!(phone.status().await.0, 503);
    assert_eq!(server.delete("/admin/faults").await, 204);
    assert_eq!(phone.status().await.0, 200);

    for bad in [
        json!({ "path_prefix": "/api/v1/", "count": 0, "kind": "status_503" }),
        json!({ "path_prefix": "/api/v1/", "count": 1, "kind": "delay_ms" }),
        json!({ "path_prefix": "/api/v1/", "count": 1, "kind": "teapot" }),
        json!({ "path_prefix": "api", "count": 1, "kind": "status_500" }),
    ] {
        let (status, error) = server.post("/admin/faults", bad.clone()).await;
        assert_eq!(
            (status, error["error"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
}
