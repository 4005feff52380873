//! `run_idle_maintenance`: the work kept off the requests, for the app to run when the phone
//! is idle (after a request burst, screen off, a periodic job): the vault's WAL checkpoint
//! and its whole-file check (`vault::maintenance`), and the OBR receipts still queued for the
//! workspace (`obr::receipts::post_queued`).
//!
//! Invariants: a request that arrives meanwhile waits at most for the checkpoint (the file
//! check runs on a read connection of its own, on a blocking thread); damage found is
//! returned as `VaultUnreadable` and the file is moved aside at the next open.

use super::{Authenticator, AuthenticatorError};
use crate::obr::receipts::post_queued;
use crate::workspace::Connection;

/// What one idle run did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IdleMaintenance {
    /// Pages of the vault's write-ahead log copied into the file.
    pub checkpointed_pages: u64,
    /// The vault file was checked whole by this run (the first one after `open`).
    pub checked_vault_file: bool,
    /// Queued OBR receipts the workspace took now.
    pub receipts_posted: u32,
    /// Queued OBR receipts dropped unposted (not the app's own, or refused for good; audited).
    pub receipts_dropped: u32,
    /// OBR receipts still queued (the workspace did not answer).
    pub receipts_waiting: u32,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[uniffi::export]
impl Authenticator {
    /// Runs the work kept off the requests (see [`IdleMaintenance`]). Call it when the phone
    /// is idle; it is safe at any time (a request then waits a little longer).
    pub async fn run_idle_maintenance(&self) -> Result<IdleMaintenance, AuthenticatorError> {
        let vault = self.vault.clone();
        let timeout = self.workspace_request_timeout();
        let now = self.now();
        self.run(async move {
            let checked = vault.clone();
            let report = tokio::task::spawn_blocking(move || checked.maintain())
                .await
                .map_err(|_| AuthenticatorError::internal("the vault's upkeep stopped"))??;
            let mut done = IdleMaintenance {
                checkpointed_pages: report.checkpointed_frames,
                checked_vault_file: report.checked_whole_file,
                receipts_posted: 0,
                receipts_dropped: 0,
                receipts_waiting: 0,
            };
            let queued = vault.receipt_queue().count()?;
            if queued > 0 {
                match Connection::enrolled(&vault, timeout) {
                    Ok(connection) => {
                        let flush = post_queued(&vault, now, &connection).await;
                        done.receipts_posted = count(flush.posted);
                        done.receipts_dropped = count(flush.dropped);
                        done.receipts_waiting = count(flush.left);
                    }
                    Err(_) => done.receipts_waiting = u32::try_from(queued).unwrap_or(u32::MAX),
                }
            }
            Ok(done)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::default_options;
    use crate::platform::SoftwareKeyProtector;
    use crate::testkit::ScriptedUser;

    fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    }

    /// The hook checkpoints what the requests left in the log, checks the file once, and keeps
    /// a receipt queued while there is no workspace to post it to.
    #[test]
    fn the_idle_hook_checkpoints_checks_once_and_keeps_receipts_without_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let phone = Authenticator::open(
            dir.path().to_string_lossy().into_owned(),
            Arc::new(SoftwareKeyProtector::new(dir.path().join("device.key"))),
            ScriptedUser::approving(),
            None,
            default_options("test phone".into()),
        )
        .unwrap();
        assert!(phone.vault.wal_frames() > 0);
        phone.vault.receipt_queue().push(1, b"a receipt").unwrap();

        let first = block_on(phone.run_idle_maintenance()).unwrap();
        assert!(first.checkpointed_pages > 0);
        assert_eq!(
            (
                first.checked_vault_file,
                first.receipts_posted,
                first.receipts_waiting
            ),
            (true, 0, 1)
        );
        assert_eq!(phone.vault.wal_frames(), 0);
        assert_eq!(phone.vault.checkpoint_counts().idle, 1);

        let second = block_on(phone.run_idle_maintenance()).unwrap();
        assert_eq!(
            second,
            IdleMaintenance {
                checkpointed_pages: 0,
                checked_vault_file: false,
                receipts_posted: 0,
                receipts_dropped: 0,
                receipts_waiting: 1,
            }
        );
        assert_eq!(phone.vault.receipt_queue().count().unwrap(), 1);
    }
}
