//! An in-process [`Link`]: two ends joined by bounded queues. For tests of everything above
//! the transport (sessions, the link service) and for embedding the core in a test harness.
//!
//! Invariants: messages arrive whole and in order; closing either end makes both ends' later
//! calls fail with `Closed` once the queued messages are read.

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc};

use super::transport::{Link, LinkError, MAX_LINK_MESSAGE};

/// Messages one direction may hold before `send` waits.
const DEPTH: usize = 64;

/// One end of an in-process link.
pub struct MemoryLink {
    tx: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    rx: Mutex<mpsc::Receiver<Vec<u8>>>,
}

/// Two joined ends.
pub fn memory_pair() -> (MemoryLink, MemoryLink) {
    let (a_tx, b_rx) = mpsc::channel(DEPTH);
    let (b_tx, a_rx) = mpsc::channel(DEPTH);
    (
        MemoryLink {
            tx: Mutex::new(Some(a_tx)),
            rx: Mutex::new(a_rx),
        },
        MemoryLink {
            tx: Mutex::new(Some(b_tx)),
            rx: Mutex::new(b_rx),
        },
    )
}

fn closed() -> LinkError {
    LinkError::Closed("the other end closed the in-process link".into())
}

#[async_trait]
impl Link for MemoryLink {
    async fn send(&self, message: &[u8]) -> Result<(), LinkError> {
        if message.is_empty() || message.len() > MAX_LINK_MESSAGE {
            return Err(LinkError::TooLong(message.len()));
        }
        let tx = self.tx.lock().await;
        let tx = tx.as_ref().ok_or_else(closed)?;
        tx.send(message.to_vec()).await.map_err(|_| closed())
    }

    async fn recv(&self) -> Result<Vec<u8>, LinkError> {
        self.rx.lock().await.recv().await.ok_or_else(closed)
    }

    async fn close(&self) {
        self.tx.lock().await.take();
        self.rx.lock().await.close();
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
