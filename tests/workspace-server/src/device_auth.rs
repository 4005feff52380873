//! Request signatures of phone calls after redeem (contract, phone endpoint 2): the device
//! signs `METHOD \n path?query \n timestamp \n hex(SHA-256(body))` with its P-256 key (ECDSA
//! over SHA-256, DER) and sends `X-Security-Key-Id`, `X-Timestamp`, `X-Signature`.
//!
//! Every failure is the same 401 `bad_signature`; the message says which check failed, to
//! help whoever is debugging a phone. The signed path is the request target exactly as
//! received, so any re-encoding by a proxy would (correctly) break the signature.

use axum::http::{HeaderMap, Method, Uri};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::State;

/// Largest accepted |timestamp - now|, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

pub const HEADER_KEY_ID: &str = "x-security-key-id";
pub const HEADER_TIMESTAMP: &str = "x-timestamp";
pub const HEADER_SIGNATURE: &str = "x-signature";

pub fn signing_input(method: &str, path_and_query: &str, timestamp: &str, body: &[u8]) -> String {
    let hex: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{method}\n{path_and_query}\n{timestamp}\n{hex}")
}

pub struct SignedRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Checks the signature of a call on `/devices/{path_key_id}/...`; returns the assignment.
pub fn verify(
    state: &State,
    path_key_id: &str,
    request: &SignedRequest<'_>,
    now_secs: i64,
) -> Result<usize, ApiError> {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::bad_signature(format!("missing or unreadable {name} header")))
    };
    let key_id = header(HEADER_KEY_ID)?;
    let timestamp = header(HEADER_TIMESTAMP)?;
    let signature = header(HEADER_SIGNATURE)?;
    if key_id != path_key_id {
        return Err(ApiError::bad_signature(
            "X-Security-Key-Id does not match the key id in the path",
        ));
    }
    let index = *state
        .by_key_id
        .get(key_id)
        .ok_or_else(|| ApiError::bad_signature("unknown security key id"))?;
    let public_key = state
        .assignment(index)
        .and_then(|a| a.device.as_ref())
        .map(|d| d.public_key)
        .ok_or_else(|| ApiError::bad_signature("unknown security key id"))?;
    let seconds: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::bad_signature("X-Timestamp is not unix seconds"))?;
    if (seconds - now_secs).abs() > MAX_SKEW_SECS {
        return Err(ApiError::bad_signature(format!(
            "X-Timestamp is more than {MAX_SKEW_SECS} s away from the server's clock"
        )));
    }
    let der = B64
        .decode(signature)
        .ok()
        .and_then(|bytes| DerSignature::from_bytes(&bytes).ok())
        .ok_or_else(|| ApiError::bad_signature("X-Signature is not base64url DER"))?;
    let path_and_query = request
        .uri
        .path_and_query()
        .map_or_else(|| request.uri.path(), |pq| pq.as_str());
    let message = signing_input(
        request.method.as_str(),
        path_and_query,
        timestamp,
        request.body,
    );
    public_key
        .verify(message.as_bytes(), &der)
        .map_err(|_| ApiError::bad_signature("the signature does not verify"))?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::signing_input;

    #[test]
    fn empty_body_hashes_the_empty_string() {
        assert_eq!(
            signing_input("GET", "/api/v1/devices/sk_1", "1700000000", b""),
            "GET\n/api/v1/devices/sk_1\n1700000000\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
