//! State-assisted reconnects through the reference server (`src/contact.rs`): a phone waiting
//! at `/cable/listen/{contact}` receives the linked browser's client payload, then the two legs
//! are joined; each refusal is the client's named error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use authenticator_core::hybrid::client::{self, Tunnel, TunnelClientError};
use common::{Server, recv};
use tunnel_server::Limits;

const CONTACT: &str = "wMDAwMDAwMDAwMDAwMDAwA";
const PAYLOAD: &str = "a301481d1d1d1d1d1d1d1d0250a0a1a2a3a4a5a6a7a8a9aaabacadaeaf03626761";

async fn listen(server: &Server, contact: &str) -> Result<Tunnel, TunnelClientError> {
    client::open_listen(
        &format!("ws://{}/cable/listen/{contact}", server.addr),
        true,
    )
    .await
}

async fn dial(server: &Server, contact: &str, payload: &str) -> Result<Tunnel, TunnelClientError> {
    client::contact(
        &format!("ws://{}/cable/contact/{contact}", server.addr),
        payload,
        true,
    )
    .await
}

fn refused(status: u16) -> TunnelClientError {
    TunnelClientError::Refused {
        host: "127.0.0.1".into(),
        status,
    }
}

#[tokio::test]
async fn the_waiting_phone_gets_the_payload_then_both_legs_are_joined() {
    let server = Server::start(Limits::default()).await;
    let mut phone = listen(&server, CONTACT).await.unwrap();
    // Let the upgrade complete before the browser dials.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut browser = dial(&server, CONTACT, PAYLOAD).await.unwrap();
    assert_eq!(recv(&mut phone).await.unwrap(), PAYLOAD.as_bytes());
    browser.send(b"handshake").await.unwrap();
    assert_eq!(recv(&mut phone).await.unwrap(), b"handshake");
    phone.send(b"reply").await.unwrap();
    assert_eq!(recv(&mut browser).await.unwrap(), b"reply");
    phone.close().await;
    assert_eq!(recv(&mut browser).await, Err(TunnelClientError::Closed));
    // The contact is free again once the tunnel ended: a second dial finds no phone.
    assert_eq!(
        dial(&server, CONTACT, PAYLOAD).await.err(),
        Some(refused(404))
    );
    server.stop().await;
}

#[tokio::test]
async fn each_bad_call_is_refused_by_status() {
    let server = Server::start(Limits::default()).await;
    // No phone waits there.
    assert_eq!(
        dial(&server, CONTACT, PAYLOAD).await.err(),
        Some(refused(404))
    );
    let _phone = listen(&server, CONTACT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A second phone at the same contact.
    assert_eq!(listen(&server, CONTACT).await.err(), Some(refused(409)));
    // Not hex, too long, or a contact id that is not base64url.
    assert_eq!(dial(&server, CONTACT, "zz").await.err(), Some(refused(400)));
    assert_eq!(
        dial(&server, CONTACT, &"a".repeat(1025)).await.err(),
        Some(refused(400))
    );
    assert_eq!(
        dial(&server, "a.b", PAYLOAD).await.err(),
        Some(refused(400))
    );
    assert_eq!(
        listen(&server, &"A".repeat(129)).await.err(),
        Some(refused(400))
    );
    // The refused calls did not take the phone: a good one still reaches it.
    assert!(dial(&server, CONTACT, PAYLOAD).await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn a_phone_nobody_calls_is_closed_after_the_browser_wait() {
    let server = Server::start(Limits {
        browser_wait: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut phone = listen(&server, CONTACT).await.unwrap();
    assert_eq!(recv(&mut phone).await, Err(TunnelClientError::Closed));
    assert_eq!(
        dial(&server, CONTACT, PAYLOAD).await.err(),
        Some(refused(404))
    );
    server.stop().await;
}
