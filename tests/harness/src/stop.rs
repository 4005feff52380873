//! The stop request of this workspace's servers (relay, tunnel server, the pairing tool's OBR
//! mode): SIGTERM or ctrl-c (SIGINT), after which a server closes what it serves and exits 0.
//!
//! Invariant: the handlers are installed when [`stop_signal`] is called, not when its future
//! is first polled. A server calls it before printing its ready line, so a SIGTERM sent the
//! moment a test reads that line is never lost: before the handler exists, SIGTERM's default
//! action kills the process, with no clean shutdown and no exit code (the race a loaded
//! machine showed in the pairing tool's OBR test).

use std::future::Future;

/// Installs the handlers now; the future ends at the first SIGTERM or SIGINT. A handler that
/// cannot be installed leaves that signal's default action (the process ends), still an end.
pub fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let term = async {
                match terminate.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match interrupt.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = term => {}
                () = int => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
