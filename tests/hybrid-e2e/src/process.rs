//! Child processes of a test run: starting them, reading their output line by line, and
//! stopping them by their own pid (never by name: other people's processes share the machine).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Stops a child we started (SIGKILL to its pid) and reaps it. Safe to call twice.
pub fn stop_child(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// A loopback port free right now (the OS picks it; the caller binds it soon after). For
/// servers that take a port on their command line rather than printing the one they bound.
pub fn free_loopback_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding a port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("reading the bound port: {e}"))
}

/// Waits until something accepts TCP connections at `addr`, or the child exits, or `limit`.
pub fn wait_for_listener(
    child: &mut Child,
    addr: SocketAddr,
    limit: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status}) before listening on {addr}"));
        }
        if start.elapsed() > limit {
            return Err(format!("not listening on {addr} after {limit:?}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The lines a child prints, read on a thread so the test can wait for one with a time limit.
pub struct Lines {
    rx: Receiver<String>,
}

impl Lines {
    /// Reads `source` line by line until it ends; each line also goes to stderr with `tag`,
    /// so a failing run shows what every process said.
    pub fn spawn(source: impl Read + Send + 'static, tag: &'static str) -> Self {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                eprintln!("  [{tag}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { rx }
    }

    /// The next line, `Ok(None)` once the source ended, or an error after `limit`.
    pub fn next(&self, limit: Duration) -> Result<Option<String>, String> {
        match self.rx.recv_timeout(limit) {
            Ok(line) => Ok(Some(line)),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(format!("no line within {limit:?}")),
        }
    }
}

/// Waits for a child to exit by itself, up to `limit`; stops it if it does not.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if start.elapsed() < limit => thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                stop_child(child);
                return Err(format!("did not exit within {limit:?} (stopped)"));
            }
            Err(e) => return Err(format!("waiting: {e}")),
        }
    }
}
