//! SCIM resources <-> the workspace (RFC 7643 §4.1 User, §4.2 Group): what a directory
//! (Entra ID) may do to users and groups, and how it reaches the phone.
//!
//! Mapping: a SCIM User is a workspace user. Its email is the primary email, else the `work`
//! one, else the first, else `userName` when that is an address. Creating a user whose email
//! an `admin`/`csv` user already has claims that user (source becomes `scim`) instead of
//! adding a second one; `userName`, `externalId` and email are unique (409 `uniqueness`).
//! `active` false suspends the user's security key (the phone hears `suspended` on its events
//! long-poll), true resumes it; a user without an activated key just records the flag.
//! DELETE deletes the user, which revokes every key they had (the phone wipes after its
//! signed revocation-ack). A SCIM Group's members are user ids; joining adds the group's name
//! to the user's workspace groups (replacing the default "Everyone"), leaving the last group
//! puts the user back in "Everyone".
//!
//! The bearer token is `scim_` + 256 random bits, kept in the settings table so the admin CLI
//! can show it; requests are compared by SHA-256 digest, so the comparison's timing does not
//! depend on how much of the token a guess got right.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::scim_error::ScimError;
use crate::scim_filter::{self, Filter, get_ci};
use crate::state::{DEFAULT_GROUP, State, User, normalize_email};
use crate::store::GroupRow;
use crate::{clock, random};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const TOKEN_SETTING: &str = "scim_token";
/// The most resources one list answer carries (ServiceProviderConfig `filter.maxResults`).
pub const MAX_RESULTS: usize = 200;
const MAX_TEXT: usize = 200;

/// A User body's fields, checked.
pub struct UserInput {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub formatted: Option<String>,
    pub email: String,
    pub email_type: Option<String>,
    pub email_primary: Option<bool>,
    pub active: bool,
}

pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<String>,
}

fn check_schemas(body: &Value, core: &str, allowed: &[&str]) -> Result<(), ScimError> {
    let Some(schemas) = get_ci(body, "schemas").and_then(Value::as_array) else {
        return Err(ScimError::invalid_syntax(format!(
            "\"schemas\" must be an array naming {core}"
        )));
    };
    for schema in schemas {
        let known = schema
            .as_str()
            .is_some_and(|s| allowed.iter().any(|a| a.eq_ignore_ascii_case(s)));
        if !known {
            return Err(ScimError::invalid_syntax(format!(
                "unknown schema {schema}"
            )));
        }
    }
    if !schemas
        .iter()
        .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(core)))
    {
        return Err(ScimError::invalid_syntax(format!(
            "\"schemas\" must include {core}"
        )));
    }
    Ok(())
}

/// An optional string attribute: absent or null is `None`; anything but a string is refused.
fn text(body: &Value, name: &str) -> Result<Option<String>, ScimError> {
    match get_ci(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= MAX_TEXT => {
            Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
        }
        Some(Value::String(_)) => Err(ScimError::invalid_value(format!(
            "{name} is longer than {MAX_TEXT} characters"
        ))),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{name} must be a string, not {other}"
        ))),
    }
}

/// `active`: a boolean, or Entra's "True"/"False" strings.
fn active(body: &Value) -> Result<bool, ScimError> {
    match get_ci(body, "active") {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ScimError::invalid_value(format!(
            "active must be a boolean, not {other}"
        ))),
    }
}

