//! One smartphone security-key assignment: the activation code mailed to the user, the device
//! that redeemed it, the key's status, the client-PIN check and the device's event inbox
//! (status changes, and on-behalf-registration requests and stops).
//! Its admin-side face is the user's `key` and one binding job.
//!
//! Invariants: an assignment is never deleted (a deleted user's phone must still learn that it
//! was revoked, and acknowledge it); the status changes only through `set_status`, which
//! appends a status event once a device exists, so the inbox and the status cannot disagree;
//! the PIN itself is not kept, only SHA-256(PIN), the key of the proof's HMAC.

use hmac::{Hmac, Mac};
use p256::ecdsa::VerifyingKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::clock::rfc3339;
use crate::error::ApiError;

/// Wrong client-PIN proofs that lock the activation (contract, phone endpoint 3).
pub const MAX_WRONG_PINS: u32 = 5;
/// Domain separation prefix of the client-PIN proof (contract, phone endpoint 3).
pub const PIN_PROOF_LABEL: &[u8] = b"client-pin/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Assigned and not yet activated, or activated and waiting for the client PIN.
    Pending,
    Active,
    Suspended,
    Revoked,
    /// Too many wrong client PINs: only a new assignment helps.
    Locked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Locked => "locked",
        }
    }
}

/// The user as the phone sees it.
#[derive(Debug, Clone, Serialize)]
pub struct UserRef {
    pub id: String,
    pub email: String,
    pub display_name: String,
}

/// The phone that redeemed the code.
pub struct Device {
    pub security_key_id: String,
    pub public_key: VerifyingKey,
    /// SEC1 bytes as sent, to recognise the same device on a repeated redeem.
    pub public_key_sec1: Vec<u8>,
    /// The phone's OBR key (SEC1 uncompressed): its static key in OBR sessions, handed to the
    /// admin's pairing tool. Told at redeem or later (`obr-key`); OBR needs it.
    pub obr_public_key_sec1: Option<Vec<u8>>,
    /// The first redeem answer, returned unchanged to a repeated redeem (contract: idempotent).
    pub redeem_body: serde_json::Value,
}

/// One entry of the device's event inbox (contract, phone endpoint 5): `seq` and `type`, then
/// the fields of that type.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub seq: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The key's status changed.
    Status { status: KeyStatus },
    /// An administrator started on-behalf registration for this key (`obr` module).
    ObrRequest {
        grant_id: String,
        grant: String,
        relay_url: String,
        admin_door: String,
        admin_name: String,
        /// Unix seconds, the grant's expires-at.
        expires_at: u64,
    },
    /// The administrator (or a suspension/revocation) stopped that grant.
    ObrStopped { grant_id: String },
}

#[derive(Debug, Serialize)]
pub struct KeyView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_key_id: Option<String>,
    pub status: KeyStatus,
    pub client_pin: bool,
    pub force_change: bool,
    pub revocation_acknowledged: bool,
}

#[derive(Debug, Serialize)]
pub struct BindingJobView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_key_id: Option<String>,
    pub status: &'static str,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_at: Option<String>,
}

/// What a correct or wrong PIN proof did.
pub enum PinOutcome {
    Accepted { force_change: bool },
    Wrong { attempts_left: u32 },
    Locked,
}

pub struct Assignment {
    pub user: UserRef,
    pub client_pin: bool,
    pub force_change: bool,
    /// SHA-256(PIN) when a client PIN was chosen.
    pin_key: Option<[u8; 32]>,
    pub pin_nonce: [u8; 16],
    created_ms: u64,
    pub expires_ms: u64,
    status: KeyStatus,
    /// Where `resume` returns to.
    before_suspension: KeyStatus,
    pub device: Option<Device>,
    wrong_pins: u32,
    bound_ms: Option<u64>,
    revocation_acknowledged: bool,
    events: Vec<Event>,
    /// The newest event's seq; long-polls wait on it.
    latest_seq: watch::Sender<u64>,
}

pub struct NewAssignment {
    pub user: UserRef,
    pub client_pin: Option<String>,
    pub force_change: bool,
    pub pin_nonce: [u8; 16],
    pub now_ms: u64,
    pub ttl_ms: u64,
}

