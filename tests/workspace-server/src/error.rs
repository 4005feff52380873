//! The contract's error body, `{"error": code, "message": text}` with an HTTP status, as one
//! type every handler returns. `attempts_left` is only set for `wrong_pin`, `reason` (the
//! core's rule name) only for `invalid_receipt`.
//!
//! Messages describe the request, never a secret (no PIN, proof, code or key bytes).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub attempts_left: Option<u32>,
    pub reason: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            attempts_left: None,
            reason: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn bad_signature(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "bad_signature", message)
    }

    pub fn unknown_user() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            "no user with this id",
        )
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "invalid_state", message)
    }

    pub fn locked() -> Self {
        Self::new(
            StatusCode::LOCKED,
            "locked",
            "too many wrong client PINs; the administrator must assign the key again",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The OS random source failed: nothing sensible can be made without it.
    pub fn no_randomness() -> Self {
        Self::internal("the system random source is unavailable")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.code, "message": self.message });
        if let (Some(n), Some(map)) = (self.attempts_left, body.as_object_mut()) {
            map.insert("attempts_left".into(), n.into());
        }
        if let (Some(reason), Some(map)) = (self.reason, body.as_object_mut()) {
            map.insert("reason".into(), reason.into());
        }
        (self.status, Json(body)).into_response()
    }
}

/// Parses a JSON request body, mapping any failure to the contract's 400.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}
