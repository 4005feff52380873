//! `BleLink`: the [`Link`] over one GATT connection (proto/link.md §6). `send` cuts a message
//! into fragments for the ATT MTU in force when the message starts and sends them in order;
//! `recv` feeds fragments to a `Reassembler` until a message is whole.
//!
//! Invariants: the reassembly state lives in the link, not in a `recv` future, so dropping a
//! `recv` loses nothing (the connection's `recv_fragment` is cancel-safe too). Fragments of two
//! messages never interleave: sends hold a lock for a whole message, and a send abandoned
//! half-way closes the link (the peer could only see a broken message). The first failure of
//! any kind is final: the link is closed, later calls fail with `LinkError::Closed`, and a
//! protocol error also ends the GATT connection so the peer learns at once.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::fragment::{Reassembler, fragment, fragment_len_for_mtu};
use super::gatt::{GattCentral, GattConnection, GattUuid};
use crate::link::transport::{Link, LinkError, MAX_LINK_MESSAGE};

/// A link to one pairing tool over BLE.
pub struct BleLink {
    connection: Box<dyn GattConnection>,
    /// Held for a whole message so fragments of two sends never interleave.
    sending: tokio::sync::Mutex<()>,
    receiving: tokio::sync::Mutex<Reassembler>,
    /// Why the link ended; `None` while it is open.
    closed: Mutex<Option<LinkError>>,
}

impl BleLink {
    /// A link over an open, subscribed connection.
    pub fn new(connection: Box<dyn GattConnection>) -> Self {
        Self {
            connection,
            sending: tokio::sync::Mutex::new(()),
            receiving: tokio::sync::Mutex::new(Reassembler::new()),
            closed: Mutex::new(None),
        }
    }

    /// Scans for any of `services` (e.g. `pairing_scan_uuids`) and opens a link to the first
    /// pairing tool seen.
    pub async fn connect(
        central: &dyn GattCentral,
        services: &[GattUuid],
        scan_timeout: Duration,
    ) -> Result<Self, LinkError> {
        Ok(Self::new(central.connect(services, scan_timeout).await?))
    }

    /// The service UUID the connection reached, which tells the caller which pairing (and
    /// window) answered.
    pub fn service(&self) -> GattUuid {
        self.connection.service()
    }

    /// Ok while open; the closing reason as `Closed` afterwards.
    fn check_open(&self) -> Result<(), LinkError> {
        match &*self.closed.lock().unwrap_or_else(PoisonError::into_inner) {
            None => Ok(()),
            Some(LinkError::Closed(why)) => Err(LinkError::Closed(why.clone())),
            Some(other) => Err(LinkError::Closed(format!(
                "ble: after an earlier error: {other}"
            ))),
        }
    }

    /// Records the first reason the link ended and returns `error` for the current caller.
    fn fail(&self, error: LinkError) -> LinkError {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        if closed.is_none() {
            *closed = Some(error.clone());
        }
        error
    }
}

/// Closes the link if a send is dropped before its last fragment went out.
struct SendInProgress<'a> {
    link: &'a BleLink,
    finished: bool,
}

impl Drop for SendInProgress<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.link.fail(LinkError::Closed(
                "ble: a send was abandoned part-way through a message".into(),
            ));
        }
    }
}

#[async_trait]
impl Link for BleLink {
    async fn send(&self, message: &[u8]) -> Result<(), LinkError> {
        if message.len() > MAX_LINK_MESSAGE {
            return Err(LinkError::TooLong(message.len()));
        }
        self.check_open()?;
        let _sending = self.sending.lock().await;
        self.check_open()?;
        // The MTU may have grown since the last message; each message uses the one in force
        // when it starts, so the peer never sees the length change within a message.
        let fragments = fragment(message, fragment_len_for_mtu(self.connection.att_mtu()))
            .map_err(|e| LinkError::Protocol(format!("ble: {e}")))?;
        let mut guard = SendInProgress {
            link: self,
            finished: false,
        };
        for piece in &fragments {
            if let Err(error) = self.connection.send_fragment(piece).await {
                guard.finished = true;
                return Err(self.fail(error.into()));
            }
        }
        guard.finished = true;
        Ok(())
    }

    async fn recv(&self) -> Result<Vec<u8>, LinkError> {
        self.check_open()?;
        let mut reassembler = self.receiving.lock().await;
        loop {
            let piece = match self.connection.recv_fragment().await {
                Ok(piece) => piece,
                Err(error) => {
                    self.check_open()?;
                    return Err(self.fail(error.into()));
                }
            };
            match reassembler.push(&piece) {
                Ok(Some(message)) => return Ok(message),
                Ok(None) => {}
                Err(error) => {
                    let error = self.fail(LinkError::Protocol(format!("ble: {error}")));
                    self.connection.disconnect().await;
                    return Err(error);
                }
            }
        }
    }

    async fn close(&self) {
        self.fail(LinkError::Closed("ble: closed by this side".into()));
        self.connection.disconnect().await;
    }

    fn kind(&self) -> &'static str {
        "ble"
    }
}
