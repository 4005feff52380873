//! `virtual-phone pair CODE`, `virtual-phone paired list|remove`, and the link half of
//! `virtual-phone serve --link`: the phone's pairing with PCs and its link service, printed
//! as plain lines for people and tests.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use authenticator_core::ctap::CtapEngine;
use authenticator_core::hex::encode as hex;
use authenticator_core::link::pairing;
use authenticator_core::link::relay::RelayConfig;
use authenticator_core::link::service::{LinkEvent, LinkService};
use authenticator_core::platform::{Clock, SystemClock};
use authenticator_core::vault::Vault;
use tokio::sync::mpsc;

/// How long one relay long-poll waits; new pairings are picked up at this pace.
const POLL_WAIT: Duration = Duration::from_secs(5);

pub fn relay_config(allow_insecure_loopback: bool) -> RelayConfig {
    RelayConfig {
        allow_insecure_loopback,
        poll_wait: POLL_WAIT,
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub async fn pair(
    vault: &Vault,
    code: &str,
    allow_insecure_loopback: bool,
    name: &str,
) -> Result<(), String> {
    let now = SystemClock.now_unix_seconds();
    let pc = pairing::pair(
        vault,
        code,
        now,
        &relay_config(allow_insecure_loopback),
        name,
    )
    .await
    .map_err(|e| e.to_string())?;
    say(&format!(
        "paired with {} ({})",
        pc.name,
        hex(&pc.pairing_id)
    ));
    Ok(())
}

pub fn list(vault: &Vault) -> Result<(), String> {
    let pcs = pairing::list(vault).map_err(|e| e.to_string())?;
    say(&format!("{} paired computer(s)", pcs.len()));
    for pc in pcs {
        say(&format!(
            "{}  {}  {}  last used {}",
            hex(&pc.pairing_id),
            pc.name,
            pc.relay_url,
            pc.last_used_at
        ));
    }
    Ok(())
}

pub fn remove(vault: &Vault, id: &str) -> Result<(), String> {
    let bytes = authenticator_core::hex::decode(id)
        .ok_or_else(|| format!("{id:?} is not a pairing id (hex, from `paired list`)"))?;
    if pairing::remove(vault, &bytes).map_err(|e| e.to_string())? {
        say(&format!("removed {id}"));
        Ok(())
    } else {
        Err(format!("no paired computer has id {id}"))
    }
}

/// Runs the link service for `engine`'s vault, printing one line per event. `announce` prints
/// `link service running` first (when no CTAPHID banner comes before it).
pub async fn serve(engine: Arc<CtapEngine>, allow_insecure_loopback: bool, announce: bool) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let service = Arc::new(
        LinkService::new(
            engine.vault().clone(),
            engine.clone(),
            Arc::new(SystemClock),
            relay_config(allow_insecure_loopback),
        )
        .with_events(tx),
    );
    tokio::spawn(service.run());
    if announce {
        say("link service running");
    }
    while let Some(event) = rx.recv().await {
        say(&match event {
            LinkEvent::SessionStarted { pc, link } => format!("link: {pc} connected over {link}"),
            LinkEvent::Served {
                pc,
                command,
                status,
            } => format!("link: {pc} command 0x{command:02x} -> status 0x{status:02x}"),
            LinkEvent::SessionEnded { pc, reason } => format!("link: {pc} session ended: {reason}"),
            LinkEvent::Refused { reason } => format!("link: refused: {reason}"),
            LinkEvent::RelayTrouble { relay, reason } => {
                format!("link: relay {relay} trouble: {reason}")
            }
        });
    }
}
