//! What a transport hands the CTAP engine with each request: where it came from and the
//! signals shared while it runs.
//!
//! [`Origin`] names the peer conversation a request belongs to (a CTAPHID channel, a link
//! session of one paired PC, an on-behalf registration session, a hybrid session with a
//! browser, the app's own caller). State
//! that a request leaves for follow-up commands (getNextAssertion, credential-management
//! enumerations) belongs to its origin, and the link's silent-assertion watch counts per PC.
//! Invariants: an origin is made only by a constructor that allocates a fresh, never reused id,
//! so two conversations can never share one by accident, and clones of one origin are the same
//! origin; [`RequestSignals`] cannot be made without an origin, so no transport can call the
//! engine without saying where the request came from.
//!
//! The transport cancels a request when the client sends CANCEL or goes away; the CTAP engine
//! marks when it is waiting for the user, so the transport can send "user presence needed"
//! keepalives. Cloning shares the same signals.
//!
//! [`CtapHandler`] is the engine as the transports call it: defined here so that `ctap`
//! (which implements it) and `ctaphid`/`link` (which call it) do not depend on each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

/// The next origin id; ids start at 1 and are never reused within a process.
static NEXT_ORIGIN_ID: AtomicU64 = AtomicU64::new(1);

/// The conversation a request belongs to. Equal only to its own clones.
#[derive(Clone, Debug)]
pub struct Origin {
    id: u64,
    kind: OriginKind,
}

/// What kind of conversation an [`Origin`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginKind {
    /// One CTAPHID channel (CTAP 2.1 §11.2.4) of one transport connection.
    CtapHidChannel,
    /// One link session with a paired PC.
    LinkSession(LinkPeer),
    /// One on-behalf registration session with an administrator's client.
    OnBehalfRegistration,
    /// The app's own caller of `handle_ctap` (NFC, the app's own BLE, a test harness).
    App,
    /// One hybrid (CTAP 2.2 §11.5) session with a browser that showed a `FIDO:/` QR code.
    /// The engine answers its getInfo with the hybrid form (built-in UV, no PIN).
    Hybrid,
}

/// The paired PC on the other end of a link session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkPeer {
    /// The pairing's id in the vault; `None` for a session served without a stored pairing.
    pub pairing_id: Option<Vec<u8>>,
    /// The computer's name as the user knows it.
    pub pc_name: String,
}

impl Origin {
    fn fresh(kind: OriginKind) -> Self {
        Self {
            id: NEXT_ORIGIN_ID.fetch_add(1, Ordering::Relaxed),
            kind,
        }
    }

    /// A new CTAPHID channel.
    pub fn ctaphid_channel() -> Self {
        Self::fresh(OriginKind::CtapHidChannel)
    }

    /// A new link session with the PC of `pairing_id`, named `pc_name`.
    pub fn link_session(pairing_id: Option<&[u8]>, pc_name: &str) -> Self {
        Self::fresh(OriginKind::LinkSession(LinkPeer {
            pairing_id: pairing_id.map(<[u8]>::to_vec),
            pc_name: pc_name.to_owned(),
        }))
    }

    /// A new on-behalf registration session.
    pub fn on_behalf_registration() -> Self {
        Self::fresh(OriginKind::OnBehalfRegistration)
    }

    /// A new caller of the app's own CTAP entry point.
    pub fn app() -> Self {
        Self::fresh(OriginKind::App)
    }

    /// A new hybrid session with a browser.
    pub fn hybrid() -> Self {
        Self::fresh(OriginKind::Hybrid)
    }

    pub fn kind(&self) -> &OriginKind {
        &self.kind
    }

    /// The paired PC, when this is a link session.
    pub fn link_peer(&self) -> Option<&LinkPeer> {
        match &self.kind {
            OriginKind::LinkSession(peer) => Some(peer),
            _ => None,
        }
    }
}

impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Origin {}

impl std::hash::Hash for Origin {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

#[derive(Clone)]
pub struct RequestSignals {
    inner: Arc<Inner>,
}

struct Inner {
    origin: Origin,
    cancelled: AtomicBool,
    waiting_for_user: AtomicBool,
    notify: Notify,
}

impl RequestSignals {
    /// Signals for one request from `origin`.
    pub fn new(origin: Origin) -> Self {
        Self {
            inner: Arc::new(Inner {
                origin,
                cancelled: AtomicBool::new(false),
                waiting_for_user: AtomicBool::new(false),
                notify: Notify::new(),
            }),
        }
    }

    /// Where the request came from.
    pub fn origin(&self) -> &Origin {
        &self.inner.origin
    }

    /// Cancels the request; whoever waits in [`cancelled`](Self::cancelled) wakes up.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once the request is cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Set by the engine while it waits for the user (presence, verification, a choice).
    pub fn set_waiting_for_user(&self, waiting: bool) {
        self.inner.waiting_for_user.store(waiting, Ordering::SeqCst);
    }

    pub fn is_waiting_for_user(&self) -> bool {
        self.inner.waiting_for_user.load(Ordering::SeqCst)
    }
}

/// The CTAP engine as every transport sees it (CTAPHID, the PC link, OBR sessions). It lives
/// here, below both the engine (`ctap` implements it) and the transports (`ctaphid` and `link`
/// call it), so that neither has to know the other.
pub trait CtapHandler: Send + Sync {
    /// One CTAPHID_CBOR request (command byte + CBOR parameters); returns status byte + CBOR.
    fn handle_cbor<'a>(
        &'a self,
        request: Vec<u8>,
        signals: RequestSignals,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<u8>> + Send + 'a>>;

    /// CTAPHID_WINK: show the user which device this is.
    fn wink(&self) {}

    /// The conversation `origin` ended (its connection or session closed): state kept for its
    /// follow-up commands can go.
    fn origin_ended<'a>(
        &'a self,
        origin: &'a Origin,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        let _ = origin;
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancel_wakes_a_waiter_and_is_sticky() {
        let s = RequestSignals::new(Origin::app());
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.cancelled().await })
        };
        tokio::task::yield_now().await;
        assert!(!s.is_cancelled());
        s.cancel();
        waiter.await.unwrap();
        s.cancelled().await; // already cancelled: returns at once
        assert!(s.is_cancelled());
    }

    #[test]
    fn an_origin_equals_only_its_clones() {
        let a = Origin::ctaphid_channel();
        let b = Origin::ctaphid_channel();
        assert_eq!(a, a.clone());
        assert_ne!(a, b);
        let pc = Origin::link_session(Some(b"pairing"), "Desk PC");
        assert_ne!(pc, Origin::link_session(Some(b"pairing"), "Desk PC"));
        assert_eq!(pc.link_peer().map(|p| p.pc_name.as_str()), Some("Desk PC"));
        assert!(a.link_peer().is_none());
    }
}
