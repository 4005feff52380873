//! The demo's PC side of the link: the reference relay and the emulated pairing tool, each
//! started as a child process on a loopback port chosen at run time and killed when dropped
//! (the harness crate's spawner). Their stdout lines are read by a thread so the demo can wait
//! for "paired with ...".

use std::path::Path;
use std::process::Command;

pub use harness::Process;
use harness::{START_TIMEOUT, Stderr, binary};

/// `relay serve` on 127.0.0.1, port chosen at run time; returns it and its URL.
pub fn start_relay() -> Result<(Process, String), String> {
    Process::start_server(
        Command::new(binary("relay", "RELAY")?).args(["serve", "--listen", "127.0.0.1:0"]),
        "relay",
        Stderr::Discard,
        "relay listening on ",
    )
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
    Process::start_server(
        Command::new(binary("pairing-tool", "PAIRING_TOOL")?)
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
        Stderr::Discard,
        "ctaphid listening on ",
    )
}

/// `pairing-tool serve` for the PC named `name`; returns it, its CTAPHID address and the first
/// pairing code it shows.
pub fn start_pairing_tool(
    dir: &Path,
    relay_url: &str,
    name: &str,
) -> Result<(Process, String, String), String> {
    let (mut tool, address) = start_tool(dir, relay_url, name, &["serve"], "pairing tool")?;
    let code = tool.wait_for("qr ", START_TIMEOUT)?;
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
    let grant = tool.wait_for("grant ", START_TIMEOUT)?;
    Ok((tool, address, grant))
}
