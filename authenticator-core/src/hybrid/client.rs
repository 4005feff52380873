//! The hybrid tunnel client (CTAP 2.2 §11.5; Chromium `device/fido/cable/websocket_adapter.cc`,
//! `v2_authenticator.cc`): a WebSocket with subprotocol `fido.cable` to a tunnel server, which
//! joins the phone's `/cable/new/{tunnel id}` connection to the browser's
//! `/cable/connect/{routing id}/{tunnel id}` one and forwards binary messages between them.
//!
//! Crate: `tokio-tungstenite` with only its `handshake` feature. TCP and TLS are done here,
//! with `tokio-rustls` and the TLS configuration of the core's HTTP client (`crate::http::tls`:
//! rustls with ring, verified by `rustls-platform-verifier`, the platform's trust store, on
//! Android through the JNI start-up in `api/android.rs`); so no second trust store and no
//! bundled roots enter the shipped library. URLs are read by `crate::http::url`'s grammar. Axum's WebSocket also
//! builds on tokio-tungstenite, so the tunnel server in `tests/` shares the one implementation.
//!
//! What the phone checks, as Chromium's `WebSocketAdapter` does:
//! - `wss://` only; `ws://` only to a loopback host and only when the caller allows it (tests);
//! - the server must select the `fido.cable` subprotocol;
//! - a `/cable/new/` answer must carry exactly one `X-caBLE-Routing-ID` header of 3 bytes in
//!   hex (the browser learns it from the BLE advert);
//! - messages are binary: a text message ends the tunnel (Chromium closes it);
//! - no message over [`MAX_MESSAGE`] (Chromium's `kMaxIncomingMessageSize`, 1 MiB): a frame is
//!   refused from its length header before its payload is buffered (tungstenite's
//!   `max_frame_size`), a fragmented message once its fragments pass the limit
//!   (`max_message_size`, checked as each fragment arrives, so at most one more limited frame
//!   is held); the HTTP answer itself is limited by tungstenite (64 KiB of headers);
//! - the whole opening (TCP, TLS, HTTP upgrade) within a time limit.
//!
//! Pings are answered by tungstenite and otherwise ignored; a close frame from either side,
//! whatever its code, is [`TunnelClientError::Closed`].
//!
//! The tunnel server is not trusted: it sees only Noise ciphertext (the session's job), and
//! all it can make the phone do is wait up to the time limits, receive up to 1 MiB per
//! message, or see the tunnel fail with one of the errors below. Errors name the server's host
//! but never the URL's path, which holds the tunnel id (derived from the QR secret).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::http::{self, Url, UrlError};

/// The WebSocket subprotocol of hybrid tunnels (Chromium `kCableWebSocketProtocol`).
pub const PROTOCOL: &str = "fido.cable";
/// The header of a `/cable/new/` answer naming the tunnel's routing id (Chromium
/// `kCableRoutingIdHeader`).
pub const ROUTING_ID_HEADER: &str = "X-caBLE-Routing-ID";
/// The header of a linked browser's `/cable/contact/` request carrying its client payload
/// (Chromium `kCableClientPayloadHeader`).
#[cfg(any(test, feature = "testkit"))]
pub const CLIENT_PAYLOAD_HEADER: &str = "X-caBLE-Client-Payload";
/// The largest message either side accepts (Chromium `websocket_adapter.cc`
/// `kMaxIncomingMessageSize`, 1 << 20: "far larger than any plausible CTAP2 message").
pub const MAX_MESSAGE: usize = 1 << 20;
/// How long opening a tunnel (TCP, TLS and the HTTP upgrade) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Tunnel::close`] waits for the server to acknowledge the close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a tunnel could not be opened or used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TunnelClientError {
    #[error("tunnel URL: {0}")]
    BadUrl(String),
    #[error("tunnel server {host}: cannot connect ({reason})")]
    Connect { host: String, reason: String },
    #[error("tunnel server {host}: no answer within {} ms", .after.as_millis())]
    Timeout { host: String, after: Duration },
    #[error("tunnel server {host}: refused the tunnel (HTTP {status})")]
    Refused { host: String, status: u16 },
    #[error("tunnel server {host}: did not agree to the fido.cable subprotocol")]
    NoSubprotocol { host: String },
    #[error("tunnel server {host}: no X-caBLE-Routing-ID in its answer")]
    MissingRoutingId { host: String },
    #[error("tunnel server {host}: malformed X-caBLE-Routing-ID (must be once, 6 hex digits)")]
    BadRoutingId { host: String },
    #[error("tunnel: a text message (the tunnel carries only binary messages)")]
    TextMessage,
    #[error("tunnel: a message over {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("tunnel: protocol error ({0})")]
    Protocol(String),
    #[error("tunnel closed")]
    Closed,
}

