//! The admin CLI commands: each one is a call (or two) to a running server's `/admin` API
//! through `http_client`, printed as plain text (`obr-start` as `name: value` lines, so
//! scripts can pick out the grant id and the grant). Users are named by email on the command line
//! and resolved to ids through `GET /admin/users`.
//!
//! Errors come back as `Err(text)`; `main` prints them to stderr and exits non-zero.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::http_client;

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

#[derive(Deserialize)]
struct User {
    id: String,
    email: String,
    display_name: String,
    groups: Vec<String>,
    key: Option<Key>,
    #[serde(default)]
    source: String,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Token {
    token: Option<String>,
}

#[derive(Deserialize)]
struct Key {
    security_key_id: Option<String>,
    status: String,
    client_pin: bool,
    force_change: bool,
    revocation_acknowledged: bool,
}

#[derive(Deserialize)]
struct ImportResult {
    imported: u64,
    skipped: Vec<Skipped>,
}

#[derive(Deserialize)]
struct Skipped {
    line: u64,
    reason: String,
}

#[derive(Deserialize)]
struct Email {
    to: String,
    subject: String,
    body: String,
    link: Option<String>,
    pin: Option<String>,
    sent_at: String,
}

#[derive(Deserialize)]
struct BindingJob {
    security_key_id: Option<String>,
    status: String,
    created_at: String,
    bound_at: Option<String>,
}

#[derive(Deserialize)]
struct ObrStarted {
    grant_id: String,
    grant: String,
    expires_at: String,
    security_key_id: String,
    device_public_key: String,
}

#[derive(Deserialize)]
struct ObrGrant {
    grant_id: String,
    email: String,
    admin_name: String,
    rp_ids: Vec<String>,
    max_registrations: u64,
    registrations: u64,
    status: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct Passkey {
    rp_id: String,
    credential_id: String,
    created_at: String,
    grant_id: String,
    admin_name: String,
    index: u64,
}

/// `obr-start`'s arguments.
pub struct ObrStart {
    pub email: String,
    pub rp_ids: Vec<String>,
    pub count: Option<u64>,
    pub duration_secs: Option<u64>,
    pub admin_key: String,
    pub relay_url: String,
    pub door: String,
    pub admin_name: String,
    pub admin_id: String,
}

pub struct Client {
    base: String,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Vec<u8>, String> {
        let response = http_client::request(&self.base, method, path, body)?;
        if (200..300).contains(&response.status) {
            return Ok(response.body);
        }
        Err(match serde_json::from_slice::<ErrorBody>(&response.body) {
            Ok(e) => format!("{} ({}, HTTP {})", e.message, e.error, response.status),
            Err(_) => format!("HTTP {} from {method} {path}", response.status),
        })
    }

    fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, String> {
        let text = body.map(|b| b.to_string());
        let bytes = self.call(
            method,
            path,
            text.as_deref().map(|t| ("application/json", t.as_bytes())),
        )?;
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("unexpected answer from the server: {e}"))
    }

    fn user_by_email(&self, email: &str) -> Result<User, String> {
        let users: Vec<User> = self.json("GET", "/admin/users", None)?;
        let wanted = email.trim().to_lowercase();
        users
            .into_iter()
            .find(|u| u.email == wanted)
            .ok_or_else(|| format!("no user with email {email}"))
    }

    pub fn add_user(&self, email: &str, name: &str, groups: &[String]) -> Result<String, String> {
        let mut body = serde_json::json!({ "email": email, "display_name": name });
        if !groups.is_empty() {
            body["groups"] = serde_json::json!(groups);
        }
        let user: User = self.json("POST", "/admin/users", Some(body))?;
        Ok(format!(
            "added {} <{}> ({}) to {}\n",
            user.display_name,
            user.email,
            user.id,
            user.groups.join(", ")
        ))
    }

    pub fn import_csv(&self, csv: &[u8]) -> Result<String, String> {
        let bytes = self.call("POST", "/admin/users/import", Some(("text/csv", csv)))?;
        let result: ImportResult = serde_json::from_slice(&bytes)
            .map_err(|e| format!("unexpected answer from the server: {e}"))?;
        let mut out = format!(
            "imported {} user{}\n",
            result.imported,
            if result.imported == 1 { "" } else { "s" }
        );
        for skip in result.skipped {
            out.push_str(&format!("skipped line {}: {}\n", skip.line, skip.reason));
        }
        Ok(out)
    }

