//! The few calls OBR mode makes to the workspace's admin API (proto/workspace-api-contract.md,
//! "Admin endpoints"; proto/workspace-api.yaml): find a user by email, start OBR, stop it,
//! watch it for the phone's refusal, and (tests only) arm an OBR grant fault.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

/// One admin request's time limit (the workspace answers at once).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a workspace call failed.
#[derive(Debug)]
pub enum WorkspaceError {
    /// No answer: connection refused, timeout, DNS.
    Unreachable(String),
    /// The workspace answered with its error body (`{"error", "message"}`).
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that does not follow the contract.
    Protocol(String),
}

impl std::fmt::Display for WorkspaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "cannot reach the workspace: {e}"),
            Self::Refused {
                status,
                code,
                message,
            } => write!(f, "{code}: {message} (HTTP {status})"),
            Self::Protocol(e) => write!(f, "unexpected answer from the workspace: {e}"),
        }
    }
}

/// What OBR mode asks the workspace for (`POST /admin/users/{id}/obr`).
pub struct StartObr<'a> {
    pub admin_id: &'a str,
    pub admin_name: &'a str,
    /// SEC1 uncompressed: the tool's static key, which the grant is bound to.
    pub admin_static_key: &'a [u8],
    pub rp_ids: &'a [String],
    pub max_registrations: u8,
    pub duration_secs: u64,
    pub relay_url: &'a str,
    pub admin_door: &'a [u8],
}

/// The start answer, decoded.
pub struct Started {
    pub grant_id: [u8; 16],
    pub grant: Vec<u8>,
    /// Verifies the phone's receipts.
    pub device_public_key: Vec<u8>,
    /// The phone's static key in the OBR handshake (never the device key).
    pub obr_public_key: Vec<u8>,
    pub security_key_id: String,
    pub expires_at: String,
}

#[derive(Deserialize)]
struct StartedBody {
    grant_id: String,
    grant: String,
    expires_at: String,
    security_key_id: String,
    device_public_key: String,
    obr_public_key: String,
}

#[derive(Deserialize)]
struct UserBody {
    id: String,
    email: String,
}

/// A client for one workspace's admin API (cheap to clone: the HTTP client is shared).
#[derive(Clone)]
pub struct Workspace {
    http: reqwest::Client,
    base: Url,
}

/// Checks a `--workspace` URL: `http://` or `https://`, no query or fragment.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the workspace URL must start with http:// or https://".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || parsed.cannot_be_a_base() {
        return Err("the workspace URL must be a base URL (no query or fragment)".into());
    }
    Ok(parsed)
}

impl Workspace {
    pub fn new(base: Url) -> Result<Self, String> {
        // reqwest is built without a default TLS provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Self { http, base })
    }

