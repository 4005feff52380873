//! Fault injection for tests (contract, "Fault injection"): the next `count` phone requests
//! whose path starts with `path_prefix` fail with 503 or 500, or are answered late. A failed
//! request is refused before it reaches its handler, so it changes no state.
//!
//! Rules are kept in the order they were armed; a request consumes one use of the first
//! matching rule that has uses left.
//!
//! OBR grant faults (`kind: "obr_grant"`) are separate: they do not touch requests but change
//! what the next `count` OBR starts deliver in their `obr_request` event (see [`GrantFault`]),
//! so a phone's refusal before it ever connects can be tested end to end.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::Shared;

/// Longest injected delay, so a typo cannot hang a test run.
pub const MAX_DELAY_MS: u64 = 120_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    #[serde(rename = "status_503")]
    Status503,
    #[serde(rename = "status_500")]
    Status500,
    #[serde(rename = "delay_ms")]
    DelayMs,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    pub path_prefix: String,
    pub count: u32,
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl FaultRule {
    pub fn validate(&self) -> Result<(), ApiError> {
        if !self.path_prefix.starts_with('/') {
            return Err(ApiError::bad_request("path_prefix must start with /"));
        }
        if self.count == 0 {
            return Err(ApiError::bad_request("count must be at least 1"));
        }
        match (self.kind, self.delay_ms) {
            (FaultKind::DelayMs, Some(ms)) if ms <= MAX_DELAY_MS => Ok(()),
            (FaultKind::DelayMs, _) => Err(ApiError::bad_request(format!(
                "kind delay_ms needs delay_ms between 0 and {MAX_DELAY_MS}"
            ))),
            (_, None) => Ok(()),
            (_, Some(_)) => Err(ApiError::bad_request("delay_ms is only for kind delay_ms")),
        }
    }
}

/// What an armed OBR grant fault does to the grant an `obr_request` event carries (the grant
/// record the administrator gets keeps the real grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantFault {
    /// The real grant with one signature byte flipped (the phone: `bad_signature`).
    ForgeSignature,
    /// Correctly signed, naming another security key id (`wrong_security_key`).
    OtherKey,
    /// Correctly signed, issued 1200 s ago and expired 600 s ago (`expired`).
    Expired,
    /// The grant id and bytes of the previous `obr_request` to that device (`replayed`).
    Replay,
}

/// `POST /admin/faults` with `kind: "obr_grant"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantFaultRule {
    pub kind: GrantFaultKind,
    pub grant_fault: GrantFault,
    #[serde(default = "one")]
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantFaultKind {
    #[serde(rename = "obr_grant")]
    ObrGrant,
}

fn one() -> u32 {
    1
}

impl GrantFaultRule {
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.count == 0 {
            return Err(ApiError::bad_request("count must be at least 1"));
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
    grant_rules: Vec<GrantFaultRule>,
}

enum Action {
    Fail(StatusCode),
    Delay(u64),
}

impl Faults {
    pub fn arm(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub fn arm_grant(&mut self, rule: GrantFaultRule) {
        self.grant_rules.push(rule);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
        self.grant_rules.clear();
    }

    /// One use of the oldest armed OBR grant fault, for an OBR start.
    pub fn take_grant_fault(&mut self) -> Option<GrantFault> {
        let rule = self.grant_rules.iter_mut().find(|r| r.count > 0)?;
        rule.count -= 1;
        let fault = rule.grant_fault;
        self.grant_rules.retain(|r| r.count > 0);
        Some(fault)
    }

    fn take(&mut self, path: &str) -> Option<Action> {
        let rule = self
            .rules
            .iter_mut()
            .find(|r| r.count > 0 && path.starts_with(&r.path_prefix))?;
        rule.count -= 1;
        let action = match rule.kind {
            FaultKind::Status503 => Action::Fail(StatusCode::SERVICE_UNAVAILABLE),
            FaultKind::Status500 => Action::Fail(StatusCode::INTERNAL_SERVER_ERROR),
            FaultKind::DelayMs => Action::Delay(rule.delay_ms.unwrap_or(0)),
        };
        self.rules.retain(|r| r.count > 0);
        Some(action)
    }
}

/// Middleware on the phone routes.
pub async fn inject(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let action = shared.lock().faults.take(request.uri().path());
    match action {
        Some(Action::Fail(status)) => {
            let code = if status == StatusCode::SERVICE_UNAVAILABLE {
                "unavailable"
            } else {
                "internal"
            };
            ApiError::new(status, code, "injected fault").into_response()
        }
        Some(Action::Delay(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        None => next.run(request).await,
    }
}