impl Assignment {
    pub fn new(new: NewAssignment) -> Self {
        let pin_key = new
            .client_pin
            .as_deref()
            .map(|pin| Sha256::digest(pin.as_bytes()).into());
        Self {
            user: new.user,
            client_pin: new.client_pin.is_some(),
            force_change: new.force_change,
            pin_key,
            pin_nonce: new.pin_nonce,
            created_ms: new.now_ms,
            expires_ms: new.now_ms.saturating_add(new.ttl_ms),
            status: KeyStatus::Pending,
            before_suspension: KeyStatus::Pending,
            device: None,
            wrong_pins: 0,
            bound_ms: None,
            revocation_acknowledged: false,
            events: Vec::new(),
            latest_seq: watch::channel(0).0,
        }
    }

    pub fn status(&self) -> KeyStatus {
        self.status
    }

    pub fn security_key_id(&self) -> Option<&str> {
        self.device.as_ref().map(|d| d.security_key_id.as_str())
    }

    fn set_status(&mut self, status: KeyStatus, now_ms: u64) {
        if status == self.status {
            return;
        }
        self.status = status;
        if status == KeyStatus::Active && self.bound_ms.is_none() {
            self.bound_ms = Some(now_ms);
        }
        if self.device.is_some() {
            self.push_event(EventKind::Status { status });
        }
    }

    /// Appends to the inbox and wakes the long-polls. Only meaningful once a device exists.
    pub fn push_event(&mut self, kind: EventKind) {
        let seq = u64::try_from(self.events.len()).unwrap_or(u64::MAX - 1) + 1;
        self.events.push(Event { seq, kind });
        self.latest_seq.send_replace(seq);
    }

    /// Redeem: the device is attached; without a client PIN the key is active at once.
    pub fn attach_device(&mut self, device: Device, now_ms: u64) {
        self.device = Some(device);
        if !self.client_pin {
            self.status = KeyStatus::Active;
            self.bound_ms = Some(now_ms);
        }
    }

    /// A key that a new assignment may replace: never redeemed, locked, or revoked.
    pub fn is_replaceable(&self) -> bool {
        self.device.is_none() || matches!(self.status, KeyStatus::Locked | KeyStatus::Revoked)
    }

    /// Replaced by a new assignment: an unredeemed code stops working; a locked key stays
    /// locked so that its phone keeps telling the user why.
    pub fn supersede(&mut self, now_ms: u64) {
        if self.device.is_none() {
            self.set_status(KeyStatus::Revoked, now_ms);
        }
    }

    pub fn suspend(&mut self, now_ms: u64) -> Result<(), ApiError> {
        match (self.status, &self.device) {
            (KeyStatus::Pending | KeyStatus::Active, Some(_)) => {
                self.before_suspension = self.status;
                self.set_status(KeyStatus::Suspended, now_ms);
                Ok(())
            }
            (KeyStatus::Pending, None) => Err(ApiError::invalid_state(
                "the key is not activated yet; revoke the assignment instead",
            )),
            (other, _) => Err(ApiError::invalid_state(format!(
                "cannot suspend a {} key",
                other.as_str()
            ))),
        }
    }

    pub fn resume(&mut self, now_ms: u64) -> Result<(), ApiError> {
        if self.status != KeyStatus::Suspended {
            return Err(ApiError::invalid_state(format!(
                "the key is {}, not suspended",
                self.status.as_str()
            )));
        }
        self.set_status(self.before_suspension, now_ms);
        Ok(())
    }

    /// Idempotent: revoking a revoked key changes nothing and emits nothing.
    pub fn revoke(&mut self, now_ms: u64) {
        self.set_status(KeyStatus::Revoked, now_ms);
    }