    pub fn assign(
        &self,
        email: &str,
        client_pin: bool,
        force_change: bool,
    ) -> Result<String, String> {
        let user = self.user_by_email(email)?;
        let body = serde_json::json!({
            "type": "smartphone", "client_pin": client_pin, "force_change": force_change,
        });
        let user: User = self.json(
            "POST",
            &format!("/admin/users/{}/security-key", user.id),
            Some(body),
        )?;
        let status = user.key.as_ref().map_or("none", |k| k.status.as_str());
        let mut out = format!(
            "assigned a smartphone security key to {} (client PIN: {}, force change: {}); \
             status {status}\nactivation email sent to {}\n",
            user.email,
            yes_no(client_pin),
            yes_no(force_change),
            user.email
        );
        if client_pin {
            out.push_str(&format!("PIN email sent to {}\n", user.email));
        }
        Ok(out)
    }

    /// `users --directory`: where each user came from and what the directory says.
    pub fn directory(&self) -> Result<String, String> {
        let users: Vec<User> = self.json("GET", "/admin/users", None)?;
        if users.is_empty() {
            return Ok("no users\n".to_owned());
        }
        let mut rows = vec![row(&["EMAIL", "SOURCE", "EXTERNAL ID", "ACTIVE", "KEY"])];
        for user in &users {
            rows.push(row(&[
                &user.email,
                &user.source,
                user.external_id.as_deref().unwrap_or("-"),
                yes_no(user.active),
                user.key.as_ref().map_or("none", |k| k.status.as_str()),
            ]));
        }
        Ok(table(&rows))
    }

    /// `scim-token [--rotate]`: the bearer token SCIM clients (Entra ID) must send.
    pub fn scim_token(&self, rotate: bool) -> Result<String, String> {
        let token: Token = if rotate {
            self.json("POST", "/admin/scim-token", None)?
        } else {
            self.json("GET", "/admin/scim-token", None)?
        };
        Ok(match token.token {
            Some(t) => format!("{t}\n"),
            None => "no SCIM token yet; run scim-token --rotate to issue one\n".to_owned(),
        })
    }

    pub fn users(&self) -> Result<String, String> {
        let users: Vec<User> = self.json("GET", "/admin/users", None)?;
        if users.is_empty() {
            return Ok("no users\n".to_owned());
        }
        let mut rows = vec![row(&[
            "EMAIL",
            "NAME",
            "GROUPS",
            "KEY",
            "SECURITY KEY ID",
            "CLIENT PIN",
            "REVOCATION ACK",
        ])];
        for user in &users {
            let (status, id, pin, ack) = match &user.key {
                None => ("none", "-", "-".to_owned(), "-"),
                Some(k) => (
                    k.status.as_str(),
                    k.security_key_id.as_deref().unwrap_or("-"),
                    match (k.client_pin, k.force_change) {
                        (false, _) => "no".to_owned(),
                        (true, false) => "yes".to_owned(),
                        (true, true) => "yes (force change)".to_owned(),
                    },
                    yes_no(k.revocation_acknowledged),
                ),
            };
            let groups = user.groups.join(",");
            rows.push(row(&[
                &user.email,
                &user.display_name,
                &groups,
                status,
                id,
                &pin,
                ack,
            ]));
        }
        Ok(table(&rows))
    }

    pub fn outbox(&self, to: Option<&str>) -> Result<String, String> {
        let path = match to {
            Some(to) => format!("/admin/outbox?to={}", percent_encode(to)),
            None => "/admin/outbox".to_owned(),
        };
        let emails: Vec<Email> = self.json("GET", &path, None)?;
        if emails.is_empty() {
            return Ok("the outbox is empty\n".to_owned());
        }
        let mut out = String::new();
        for email in emails {
            out.push_str(&format!(
                "To:      {}\nSubject: {}\nSent:    {}\n",
                email.to, email.subject, email.sent_at
            ));
            if let Some(link) = email.link {
                out.push_str(&format!("Link:    {link}\n"));
            }
            if let Some(pin) = email.pin {
                out.push_str(&format!("PIN:     {pin}\n"));
            }
            out.push_str(&format!("\n{}\n----\n", email.body.trim_end()));
        }
        Ok(out)
    }

    /// `action` is suspend, resume or revoke.
    pub fn key_action(&self, email: &str, action: &str) -> Result<String, String> {
        let user = self.user_by_email(email)?;
        let user: User = self.json("POST", &format!("/admin/users/{}/{action}", user.id), None)?;
        let status = user.key.as_ref().map_or("none", |k| k.status.as_str());
        Ok(format!("{}: security key {status}\n", user.email))
    }

    pub fn delete(&self, email: &str) -> Result<String, String> {
        let user = self.user_by_email(email)?;
        self.call("DELETE", &format!("/admin/users/{}", user.id), None)?;
        Ok(format!("deleted {} (security key revoked)\n", user.email))
    }

