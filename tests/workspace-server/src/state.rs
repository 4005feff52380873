//! The workspace's whole state behind one `Mutex`: the workspace identity and its
//! grant-signing key, users (and SCIM groups, written through to `store`'s SQLite), assignments (with indexes by activation code and security key
//! id), on-behalf-registration grants with their receipts, the outbox and the armed faults.
//! Admin operations live here; phone operations in `activation` (and `record_receipt` here).
//!
//! Invariants: users keep creation order; `User::current` is the user's newest assignment;
//! assignments are only appended, so indexes stay valid forever; emails are unique
//! (compared lower-cased). The lock is never held across an `.await`. Grants are only
//! appended too; suspending, revoking or deleting stops the key's running grant.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use axum::http::StatusCode;
use p256::ecdsa::SigningKey;
use serde::Serialize;

use authenticator_core::obr::Receipt;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::assignment::{
    Assignment, BindingJobView, EventKind, KeyStatus, KeyView, NewAssignment, UserRef,
};
use crate::error::{ApiError, parse_json};
use crate::faults::{Faults, GrantFault};
use crate::obr::{
    self, GRANT_ID_LEN, GrantFields, GrantStatus, GrantView, IssuedGrant, PasskeyView, StartRequest,
};
use crate::outbox::{self, ActivationLinks, Email, Recipient};
use crate::random;
use crate::store::{GroupRow, Store, UserRow};

pub const DEFAULT_GROUP: &str = "Everyone";
const MAX_TEXT: usize = 200;

pub struct WorkspaceConfig {
    pub name: String,
    pub relay_url: String,
    /// `http://127.0.0.1:PORT`, the host activation links point at.
    pub base_url: String,
    pub link_ttl_ms: u64,
}

pub struct Workspace {
    pub id: String,
    pub config: WorkspaceConfig,
    /// Signs on-behalf-registration grants (DESIGN §8); phones pin its public key at redeem.
    pub grant_key: SigningKey,
}

pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub groups: Vec<String>,
    pub current: Option<usize>,
    /// Where the user came from and what the directory said about them (SCIM).
    pub directory: Directory,
}

/// A user's directory fields: `source` is `admin`, `csv` or `scim`.
#[derive(Debug, Clone)]
pub struct Directory {
    pub source: &'static str,
    pub external_id: Option<String>,
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub formatted: Option<String>,
    pub email_type: Option<String>,
    pub email_primary: Option<bool>,
    pub active: bool,
    pub created_ms: u64,
    pub modified_ms: u64,
}

pub fn source_name(text: &str) -> &'static str {
    match text {
        "csv" => "csv",
        "scim" => "scim",
        _ => "admin",
    }
}

impl User {
    pub fn row(&self) -> UserRow {
        let d = &self.directory;
        UserRow {
            id: self.id.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            groups: self.groups.clone(),
            source: d.source.to_owned(),
            external_id: d.external_id.clone(),
            user_name: d.user_name.clone(),
            given_name: d.given_name.clone(),
            family_name: d.family_name.clone(),
            formatted: d.formatted.clone(),
            email_type: d.email_type.clone(),
            email_primary: d.email_primary,
            active: d.active,
            created_ms: d.created_ms,
            modified_ms: d.modified_ms,
        }
    }