/// The byte stream under the WebSocket: TLS over TCP, or plain TCP to a loopback test server.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One open tunnel: binary messages to and from the peer, through the server.
pub struct Tunnel {
    ws: WebSocketStream<Box<dyn Io>>,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tunnel")
    }
}

/// The phone's side: opens `/cable/new/{tunnel id}` and returns the tunnel and the routing id
/// the server assigned (to go into the BLE advert).
pub async fn open_new(
    url: &str,
    allow_insecure_loopback: bool,
) -> Result<(Tunnel, [u8; 3]), TunnelClientError> {
    open_new_within(url, allow_insecure_loopback, CONNECT_TIMEOUT).await
}

/// [`open_new`] with a chosen opening time limit.
pub async fn open_new_within(
    url: &str,
    allow_insecure_loopback: bool,
    limit: Duration,
) -> Result<(Tunnel, [u8; 3]), TunnelClientError> {
    let target = check_url(url, allow_insecure_loopback)?;
    let (tunnel, response) = open(url, &target, limit, None).await?;
    let routing_id = routing_id(&response, &target.host)?;
    Ok((tunnel, routing_id))
}

/// The phone's side of a linked browser's reconnect: holds `/cable/listen/{contact id}` (our
/// tunnel server's extension, `proto/hybrid.md`) until a browser dials the contact; the
/// server's first message is that browser's client payload, then it joins the two legs.
pub async fn open_listen(
    url: &str,
    allow_insecure_loopback: bool,
) -> Result<Tunnel, TunnelClientError> {
    let target = check_url(url, allow_insecure_loopback)?;
    Ok(open(url, &target, CONNECT_TIMEOUT, None).await?.0)
}

/// A linked browser (tests): dials `/cable/contact/{contact id}` with its client payload in
/// the `X-caBLE-Client-Payload` header.
#[cfg(any(test, feature = "testkit"))]
pub async fn contact(
    url: &str,
    client_payload_hex: &str,
    allow_insecure_loopback: bool,
) -> Result<Tunnel, TunnelClientError> {
    let target = check_url(url, allow_insecure_loopback)?;
    let header = HeaderValue::from_str(client_payload_hex)
        .map_err(|_| TunnelClientError::BadUrl("client payload is not a header value".into()))?;
    Ok(open(url, &target, CONNECT_TIMEOUT, Some((CLIENT_PAYLOAD_HEADER, header)))
        .await?
        .0)
}

/// The browser's side (tests and the demo): joins `/cable/connect/{routing id}/{tunnel id}`.
#[cfg(any(test, feature = "testkit"))]
pub async fn connect(url: &str, allow_insecure_loopback: bool) -> Result<Tunnel, TunnelClientError> {
    connect_within(url, allow_insecure_loopback, CONNECT_TIMEOUT).await
}

/// [`connect`] with a chosen opening time limit.
#[cfg(any(test, feature = "testkit"))]
pub async fn connect_within(
    url: &str,
    allow_insecure_loopback: bool,
    limit: Duration,
) -> Result<Tunnel, TunnelClientError> {
    let target = check_url(url, allow_insecure_loopback)?;
    Ok(open(url, &target, limit, None).await?.0)
}

impl Tunnel {
    /// Sends one binary message.
    pub async fn send(&mut self, message: &[u8]) -> Result<(), TunnelClientError> {
        if message.len() > MAX_MESSAGE {
            return Err(TunnelClientError::TooLarge);
        }
        self.ws
            .send(Message::binary(message.to_vec()))
            .await
            .map_err(message_error)
    }

