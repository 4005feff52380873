//! The reference tunnel server against the core's tunnel client: a phone and a browser meet and
//! exchange messages unchanged; each limit; each refusal as the client's named error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use authenticator_core::hybrid::client::TunnelClientError;
use common::{Server, TUNNEL_ID, recv};
use tunnel_server::Limits;

#[tokio::test]
async fn phone_and_browser_meet_and_exchange_both_ways() {
    let server = Server::start(Limits::default()).await;
    let (mut phone, routing_id) = server.phone(TUNNEL_ID).await.unwrap();
    let mut browser = server.browser(routing_id, TUNNEL_ID).await.unwrap();
    // Forwarded unchanged, in order, both ways; sizes up to the 1 MiB default.
    let big: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 7) as u8).collect();
    browser.send(b"browser's handshake").await.unwrap();
    browser.send(&[]).await.unwrap();
    assert_eq!(recv(&mut phone).await.unwrap(), b"browser's handshake");
    assert_eq!(recv(&mut phone).await.unwrap(), b"");
    phone.send(b"phone's reply").await.unwrap();
    phone.send(&big).await.unwrap();
    assert_eq!(recv(&mut browser).await.unwrap(), b"phone's reply");
    assert_eq!(recv(&mut browser).await.unwrap(), big);
    // One side closing closes the other.
    phone.close().await;
    assert_eq!(recv(&mut browser).await, Err(TunnelClientError::Closed));
    server.stop().await;
}

#[tokio::test]
async fn lower_case_ids_and_two_tunnels_at_once() {
    let server = Server::start(Limits::default()).await;
    let other = "FFEEDDCCBBAA99887766554433221100";
    let (mut p1, mut b1) = server.pair(&TUNNEL_ID.to_lowercase()).await;
    let (mut p2, mut b2) = server.pair(other).await;
    b1.send(b"one").await.unwrap();
    b2.send(b"two").await.unwrap();
    assert_eq!(recv(&mut p2).await.unwrap(), b"two");
    assert_eq!(recv(&mut p1).await.unwrap(), b"one");
    server.stop().await;
}

#[tokio::test]
async fn the_routing_id_is_six_hex_digits_and_differs_per_tunnel() {
    let server = Server::start(Limits::default()).await;
    let mut seen = std::collections::HashSet::new();
    for i in 0..8u8 {
        let id = format!("{:02X}{}", i, &TUNNEL_ID[2..]);
        let (phone, routing_id) = server.phone(&id).await.unwrap();
        seen.insert(routing_id);
        phone.close().await;
    }
    // Random 24-bit ids: 8 draws collide with probability below 2e-6.
    assert_eq!(seen.len(), 8);
    server.stop().await;
}

