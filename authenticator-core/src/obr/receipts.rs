//! Receipts and refusal reports on their way to the workspace: [`ReceiptSink`], where a
//! running session sends each registration's receipt (besides the admin's tool) and the
//! refusals the workspace must learn of, and [`WorkspaceReceipts`], the sink that posts them
//! over the enrolled phone's signed workspace client.
//!
//! [`post_queued`] posts the receipts still in the vault's queue (`vault::ReceiptQueue`: the
//! runner queues each receipt when it is made and removes it once posted), at the workspace's
//! next successful contact (`poll_workspace`) and from the idle hook.
//!
//! Invariants: a receipt is posted as signed by the session (nothing here logs it);
//! transient failures are retried ([`RECEIPT_ROUNDS`] rounds of the client's own retries) and
//! `already_recorded` (a retry after a lost answer) counts as posted. A queued row is posted
//! only if it opens under the vault key (so the app wrote it) and verifies as a receipt
//! signed by this phone's device key now: a row written or altered by someone who can write
//! the app's files, or one from before a re-activation, is dropped and audited
//! (`obr.receipt.dropped`), never posted.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::grant::GRANT_ID_LEN;
use super::receipt::Receipt;
use super::refusals::{
    REFUSAL_REPORT_BUDGET, RefusalCode, RefusalReport, await_refusal_report, grant_id_b64,
};
use crate::vault::Vault;
use crate::workspace::Connection;

/// Receipt uploads: rounds of the workspace client's own retries, and the first pause.
const RECEIPT_ROUNDS: u32 = 4;
const RECEIPT_PAUSE: Duration = Duration::from_secs(1);

/// Where receipts go besides the admin's tool: the workspace (endpoint 7), or a test's list.
#[async_trait]
pub trait ReceiptSink: Send + Sync {
    /// Stores one receipt; `Err` with a reason once it gave up.
    async fn post(&self, receipt: Vec<u8>) -> Result<(), String>;

    /// Tells the workspace the phone refused `grant_id` with `code` before the admin's tool
    /// could be told. The default has nowhere to send it.
    async fn post_refusal(&self, grant_id: [u8; GRANT_ID_LEN], code: RefusalCode) -> RefusalReport {
        let _ = (grant_id, code);
        RefusalReport::NotSent("no workspace to report to".into())
    }
}

/// Posts receipts to the enrolled workspace, signed with the device key, retrying transient
/// failures; `already_recorded` counts as success.
pub struct WorkspaceReceipts {
    pub vault: Arc<Vault>,
    pub request_timeout: Duration,
}

#[async_trait]
impl ReceiptSink for WorkspaceReceipts {
    async fn post(&self, receipt: Vec<u8>) -> Result<(), String> {
        let mut pause = RECEIPT_PAUSE;
        let mut round = 1;
        loop {
            let posted = async {
                Connection::enrolled(&self.vault, self.request_timeout)?
                    .post_obr_receipt(&receipt)
                    .await
            };
            match posted.await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() && round < RECEIPT_ROUNDS => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    round += 1;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    async fn post_refusal(&self, grant_id: [u8; GRANT_ID_LEN], code: RefusalCode) -> RefusalReport {
        let deadline = tokio::time::Instant::now() + REFUSAL_REPORT_BUDGET;
        let id = grant_id_b64(&grant_id);
        let posted = async {
            Connection::enrolled(&self.vault, self.request_timeout)?
                .post_obr_refusal(&id, code.as_str())
                .await
        };
        await_refusal_report(deadline, posted).await
    }
}

/// What [`post_queued`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueFlush {
    /// Posted (or already held by the workspace) and removed.
    pub posted: usize,
    /// Dropped unposted: not written by the app, not a receipt of this phone's device key, or
    /// refused by the workspace for good.
    pub dropped: usize,
    /// Still queued (the workspace stopped answering).
    pub left: usize,
}

/// Posts the queued receipts, oldest first, through `connection`, one round of the client's
/// retries each; stops at the first transient failure (the workspace is gone again).
pub async fn post_queued(vault: &Vault, now: u64, connection: &Connection) -> QueueFlush {
    let mut flush = QueueFlush::default();
    let queued = match vault.receipt_queue().pending() {
        Ok(queued) => queued,
        Err(e) => {
            tracing::warn!("the queue of unsent receipts could not be read: {e}");
            return flush;
        }
    };
    let device_key = crate::workspace::state::device_key(vault)
        .ok()
        .and_then(|scalar| {
            p256::ecdsa::SigningKey::from_slice(scalar.expose())
                .ok()
                .map(|k| k.verifying_key().to_sec1_point(false).as_bytes().to_vec())
        });
    let total = queued.len();
    for (done, row) in queued.into_iter().enumerate() {
        let checked = row.receipt.map_err(|e| e.to_string()).and_then(|receipt| {
            let key = device_key
                .as_deref()
                .ok_or("this phone has no device key")?;
            Receipt::verify(&receipt, key).map_err(|e| e.to_string())?;
            Ok(receipt)
        });
        let outcome = match checked {
            Err(reason) => Err(reason),
            Ok(receipt) => match connection.post_obr_receipt(&receipt).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_retryable() => {
                    flush.left = total - done;
                    return flush;
                }
                Err(e) => Err(format!("the workspace refused it: {e}")),
            },
        };
        match &outcome {
            Ok(()) => flush.posted += 1,
            Err(reason) => {
                flush.dropped += 1;
                super::audit(
                    vault,
                    now,
                    "obr.receipt.dropped",
                    &[("queued", row.seq.to_string()), ("reason", reason.clone())],
                );
            }
        }
        if let Err(e) = vault.receipt_queue().remove(row.seq) {
            tracing::warn!("a queued receipt could not be removed: {e}");
        }
    }
    flush
}
