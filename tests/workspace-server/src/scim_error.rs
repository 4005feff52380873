//! RFC 7644 §3.12 error responses: `{"schemas": [Error URN], "status": "400", "scimType":
//! "invalidFilter", "detail": "..."}` with the same HTTP status and `application/scim+json`.
//! `scimType` is one of RFC 7644 Table 9's keywords, or absent (401, 404, 405, 500).
//!
//! Details describe the request, never the bearer token.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// RFC 7644 §8.1.
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// The `Allow` header of a 405 (RFC 9110 §15.5.6).
    pub allow: Option<&'static str>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            allow: None,
        }
    }

    /// 400 with one of RFC 7644 Table 9's types.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad("invalidFilter", detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad("invalidValue", detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad("invalidSyntax", detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad("invalidPath", detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad("noTarget", detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad("mutability", detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "a valid bearer token is required (admin CLI: scim-token)",
        )
    }

    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(map)) = (self.scim_type, body.as_object_mut()) {
            map.insert("scimType".into(), t.into());
        }
        body
    }
}

/// Workspace rules (email syntax, name lengths, key states) keep their message; a conflict
/// there is a uniqueness conflict, anything else a bad value.
impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        match e.status {
            StatusCode::CONFLICT if e.code == "email_exists" => Self::uniqueness(e.message),
            StatusCode::NOT_FOUND => Self::not_found(e.message),
            StatusCode::INTERNAL_SERVER_ERROR => Self::new(e.status, None, e.message),
            StatusCode::CONFLICT => Self::new(StatusCode::CONFLICT, None, e.message),
            _ => Self::invalid_value(e.message),
        }
    }
}

pub fn scim_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    response
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut response = scim_response(self.status, &self.body());
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        response
    }
}