    /// `base` + the path segments, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, WorkspaceError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| WorkspaceError::Protocol("the workspace URL has no path".into()))?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url)
    }

    /// The id of the user with this email (ASCII case-insensitive), or `None`.
    pub async fn user_id(&self, email: &str) -> Result<Option<String>, WorkspaceError> {
        let url = self.url(&["admin", "users"])?;
        let answer = self.http.get(url).send().await.map_err(unreachable)?;
        let body = expect(answer, StatusCode::OK).await?;
        let users: Vec<UserBody> = serde_json::from_value(body)
            .map_err(|e| WorkspaceError::Protocol(format!("user list: {e}")))?;
        Ok(users
            .into_iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .map(|u| u.id))
    }

    /// Starts OBR for `user_id`: the grant and the phone's device key.
    pub async fn start_obr(
        &self,
        user_id: &str,
        request: &StartObr<'_>,
    ) -> Result<Started, WorkspaceError> {
        let url = self.url(&["admin", "users", user_id, "obr"])?;
        let body = json!({
            "admin_id": request.admin_id,
            "admin_name": request.admin_name,
            "admin_static_key": B64.encode(request.admin_static_key),
            "rp_ids": request.rp_ids,
            "max_registrations": request.max_registrations,
            "duration_secs": request.duration_secs,
            "relay_url": request.relay_url,
            "admin_door": B64.encode(request.admin_door),
        });
        let answer = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let body = expect(answer, StatusCode::CREATED).await?;
        let started: StartedBody = serde_json::from_value(body)
            .map_err(|e| WorkspaceError::Protocol(format!("OBR start answer: {e}")))?;
        let bytes = |name: &str, value: &str| {
            B64.decode(value)
                .map_err(|_| WorkspaceError::Protocol(format!("{name} is not base64url")))
        };
        let grant_id = bytes("grant_id", &started.grant_id)?
            .try_into()
            .map_err(|_| WorkspaceError::Protocol("grant_id is not 16 bytes".into()))?;
        let point = |name: &str, value: &str| {
            let key = bytes(name, value)?;
            if key.len() != 65 || key.first() != Some(&0x04) {
                return Err(WorkspaceError::Protocol(format!(
                    "{name} is not an uncompressed SEC1 point"
                )));
            }
            Ok(key)
        };
        let device_public_key = point("device_public_key", &started.device_public_key)?;
        let obr_public_key = point("obr_public_key", &started.obr_public_key)?;
        if obr_public_key == device_public_key {
            return Err(WorkspaceError::Protocol(
                "the workspace reported the device key as the phone's OBR key".into(),
            ));
        }
        Ok(Started {
            grant_id,
            grant: bytes("grant", &started.grant)?,
            device_public_key,
            obr_public_key,
            security_key_id: started.security_key_id,
            expires_at: started.expires_at,
        })
    }

    /// Stops the grant (`DELETE /admin/obr/{grant_id}`); an expired or completed grant
    /// answers `not_running`.
    pub async fn stop_obr(&self, grant_id: &[u8]) -> Result<(), WorkspaceError> {
        let url = self.url(&["admin", "obr", &B64.encode(grant_id)])?;
        let answer = self.http.delete(url).send().await.map_err(unreachable)?;
        expect(answer, StatusCode::OK).await.map(|_| ())
    }
}

impl Workspace {
    /// The phone's refusal code if the grant's record (`GET /admin/obr`) is `refused`.
    pub async fn refusal(&self, grant_id: &[u8]) -> Result<Option<String>, WorkspaceError> {
        #[derive(Deserialize)]
        struct GrantBody {
            grant_id: String,
            status: String,
            refusal_code: Option<String>,
        }
        let url = self.url(&["admin", "obr"])?;
        let answer = self.http.get(url).send().await.map_err(unreachable)?;
        let body = expect(answer, StatusCode::OK).await?;
        let grants: Vec<GrantBody> = serde_json::from_value(body)
            .map_err(|e| WorkspaceError::Protocol(format!("grant list: {e}")))?;
        let id = B64.encode(grant_id);
        Ok(grants
            .into_iter()
            .find(|g| g.grant_id == id && g.status == "refused")
            .map(|g| g.refusal_code.unwrap_or_default()))
    }

    /// Test setting: the next OBR start's `obr_request` carries a faulty grant
    /// (`POST /admin/faults` with `kind: "obr_grant"`).
    pub async fn arm_grant_fault(&self, fault: &str) -> Result<(), WorkspaceError> {
        let url = self.url(&["admin", "faults"])?;
        let body = json!({ "kind": "obr_grant", "grant_fault": fault, "count": 1 });
        let answer = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        expect(answer, StatusCode::CREATED).await.map(|_| ())
    }
}

fn unreachable(e: reqwest::Error) -> WorkspaceError {
    // reqwest's Display leaves out the cause ("error sending request"): add the chain.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    WorkspaceError::Unreachable(text)
}

/// The JSON body of an answer with status `wanted`, or the workspace's error.
async fn expect(answer: reqwest::Response, wanted: StatusCode) -> Result<Value, WorkspaceError> {
    let status = answer.status();
    let bytes = answer.bytes().await.map_err(unreachable)?;
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    if status == wanted {
        return body.ok_or_else(|| WorkspaceError::Protocol(format!("HTTP {status}: not JSON")));
    }
    let field = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (field("error"), field("message")) {
        (Some(code), message) => Err(WorkspaceError::Refused {
            status: status.as_u16(),
            code,
            message: message.unwrap_or_default(),
        }),
        _ => Err(WorkspaceError::Protocol(format!(
            "HTTP {status} without an error body"
        ))),
    }
}
