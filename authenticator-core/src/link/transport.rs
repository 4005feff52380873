//! The `Link` trait: one way to move whole link messages (Noise handshake messages and
//! transport frames, proto/link.md §3–§4) between the phone and a pairing tool. The relay
//! (`relay.rs`, proto/link.md §5) and BLE (`ble/`, §6) implement it; the session layer above
//! never knows which one it has.
//!
//! Invariants: a link delivers whole messages, in order, each at most once to the caller, or
//! fails. It adds no security; the secure channel on top detects any loss, repeat, reordering
//! or change. `send` and `recv` take `&self` so one task can send keepalives while another
//! waits for a cancel; each direction is used by one task at a time.

use async_trait::async_trait;

/// Largest message a link carries (a Noise message, proto/link.md §3.2).
pub const MAX_LINK_MESSAGE: usize = 65535;

/// Why a link failed. The text never holds key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The peer or the relay closed the session; nothing more will arrive.
    #[error("the link is closed: {0}")]
    Closed(String),
    /// Nothing arrived in the time allowed.
    #[error("the link timed out: {0}")]
    Timeout(String),
    /// The network or radio failed (connection refused, disconnected, HTTP error).
    #[error("the link's transport failed: {0}")]
    Transport(String),
    /// The other end broke the link protocol (wrong sequence number, bad fragment, bad answer).
    #[error("the link's peer broke the protocol: {0}")]
    Protocol(String),
    /// A message longer than [`MAX_LINK_MESSAGE`]; nothing was sent.
    #[error("message of {0} bytes is too long for the link")]
    TooLong(usize),
}

/// A bidirectional message pipe between the phone and one pairing tool.
#[async_trait]
pub trait Link: Send + Sync {
    /// Sends one whole message; returns once the link has taken it (the relay stored it, or
    /// the last BLE fragment was written).
    async fn send(&self, message: &[u8]) -> Result<(), LinkError>;

    /// Waits for the next whole message. Cancel-safe: dropping the future loses nothing.
    async fn recv(&self) -> Result<Vec<u8>, LinkError>;

    /// Ends the link (best effort); later calls fail with [`LinkError::Closed`].
    async fn close(&self);

    /// Stops using the link on this side but leaves the connection for the peer to end: used
    /// after sending `shutdown`, so the peer can still read it (proto/link.md §5.5). Links
    /// without that distinction simply close.
    async fn detach(&self) {
        self.close().await;
    }

    /// A short label for logs and errors, e.g. "relay" or "ble".
    fn kind(&self) -> &'static str;
}