pub fn parse_user(body: &Value) -> Result<UserInput, ScimError> {
    if !body.is_object() {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    }
    check_schemas(body, USER_SCHEMA, &[USER_SCHEMA, ENTERPRISE_SCHEMA])?;
    let user_name =
        text(body, "userName")?.ok_or_else(|| ScimError::invalid_value("userName is required"))?;
    let name = match get_ci(body, "name") {
        None | Some(Value::Null) => json!({}),
        Some(n @ Value::Object(_)) => n.clone(),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "name must be an object, not {other}"
            )));
        }
    };
    let given_name = text(&name, "givenName")?;
    let family_name = text(&name, "familyName")?;
    let formatted = text(&name, "formatted")?;
    let emails = match get_ci(body, "emails") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "emails must be an array, not {other}"
            )));
        }
    };
    let mut addresses: Vec<(String, Option<bool>, bool, Option<String>)> = Vec::new();
    for item in &emails {
        if !item.is_object() {
            return Err(ScimError::invalid_value(format!(
                "an email must be an object, not {item}"
            )));
        }
        let Some(value) = text(item, "value")? else {
            continue;
        };
        let primary = match get_ci(item, "primary") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "emails.primary must be a boolean, not {other}"
                )));
            }
        };
        let kind = text(item, "type")?;
        let work = kind
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("work"));
        addresses.push((value, primary, work, kind));
    }
    let chosen = addresses
        .iter()
        .find(|a| a.1 == Some(true))
        .or_else(|| addresses.iter().find(|a| a.2))
        .or_else(|| addresses.first())
        .map(|a| (a.0.clone(), a.3.clone(), a.1))
        .or_else(|| {
            user_name
                .contains('@')
                .then(|| (user_name.clone(), None, None))
        })
        .ok_or_else(|| {
            ScimError::invalid_value(
                "a user needs an email: emails[type eq \"work\"].value, or an address as userName",
            )
        })?;
    let (chosen, email_type, email_primary) = chosen;
    let email = normalize_email(&chosen).map_err(ScimError::from)?;
    let display_name = text(body, "displayName")?
        .or_else(|| formatted.clone())
        .or_else(|| {
            let joined = [given_name.as_deref(), family_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        })
        .unwrap_or_else(|| user_name.clone());
    Ok(UserInput {
        user_name,
        external_id: text(body, "externalId")?,
        display_name,
        given_name,
        family_name,
        formatted,
        email,
        email_type,
        email_primary,
        active: active(body)?,
    })
}

pub fn parse_group(body: &Value) -> Result<GroupInput, ScimError> {
    if !body.is_object() {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    }
    check_schemas(body, GROUP_SCHEMA, &[GROUP_SCHEMA])?;
    let display_name = text(body, "displayName")?
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let mut members = Vec::new();
    match get_ci(body, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let id = text(item, "value")?.ok_or_else(|| {
                    ScimError::invalid_value(format!("a member needs a value (a user id): {item}"))
                })?;
                if !members.contains(&id) {
                    members.push(id);
                }
            }
        }
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "members must be an array, not {other}"
            )));
        }
    }
    Ok(GroupInput {
        display_name,
        external_id: text(body, "externalId")?,
        members,
    })
}

/// A decimal integer, saturated to i64 (a huge count is as good as the maximum).
fn saturating_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<i64>().unwrap_or(if text.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    }))
}

/// What a list request asked for (RFC 7644 §3.4.2).
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
}

impl ListQuery {
    pub fn parse(
        filter: Option<&str>,
        start: Option<&str>,
        count: Option<&str>,
    ) -> Result<Self, ScimError> {
        let number = |name: &str, text: Option<&str>, default: i64| -> Result<i64, ScimError> {
            text.map_or(Ok(default), |t| {
                saturating_integer(t.trim()).ok_or_else(|| {
                    ScimError::invalid_value(format!("{name} must be an integer, not {t:?}"))
                })
            })
        };
        // RFC 7644 §3.4.2.4: startIndex below 1 means 1, a negative count means 0.
        let start_index = usize::try_from(number("startIndex", start, 1)?.max(1)).unwrap_or(1);
        let count = usize::try_from(number("count", count, MAX_RESULTS as i64)?.max(0))
            .unwrap_or(0)
            .min(MAX_RESULTS);
        Ok(Self {
            filter: filter.map(scim_filter::parse).transpose()?,
            start_index,
            count,
        })
    }

