//! HTTP status codes (RFC 9110 §15) that the workspace and relay clients act on, and the
//! standard reason phrase of a code for error messages (the server's own phrase is not shown:
//! it is the server's text).

pub const OK: u16 = 200;
pub const CREATED: u16 = 201;
pub const NO_CONTENT: u16 = 204;
pub const NOT_FOUND: u16 = 404;
pub const CONFLICT: u16 = 409;
pub const GONE: u16 = 410;
pub const PAYLOAD_TOO_LARGE: u16 = 413;
pub const TOO_MANY_REQUESTS: u16 = 429;

/// `code` with its standard reason phrase (`500 Internal Server Error`), or the bare code.
pub fn with_reason(code: u16) -> String {
    let reason = match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        423 => "Locked",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return code.to_string(),
    };
    format!("{code} {reason}")
}