    fn from_row(row: UserRow) -> Self {
        Self {
            directory: Directory {
                source: source_name(&row.source),
                external_id: row.external_id,
                user_name: row.user_name,
                given_name: row.given_name,
                family_name: row.family_name,
                formatted: row.formatted,
                email_type: row.email_type,
                email_primary: row.email_primary,
                active: row.active,
                created_ms: row.created_ms,
                modified_ms: row.modified_ms,
            },
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            groups: row.groups,
            current: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub groups: Vec<String>,
    pub key: Option<KeyView>,
    /// `admin`, `csv` or `scim`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub active: bool,
}

pub struct State {
    pub workspace: Workspace,
    pub store: Store,
    pub users: Vec<User>,
    /// SCIM groups (`scim_state`), in creation order.
    pub scim_groups: Vec<GroupRow>,
    assignments: Vec<Assignment>,
    pub by_code: HashMap<String, usize>,
    pub by_key_id: HashMap<String, usize>,
    outbox: Vec<Email>,
    pub faults: Faults,
    grants: Vec<IssuedGrant>,
    by_grant_id: HashMap<[u8; GRANT_ID_LEN], usize>,
}

/// `POST /admin/users/{id}/obr` answer.
#[derive(Debug, Serialize)]
pub struct ObrStarted {
    pub grant_id: String,
    pub grant: String,
    pub expires_at: String,
    pub security_key_id: String,
    pub device_public_key: String,
    /// The phone's static key in the OBR handshake (its OBR key, not the device key).
    pub obr_public_key: String,
}

/// What handlers share.
pub struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub fn new(state: State) -> Self {
        Self {
            state: Mutex::new(state),
        }
    }

    /// A panic while locked leaves the state as the panicking handler left it; every update
    /// is a few field writes, so carrying on beats taking the whole emulator down.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// A workspace whose users and groups are the ones `store` holds.
    pub fn new(config: WorkspaceConfig, store: Store) -> Result<Self, ApiError> {
        let users = store.users()?.into_iter().map(User::from_row).collect();
        let scim_groups = store.groups()?;
        Ok(Self {
            workspace: Workspace {
                id: random::id("ws_")?,
                config,
                grant_key: new_signing_key()?,
            },
            store,
            users,
            scim_groups,
            assignments: Vec::new(),
            by_code: HashMap::new(),
            by_key_id: HashMap::new(),
            outbox: Vec::new(),
            faults: Faults::default(),
            grants: Vec::new(),
            by_grant_id: HashMap::new(),
        })
    }

    pub fn assignment(&self, index: usize) -> Option<&Assignment> {
        self.assignments.get(index)
    }

    pub fn assignment_mut(&mut self, index: usize) -> Option<&mut Assignment> {
        self.assignments.get_mut(index)
    }

    pub fn user_index(&self, id: &str) -> Result<usize, ApiError> {
        self.users
            .iter()
            .position(|u| u.id == id)
            .ok_or_else(ApiError::unknown_user)
    }

    pub fn view(&self, user: &User) -> UserView {
        UserView {
            id: user.id.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            groups: user.groups.clone(),
            key: user
                .current
                .and_then(|i| self.assignments.get(i))
                .map(Assignment::key_view),
            source: user.directory.source,
            external_id: user.directory.external_id.clone(),
            active: user.directory.active,
        }
    }

    pub fn users(&self) -> Vec<UserView> {
        self.users.iter().map(|u| self.view(u)).collect()
    }

    pub fn add_user(
        &mut self,
        email: &str,
        display_name: &str,
        groups: &[String],
    ) -> Result<UserView, ApiError> {
        self.add_user_from(email, display_name, groups, "admin", crate::clock::now_ms())
    }

    /// `add_user` recording where the user came from (`admin`, `csv`, `scim`).
    pub fn add_user_from(
        &mut self,
        email: &str,
        display_name: &str,
        groups: &[String],
        source: &'static str,
        now_ms: u64,
    ) -> Result<UserView, ApiError> {
        let email = normalize_email(email)?;
        let display_name = display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > MAX_TEXT {
            return Err(ApiError::bad_request(format!(
                "display_name must be 1 to {MAX_TEXT} characters"
            )));
        }
        let mut clean_groups: Vec<String> = Vec::new();
        for group in groups.iter().map(|g| g.trim()) {
            if group.is_empty() || group.chars().count() > MAX_TEXT {
                return Err(ApiError::bad_request(
                    "group names must be 1 to 200 characters",
                ));
            }
            if !clean_groups.iter().any(|g| g == group) {
                clean_groups.push(group.to_owned());
            }
        }
        if clean_groups.is_empty() {
            clean_groups.push(DEFAULT_GROUP.to_owned());
        }
        if self.users.iter().any(|u| u.email == email) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "email_exists",
                format!("a user with email {email} exists"),
            ));
        }
        let user = User {
            id: random::id("usr_")?,
            directory: Directory {
                source,
                external_id: None,
                user_name: email.clone(),
                given_name: None,
                family_name: None,
                formatted: None,
                email_type: None,
                email_primary: None,
                active: true,
                created_ms: now_ms,
                modified_ms: now_ms,
            },
            email,
            display_name: display_name.to_owned(),
            groups: clean_groups,
            current: None,
        };
        self.store.save_user(&user.row())?;
        let view = self.view(&user);
        self.users.push(user);
        Ok(view)
    }

    /// Assigns a smartphone security key: a fresh code, the activation email and, with a
    /// client PIN, the PIN email. Replaces an unredeemed, locked or revoked assignment.
    pub fn assign(
        &mut self,
        user_id: &str,
        client_pin: bool,
        force_change: bool,
        now_ms: u64,
    ) -> Result<UserView, ApiError> {
        let index = self.user_index(user_id)?;
        if force_change && !client_pin {
            return Err(ApiError::bad_request("force_change needs client_pin"));
        }
        if let Some(current) = self.users[index].current {
            let replaceable = self
                .assignments
                .get(current)
                .is_none_or(Assignment::is_replaceable);
            if !replaceable {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "key_assigned",
                    "the user has an activated key; revoke it before assigning a new one",
                ));
            }
        }
        let code = loop {
            let code = random::activation_code()?;
            if !self.by_code.contains_key(&code) {
                break code;
            }
        };
        let pin = if client_pin {
            Some(random::pin_digits()?)
        } else {
            None
        };
        let pin_nonce = random::bytes::<16>()?;
        if let Some(old) = self.users[index]
            .current
            .and_then(|i| self.assignments.get_mut(i))
        {
            old.supersede(now_ms);
        }
        let user = &self.users[index];
        let assignment = Assignment::new(NewAssignment {
            user: UserRef {
                id: user.id.clone(),
                email: user.email.clone(),
                display_name: user.display_name.clone(),
            },
            client_pin: pin.clone(),
            force_change,
            pin_nonce,
            now_ms,
            ttl_ms: self.workspace.config.link_ttl_ms,
        });
        let recipient = Recipient {
            email: &user.email,
            display_name: &user.display_name,
        };
        let config = &self.workspace.config;
        let links = ActivationLinks::new(&config.base_url, &code);
        self.outbox.push(outbox::activation_email(
            &recipient,
            &config.name,
            &links,
            client_pin,
            assignment.expires_ms,
            now_ms,
        ));
        if let Some(pin) = &pin {
            self.outbox
                .push(outbox::pin_email(&recipient, &config.name, pin, now_ms));
        }
        let new_index = self.assignments.len();
        self.assignments.push(assignment);
        self.by_code.insert(code, new_index);
        self.users[index].current = Some(new_index);
        Ok(self.view(&self.users[index]))
    }

    fn current_assignment(&mut self, user_id: &str) -> Result<&mut Assignment, ApiError> {
        let index = self.user_index(user_id)?;
        self.users[index]
            .current
            .and_then(|i| self.assignments.get_mut(i))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "no_key",
                    "the user has no security key assigned",
                )
            })
    }

    pub fn suspend(&mut self, user_id: &str, now_ms: u64) -> Result<UserView, ApiError> {
        self.current_assignment(user_id)?.suspend(now_ms)?;
        self.stop_running_grants(user_id, now_ms);
        self.user_view(user_id)
    }

    pub fn resume(&mut self, user_id: &str, now_ms: u64) -> Result<UserView, ApiError> {
        self.current_assignment(user_id)?.resume(now_ms)?;
        self.user_view(user_id)
    }

    pub fn revoke(&mut self, user_id: &str, now_ms: u64) -> Result<UserView, ApiError> {
        self.current_assignment(user_id)?.revoke(now_ms);
        self.stop_running_grants(user_id, now_ms);
        self.user_view(user_id)
    }

    /// Revokes every assignment the user ever had, then forgets the user. The assignments
    /// stay so that the phone can still read "revoked" and acknowledge it.
    pub fn delete_user(&mut self, user_id: &str, now_ms: u64) -> Result<(), ApiError> {
        let index = self.user_index(user_id)?;
        for assignment in self.assignments.iter_mut().filter(|a| a.user.id == user_id) {
            assignment.revoke(now_ms);
        }
        self.stop_running_grants(user_id, now_ms);
        self.store.delete_user(user_id)?;
        for group in &mut self.scim_groups {
            if group.members.iter().any(|m| m == user_id) {
                group.members.retain(|m| m != user_id);
                self.store.save_group(group)?;
            }
        }
        self.users.remove(index);
        Ok(())
    }

    fn user_view(&self, user_id: &str) -> Result<UserView, ApiError> {
        let index = self.user_index(user_id)?;
        Ok(self.view(&self.users[index]))
    }

    /// Oldest first: one job per assignment the user has had.
    pub fn binding_jobs(&self, user_id: &str) -> Result<Vec<BindingJobView>, ApiError> {
        self.user_index(user_id)?;
        Ok(self
            .assignments
            .iter()
            .filter(|a| a.user.id == user_id)
            .map(Assignment::binding_job)
            .collect())
    }

    /// Starts on-behalf registration for the user's current key (contract, "OBR"): checks,
    /// issues and signs the grant, queues the phone's `obr_request` event.
    pub fn start_obr(
        &mut self,
        user_id: &str,
        request: StartRequest,
        now_ms: u64,
    ) -> Result<ObrStarted, ApiError> {
        let start = request.validate()?;
        let user_index = self.user_index(user_id)?;
        let now_secs = now_ms / 1000;
        let assignment_index = self.users[user_index].current.ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_key",
                "the user has no security key assigned",
            )
        })?;
        let assignment = self
            .assignments
            .get(assignment_index)
            .ok_or_else(|| ApiError::internal("key index out of range"))?;
        let Some(device) = &assignment.device else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "key_not_active",
                "the user's security key is not activated yet; OBR needs an active key",
            ));
        };
        if assignment.status() != KeyStatus::Active {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "key_not_active",
                format!(
                    "the user's security key is {}; OBR needs an active key",
                    assignment.status().as_str()
                ),
            ));
        }
        if let Some(running) = self
            .grants
            .iter()
            .find(|g| g.user_id == user_id && g.status(now_secs) == GrantStatus::Running)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "obr_running",
                format!(
                    "OBR is already running for this user (grant {}); stop it first",
                    running.grant_id_text()
                ),
            ));
        }
        let Some(obr_key) = device.obr_public_key_sec1.clone() else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no_obr_key",
                "the user's phone has not told its OBR key yet (it does at its next events \
                 poll); try again shortly",
            ));
        };
        let fault = self.faults.take_grant_fault();
        let workspace = &self.workspace;
        if !obr::is_display_text(&workspace.config.name, 128) {
            return Err(ApiError::internal(
                "the workspace name is not 1 to 128 bytes without control characters, so it \
                 cannot go in a grant (serve --name)",
            ));
        }
        let grant_id = loop {
            let id = random::bytes::<GRANT_ID_LEN>()?;
            if !self.by_grant_id.contains_key(&id) {
                break id;
            }
        };
        let grant = obr::build_grant(
            &start,
            GrantFields {
                grant_id,
                now_secs,
                workspace_id: &workspace.id,
                workspace_name: &workspace.config.name,
                security_key_id: &device.security_key_id,
            },
        );
        let bytes = grant.sign(&workspace.grant_key);
        // What the phone's event carries: the grant, or what an armed test fault makes of it.
        let (delivered_id, delivered) = match fault {
            None => (grant_id, bytes.clone()),
            Some(GrantFault::ForgeSignature) => {
                let mut forged = bytes.clone();
                // The last byte of a COSE_Sign1 is the signature's last byte.
                if let Some(last) = forged.last_mut() {
                    *last ^= 0x01;
                }
                (grant_id, forged)
            }
            Some(GrantFault::OtherKey) => {
                let mut other = grant.clone();
                other.security_key_id = random::id("sk_")?;
                (grant_id, other.sign(&workspace.grant_key))
            }
            Some(GrantFault::Expired) => {
                let mut old = grant.clone();
                old.issued_at = now_secs.saturating_sub(1200);
                old.expires_at = now_secs.saturating_sub(600);
                (grant_id, old.sign(&workspace.grant_key))
            }
            Some(GrantFault::Replay) => self
                .grants
                .iter()
                .rev()
                .find(|g| g.assignment == assignment_index)
                .map_or_else(
                    || (grant_id, bytes.clone()),
                    |previous| (previous.delivered_id, previous.delivered.clone()),
                ),
        };
        let started = ObrStarted {
            grant_id: B64.encode(grant_id),
            grant: B64.encode(&bytes),
            expires_at: crate::clock::rfc3339(grant.expires_at.saturating_mul(1000)),
            security_key_id: device.security_key_id.clone(),
            device_public_key: B64.encode(&device.public_key_sec1),
            obr_public_key: B64.encode(&obr_key),
        };
        let event = EventKind::ObrRequest {
            grant_id: B64.encode(delivered_id),
            grant: B64.encode(&delivered),
            relay_url: start.relay_url.clone(),
            admin_door: B64.encode(start.admin_door),
            admin_name: start.admin_name.clone(),
            expires_at: grant.expires_at,
        };
        let user = &self.users[user_index];
        let issued = IssuedGrant {
            grant,
            bytes,
            assignment: assignment_index,
            user_id: user.id.clone(),
            user_email: user.email.clone(),
            relay_url: start.relay_url,
            admin_door: start.admin_door,
            stopped_at: None,
            receipts: Vec::new(),
            delivered_id,
            delivered,
            refusal_code: None,
        };
        if let Some(assignment) = self.assignments.get_mut(assignment_index) {
            assignment.push_event(event);
        }
        self.by_grant_id.insert(grant_id, self.grants.len());
        self.grants.push(issued);
        Ok(started)
    }

    /// Stops a grant: `running` -> `stopped` with an `obr_stopped` event; stopping a stopped
    /// grant again changes nothing; an expired or completed one is 409 `not_running`.
    pub fn stop_obr(&mut self, grant_id: &str, now_ms: u64) -> Result<GrantView, ApiError> {
        let id = obr::parse_grant_id(grant_id)?;
        let now_secs = now_ms / 1000;
        let index = *self
            .by_grant_id
            .get(&id)
            .ok_or_else(|| unknown_grant("no grant with this id"))?;
        let status = self.grants[index].status(now_secs);
        match status {
            GrantStatus::Running => self.stop_grant(index, now_secs),
            GrantStatus::Stopped => {}
            GrantStatus::Expired | GrantStatus::Completed | GrantStatus::Refused => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_running",
                    format!(
                        "the grant is {}; there is nothing to stop",
                        match status {
                            GrantStatus::Expired => "expired",
                            GrantStatus::Refused => "refused by the phone",
                            _ => "completed",
                        }
                    ),
                ));
            }
        }
        Ok(self.grants[index].view(now_secs))
    }

    fn stop_grant(&mut self, index: usize, now_secs: u64) {
        let grant = &mut self.grants[index];
        grant.stopped_at = Some(now_secs);
        let event = EventKind::ObrStopped {
            grant_id: grant.grant_id_text(),
        };
        if let Some(assignment) = self.assignments.get_mut(grant.assignment) {
            assignment.push_event(event);
        }
    }

    /// Suspension, revocation and deletion end the user's running grant.
    fn stop_running_grants(&mut self, user_id: &str, now_ms: u64) {
        let now_secs = now_ms / 1000;
        let running: Vec<usize> = (0..self.grants.len())
            .filter(|&i| {
                self.grants[i].user_id == user_id
                    && self.grants[i].status(now_secs) == GrantStatus::Running
            })
            .collect();
        for index in running {
            self.stop_grant(index, now_secs);
        }
    }

    /// Every grant issued, oldest first.
    pub fn obr_grants(&self, now_ms: u64) -> Vec<GrantView> {
        self.grants.iter().map(|g| g.view(now_ms / 1000)).collect()
    }

    /// The passkeys registered on the user's behalf, by receipt, oldest grant first and in
    /// the order the receipts arrived.
    pub fn passkeys(&self, user_id: &str) -> Result<Vec<PasskeyView>, ApiError> {
        self.user_index(user_id)?;
        Ok(self
            .grants
            .iter()
            .filter(|g| g.user_id == user_id)
            .flat_map(IssuedGrant::passkeys)
            .collect())
    }

    /// `POST /devices/{id}/obr-receipts` after the request signature checked out
    /// (`assignment` is the signing key's).
    pub fn record_receipt(
        &mut self,
        assignment: usize,
        body: &[u8],
        now_ms: u64,
    ) -> Result<serde_json::Value, ApiError> {
        #[derive(serde::Deserialize)]
        struct ReceiptBody {
            receipt: String,
        }
        let request: ReceiptBody = parse_json(body)?;
        let bytes = B64
            .decode(&request.receipt)
            .map_err(|_| ApiError::bad_request("receipt must be base64url (no padding)"))?;
        let device_key = self
            .assignments
            .get(assignment)
            .and_then(|a| a.device.as_ref())
            .map(|d| d.public_key_sec1.clone())
            .ok_or_else(|| ApiError::internal("a signed request without a device"))?;
        let receipt: Receipt = obr::verify_receipt(&bytes, &device_key)?;
        let index = self
            .by_grant_id
            .get(&receipt.grant_id)
            .copied()
            .filter(|&i| self.grants[i].assignment == assignment)
            .ok_or_else(|| {
                unknown_grant("no grant with this id was issued to this security key")
            })?;
        let grant = &mut self.grants[index];
        let registration = receipt.index;
        grant.accept(&bytes, receipt, now_ms)?;
        Ok(serde_json::json!({
            "grant_id": grant.grant_id_text(),
            "index": registration,
            "registrations": grant.receipts.len(),
            "max_registrations": grant.grant.max_registrations,
        }))
    }

    /// `POST /devices/{id}/obr-refusals` after the request signature checked out: the phone
    /// refused a grant from an `obr_request` event before connecting. A running grant becomes
    /// `refused` (and stopped); any other keeps its first outcome.
    pub fn record_refusal(
        &mut self,
        assignment: usize,
        body: &[u8],
        now_ms: u64,
    ) -> Result<(), ApiError> {
        #[derive(serde::Deserialize)]
        struct RefusalBody {
            grant_id: String,
            code: String,
        }
        let request: RefusalBody = parse_json(body)?;
        let id = obr::parse_grant_id(&request.grant_id)?;
        if !obr::is_refusal_code(&request.code) {
            return Err(ApiError::bad_request(
                "code must be 1 to 64 characters of a-z and _",
            ));
        }
        let now_secs = now_ms / 1000;
        // A running grant whose event carried this id (test fault `replay`) first, then the
        // grant with this id.
        let index = (0..self.grants.len())
            .rev()
            .find(|&i| {
                let g = &self.grants[i];
                g.assignment == assignment
                    && g.delivered_id == id
                    && g.grant.grant_id != id
                    && g.status(now_secs) == GrantStatus::Running
            })
            .or_else(|| {
                self.by_grant_id
                    .get(&id)
                    .copied()
                    .filter(|&i| self.grants[i].assignment == assignment)
            })
            .ok_or_else(|| {
                unknown_grant("no grant with this id was issued to this security key")
            })?;
        let grant = &mut self.grants[index];
        if grant.status(now_secs) == GrantStatus::Running {
            grant.stopped_at = Some(now_secs);
            grant.refusal_code = Some(request.code);
        }
        Ok(())
    }

    pub fn outbox(&self, to: Option<&str>) -> Vec<Email> {
        let to = to.map(|t| t.trim().to_lowercase());
        self.outbox
            .iter()
            .filter(|m| to.as_ref().is_none_or(|t| &m.to == t))
            .cloned()
            .collect()
    }
}

/// Trimmed and lower-cased; one `@`, non-empty parts, a dot inside the domain, no spaces.
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c == ',')
                && email.len() <= 254
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(ApiError::bad_request(format!(
            "{email:?} is not an email address"
        )))
    }
}

fn unknown_grant(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_grant", message)
}

fn new_signing_key() -> Result<SigningKey, ApiError> {
    // A random 32-byte string is a valid scalar except with negligible probability.
    loop {
        if let Ok(key) = SigningKey::from_slice(&random::bytes::<32>()?) {
            return Ok(key);
        }
    }
}