    pub fn acknowledge_revocation(&mut self) -> Result<(), ApiError> {
        if self.status != KeyStatus::Revoked {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "not_revoked",
                format!("the key is {}, not revoked", self.status.as_str()),
            ));
        }
        self.revocation_acknowledged = true;
        Ok(())
    }

    /// Checks a client-PIN proof; wrong proofs count towards the lock even if malformed
    /// proofs (rejected earlier with 400) do not.
    pub fn check_pin_proof(&mut self, proof: &[u8], now_ms: u64) -> Result<PinOutcome, ApiError> {
        if self.status == KeyStatus::Locked {
            return Ok(PinOutcome::Locked);
        }
        let (Some(pin_key), Some(device), KeyStatus::Pending) =
            (self.pin_key, &self.device, self.status)
        else {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "not_pending",
                format!(
                    "the key is {} and not waiting for a client PIN",
                    self.status.as_str()
                ),
            ));
        };
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&pin_key)
            .map_err(|_| ApiError::internal("HMAC rejected a 32-byte key"))?;
        mac.update(PIN_PROOF_LABEL);
        mac.update(device.security_key_id.as_bytes());
        mac.update(&self.pin_nonce);
        // verify_slice compares in constant time.
        if mac.verify_slice(proof).is_ok() {
            self.set_status(KeyStatus::Active, now_ms);
            return Ok(PinOutcome::Accepted {
                force_change: self.force_change,
            });
        }
        self.wrong_pins += 1;
        if self.wrong_pins >= MAX_WRONG_PINS {
            self.set_status(KeyStatus::Locked, now_ms);
            return Ok(PinOutcome::Locked);
        }
        Ok(PinOutcome::Wrong {
            attempts_left: MAX_WRONG_PINS - self.wrong_pins,
        })
    }

    /// Events with seq > `after`, and the `next` value to pass as `after` next time.
    pub fn events_after(&self, after: u64) -> (Vec<Event>, u64) {
        let events: Vec<Event> = self
            .events
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        let next = events.last().map_or(after, |e| e.seq);
        (events, next)
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest_seq.subscribe()
    }

    pub fn key_view(&self) -> KeyView {
        KeyView {
            kind: "smartphone",
            security_key_id: self.security_key_id().map(str::to_owned),
            status: self.status,
            client_pin: self.client_pin,
            force_change: self.force_change,
            revocation_acknowledged: self.revocation_acknowledged,
        }
    }

    pub fn binding_job(&self) -> BindingJobView {
        let status = match self.status {
            KeyStatus::Locked => "locked",
            KeyStatus::Revoked => "revoked",
            _ if self.bound_ms.is_some() => "bound",
            _ => "pending",
        };
        BindingJobView {
            security_key_id: self.security_key_id().map(str::to_owned),
            status,
            created_at: rfc3339(self.created_ms),
            bound_at: self.bound_ms.map(rfc3339),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting_for_pin(pin: &str, security_key_id: &str, nonce: [u8; 16]) -> Assignment {
        let mut assignment = Assignment::new(NewAssignment {
            user: UserRef {
                id: "usr_1".into(),
                email: "a@example.com".into(),
                display_name: "A".into(),
            },
            client_pin: Some(pin.into()),
            force_change: false,
            pin_nonce: nonce,
            now_ms: 0,
            ttl_ms: 1000,
        });
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        assignment.attach_device(
            Device {
                security_key_id: security_key_id.into(),
                public_key: *key.verifying_key(),
                public_key_sec1: Vec::new(),
                obr_public_key_sec1: None,
                redeem_body: serde_json::Value::Null,
            },
            1,
        );
        assignment
    }

    /// The test vector printed in `proto/workspace-api.yaml` (client-pin operation).
    #[test]
    fn pin_proof_test_vector() {
        use base64::Engine;
        let nonce: [u8; 16] = [
            0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
            0xaa, 0xbb,
        ];
        let proof = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode("pmATsDJdXPLgad7bYae8q0qdrrxKjQy-7nEy8ejgPJE")
            .unwrap();
        let mut assignment = waiting_for_pin("390894", "sk_5c1f0e2a9b7d3e4f6a81", nonce);
        assert!(matches!(
            assignment.check_pin_proof(&proof, 2),
            Ok(PinOutcome::Accepted { .. })
        ));
        assert_eq!(assignment.status(), KeyStatus::Active);
        assert_eq!(assignment.events_after(0).0.len(), 1);

        let mut other = waiting_for_pin("390895", "sk_5c1f0e2a9b7d3e4f6a81", nonce);
        assert!(matches!(
            other.check_pin_proof(&proof, 2),
            Ok(PinOutcome::Wrong { attempts_left: 4 })
        ));
    }
}