    pub fn answer(&self, resources: Vec<Value>) -> Value {
        let matching: Vec<Value> = resources
            .into_iter()
            .filter(|r| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| scim_filter::matches(f, r))
            })
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .collect();
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        })
    }
}

fn in_use(what: &str, value: &str) -> ScimError {
    ScimError::uniqueness(format!("{what} {value:?} is already in use"))
}

impl State {
    pub fn scim_token(&self) -> Result<Option<String>, ApiError> {
        self.store.setting(TOKEN_SETTING)
    }

    pub fn rotate_scim_token(&mut self) -> Result<String, ApiError> {
        let hex: String = random::bytes::<32>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let token = format!("scim_{hex}");
        self.store.set_setting(TOKEN_SETTING, &token)?;
        Ok(token)
    }

    /// Whether `presented` is the current token (false before one is issued).
    pub fn scim_token_matches(&self, presented: &str) -> bool {
        match self.scim_token() {
            Ok(Some(token)) => {
                Sha256::digest(token.as_bytes()) == Sha256::digest(presented.as_bytes())
            }
            _ => false,
        }
    }

    fn location(&self, kind: &str, id: &str) -> String {
        format!("{}/scim/v2/{kind}/{id}", self.workspace.config.base_url)
    }

    pub fn user_resource(&self, user: &User) -> Value {
        let d = &user.directory;
        let mut name = serde_json::Map::new();
        if let Some(g) = &d.given_name {
            name.insert("givenName".into(), g.clone().into());
        }
        if let Some(f) = &d.family_name {
            name.insert("familyName".into(), f.clone().into());
        }
        if let Some(f) = &d.formatted {
            name.insert("formatted".into(), f.clone().into());
        }
        let groups: Vec<Value> = self
            .scim_groups
            .iter()
            .filter(|g| g.members.contains(&user.id))
            .map(|g| json!({ "value": g.id, "display": g.display_name, "$ref": self.location("Groups", &g.id) }))
            .collect();
        let mut email = json!({
            "value": user.email,
            "type": d.email_type.as_deref().unwrap_or("work"),
        });
        if let Some(primary) = d.email_primary {
            email["primary"] = primary.into();
        }
        let mut resource = json!({
            "schemas": [USER_SCHEMA],
            "id": user.id,
            "userName": d.user_name,
            "displayName": user.display_name,
            "emails": [email],
            "active": d.active,
            "groups": groups,
            "meta": {
                "resourceType": "User",
                "created": clock::rfc3339(d.created_ms),
                "lastModified": clock::rfc3339(d.modified_ms),
                "location": self.location("Users", &user.id),
            },
        });
        if let Some(map) = resource.as_object_mut() {
            if let Some(e) = &d.external_id {
                map.insert("externalId".into(), e.clone().into());
            }
            if !name.is_empty() {
                map.insert("name".into(), Value::Object(name));
            }
        }
        resource
    }

    pub fn group_resource(&self, group: &GroupRow) -> Value {
        let members: Vec<Value> = group
            .members
            .iter()
            .map(|id| json!({ "value": id, "$ref": self.location("Users", id) }))
            .collect();
        let mut resource = json!({
            "schemas": [GROUP_SCHEMA],
            "id": group.id,
            "displayName": group.display_name,
            "members": members,
            "meta": {
                "resourceType": "Group",
                "created": clock::rfc3339(group.created_ms),
                "lastModified": clock::rfc3339(group.modified_ms),
                "location": self.location("Groups", &group.id),
            },
        });
        if let (Some(e), Some(map)) = (&group.external_id, resource.as_object_mut()) {
            map.insert("externalId".into(), e.clone().into());
        }
        resource
    }

    fn scim_user_index(&self, id: &str) -> Result<usize, ScimError> {
        self.users
            .iter()
            .position(|u| u.id == id)
            .ok_or_else(|| ScimError::not_found(format!("no User with id {id:?}")))
    }

