//! Signals shared between a transport and the CTAP request it carries.
//!
//! The transport (CTAPHID, the link, `handle_ctap`) cancels a request when the client sends
//! CANCEL or goes away; the CTAP engine marks when it is waiting for the user, so the transport
//! can send "user presence needed" keepalives. Cloning shares the same signals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct RequestSignals {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    waiting_for_user: AtomicBool,
    notify: Notify,
}

impl RequestSignals {
    pub fn new() -> Self {
        Self::default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancel_wakes_a_waiter_and_is_sticky() {
        let s = RequestSignals::new();
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
}
