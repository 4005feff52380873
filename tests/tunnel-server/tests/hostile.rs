//! The core's tunnel client against hostile tunnel servers, written here on raw TCP so each
//! can break the protocol exactly one way: the client must give its named error, and never
//! buffer an oversized message (the oversized server sends only a frame header: a client that
//! waited for the payload would hang, and the test would time out).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use authenticator_core::hybrid::client::{self, MAX_MESSAGE, TunnelClientError};
use common::{Server, TUNNEL_ID, recv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tunnel_server::Limits;

const HOST: &str = "127.0.0.1";

/// Reads one HTTP request's head and returns its Sec-WebSocket-Key.
async fn read_request(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.contains("fido.cable"),
        "the client offers fido.cable: {head}"
    );
    head.lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .trim()
        .to_owned()
}

/// A one-connection server: answers the upgrade with `headers` (after the standard ones) and
/// then writes `after` raw bytes; keeps the socket open until the test ends.
async fn hostile(status: &'static str, headers: String, after: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let key = read_request(&mut s).await;
        let answer = format!(
            "HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{headers}\r\n",
            derive_accept_key(key.as_bytes())
        );
        s.write_all(answer.as_bytes()).await.unwrap();
        s.write_all(&after).await.unwrap();
        // Hold the connection; never close first.
        let mut sink = [0u8; 1024];
        while let Ok(n) = s.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    });
    format!("ws://{addr}/cable/new/{TUNNEL_ID}")
}

fn ok_headers(routing: &str) -> String {
    format!("Sec-WebSocket-Protocol: fido.cable\r\nX-caBLE-Routing-ID: {routing}\r\n")
}

async fn open(url: &str) -> Result<(client::Tunnel, [u8; 3]), TunnelClientError> {
    client::open_new_within(url, true, Duration::from_secs(10)).await
}

#[tokio::test]
async fn a_missing_routing_id_is_refused() {
    let url = hostile(
        "101 Switching Protocols",
        "Sec-WebSocket-Protocol: fido.cable\r\n".into(),
        vec![],
    )
    .await;
    assert_eq!(
        open(&url).await.unwrap_err(),
        TunnelClientError::MissingRoutingId { host: HOST.into() }
    );
}

#[tokio::test]
async fn a_malformed_routing_id_is_refused() {
    for routing in [
        "12345",
        "1234567",
        "GG0000",
        "+12345",
        "",
        "010203\r\nX-caBLE-Routing-ID: 010203",
    ] {
        let url = hostile("101 Switching Protocols", ok_headers(routing), vec![]).await;
        assert_eq!(
            open(&url).await.unwrap_err(),
            TunnelClientError::BadRoutingId { host: HOST.into() },
            "{routing:?}"
        );
    }
    // Hex in either case is a routing id.
    let url = hostile("101 Switching Protocols", ok_headers("abCDef"), vec![]).await;
    assert_eq!(open(&url).await.unwrap().1, [0xab, 0xcd, 0xef]);
}

#[tokio::test]
async fn a_server_that_does_not_agree_to_fido_cable_is_refused() {
    for headers in [
        "X-caBLE-Routing-ID: 010203\r\n".to_string(),
        "Sec-WebSocket-Protocol: other\r\nX-caBLE-Routing-ID: 010203\r\n".to_string(),
    ] {
        let url = hostile("101 Switching Protocols", headers.clone(), vec![]).await;
        assert_eq!(
            open(&url).await.unwrap_err(),
            TunnelClientError::NoSubprotocol { host: HOST.into() },
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn a_refusal_names_its_status() {
    let url = hostile("410 Gone", String::new(), vec![]).await;
    assert_eq!(
        open(&url).await.unwrap_err(),
        TunnelClientError::Refused {
            host: HOST.into(),
            status: 410
        }
    );
}

#[tokio::test]
async fn a_text_message_ends_the_tunnel() {
    // An unmasked text frame "hi", then a binary one the client must not deliver after it.
    let url = hostile(
        "101 Switching Protocols",
        ok_headers("010203"),
        vec![0x81, 2, b'h', b'i', 0x82, 1, 0],
    )
    .await;
    let (mut tunnel, _) = open(&url).await.unwrap();
    assert_eq!(recv(&mut tunnel).await, Err(TunnelClientError::TextMessage));
}

#[tokio::test]
async fn an_oversized_frame_is_refused_from_its_header() {
    // A binary frame declaring MAX_MESSAGE + 1 bytes, and no payload at all.
    let mut frame = vec![0x82, 127];
    frame.extend_from_slice(&((MAX_MESSAGE as u64) + 1).to_be_bytes());
    let url = hostile("101 Switching Protocols", ok_headers("010203"), frame).await;
    let (mut tunnel, _) = open(&url).await.unwrap();
    assert_eq!(recv(&mut tunnel).await, Err(TunnelClientError::TooLarge));
}

#[tokio::test]
async fn an_oversized_fragmented_message_is_refused() {
    // Two fragments of 600 KiB each: each frame is allowed, the message is not (refused when
    // the second frame has arrived: at most one frame, itself limited, is buffered past it).
    let half = 600 * 1024;
    let mut bytes = vec![0x02, 127];
    bytes.extend_from_slice(&(half as u64).to_be_bytes());
    bytes.extend(std::iter::repeat_n(0u8, half));
    bytes.extend_from_slice(&[0x80, 127]);
    bytes.extend_from_slice(&(half as u64).to_be_bytes());
    bytes.extend(std::iter::repeat_n(0u8, half));
    let url = hostile("101 Switching Protocols", ok_headers("010203"), bytes).await;
    let (mut tunnel, _) = open(&url).await.unwrap();
    assert_eq!(recv(&mut tunnel).await, Err(TunnelClientError::TooLarge));
}

#[tokio::test]
async fn pings_are_skipped_and_any_close_code_is_closed() {
    // A ping, a binary message, then a close with an application code.
    let url = hostile(
        "101 Switching Protocols",
        ok_headers("010203"),
        vec![0x89, 1, 9, 0x82, 2, 0xca, 0xfe, 0x88, 2, 0x0f, 0xa0],
    )
    .await;
    let (mut tunnel, routing_id) = open(&url).await.unwrap();
    assert_eq!(routing_id, [1, 2, 3]);
    assert_eq!(recv(&mut tunnel).await.unwrap(), vec![0xca, 0xfe]);
    assert_eq!(recv(&mut tunnel).await, Err(TunnelClientError::Closed));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let limit = Duration::from_millis(300);
    let url = format!("ws://{addr}/cable/new/{TUNNEL_ID}");
    let e = client::open_new_within(&url, true, limit)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        TunnelClientError::Timeout {
            host: HOST.into(),
            after: limit
        }
    );
    assert!(!e.to_string().contains(TUNNEL_ID));
    holder.abort();
}

#[tokio::test]
async fn the_client_refuses_to_send_an_oversized_message() {
    let server = Server::start(Limits::default()).await;
    let (mut phone, mut browser) = server.pair(TUNNEL_ID).await;
    assert_eq!(
        phone.send(&vec![0u8; MAX_MESSAGE + 1]).await,
        Err(TunnelClientError::TooLarge)
    );
    // Nothing was sent; the tunnel still works.
    phone.send(b"after").await.unwrap();
    assert_eq!(recv(&mut browser).await.unwrap(), b"after");
    server.stop().await;
}
