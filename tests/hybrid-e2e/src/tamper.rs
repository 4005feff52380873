//! A tunnel server in bad faith, for the browser's side only: a WebSocket proxy the browser is
//! pointed at instead of the real server. It forwards `/cable/connect/...` to the real tunnel
//! server, records every binary message both ways (what a tunnel operator sees), and may flip
//! one bit of the first message the browser sends (its Noise handshake). The phone must refuse
//! a changed handshake, say so, and serve nothing; an unchanged session must show the operator
//! nothing of the request or the answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{accept_hdr_async, connect_async};

/// Which byte of the browser's handshake message (65-byte ephemeral key, 16-byte tag) the proxy
/// changes.
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    /// Forward unchanged (and record).
    Nothing,
    /// A bit of the key's x coordinate: the point is then (almost surely) off the curve.
    EphemeralKey,
    /// A bit of the AES-GCM tag: the key parses, the message does not authenticate.
    Tag,
}

/// The proxy's task and address; the task ends when dropped.
pub struct TamperingProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
    seen: Seen,
}

type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

impl TamperingProxy {
    /// Listens on a loopback port chosen by the OS, forwarding to `upstream` (`ws://...`).
    pub async fn start(upstream: String, tamper: Tamper) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("tampering proxy: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("tampering proxy: {e}"))?;
        let seen = Seen::default();
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    if let Err(e) = relay(stream, &upstream, tamper, log).await {
                        eprintln!("  [tampering proxy] {e}");
                    }
                });
            }
        });
        Ok(Self { addr, task, seen })
    }

    /// Every binary message relayed so far, both directions, as sent.
    pub fn seen(&self) -> Vec<Vec<u8>> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn base_url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

impl Drop for TamperingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// The handshake callback's error type is tungstenite's (an HTTP response), not ours.
#[allow(clippy::result_large_err)]
async fn relay(
    stream: tokio::net::TcpStream,
    upstream: &str,
    tamper: Tamper,
    seen: Seen,
) -> Result<(), String> {
    let mut path = String::new();
    let browser = accept_hdr_async(stream, |request: &Request, mut response: Response| {
        path = request.uri().path().to_owned();
        response.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("fido.cable"),
        );
        Ok(response)
    })
    .await
    .map_err(|e| format!("browser side: {e}"))?;
    let mut request = format!("{upstream}{path}")
        .into_client_request()
        .map_err(|e| format!("upstream request: {e}"))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("fido.cable"),
    );
    let (server, _) = connect_async(request)
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_server, mut from_server) = server.split();
    let up = async {
        let mut first = true;
        while let Some(Ok(message)) = from_browser.next().await {
            let message = match message {
                Message::Binary(bytes) if first => {
                    first = false;
                    let mut bytes = bytes.to_vec();
                    let at = match tamper {
                        // After the 0x04 prefix of the uncompressed point.
                        Tamper::EphemeralKey => 1,
                        Tamper::Tag => bytes.len().saturating_sub(1),
                        Tamper::Nothing => bytes.len(),
                    };
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= 0x01;
                    }
                    Message::Binary(bytes.into())
                }
                other => other,
            };
            record(&seen, &message);
            if to_server.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_server.close().await;
    };
    let down = async {
        while let Some(Ok(message)) = from_server.next().await {
            record(&seen, &message);
            if to_browser.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_browser.close().await;
    };
    tokio::join!(up, down);
    Ok(())
}

fn record(seen: &Seen, message: &Message) {
    if let (Message::Binary(bytes), Ok(mut seen)) = (message, seen.lock()) {
        seen.push(bytes.to_vec());
    }
}