    pub fn scim_user(&self, id: &str) -> Result<Value, ScimError> {
        Ok(self.user_resource(&self.users[self.scim_user_index(id)?]))
    }

    pub fn scim_users(&self) -> Vec<Value> {
        self.users.iter().map(|u| self.user_resource(u)).collect()
    }

    /// userName, externalId and email are unique among users other than `except`.
    fn check_user_unique(&self, input: &UserInput, except: Option<usize>) -> Result<(), ScimError> {
        for (i, user) in self.users.iter().enumerate() {
            if Some(i) == except {
                continue;
            }
            if user.directory.source == "scim"
                && user
                    .directory
                    .user_name
                    .eq_ignore_ascii_case(&input.user_name)
            {
                return Err(in_use("userName", &input.user_name));
            }
            if input.external_id.is_some() && user.directory.external_id == input.external_id {
                return Err(in_use(
                    "externalId",
                    input.external_id.as_deref().unwrap_or(""),
                ));
            }
        }
        Ok(())
    }

    /// POST /Users: 201 with the resource (a new user, or the admin/CSV user with that email).
    pub fn scim_create_user(&mut self, input: UserInput, now_ms: u64) -> Result<Value, ScimError> {
        let existing = self.users.iter().position(|u| u.email == input.email);
        match existing {
            Some(i) if self.users[i].directory.source == "scim" => {
                Err(in_use("email", &input.email))
            }
            Some(i) => {
                self.check_user_unique(&input, Some(i))?;
                self.write_user(i, input, now_ms)
            }
            None => {
                self.check_user_unique(&input, None)?;
                let view =
                    self.add_user_from(&input.email, &input.display_name, &[], "scim", now_ms)?;
                let i = self.scim_user_index(&view.id)?;
                self.write_user(i, input, now_ms)
            }
        }
    }

    /// PUT /Users/{id} (and PATCH after `scim_patch` made the new JSON).
    pub fn scim_replace_user(
        &mut self,
        id: &str,
        input: UserInput,
        now_ms: u64,
    ) -> Result<Value, ScimError> {
        let i = self.scim_user_index(id)?;
        self.check_user_unique(&input, Some(i))?;
        if self
            .users
            .iter()
            .enumerate()
            .any(|(j, u)| j != i && u.email == input.email)
        {
            return Err(in_use("email", &input.email));
        }
        self.write_user(i, input, now_ms)
    }

    fn write_user(&mut self, i: usize, input: UserInput, now_ms: u64) -> Result<Value, ScimError> {
        if input.display_name.chars().count() > MAX_TEXT {
            return Err(ScimError::invalid_value(
                "displayName is longer than 200 characters",
            ));
        }
        let was_active = self.users[i].directory.active;
        let user = &mut self.users[i];
        user.email = input.email;
        user.display_name = input.display_name;
        let d = &mut user.directory;
        d.source = "scim";
        d.user_name = input.user_name;
        d.external_id = input.external_id;
        d.given_name = input.given_name;
        d.family_name = input.family_name;
        d.formatted = input.formatted;
        d.email_type = input.email_type;
        d.email_primary = input.email_primary;
        d.active = input.active;
        d.modified_ms = now_ms;
        let id = user.id.clone();
        self.store.save_user(&user.row())?;
        if was_active != input.active {
            self.key_follows_active(&id, input.active, now_ms)?;
        }
        self.scim_user(&id)
    }

