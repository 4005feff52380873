//! The workspace's events (`proto/workspace-api.yaml`, notes 9 and 21), typed once: the
//! facade (`api`) reads [`WorkspaceEvent`]s and hands status changes to enrollment and grant
//! requests and stops to on-behalf registration, so nothing above matches event strings.
//!
//! Invariants: an unknown event type, or a known one whose fields cannot be used, becomes
//! [`WorkspaceEvent::Skipped`] (the contract says a phone skips what it does not know); the
//! `obr_request` fields other than `grant` are unsigned hints and are only decoded here, never
//! trusted (the grant is verified by `obr`); the wire names live in [`EventKind`] alone.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::client;
use super::state::KeyStatus;

/// A workspace grant id is 16 bytes (proto/obr-grant.md §3.1), b64url in events.
pub const GRANT_ID_LEN: usize = 16;

/// The event types this phone knows, with their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key's status changed.
    Status,
    /// An administrator asks to register passkeys on the user's behalf.
    ObrRequest,
    /// The workspace stopped a grant.
    ObrStopped,
}

impl EventKind {
    const ALL: [Self; 3] = [Self::Status, Self::ObrRequest, Self::ObrStopped];

    /// The `type` field of the event.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::ObrRequest => "obr_request",
            Self::ObrStopped => "obr_stopped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// An `obr_request`, its binary fields decoded (each `None` if absent or not base64url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObrRequest {
    /// The event's own `grant_id` (the workspace's id of the grant), if it was valid base64url
    /// of 16 bytes. Never taken from the grant bytes, which may be forged.
    pub grant_id: Option<[u8; GRANT_ID_LEN]>,
    /// The COSE_Sign1 grant: the only signed field of the event.
    pub grant: Option<Vec<u8>>,
    /// Where the admin's pairing tool waits: the relay's address ("" if absent)...
    pub relay_url: String,
    /// ...and the tool's door on it: the 16-byte relay id the tool waits on and the phone
    /// knocks on (proto/link.md §5.4).
    pub admin_door: Option<Vec<u8>>,
}

/// One event, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceEvent {
    /// The key's status changed; enrollment confirms it with a signed status fetch.
    Status(KeyStatus),
    ObrRequest(ObrRequest),
    /// The workspace stopped the grant with this id.
    ObrStopped {
        grant_id: [u8; GRANT_ID_LEN],
    },
    /// An unknown type, or a known one without usable fields.
    Skipped,
}

/// An event and its place in the key's sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub event: WorkspaceEvent,
}

/// Types the workspace's event list, in order.
pub fn parse(events: &[client::Event]) -> Vec<Event> {
    events
        .iter()
        .map(|e| Event {
            seq: e.seq,
            event: parse_one(e),
        })
        .collect()
}

fn parse_one(event: &client::Event) -> WorkspaceEvent {
    let decode = |text: &str| B64.decode(text).ok();
    match EventKind::parse(&event.kind) {
        Some(EventKind::Status) => event
            .status
            .as_deref()
            .and_then(KeyStatus::parse)
            .map_or(WorkspaceEvent::Skipped, WorkspaceEvent::Status),
        Some(EventKind::ObrRequest) => WorkspaceEvent::ObrRequest(ObrRequest {
            grant_id: event
                .grant_id
                .as_deref()
                .and_then(|g| decode(g.trim()))
                .and_then(|g| <[u8; GRANT_ID_LEN]>::try_from(g.as_slice()).ok()),
            grant: event.grant.as_deref().and_then(decode),
            relay_url: event.relay_url.clone().unwrap_or_default(),
            admin_door: event.admin_door.as_deref().and_then(decode),
        }),
        Some(EventKind::ObrStopped) => event
            .grant_id
            .as_deref()
            .and_then(decode)
            .and_then(|g| <[u8; GRANT_ID_LEN]>::try_from(g.as_slice()).ok())
            .map_or(WorkspaceEvent::Skipped, |grant_id| {
                WorkspaceEvent::ObrStopped { grant_id }
            }),
        None => WorkspaceEvent::Skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(json: serde_json::Value) -> Vec<Event> {
        let events: Vec<client::Event> = serde_json::from_value(json).unwrap();
        parse(&events)
    }

    #[test]
    fn kinds_keep_their_wire_names() {
        for (kind, name) in [
            (EventKind::Status, "status"),
            (EventKind::ObrRequest, "obr_request"),
            (EventKind::ObrStopped, "obr_stopped"),
        ] {
            assert_eq!(kind.as_str(), name);
            assert_eq!(EventKind::parse(name), Some(kind));
        }
        assert_eq!(EventKind::parse("Status"), None);
    }

    #[test]
    fn events_are_typed_once() {
        let id = B64.encode([7u8; GRANT_ID_LEN]);
        let events = wire(serde_json::json!([
            { "seq": 1, "type": "status", "status": "suspended" },
            { "seq": 2, "type": "status", "status": "sleeping" },
            { "seq": 3, "type": "obr_request", "grant_id": format!(" {id} "), "grant": "AAEC",
              "relay_url": "https://relay.example", "admin_door": "!!" },
            { "seq": 4, "type": "obr_stopped", "grant_id": id },
            { "seq": 5, "type": "obr_stopped", "grant_id": "AAEC" },
            { "seq": 6, "type": "push_token_expired" },
        ]));
        let kinds: Vec<_> = events.iter().map(|e| (e.seq, e.event.clone())).collect();
        assert_eq!(kinds[0], (1, WorkspaceEvent::Status(KeyStatus::Suspended)));
        assert_eq!(kinds[1], (2, WorkspaceEvent::Skipped));
        assert_eq!(
            kinds[2],
            (
                3,
                WorkspaceEvent::ObrRequest(ObrRequest {
                    grant_id: Some([7; GRANT_ID_LEN]),
                    grant: Some(vec![0, 1, 2]),
                    relay_url: "https://relay.example".into(),
                    admin_door: None,
                })
            )
        );
        assert_eq!(
            kinds[3],
            (
                4,
                WorkspaceEvent::ObrStopped {
                    grant_id: [7; GRANT_ID_LEN]
                }
            )
        );
        assert_eq!(kinds[4], (5, WorkspaceEvent::Skipped));
        assert_eq!(kinds[5], (6, WorkspaceEvent::Skipped));
    }
}
