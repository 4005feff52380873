//! The answers of link.md §5.4 that are not a success: an HTTP status with a body of one
//! line of UTF-8 text. Messages name the failed rule, never an id or frame bytes.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayError {
    pub status: StatusCode,
    pub message: &'static str,
}

impl RelayError {
    const fn new(status: StatusCode, message: &'static str) -> Self {
        Self { status, message }
    }

    pub const fn bad_request(message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub const fn not_found(message: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub const fn conflict(message: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub const fn gone() -> Self {
        Self::new(StatusCode::GONE, "frame already acknowledged and dropped")
    }

    pub const fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "frame larger than 65535 bytes",
        )
    }

    pub const fn queue_full(message: &'static str) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, message)
    }

    pub const fn unavailable(message: &'static str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// The shared store (Redis) does not answer; retry later (link.md, operations notes).
    pub const fn store_unavailable() -> Self {
        Self::unavailable("the relay's store is unavailable")
    }

    pub const fn unknown_session() -> Self {
        Self::not_found("unknown, expired or closed session")
    }

    pub const fn no_randomness() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the system random source is unavailable",
        )
    }
}

impl IntoResponse for RelayError {
    fn into_response(self) -> Response {
        crate::metrics::rejected(self.status, self.message);
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.message),
        )
            .into_response()
    }
}
