//! The workspace API client (`proto/workspace-api.yaml`): the core's HTTP client (`crate::http`,
//! rustls with the ring provider), JSON bodies, every call after redeem signed with the device identity key. The
//! endpoints and their typed answers; the events' wire form (`Event`) is typed once more by
//! `super::events`.
//!
//! Invariants: network failures, timeouts and 5xx answers are retried with exponential backoff
//! (redeem is idempotent for the same device, so a retry after a lost answer is safe); 4xx
//! answers map to the contract's error codes and are never retried. Nothing here logs a code,
//! a PIN proof or a key. An answer is read up to [`MAX_ANSWER`] bytes, no further.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::WorkspaceError;
use crate::http::{self, Origin, Request, Url};

/// Attempts for a retryable failure, and the first pause (doubled each time).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// How long one request may take unless the app says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Long-polls wait this much longer than the server's own wait.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(10);
/// The longest answer read (an events page is a few KiB; the contract sets no larger body).
pub const MAX_ANSWER: usize = 1 << 20;

pub struct WorkspaceClient {
    http: http::Client,
    origin: Origin,
    /// The base URL's path, prefixed to every request's.
    prefix: String,
    timeout: Duration,
}

/// The device key and id used to sign requests.
pub struct DeviceIdentity {
    pub security_key_id: String,
    pub key: SigningKey,
}

#[derive(Debug, Deserialize)]
// The whole answer as proto/workspace-api.yaml defines it; the phone acts on part of it.
#[allow(dead_code)]
pub struct RedeemResponse {
    pub security_key_id: String,
    pub user: UserBody,
    pub workspace: WorkspaceBody,
    pub grant_signing_key: String,
    pub relay_url: String,
    pub status: String,
    pub pin_policy: PinPolicyBody,
    #[serde(default)]
    pub pin_nonce: Option<String>,
    /// The OBR key the workspace stored for this device (b64u SEC1), echoed; absent from a
    /// workspace that did not store one (the phone then registers it with `obr-key`).
    #[serde(default)]
    pub obr_public_key: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Deserialize)]
pub struct WorkspaceBody {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct PinPolicyBody {
    pub client_pin: bool,
    pub force_change: bool,
    pub min_length: u8,
}

#[derive(Debug, Deserialize)]
pub struct PinResponse {
    pub status: String,
    pub force_change: bool,
}

#[derive(Debug, Deserialize)]
pub struct DeviceResponse {
    pub status: String,
}

#[derive(Debug, Deserialize)]
pub struct EventsResponse {
    pub events: Vec<Event>,
    pub next: u64,
}

/// One event as it comes over the wire; [`super::events`] types it.
#[derive(Debug, Deserialize)]
// The whole answer as proto/workspace-api.yaml defines it; the phone acts on part of it.
#[allow(dead_code)]
pub struct Event {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: Option<String>,
    /// `obr_request` and `obr_stopped`: the grant id (b64u of 16 bytes).
    #[serde(default)]
    pub grant_id: Option<String>,
    /// `obr_request`: the COSE_Sign1 grant (b64u); the only signed field of the event.
    #[serde(default)]
    pub grant: Option<String>,
    /// `obr_request`: where the admin's pairing tool waits (unsigned hints).
    #[serde(default)]
    pub relay_url: Option<String>,
    #[serde(default)]
    pub admin_door: Option<String>,
    #[serde(default)]
    pub admin_name: Option<String>,
    #[serde(default)]
    pub expires_at: Option<u64>,
}

#[derive(Debug, Deserialize)]
// The whole answer as proto/workspace-api.yaml defines it; the phone acts on part of it.
#[allow(dead_code)]
pub struct ReceiptResponse {
    pub grant_id: String,
    pub index: u64,
    pub registrations: u64,
    pub max_registrations: u64,
}

/// The error codes of the workspace's answers (`{"error": "<code>"}`) that this phone acts
/// on, with their wire names (`proto/workspace-api.yaml`); any other code is only shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 404 on redeem: no such activation code.
    UnknownCode,
    /// 410 on redeem: the link expired.
    Expired,
    /// 410 on redeem: the administrator revoked the assignment.
    Revoked,
    /// 409 on redeem: another device redeemed the link.
    AlreadyRedeemed,
    /// 403 on the client-PIN proof.
    WrongPin,
    /// 409 on a receipt: the workspace already holds it (a retry after a lost answer).
    AlreadyRecorded,
    /// 404 on a refusal report: the workspace does not know the grant.
    UnknownGrant,
}

