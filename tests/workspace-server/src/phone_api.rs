//! The phone endpoints under `/api/v1` (contract, "Phone endpoints"), plus the page behind
//! the activation link itself. Every handler takes the raw body, because signed calls hash
//! the exact bytes received; fault injection wraps all of these routes.
//!
//! Long-poll: `events` subscribes to the key's sequence watch while holding the state lock,
//! then waits without it, so an event appended in between is never missed.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware;
use axum::response::Html;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::activation;
use crate::clock::now_ms;
use crate::device_auth::{self, SignedRequest};
use crate::error::ApiError;
use crate::faults;
use crate::state::{self, Shared};

/// Longest long-poll the contract allows, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

type Answer = Result<Json<Value>, ApiError>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/activations/redeem", post(redeem))
        .route("/api/v1/devices/{id}", get(device))
        .route("/api/v1/devices/{id}/client-pin", post(client_pin))
        .route("/api/v1/devices/{id}/events", get(events))
        .route("/api/v1/devices/{id}/revocation-ack", post(revocation_ack))
        .route("/api/v1/devices/{id}/obr-receipts", post(obr_receipt))
        .route("/api/v1/devices/{id}/obr-refusals", post(obr_refusal))
        .route("/api/v1/devices/{id}/obr-key", post(obr_key))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            faults::inject,
        ))
        .route("/activate", get(activate_page))
        .with_state(shared)
}

fn now_secs() -> i64 {
    i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
}

/// The device-signature check every `/devices/{id}` call starts with; the assignment index.
fn signed_by(
    state: &state::State,
    id: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<usize, ApiError> {
    let request = SignedRequest {
        method,
        uri,
        headers,
        body,
    };
    device_auth::verify(state, id, &request, now_secs())
}

async fn redeem(State(shared): State<Arc<Shared>>, body: Bytes) -> Answer {
    let mut state = shared.lock();
    activation::redeem(&mut state, &body, now_ms()).map(Json)
}

async fn device(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let state = shared.lock();
    let index = signed_by(&state, &id, &Method::GET, &uri, &headers, &body)?;
    activation::device_status(&state, index).map(Json)
}

async fn client_pin(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let mut state = shared.lock();
    let index = signed_by(&state, &id, &Method::POST, &uri, &headers, &body)?;
    activation::submit_pin(&mut state, index, &body, now_ms()).map(Json)
}

async fn revocation_ack(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let mut state = shared.lock();
    let index = signed_by(&state, &id, &Method::POST, &uri, &headers, &body)?;
    activation::acknowledge_revocation(&mut state, index).map(Json)
}

/// A receipt for a registration made under a grant (contract, phone endpoint 7): 201 when
/// stored.
async fn obr_receipt(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut state = shared.lock();
    let index = signed_by(&state, &id, &Method::POST, &uri, &headers, &body)?;
    let answer = state.record_receipt(index, &body, now_ms())?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The phone refused a grant before connecting (contract, phone endpoint 8): 204.
async fn obr_refusal(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let mut state = shared.lock();
    let index = signed_by(&state, &id, &Method::POST, &uri, &headers, &body)?;
    state.record_refusal(index, &body, now_ms())?;
    Ok(StatusCode::NO_CONTENT)
}

/// The phone tells its OBR key (contract, phone endpoint 9): 204.
async fn obr_key(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let mut state = shared.lock();
    let index = signed_by(&state, &id, &Method::POST, &uri, &headers, &body)?;
    activation::register_obr_key(&mut state, index, &body)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `after` (default 0) and `wait` (default 0, at most 30) from the query string.
fn events_query(query: Option<&str>) -> Result<(u64, u64), ApiError> {
    let (mut after, mut wait) = (0, 0);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("{name} must be a whole number")))
        };
        match name {
            "after" => after = number()?,
            "wait" => wait = number()?,
            _ => {}
        }
    }
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(format!(
            "wait must be 0 to {MAX_WAIT_SECS} seconds"
        )));
    }
    Ok((after, wait))
}

async fn events(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let (index, after, wait, mut newest) = {
        let state = shared.lock();
        let index = signed_by(&state, &id, &Method::GET, &uri, &headers, &body)?;
        let (after, wait) = events_query(uri.query())?;
        let assignment = state
            .assignment(index)
            .ok_or_else(|| ApiError::internal("key index out of range"))?;
        let (events, next) = assignment.events_after(after);
        if !events.is_empty() || wait == 0 {
            return Ok(Json(json!({ "events": events, "next": next })));
        }
        (index, after, wait, assignment.subscribe())
    };
    // A timeout or a closed channel both just mean "answer with what there is".
    let _ = tokio::time::timeout(
        Duration::from_secs(wait),
        newest.wait_for(|seq| *seq > after),
    )
    .await;
    let state = shared.lock();
    let (events, next) = state
        .assignment(index)
        .ok_or_else(|| ApiError::internal("key index out of range"))?
        .events_after(after);
    Ok(Json(json!({ "events": events, "next": next })))
}

/// What a browser shows for the https form of the link: the app should have opened it.
async fn activate_page() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Activate your smartphone security key</title>\
         <p>Open this link on your phone with the security key app to activate your \
         smartphone security key.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::events_query;

    #[test]
    fn events_query_defaults_and_limits() {
        assert_eq!(events_query(None).unwrap(), (0, 0));
        assert_eq!(events_query(Some("after=3&wait=30")).unwrap(), (3, 30));
        assert!(events_query(Some("wait=31")).is_err());
        assert!(events_query(Some("after=x")).is_err());
    }
}
