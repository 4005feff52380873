//! `virtual-phone pair CODE`, `virtual-phone paired list|remove`, and the link half of
//! `virtual-phone serve --link`: the phone's pairing with PCs and the API's link service,
//! printed as plain lines for people and tests.

use authenticator_core::api::{Authenticator, LinkObserver, LinkServiceEvent};
use authenticator_core::platform::UserInterfaceError;

use crate::phone::say;

pub async fn pair(phone: &Authenticator, code: String) -> Result<(), String> {
    let pc = phone.pair(code).await.map_err(|e| e.to_string())?;
    say(&format!("paired with {} ({})", pc.name, pc.id));
    Ok(())
}

pub fn list(phone: &Authenticator) -> Result<(), String> {
    let pcs = phone.paired_computers().map_err(|e| e.to_string())?;
    say(&format!("{} paired computer(s)", pcs.len()));
    for pc in pcs {
        say(&format!(
            "{}  {}  {}  last used {}",
            pc.id, pc.name, pc.relay_url, pc.last_used_at
        ));
    }
    Ok(())
}

pub fn remove(phone: &Authenticator, id: &str) -> Result<(), String> {
    phone
        .remove_paired_computer(id.to_owned())
        .map_err(|e| e.to_string())?;
    say(&format!("removed {id}"));
    Ok(())
}

/// Prints one line per link service event.
struct Printer;

impl LinkObserver for Printer {
    fn on_link_event(&self, event: LinkServiceEvent) -> Result<(), UserInterfaceError> {
        say(&match event {
            LinkServiceEvent::Connected {
                computer,
                transport,
            } => format!("link: {computer} connected over {transport}"),
            LinkServiceEvent::Served {
                computer,
                command,
                status,
            } => format!("link: {computer} command 0x{command:02x} -> status 0x{status:02x}"),
            LinkServiceEvent::Ended { computer, reason } => {
                format!("link: {computer} session ended: {reason}")
            }
            LinkServiceEvent::Refused { reason } => format!("link: refused: {reason}"),
            LinkServiceEvent::RelayTrouble { relay, reason } => {
                format!("link: relay {relay} trouble: {reason}")
            }
            LinkServiceEvent::BluetoothUnavailable { reason } => {
                format!("link: bluetooth unavailable: {reason}")
            }
        });
        Ok(())
    }
}

/// Starts the API's link service (relay only), printing its events. `announce` prints
/// `link service running` first (when no CTAPHID banner comes before it).
pub fn start(phone: &Authenticator, announce: bool) -> Result<(), String> {
    phone
        .start_link_service(false, Some(std::sync::Arc::new(Printer)))
        .map_err(|e| e.to_string())?;
    if announce {
        say("link service running");
    }
    Ok(())
}