impl ErrorCode {
    const ALL: [Self; 7] = [
        Self::UnknownCode,
        Self::Expired,
        Self::Revoked,
        Self::AlreadyRedeemed,
        Self::WrongPin,
        Self::AlreadyRecorded,
        Self::UnknownGrant,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnknownCode => "unknown_code",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::AlreadyRedeemed => "already_redeemed",
            Self::WrongPin => "wrong_pin",
            Self::AlreadyRecorded => "already_recorded",
            Self::UnknownGrant => "unknown_grant",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    attempts_left: Option<u32>,
}

impl WorkspaceClient {
    /// A client for the workspace at `base`; each request may take up to `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, WorkspaceError> {
        let base = base.trim_end_matches('/');
        let url = Url::parse(base)
            .and_then(|url| Ok((Origin::of(&url)?, url.path)))
            .map_err(|e| WorkspaceError::Network {
                reason: format!("the workspace address is not usable: {e}"),
            });
        let (origin, prefix) = url?;
        Ok(Self {
            http: http::Client::shared(),
            origin,
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    /// Redeems an activation code for the device key, telling the workspace the OBR key
    /// (the phone's static key in OBR sessions) too.
    pub async fn redeem(
        &self,
        code: &str,
        device_public_key: &[u8],
        obr_public_key: &[u8],
        device_name: &str,
    ) -> Result<RedeemResponse, WorkspaceError> {
        let body = serde_json::json!({
            "code": code,
            "device_public_key": B64.encode(device_public_key),
            "obr_public_key": B64.encode(obr_public_key),
            "device_name": device_name,
            "platform": match std::env::consts::OS {
                os @ ("android" | "ios") => os,
                _ => "virtual",
            },
        });
        self.call(
            "POST",
            "/api/v1/activations/redeem",
            Some(body),
            None,
            self.timeout,
        )
        .await
    }

    pub async fn submit_pin_proof(
        &self,
        device: &DeviceIdentity,
        proof: &[u8],
    ) -> Result<PinResponse, WorkspaceError> {
        let path = format!("/api/v1/devices/{}/client-pin", device.security_key_id);
        let body = serde_json::json!({ "proof": B64.encode(proof) });
        self.call("POST", &path, Some(body), Some(device), self.timeout)
            .await
    }

    pub async fn device(&self, device: &DeviceIdentity) -> Result<DeviceResponse, WorkspaceError> {
        let path = format!("/api/v1/devices/{}", device.security_key_id);
        self.call("GET", &path, None, Some(device), self.timeout)
            .await
    }

    /// Waits up to `wait` for events after `after`.
    pub async fn events(
        &self,
        device: &DeviceIdentity,
        after: u64,
        wait: Duration,
    ) -> Result<EventsResponse, WorkspaceError> {
        let path = format!(
            "/api/v1/devices/{}/events?after={after}&wait={}",
            device.security_key_id,
            wait.as_secs().min(30)
        );
        self.call("GET", &path, None, Some(device), wait + LONG_POLL_MARGIN)
            .await
    }

    pub async fn acknowledge_revocation(
        &self,
        device: &DeviceIdentity,
    ) -> Result<(), WorkspaceError> {
        let path = format!("/api/v1/devices/{}/revocation-ack", device.security_key_id);
        let _: serde_json::Value = self
            .call(
                "POST",
                &path,
                Some(serde_json::json!({})),
                Some(device),
                self.timeout,
            )
            .await?;
        Ok(())
    }

    /// Posts an on-behalf registration receipt (endpoint 7). A 409 `already_recorded` (a retry
    /// after a lost answer) is reported as `Ok(None)`.
    pub async fn post_obr_receipt(
        &self,
        device: &DeviceIdentity,
        receipt: &[u8],
    ) -> Result<Option<ReceiptResponse>, WorkspaceError> {
        let path = format!("/api/v1/devices/{}/obr-receipts", device.security_key_id);
        let body = serde_json::json!({ "receipt": B64.encode(receipt) });
        match self
            .call("POST", &path, Some(body), Some(device), self.timeout)
            .await
        {
            Ok(answer) => Ok(Some(answer)),
            Err(WorkspaceError::Server { status: 409, code })
                if ErrorCode::parse(&code) == Some(ErrorCode::AlreadyRecorded) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Tells the workspace the phone's OBR key (SEC1 uncompressed), for a phone activated
    /// before the key existed: `POST /api/v1/devices/{sk}/obr-key`, signed with the device
    /// key. 204 once stored (or already stored); 409 `obr_key_set` if another one is.
    pub async fn register_obr_key(
        &self,
        device: &DeviceIdentity,
        obr_public_key: &[u8],
    ) -> Result<(), WorkspaceError> {
        let path = format!("/api/v1/devices/{}/obr-key", device.security_key_id);
        let body = serde_json::json!({ "obr_public_key": B64.encode(obr_public_key) });
        self.call::<serde_json::Value>("POST", &path, Some(body), Some(device), self.timeout)
            .await
            .map(|_| ())
    }

    /// Tells the workspace that the phone refused the `obr_request` of `grant_id` (the event's
    /// own b64url id) with `code`, so the administrator sees why. `Ok(true)` once recorded
    /// (204); `Ok(false)` if the workspace does not know the grant (404 `unknown_grant`, final).
    /// Transport failures and 5xx answers are retried by [`call`](Self::call).
    pub async fn post_obr_refusal(
        &self,
        device: &DeviceIdentity,
        grant_id: &str,
        code: &str,
    ) -> Result<bool, WorkspaceError> {
        let path = format!("/api/v1/devices/{}/obr-refusals", device.security_key_id);
        let body = obr_refusal_body(grant_id, code);
        match self
            .call::<serde_json::Value>("POST", &path, Some(body), Some(device), self.timeout)
            .await
        {
            Ok(_) => Ok(true),
            Err(WorkspaceError::Server { status: 404, code })
                if ErrorCode::parse(&code) == Some(ErrorCode::UnknownGrant) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        device: Option<&DeviceIdentity>,
        timeout: Duration,
    ) -> Result<T, WorkspaceError> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut pause = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.once(method, path, &body, device, timeout).await {
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    tracing::warn!(%e, attempt, "workspace call failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn once<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &str,
        device: Option<&DeviceIdentity>,
        timeout: Duration,
    ) -> Result<T, WorkspaceError> {
        let target = format!("{}{path}", self.prefix);
        let mut headers = vec![("content-type", "application/json")];
        let signed_headers;
        if let Some(device) = device {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let signed = signing_input(method, path, timestamp, body.as_bytes());
            let signature: DerSignature = device.key.sign(signed.as_bytes());
            signed_headers = [timestamp.to_string(), B64.encode(signature.as_bytes())];
            headers.extend([
                ("x-security-key-id", device.security_key_id.as_str()),
                ("x-timestamp", signed_headers[0].as_str()),
                ("x-signature", signed_headers[1].as_str()),
            ]);
        }
        let request = Request {
            method: if method == "POST" { "POST" } else { "GET" },
            target: &target,
            headers: &headers,
            body: body.as_bytes(),
            timeout,
        };
        let response = self
            .http
            .send(&self.origin, &request)
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let bytes = response.body(MAX_ANSWER).await.map_err(transport_error)?;
        if (200..300).contains(&status) {
            // A 204 (or any empty success) reads as JSON `null`.
            let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(bytes)
                .map_err(|e| WorkspaceError::UnexpectedResponse(e.to_string()));
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        let code = error.as_ref().map(|e| e.error.as_str()).unwrap_or("");
        Err(match (status, ErrorCode::parse(code)) {
            (404, Some(ErrorCode::UnknownCode)) => WorkspaceError::UnknownCode,
            (410, Some(ErrorCode::Expired)) => WorkspaceError::LinkExpired,
            (410, Some(ErrorCode::Revoked)) => WorkspaceError::AssignmentRevoked,
            (409, Some(ErrorCode::AlreadyRedeemed)) => WorkspaceError::LinkAlreadyUsed,
            (423, _) => WorkspaceError::ActivationLocked,
            (403, Some(ErrorCode::WrongPin)) => WorkspaceError::WrongPin {
                attempts_left: error.and_then(|e| e.attempts_left).unwrap_or(0),
            },
            (401, _) => WorkspaceError::Unauthorized,
            _ => WorkspaceError::Server {
                status,
                code: if code.is_empty() {
                    "no error code".into()
                } else {
                    code.to_owned()
                },
            },
        })
    }
}

/// The JSON body of an OBR refusal report (`POST /api/v1/devices/{sk}/obr-refusals`).
pub fn obr_refusal_body(grant_id: &str, code: &str) -> serde_json::Value {
    serde_json::json!({ "grant_id": grant_id, "code": code })
}

/// The string a device signs: method, path with query, timestamp, SHA-256 of the body.
pub fn signing_input(method: &str, path: &str, timestamp: u64, body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{method}\n{path}\n{timestamp}\n{hex}")
}

/// Tells a TLS failure from other transport failures (both retryable by the user, but a TLS
/// error usually means a wrong or intercepted server, so it gets its own message).
fn transport_error(error: http::Error) -> WorkspaceError {
    let reason = match error {
        http::Error::Tls(reason) => return WorkspaceError::Tls { reason },
        http::Error::TooLarge(limit) => {
            return WorkspaceError::UnexpectedResponse(format!("an answer over {limit} bytes"));
        }
        http::Error::Timeout => "the request timed out".to_owned(),
        http::Error::Connect(_) => "the connection failed".to_owned(),
        other => other.to_string(),
    };
    WorkspaceError::Network { reason }
}

/// b64url without padding, as the contract uses.
pub fn decode_b64(text: &str) -> Result<Vec<u8>, WorkspaceError> {
    B64.decode(text)
        .map_err(|_| WorkspaceError::UnexpectedResponse("a binary field is not base64url".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_keep_their_wire_names() {
        for (code, wire) in [
            (ErrorCode::UnknownCode, "unknown_code"),
            (ErrorCode::Expired, "expired"),
            (ErrorCode::Revoked, "revoked"),
            (ErrorCode::AlreadyRedeemed, "already_redeemed"),
            (ErrorCode::WrongPin, "wrong_pin"),
            (ErrorCode::AlreadyRecorded, "already_recorded"),
            (ErrorCode::UnknownGrant, "unknown_grant"),
        ] {
            assert_eq!(code.as_str(), wire);
            assert_eq!(ErrorCode::parse(wire), Some(code));
        }
        assert_eq!(ErrorCode::parse("no_obr_key"), None);
    }
}