    pub fn binding_jobs(&self, email: &str) -> Result<String, String> {
        let user = self.user_by_email(email)?;
        let jobs: Vec<BindingJob> = self.json(
            "GET",
            &format!("/admin/users/{}/binding-jobs", user.id),
            None,
        )?;
        if jobs.is_empty() {
            return Ok(format!("no binding jobs for {}\n", user.email));
        }
        let mut rows = vec![row(&["STATUS", "SECURITY KEY ID", "CREATED", "BOUND"])];
        for job in &jobs {
            rows.push(row(&[
                &job.status,
                job.security_key_id.as_deref().unwrap_or("-"),
                &job.created_at,
                job.bound_at.as_deref().unwrap_or("-"),
            ]));
        }
        Ok(table(&rows))
    }

    pub fn obr_start(&self, start: &ObrStart) -> Result<String, String> {
        let user = self.user_by_email(&start.email)?;
        let mut body = serde_json::json!({
            "admin_id": start.admin_id,
            "admin_name": start.admin_name,
            "admin_static_key": hex_or_b64(&start.admin_key, "--admin-key", 65)?,
            "rp_ids": start.rp_ids,
            "relay_url": start.relay_url,
            "admin_door": hex_or_b64(&start.door, "--door", 16)?,
        });
        if let Some(count) = start.count {
            body["max_registrations"] = count.into();
        }
        if let Some(secs) = start.duration_secs {
            body["duration_secs"] = secs.into();
        }
        let started: ObrStarted =
            self.json("POST", &format!("/admin/users/{}/obr", user.id), Some(body))?;
        Ok(format!(
            "OBR started for {} until {}\ngrant_id: {}\ngrant: {}\n\
             security_key_id: {}\ndevice_public_key: {}\n",
            user.email,
            started.expires_at,
            started.grant_id,
            started.grant,
            started.security_key_id,
            started.device_public_key
        ))
    }

    pub fn obr_stop(&self, grant_id: &str) -> Result<String, String> {
        let grant: ObrGrant = self.json(
            "DELETE",
            &format!("/admin/obr/{}", percent_encode(grant_id.trim())),
            None,
        )?;
        Ok(format!(
            "OBR {} for {}: {} ({} of {} registrations)\n",
            grant.grant_id, grant.email, grant.status, grant.registrations, grant.max_registrations
        ))
    }

    pub fn obr_list(&self) -> Result<String, String> {
        let grants: Vec<ObrGrant> = self.json("GET", "/admin/obr", None)?;
        if grants.is_empty() {
            return Ok("no on-behalf registrations\n".to_owned());
        }
        let mut rows = vec![row(&[
            "GRANT ID",
            "USER",
            "ADMIN",
            "STATUS",
            "REGISTRATIONS",
            "RP IDS",
            "EXPIRES",
        ])];
        for grant in &grants {
            let count = format!("{}/{}", grant.registrations, grant.max_registrations);
            let rp_ids = grant.rp_ids.join(",");
            rows.push(row(&[
                &grant.grant_id,
                &grant.email,
                &grant.admin_name,
                &grant.status,
                &count,
                &rp_ids,
                &grant.expires_at,
            ]));
        }
        Ok(table(&rows))
    }

    pub fn passkeys(&self, email: &str) -> Result<String, String> {
        let user = self.user_by_email(email)?;
        let passkeys: Vec<Passkey> =
            self.json("GET", &format!("/admin/users/{}/passkeys", user.id), None)?;
        if passkeys.is_empty() {
            return Ok(format!("no passkeys registered for {}\n", user.email));
        }
        let mut rows = vec![row(&[
            "RP ID",
            "CREDENTIAL ID",
            "CREATED",
            "GRANT ID",
            "ADMIN",
            "INDEX",
        ])];
        for key in &passkeys {
            let index = key.index.to_string();
            rows.push(row(&[
                &key.rp_id,
                &key.credential_id,
                &key.created_at,
                &key.grant_id,
                &key.admin_name,
                &index,
            ]));
        }
        Ok(table(&rows))
    }
}

/// Hex (case-insensitive) or base64url of exactly `len` bytes, to base64url for the API.
fn hex_or_b64(text: &str, what: &str, len: usize) -> Result<String, String> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let text = text.trim();
    let from_hex = (text.len() == 2 * len && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| {
            (0..len)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()
        })
        .flatten();
    let bytes = from_hex
        .or_else(|| B64.decode(text).ok())
        .filter(|b| b.len() == len)
        .ok_or_else(|| format!("{what} must be {len} bytes in hex or base64url"))?;
    Ok(B64.encode(bytes))
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// Left-aligned columns separated by two spaces, no trailing spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