#[tokio::test]
async fn refusals_have_their_statuses() {
    let server = Server::start(Limits::default()).await;
    let refused = |status| TunnelClientError::Refused {
        host: "127.0.0.1".into(),
        status,
    };
    // 404: no phone waits for this tunnel id.
    let e = server.browser([1, 2, 3], TUNNEL_ID).await.unwrap_err();
    assert_eq!(e, refused(404));
    // 409: a phone already uses the tunnel id.
    let (_phone, routing_id) = server.phone(TUNNEL_ID).await.unwrap();
    assert_eq!(server.phone(TUNNEL_ID).await.unwrap_err(), refused(409));
    // 404: the right tunnel id with the wrong routing id; the phone still waits for the right one.
    let wrong = [routing_id[0] ^ 1, routing_id[1], routing_id[2]];
    assert_eq!(
        server.browser(wrong, TUNNEL_ID).await.unwrap_err(),
        refused(404)
    );
    let _browser = server.browser(routing_id, TUNNEL_ID).await.unwrap();
    // 404: a tunnel is joined once.
    assert_eq!(
        server.browser(routing_id, TUNNEL_ID).await.unwrap_err(),
        refused(404)
    );
    // 400: malformed paths.
    for id in [
        "00112233",
        "0011223344556677889AABBCCDDEEFFG",
        &format!("{TUNNEL_ID}00"),
    ] {
        assert_eq!(server.phone(id).await.unwrap_err(), refused(400), "{id}");
    }
    let connect = |path: &str| {
        let url = format!("ws://{}{path}", server.addr);
        async move { authenticator_core::hybrid::client::connect(&url, true).await }
    };
    for path in [
        format!("/cable/connect/0102/{TUNNEL_ID}"),
        format!("/cable/connect/01020Z/{TUNNEL_ID}"),
        "/cable/connect/010203/0011".to_string(),
        "/cable/other".to_string(),
        format!("/cable/new/{TUNNEL_ID}/extra"),
    ] {
        assert_eq!(connect(&path).await.unwrap_err(), refused(400), "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_without_the_subprotocol_or_upgrade_gets_400() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start(Limits::default()).await;
    for extra in ["", "Sec-WebSocket-Protocol: other\r\n"] {
        let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET /cable/new/{TUNNEL_ID} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        );
        s.write_all(request.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 64];
        let n = s.read(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]).to_string();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    // A plain GET (no upgrade) is 400 too, and leaves the tunnel id free.
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(format!("GET /cable/new/{TUNNEL_ID} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 64];
    let n = s.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 400"));
    server.phone(TUNNEL_ID).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_tunnel_ends_at_its_lifetime() {
    let lifetime = Duration::from_millis(600);
    let server = Server::start(Limits {
        lifetime,
        ..Limits::default()
    })
    .await;
    let started = Instant::now();
    let (mut phone, mut browser) = server.pair(TUNNEL_ID).await;
    browser.send(b"in time").await.unwrap();
    assert_eq!(recv(&mut phone).await.unwrap(), b"in time");
    assert_eq!(recv(&mut phone).await, Err(TunnelClientError::Closed));
    assert_eq!(recv(&mut browser).await, Err(TunnelClientError::Closed));
    let took = started.elapsed();
    assert!(took >= lifetime && took < lifetime * 5, "{took:?}");
    // Its id is free again.
    server.phone(TUNNEL_ID).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_phone_waits_for_its_browser_only_so_long() {
    let wait = Duration::from_millis(300);
    let server = Server::start(Limits {
        browser_wait: wait,
        ..Limits::default()
    })
    .await;
    let started = Instant::now();
    let (mut phone, routing_id) = server.phone(TUNNEL_ID).await.unwrap();
    assert_eq!(recv(&mut phone).await, Err(TunnelClientError::Closed));
    assert!(started.elapsed() >= wait);
    let e = server.browser(routing_id, TUNNEL_ID).await.unwrap_err();
    assert_eq!(
        e,
        TunnelClientError::Refused {
            host: "127.0.0.1".into(),
            status: 404
        }
    );
    server.stop().await;
}

#[tokio::test]
async fn messages_per_tunnel_are_limited() {
    let server = Server::start(Limits {
        max_messages: 3,
        ..Limits::default()
    })
    .await;
    let (mut phone, mut browser) = server.pair(TUNNEL_ID).await;
    browser.send(b"1").await.unwrap();
    assert_eq!(recv(&mut phone).await.unwrap(), b"1");
    phone.send(b"2").await.unwrap();
    assert_eq!(recv(&mut browser).await.unwrap(), b"2");
    browser.send(b"3").await.unwrap();
    assert_eq!(recv(&mut phone).await.unwrap(), b"3");
    // The fourth is not forwarded; both sides are closed.
    browser.send(b"4").await.unwrap();
    assert_eq!(recv(&mut phone).await, Err(TunnelClientError::Closed));
    assert_eq!(recv(&mut browser).await, Err(TunnelClientError::Closed));
    server.stop().await;
}

#[tokio::test]
async fn message_size_is_limited() {
    let server = Server::start(Limits {
        max_message: 100,
        ..Limits::default()
    })
    .await;
    let (mut phone, mut browser) = server.pair(TUNNEL_ID).await;
    browser.send(&[7u8; 100]).await.unwrap();
    assert_eq!(recv(&mut phone).await.unwrap(), vec![7u8; 100]);
    browser.send(&[7u8; 101]).await.unwrap();
    assert_eq!(recv(&mut phone).await, Err(TunnelClientError::Closed));
    assert_eq!(recv(&mut browser).await, Err(TunnelClientError::Closed));
    server.stop().await;
}

#[tokio::test]
async fn concurrent_tunnels_are_limited() {
    let server = Server::start(Limits {
        max_tunnels: 2,
        ..Limits::default()
    })
    .await;
    let (p1, _) = server.phone("01".repeat(16).as_str()).await.unwrap();
    let (_p2, _b2) = server.pair(&"02".repeat(16)).await;
    let e = server.phone(&"03".repeat(16)).await.unwrap_err();
    assert_eq!(
        e,
        TunnelClientError::Refused {
            host: "127.0.0.1".into(),
            status: 503
        }
    );
    // A closed tunnel frees its slot.
    p1.close().await;
    let mut opened = None;
    for _ in 0..50 {
        match server.phone(&"03".repeat(16)).await {
            Ok(t) => {
                opened = Some(t);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(opened.is_some());
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_every_tunnel() {
    let server = Server::start(Limits::default()).await;
    let (mut phone, mut browser) = server.pair(TUNNEL_ID).await;
    let (mut waiting, _) = server.phone(&"AB".repeat(16)).await.unwrap();
    let started = Instant::now();
    server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(recv(&mut phone).await, Err(TunnelClientError::Closed));
    assert_eq!(recv(&mut browser).await, Err(TunnelClientError::Closed));
    assert_eq!(recv(&mut waiting).await, Err(TunnelClientError::Closed));
}
