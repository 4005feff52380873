//! The server forwards a message at once, even right behind another one: after the handshake
//! the phone sends its reply and the post-handshake message back to back, and with Nagle's
//! algorithm on the server's sockets the second one waited for the browser's delayed ACK
//! (~40 ms on Linux; found by `tests/bench`'s hybrid_signin bench, 35 ms per sign-in).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Server, TUNNEL_ID, recv};
use tunnel_server::Limits;

/// Far above a forwarded message's time on loopback (well under 1 ms), far below the delayed
/// ACK's 40 ms.
const GAP_LIMIT: Duration = Duration::from_millis(20);

#[tokio::test]
async fn back_to_back_messages_are_forwarded_without_waiting_for_an_ack() {
    let server = Server::start(Limits::default()).await;
    let (mut phone, mut browser) = server.pair(TUNNEL_ID).await;
    let mut gaps = Vec::new();
    for _ in 0..9 {
        // As a session: the browser speaks, the phone answers with two messages at once.
        browser.send(b"handshake").await.unwrap();
        assert_eq!(recv(&mut phone).await.unwrap(), b"handshake");
        phone.send(b"reply").await.unwrap();
        phone.send(b"post-handshake").await.unwrap();
        assert_eq!(recv(&mut browser).await.unwrap(), b"reply");
        let first = Instant::now();
        assert_eq!(recv(&mut browser).await.unwrap(), b"post-handshake");
        gaps.push(first.elapsed());
    }
    gaps.sort();
    // The median: one scheduling hiccup on a busy machine does not decide.
    assert!(
        gaps[gaps.len() / 2] < GAP_LIMIT,
        "the second message waited: {gaps:?}"
    );
    server.stop().await;
}
