//! The watch on silent assertions from paired PCs over the link.
//!
//! A getAssertion with `up=false` is signed without asking the user: browsers and python-fido2
//! send one to find which credential of an allowList is here before the real sign-in, so it
//! stays allowed (hmac-secret is refused without presence, see `get_assertion`). But a phone
//! reachable over a relay must not sign for a PC silently and unseen, so every *signed* silent
//! assertion that arrives over the link is counted per PC (per pairing, across its sessions)
//! and audited, and the user is told when one PC makes them at a rate no probe would.
//!
//! Threshold: more than [`THRESHOLD`] signed silent assertions from one PC within
//! [`WINDOW`]. A browser's probe is one silent assertion per sign-in (one per batch of
//! maxCredentialCountInList ids, and the batch that matches ends the probe), followed by a
//! sign-in the user sees; 20 in 10 minutes is already more sign-ins than a person makes,
//! while a PC harvesting signatures makes that many in a second. The user is told once per
//! window (a `UserEvent::SilentAssertionsFromComputer` naming the computer).
//!
//! Audit, batched to stay off the getAssertion hot path (at most three vault writes per PC per
//! window, none for the 2nd to 20th assertion): the first signed silent assertion of a window
//! (`link.silent_assertion`, with its rp id), the crossing of the threshold
//! (`link.silent_assertion_rate`), and the count not yet audited when the window closes or the
//! PC's session ends (`link.silent_assertions`). Summed, the `count` details of a PC's entries
//! are its signed silent assertions.

use std::collections::{BTreeMap, HashMap};

use tokio::time::{Duration, Instant};

use super::CtapEngine;
use crate::platform::UserEvent;
use crate::request::LinkPeer;

/// How long one counting window lasts.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Signed silent assertions one PC may make within [`WINDOW`] before the user is told.
pub const THRESHOLD: u32 = 20;

/// What the engine must write to the audit log, and whether to tell the user.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// `link.silent_assertion`: the first of a window.
    First,
    /// `link.silent_assertion_rate`: the threshold was just crossed; tell the user.
    RateExceeded { count: u32 },
    /// `link.silent_assertions`: `count` assertions not audited yet, of a window now closed
    /// or a session now ended.
    Summary { pc_name: String, count: u32 },
}

struct PcWindow {
    pc_name: String,
    started: Instant,
    count: u32,
    /// How many of `count` the audit log already accounts for.
    audited: u32,
}

impl PcWindow {
    fn summary(&mut self) -> Option<Record> {
        let unaudited = self.count - self.audited;
        self.audited = self.count;
        (unaudited > 0).then(|| Record::Summary {
            pc_name: self.pc_name.clone(),
            count: unaudited,
        })
    }
}

/// Counting windows, per PC.
#[derive(Default)]
pub struct SilentWatch {
    pcs: HashMap<Vec<u8>, PcWindow>,
}

fn pc_key(peer: &LinkPeer) -> Vec<u8> {
    match &peer.pairing_id {
        Some(id) => id.clone(),
        // A session served without a stored pairing is known by its name only.
        None => [b"name:".as_slice(), peer.pc_name.as_bytes()].concat(),
    }
}

impl SilentWatch {
    /// Counts one signed silent assertion from `peer` at `now`; returns the audit entries to
    /// write, in order.
    pub fn record(&mut self, peer: &LinkPeer, now: Instant) -> Vec<Record> {
        let mut records = Vec::new();
        // Closed windows (of any PC) are summed up and forgotten, so the map holds only PCs
        // active within the last window.
        self.pcs.retain(|_, w| {
            if now.saturating_duration_since(w.started) < WINDOW {
                return true;
            }
            records.extend(w.summary());
            false
        });
        let window = self.pcs.entry(pc_key(peer)).or_insert_with(|| PcWindow {
            pc_name: peer.pc_name.clone(),
            started: now,
            count: 0,
            audited: 0,
        });
        window.count = window.count.saturating_add(1);
        if window.count == 1 {
            window.audited = 1;
            records.push(Record::First);
        } else if window.count == THRESHOLD + 1 {
            window.audited = window.count;
            records.push(Record::RateExceeded {
                count: window.count,
            });
        }
        records
    }

    /// `peer`'s session ended: the count not audited yet, if any. The window goes on (the PC
    /// may come back within it).
    pub fn session_ended(&mut self, peer: &LinkPeer) -> Option<Record> {
        self.pcs.get_mut(&pc_key(peer))?.summary()
    }
}

/// Writes `record` about `peer`'s assertion at `rp_id` to the audit log, and tells the user
/// when the threshold was crossed. A failed audit write is logged: the assertion was already
/// made, and refusing the next ones would not undo it.
pub fn write(engine: &CtapEngine, peer: &LinkPeer, rp_id: &str, record: Record) {
    let mut details = BTreeMap::new();
    let (kind, pc_name, count) = match record {
        Record::First => {
            details.insert("rp_id".to_owned(), rp_id.to_owned());
            ("link.silent_assertion", peer.pc_name.clone(), 1)
        }
        Record::RateExceeded { count } => {
            details.insert("window_secs".to_owned(), WINDOW.as_secs().to_string());
            crate::platform::tell(
                &*engine.ui,
                UserEvent::SilentAssertionsFromComputer {
                    computer_name: peer.pc_name.clone(),
                    count,
                    window_minutes: u32::try_from(WINDOW.as_secs() / 60).unwrap_or(u32::MAX),
                },
            );
            ("link.silent_assertion_rate", peer.pc_name.clone(), count)
        }
        Record::Summary { pc_name, count } => ("link.silent_assertions", pc_name, count),
    };
    details.insert("pc".to_owned(), pc_name);
    details.insert("count".to_owned(), count.to_string());
    let now = engine.clock.now_unix_seconds();
    if let Err(e) = engine.vault.audit().append(now, kind, details) {
        tracing::warn!("audit entry {kind} not written: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str) -> LinkPeer {
        LinkPeer {
            pairing_id: Some(name.as_bytes().to_vec()),
            pc_name: name.to_owned(),
        }
    }

    #[test]
    fn audits_the_first_and_the_crossing_and_sums_up_the_rest() {
        let mut watch = SilentWatch::default();
        let t0 = Instant::now();
        let desk = peer("Desk PC");
        assert_eq!(watch.record(&desk, t0), vec![Record::First]);
        for _ in 2..=THRESHOLD {
            assert!(watch.record(&desk, t0).is_empty());
        }
        assert_eq!(
            watch.record(&desk, t0),
            vec![Record::RateExceeded {
                count: THRESHOLD + 1
            }]
        );
        // Told once per window.
        assert!(watch.record(&desk, t0).is_empty());
        // Another PC has its own window.
        assert_eq!(watch.record(&peer("Laptop"), t0), vec![Record::First]);
        assert_eq!(
            watch.session_ended(&desk),
            Some(Record::Summary {
                pc_name: "Desk PC".into(),
                count: 1
            })
        );
        assert_eq!(watch.session_ended(&desk), None);
        assert!(watch.record(&desk, t0).is_empty());
        // The next window starts afresh and the closed ones are summed up.
        let later = t0 + WINDOW;
        let records = watch.record(&desk, later);
        assert!(records.contains(&Record::Summary {
            pc_name: "Desk PC".into(),
            count: 1
        }));
        assert_eq!(records.last(), Some(&Record::First));
    }
}