    /// The next binary message from the peer. A text message ends the tunnel with
    /// [`TunnelClientError::TextMessage`]; pings and pongs are skipped.
    pub async fn recv(&mut self) -> Result<Vec<u8>, TunnelClientError> {
        loop {
            let Some(next) = self.ws.next().await else {
                return Err(TunnelClientError::Closed);
            };
            match next.map_err(message_error)? {
                Message::Binary(bytes) => return Ok(bytes.to_vec()),
                Message::Text(_) => {
                    // As Chromium: a text message is a broken server; end the tunnel.
                    let _ = self.ws.close(None).await;
                    return Err(TunnelClientError::TextMessage);
                }
                Message::Close(_) => return Err(TunnelClientError::Closed),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Closes the tunnel, waiting briefly for the server's acknowledgement.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if self.ws.close(None).await.is_err() {
                return;
            }
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// A checked tunnel URL's connection target.
#[derive(Debug)]
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

/// Checks a tunnel URL: `wss://`, or `ws://` to a loopback host when allowed; no user,
/// password, query or fragment. Errors never quote the path (it holds the tunnel id).
fn check_url(url: &str, allow_insecure_loopback: bool) -> Result<Target, TunnelClientError> {
    let bad = |why: &str| TunnelClientError::BadUrl(why.to_owned());
    let parsed = Url::parse(url).map_err(|e| match e {
        UrlError::Extras => bad("must not have a query, fragment, user or password"),
        UrlError::NotAUrl("no host") => bad("no host"),
        UrlError::NotAUrl(_) => bad("not a URL"),
        UrlError::NotNormal(why) => TunnelClientError::BadUrl(format!("not in normal form ({why})")),
    })?;
    let tls = match parsed.scheme {
        "wss" => true,
        "ws" if allow_insecure_loopback && parsed.is_loopback() => false,
        "ws" => {
            return Err(bad(
                "plain ws is refused (only a loopback test server may use it)",
            ));
        }
        _ => return Err(bad("the scheme must be wss")),
    };
    let port = parsed.port_or_default().ok_or_else(|| bad("no port"))?;
    Ok(Target {
        host: parsed.host.to_owned(),
        port,
        tls,
    })
}

/// The WebSocket limits: whole messages and single frames both at [`MAX_MESSAGE`], so a
/// frame's declared length is refused before its payload is read.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

type Response = tokio_tungstenite::tungstenite::handshake::client::Response;

/// An extra request header (a linked browser's client payload).
type ExtraHeader = Option<(&'static str, HeaderValue)>;

async fn open(
    url: &str,
    target: &Target,
    limit: Duration,
    extra: ExtraHeader,
) -> Result<(Tunnel, Response), TunnelClientError> {
    let host = target.host.clone();
    match tokio::time::timeout(limit, open_unbounded(url, target, extra)).await {
        Ok(result) => result,
        Err(_) => Err(TunnelClientError::Timeout { host, after: limit }),
    }
}

async fn open_unbounded(
    url: &str,
    target: &Target,
    extra: ExtraHeader,
) -> Result<(Tunnel, Response), TunnelClientError> {
    let host = &target.host;
    let connect_error = |reason: String| TunnelClientError::Connect {
        host: host.clone(),
        reason,
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare, target.port))
        .await
        .map_err(|e| connect_error(e.kind().to_string()))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if target.tls {
        let name = rustls::pki_types::ServerName::try_from(bare.to_owned())
            .map_err(|_| connect_error("not a valid TLS server name".into()))?;
        let connector = tokio_rustls::TlsConnector::from(http::tls::config().map_err(&connect_error)?);
        Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|e| connect_error(format!("TLS: {e}")))?,
        )
    } else {
        Box::new(tcp)
    };
    let mut request = url
        .into_client_request()
        .map_err(|_| TunnelClientError::BadUrl("not a WebSocket URL".into()))?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
    if let Some((name, value)) = extra {
        request.headers_mut().insert(name, value);
    }
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
            .await
            .map_err(|e| handshake_error(e, host))?;
    // tungstenite checks that the answer names a protocol we asked for; check it is ours.
    let agreed = response
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .map(|v| v.as_bytes())
        .eq([PROTOCOL.as_bytes()]);
    if !agreed {
        return Err(TunnelClientError::NoSubprotocol { host: host.clone() });
    }
    Ok((Tunnel { ws }, response))
}

/// The routing id of a `/cable/new/` answer: exactly one header, 6 hex digits.
fn routing_id(response: &Response, host: &str) -> Result<[u8; 3], TunnelClientError> {
    let mut values = response.headers().get_all(ROUTING_ID_HEADER).iter();
    let Some(value) = values.next() else {
        return Err(TunnelClientError::MissingRoutingId {
            host: host.to_owned(),
        });
    };
    let bad = || TunnelClientError::BadRoutingId {
        host: host.to_owned(),
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let text = value.as_bytes();
    if text.len() != 6 {
        return Err(bad());
    }
    let mut id = [0u8; 3];
    for (i, pair) in text.chunks(2).enumerate() {
        let digit = |c: u8| char::from(c).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => id[i] = (h * 16 + l) as u8,
            _ => return Err(bad()),
        }
    }
    Ok(id)
}

fn handshake_error(e: WsError, host: &str) -> TunnelClientError {
    let host = host.to_owned();
    match e {
        WsError::Http(response) => TunnelClientError::Refused {
            host,
            status: response.status().as_u16(),
        },
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol | SubProtocolError::InvalidSubProtocol,
        )) => TunnelClientError::NoSubprotocol { host },
        WsError::Io(e) => TunnelClientError::Connect {
            host,
            reason: e.kind().to_string(),
        },
        // Protocol, HTTP-format and size errors name no URL, only what was wrong.
        other => TunnelClientError::Connect {
            host,
            reason: format!("WebSocket upgrade failed: {other}"),
        },
    }
}

fn message_error(e: WsError) -> TunnelClientError {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => TunnelClientError::Closed,
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => TunnelClientError::TooLarge,
        WsError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => TunnelClientError::Closed,
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => TunnelClientError::Closed,
        other => TunnelClientError::Protocol(other.to_string()),
    }
}
