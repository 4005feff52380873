//! Phase 1's phone stand-in, built from the core's test kit only (`hybrid::qr`,
//! `hybrid::keys`): it decodes the browser's QR text, opens the phone's `/cable/new/{tunnel
//! id}` connection at the tunnel server (subprotocol `fido.cable`), reads the routing id the
//! server answers with, and builds the 20-byte advert for it. It proves the chain up to the
//! tunnel: when the browser has decrypted that advert from the fake BlueZ and connected to
//! `/cable/connect/{routing id}/{tunnel id}`, its first handshake message arrives here.

use std::time::Duration;

use authenticator_core::hybrid::keys::{Eid, NONCE_LEN, QrKeys};
use authenticator_core::hybrid::qr::QrPayload;
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// The Noise KNpsk0 initiator's first message: its ephemeral P-256 key uncompressed (65
/// bytes, first byte 0x04) and the AES-GCM tag of the empty payload (16 bytes).
pub const FIRST_HANDSHAKE_LEN: usize = 65 + 16;

/// What the tunnel did next, seen from the phone's side.
#[derive(Debug)]
pub enum TunnelEvent {
    Binary(Vec<u8>),
    Closed(String),
}

pub struct StandIn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub routing_id: [u8; 3],
    pub advert: [u8; 20],
    pub qr: QrPayload,
}

impl StandIn {
    /// Scans `qr_text` and connects to the tunnel server at `base` (`ws://host:port`).
    pub async fn open(qr_text: &str, base: &str) -> Result<Self, String> {
        let qr = QrPayload::parse(qr_text).map_err(|e| format!("the browser's QR: {e}"))?;
        let keys = QrKeys::new(qr.secret);
        let url = format!("{base}/cable/new/{}", hex::encode_upper(keys.tunnel_id()));
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("request {url}: {e}"))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("fido.cable"),
        );
        let (ws, response) = connect_async(request)
            .await
            .map_err(|e| format!("connecting to {url}: {e}"))?;
        let routing_id: [u8; 3] = response
            .headers()
            .get("X-caBLE-Routing-ID")
            .and_then(|v| hex::decode(v.as_bytes()).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or("the tunnel server gave no 3-byte X-caBLE-Routing-ID")?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("random nonce: {e}"))?;
        // Server id 0 names Google's tunnel domain; the browser is pointed at the loopback
        // server instead (cable-override-tunnel), exactly as the virtual phone's --tunnel-url.
        let eid = Eid {
            nonce,
            routing_id,
            tunnel_server_id: 0,
        };
        let advert = keys.encrypt_advert(&eid);
        Ok(Self {
            ws,
            routing_id,
            advert,
            qr,
        })
    }

    /// The first binary message the tunnel relays from the browser.
    pub async fn first_message(&mut self, limit: Duration) -> Result<Vec<u8>, String> {
        match self.next_event(limit).await? {
            TunnelEvent::Binary(b) => Ok(b),
            TunnelEvent::Closed(why) => {
                Err(format!("the tunnel closed before the browser spoke: {why}"))
            }
        }
    }

    /// The next thing the tunnel does: relay a message, or close (with the server's reason).
    /// An error when nothing happens within `limit`, or for anything else.
    pub async fn next_event(&mut self, limit: Duration) -> Result<TunnelEvent, String> {
        let next = tokio::time::timeout(limit, self.ws.next())
            .await
            .map_err(|_| format!("nothing from the tunnel within {limit:?}"))?;
        match next {
            Some(Ok(Message::Binary(b))) => Ok(TunnelEvent::Binary(b.to_vec())),
            Some(Ok(Message::Close(frame))) => Ok(TunnelEvent::Closed(
                frame
                    .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                    .unwrap_or_default(),
            )),
            None => Ok(TunnelEvent::Closed("connection ended".into())),
            Some(Ok(other)) => Err(format!("unexpected tunnel message {other:?}")),
            Some(Err(e)) => Err(format!("tunnel: {e}")),
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
