//! The emulator-only admin endpoints under `/admin` (contract, "Admin endpoints"): users,
//! CSV import, assigning a smartphone key, suspend/resume/revoke/delete, binding jobs,
//! on-behalf registration (start, stop, list grants, the user's passkeys), the outbox and
//! fault injection, the SCIM bearer token (issue/rotate, show). No authentication: the server listens on loopback only.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::clock::now_ms;
use crate::csv_import::{self, CsvLine};
use crate::error::{ApiError, parse_json};
use crate::faults::{FaultRule, GrantFaultRule};
use crate::state::Shared;

type Answer = Result<Response, ApiError>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/admin/users", post(add_user).get(list_users))
        .route("/admin/users/import", post(import_users))
        .route("/admin/users/{id}", axum::routing::delete(delete_user))
        .route("/admin/users/{id}/security-key", post(assign_key))
        .route("/admin/users/{id}/suspend", post(suspend))
        .route("/admin/users/{id}/resume", post(resume))
        .route("/admin/users/{id}/revoke", post(revoke))
        .route("/admin/users/{id}/binding-jobs", get(binding_jobs))
        .route("/admin/users/{id}/obr", post(start_obr))
        .route("/admin/users/{id}/passkeys", get(passkeys))
        .route("/admin/obr", get(list_obr))
        .route("/admin/obr/{grant_id}", axum::routing::delete(stop_obr))
        .route("/admin/outbox", get(outbox))
        .route("/admin/faults", post(arm_fault).delete(clear_faults))
        .route("/admin/scim-token", post(rotate_scim_token).get(scim_token))
        .with_state(shared)
}

#[derive(Deserialize)]
struct NewUser {
    email: String,
    display_name: String,
    #[serde(default)]
    groups: Vec<String>,
}

async fn add_user(State(shared): State<Arc<Shared>>, body: Bytes) -> Answer {
    let user: NewUser = parse_json(&body)?;
    let view = shared
        .lock()
        .add_user(&user.email, &user.display_name, &user.groups)?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn list_users(State(shared): State<Arc<Shared>>) -> Answer {
    Ok(Json(shared.lock().users()).into_response())
}

async fn import_users(State(shared): State<Arc<Shared>>, body: Bytes) -> Answer {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the CSV file is not UTF-8"))?;
    let lines = csv_import::parse(text)?;
    let mut state = shared.lock();
    let mut imported = 0;
    let mut skipped = Vec::new();
    for line in lines {
        match line {
            CsvLine::Bad { line, reason } => {
                skipped.push(json!({ "line": line, "reason": reason }))
            }
            CsvLine::User(user) => {
                let groups: Vec<String> = user.group.into_iter().collect();
                match state.add_user_from(&user.email, &user.display_name, &groups, "csv", now_ms())
                {
                    Ok(_) => imported += 1,
                    Err(e) => skipped.push(json!({ "line": user.line, "reason": e.message })),
                }
            }
        }
    }
    Ok(Json(json!({ "imported": imported, "skipped": skipped })).into_response())
}

#[derive(Deserialize)]
struct AssignRequest {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    client_pin: bool,
    #[serde(default)]
    force_change: bool,
}

async fn assign_key(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let request: AssignRequest = parse_json(&body)?;
    if request.kind != "smartphone" {
        return Err(ApiError::bad_request(
            "only type \"smartphone\" is emulated",
        ));
    }
    let view = shared
        .lock()
        .assign(&id, request.client_pin, request.force_change, now_ms())?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn suspend(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Answer {
    Ok(Json(shared.lock().suspend(&id, now_ms())?).into_response())
}

async fn resume(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Answer {
    Ok(Json(shared.lock().resume(&id, now_ms())?).into_response())
}

async fn revoke(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Answer {
    Ok(Json(shared.lock().revoke(&id, now_ms())?).into_response())
}

async fn delete_user(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Answer {
    shared.lock().delete_user(&id, now_ms())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn binding_jobs(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Answer {
    Ok(Json(shared.lock().binding_jobs(&id)?).into_response())
}

async fn start_obr(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let request = parse_json(&body)?;
    let started = shared.lock().start_obr(&id, request, now_ms())?;
    Ok((StatusCode::CREATED, Json(started)).into_response())
}

async fn stop_obr(State(shared): State<Arc<Shared>>, Path(grant_id): Path<String>) -> Answer {
    Ok(Json(shared.lock().stop_obr(&grant_id, now_ms())?).into_response())
}

async fn list_obr(State(shared): State<Arc<Shared>>) -> Answer {
    Ok(Json(shared.lock().obr_grants(now_ms())).into_response())
}

async fn passkeys(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Answer {
    Ok(Json(shared.lock().passkeys(&id)?).into_response())
}

#[derive(Deserialize)]
struct OutboxQuery {
    to: Option<String>,
}

async fn outbox(State(shared): State<Arc<Shared>>, Query(query): Query<OutboxQuery>) -> Answer {
    Ok(Json(shared.lock().outbox(query.to.as_deref())).into_response())
}

async fn arm_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Answer {
    let value: serde_json::Value = parse_json(&body)?;
    if value.get("kind").and_then(serde_json::Value::as_str) == Some("obr_grant") {
        let rule: GrantFaultRule = serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("invalid OBR grant fault: {e}")))?;
        rule.validate()?;
        shared.lock().faults.arm_grant(rule.clone());
        return Ok((StatusCode::CREATED, Json(rule)).into_response());
    }
    let rule: FaultRule = parse_json(&body)?;
    rule.validate()?;
    shared.lock().faults.arm(rule.clone());
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Answer {
    shared.lock().faults.clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Issues a new SCIM bearer token; the previous one stops working at once.
async fn rotate_scim_token(State(shared): State<Arc<Shared>>) -> Answer {
    let token = shared.lock().rotate_scim_token()?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token }))).into_response())
}

/// The current SCIM token, `null` before the first one is issued.
async fn scim_token(State(shared): State<Arc<Shared>>) -> Answer {
    let token = shared.lock().scim_token()?;
    Ok(Json(json!({ "token": token })).into_response())
}
