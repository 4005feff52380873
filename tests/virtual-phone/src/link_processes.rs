//! The demo's PC side of the link: the reference relay and the emulated pairing tool, each
//! started as a child process on a loopback port chosen at run time and killed when dropped.
//! Their stdout lines are read by a thread so the demo can wait for "paired with ...".

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::workspace_process::sibling_binary;

/// A child process and its stdout lines.
pub struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn start(command: &mut Command, what: &str) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the {what}: {e}"))?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self {
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits for a line starting with `prefix` and returns the rest of it.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        if let Some(found) = self.seen.iter().find_map(|l| l.strip_prefix(prefix)) {
            return Ok(found.to_owned());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = line.strip_prefix(prefix) {
                        return Ok(found.to_owned());
                    }
                    self.seen.push(line);
                }
                Err(_) => {
                    return Err(format!(
                        "no line starting {prefix:?} within {} s (saw {:?})",
                        timeout.as_secs(),
                        self.seen
                    ));
                }
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const START: Duration = Duration::from_secs(20);

/// `relay serve` on 127.0.0.1, port chosen at run time; returns it and its URL.
pub fn start_relay() -> Result<(Process, String), String> {
    let mut relay = Process::start(
        Command::new(sibling_binary("relay", "RELAY")?).args(["serve", "--listen", "127.0.0.1:0"]),
        "relay",
    )?;
    let url = relay.wait_for("relay listening on ", START)?;
    Ok((relay, url))
}

/// The pairing tool for the PC named `name` on `relay_url`, in `mode` (its subcommand and
/// arguments), with its CTAPHID socket on a free loopback port; returns it and that address.
fn start_tool(
    dir: &Path,
    relay_url: &str,
    name: &str,
    mode: &[&str],
    label: &str,
) -> Result<(Process, String), String> {
    let mut tool = Process::start(
        Command::new(sibling_binary("pairing-tool", "PAIRING_TOOL")?)
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--relay",
                relay_url,
                "--allow-insecure-loopback",
                "--name",
                name,
            ])
            .args(mode)
            .args(["--ctaphid", "127.0.0.1:0"]),
        label,
    )?;
    let address = tool.wait_for("ctaphid listening on ", START)?;
    Ok((tool, address))
}

/// `pairing-tool serve` for the PC named `name`; returns it, its CTAPHID address and the first
/// pairing code it shows.
pub fn start_pairing_tool(
    dir: &Path,
    relay_url: &str,
    name: &str,
) -> Result<(Process, String, String), String> {
    let (mut tool, address) = start_tool(dir, relay_url, name, &["serve"], "pairing tool")?;
    let code = tool.wait_for("qr ", START)?;
    Ok((tool, address, code))
}

/// `pairing-tool obr` for the administrator: asks the workspace at `workspace_url` for a
/// grant to register one passkey at `rp_id` for `user`; returns it, its CTAPHID address and
/// the grant id.
pub fn start_admin_tool(
    dir: &Path,
    relay_url: &str,
    workspace_url: &str,
    user: &str,
    rp_id: &str,
) -> Result<(Process, String, String), String> {
    let mode = [
        "obr",
        "--workspace",
        workspace_url,
        "--user",
        user,
        "--rp",
        rp_id,
        "--admin-name",
        "Bob (IT)",
    ];
    let (mut tool, address) = start_tool(
        dir,
        relay_url,
        "Admin's PC",
        &mode,
        "administrator's pairing tool",
    )?;
    let grant = tool.wait_for("grant ", START)?;
    Ok((tool, address, grant))
}