    /// The key follows the directory's `active`: suspend or resume. A user without an
    /// activated key (none, never redeemed, revoked, locked) has nothing to change.
    fn key_follows_active(&mut self, id: &str, active: bool, now_ms: u64) -> Result<(), ScimError> {
        let outcome = if active {
            self.resume(id, now_ms)
        } else {
            self.suspend(id, now_ms)
        };
        match outcome {
            Ok(_) => Ok(()),
            Err(e) if e.status == axum::http::StatusCode::CONFLICT => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// DELETE /Users/{id}: revokes every key the user had, then forgets the user.
    pub fn scim_delete_user(&mut self, id: &str, now_ms: u64) -> Result<(), ScimError> {
        self.scim_user_index(id)?;
        self.delete_user(id, now_ms).map_err(ScimError::from)
    }

    fn group_index(&self, id: &str) -> Result<usize, ScimError> {
        self.scim_groups
            .iter()
            .position(|g| g.id == id)
            .ok_or_else(|| ScimError::not_found(format!("no Group with id {id:?}")))
    }

    pub fn scim_group(&self, id: &str) -> Result<Value, ScimError> {
        Ok(self.group_resource(&self.scim_groups[self.group_index(id)?]))
    }

    pub fn scim_group_list(&self) -> Vec<Value> {
        self.scim_groups
            .iter()
            .map(|g| self.group_resource(g))
            .collect()
    }

    /// Creates (`id` None) or replaces a group, keeping users' workspace groups in step.
    pub fn scim_put_group(
        &mut self,
        id: Option<&str>,
        input: GroupInput,
        now_ms: u64,
    ) -> Result<Value, ScimError> {
        let index = id.map(|id| self.group_index(id)).transpose()?;
        for (i, g) in self.scim_groups.iter().enumerate() {
            if Some(i) != index && g.display_name.eq_ignore_ascii_case(&input.display_name) {
                return Err(in_use("displayName", &input.display_name));
            }
            if Some(i) != index && input.external_id.is_some() && g.external_id == input.external_id
            {
                return Err(in_use(
                    "externalId",
                    input.external_id.as_deref().unwrap_or(""),
                ));
            }
        }
        if input.display_name.eq_ignore_ascii_case(DEFAULT_GROUP) {
            return Err(ScimError::invalid_value(format!(
                "{DEFAULT_GROUP} is the workspace's default group"
            )));
        }
        if let Some(unknown) = input
            .members
            .iter()
            .find(|m| !self.users.iter().any(|u| &u.id == *m))
        {
            return Err(ScimError::invalid_value(format!(
                "member {unknown:?} is not a User id"
            )));
        }
        let (old_name, old_members) = index.map_or((None, Vec::new()), |i| {
            (
                Some(self.scim_groups[i].display_name.clone()),
                self.scim_groups[i].members.clone(),
            )
        });
        let group = GroupRow {
            id: match index {
                Some(i) => self.scim_groups[i].id.clone(),
                None => random::id("grp_")?,
            },
            display_name: input.display_name,
            external_id: input.external_id,
            members: input.members,
            created_ms: index.map_or(now_ms, |i| self.scim_groups[i].created_ms),
            modified_ms: now_ms,
        };
        self.store.save_group(&group)?;
        for user in &mut self.users {
            let was = old_members.contains(&user.id);
            let is = group.members.contains(&user.id);
            let before = user.groups.clone();
            if was && let Some(old) = &old_name {
                user.groups.retain(|g| g != old);
            }
            if is {
                user.groups
                    .retain(|g| g != DEFAULT_GROUP && g != &group.display_name);
                user.groups.push(group.display_name.clone());
            }
            if user.groups.is_empty() {
                user.groups.push(DEFAULT_GROUP.to_owned());
            }
            if user.groups != before {
                self.store.save_user(&user.row())?;
            }
        }
        let resource = self.group_resource(&group);
        match index {
            Some(i) => self.scim_groups[i] = group,
            None => self.scim_groups.push(group),
        }
        Ok(resource)
    }

    pub fn scim_delete_group(&mut self, id: &str, now_ms: u64) -> Result<(), ScimError> {
        let i = self.group_index(id)?;
        let group = self.scim_groups[i].clone();
        self.scim_put_group(
            Some(id),
            GroupInput {
                display_name: group.display_name,
                external_id: group.external_id,
                members: Vec::new(),
            },
            now_ms,
        )?;
        self.store.delete_group(id)?;
        self.scim_groups.remove(i);
        Ok(())
    }
}
