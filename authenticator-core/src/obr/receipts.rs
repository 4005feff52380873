//! Receipts and refusal reports on their way to the workspace: [`ReceiptSink`], where a
//! running session sends each registration's receipt (besides the admin's tool) and the
//! refusals the workspace must learn of, and [`WorkspaceReceipts`], the sink that posts them
//! over the enrolled phone's signed workspace client.
//!
//! Invariants: a receipt is posted as signed by the session (nothing here reads or logs it);
//! transient failures are retried ([`RECEIPT_ROUNDS`] rounds of the client's own retries) and
//! `already_recorded` (a retry after a lost answer) counts as posted.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::grant::GRANT_ID_LEN;
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
