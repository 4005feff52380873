//! The SCIM 2.0 endpoints under `/scim/v2` (RFC 7644): `Users` and `Groups` (create, get,
//! list with `filter`/`startIndex`/`count`, PUT, PATCH, DELETE), and the discovery
//! resources `ServiceProviderConfig`, `ResourceTypes`, `Schemas`. Described for tools in
//! `proto/scim-openapi.yaml`; choices in `proto/scim.md`.
//!
//! Every request needs `Authorization: Bearer <token>` (admin CLI `scim-token`); anything
//! else is 401 before the body is read. The directory is trusted to manage users (that is its
//! job) but not to be well-formed: every malformed body, filter or path is a 4xx SCIM error
//! and changes nothing (a PATCH is applied to a copy and stored only if all of it is valid).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::scim_error::{ScimError, scim_response};
use crate::scim_patch;
use crate::scim_state::{
    self, GROUP_SCHEMA, LIST_SCHEMA, ListQuery, USER_SCHEMA, parse_group, parse_user,
};
use crate::state::Shared;

type Answer = Result<Response, ScimError>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/scim/v2/Users", any(users))
        .route("/scim/v2/Users/.search", any(search_users))
        .route("/scim/v2/Groups/.search", any(search_groups))
        .route("/scim/v2/.search", any(search_all))
        .route("/scim/v2/Users/{id}", any(user))
        .route("/scim/v2/Groups", any(groups))
        .route("/scim/v2/Groups/{id}", any(group))
        .route(
            "/scim/v2/ServiceProviderConfig",
            any(service_provider_config),
        )
        .route("/scim/v2/ResourceTypes", any(resource_types))
        .route("/scim/v2/ResourceTypes/{name}", any(resource_type))
        .route("/scim/v2/Schemas", any(schemas))
        .route("/scim/v2/Schemas/{urn}", any(schema))
        .route("/scim/v2/{*rest}", any(unknown))
        .route_layer(middleware::from_fn_with_state(shared.clone(), bearer))
        .with_state(shared)
}

async fn bearer(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let allowed = presented.is_some_and(|t| shared.lock().scim_token_matches(&t));
    if !allowed {
        return ScimError::unauthorized().into_response();
    }
    next.run(request).await
}

fn ok(status: StatusCode, body: &Value) -> Answer {
    Ok(scim_response(status, body))
}

const COLLECTION: &str = "GET, POST";
const ITEM: &str = "GET, PUT, PATCH, DELETE";
const READ: &str = "GET";
const SEARCH: &str = "POST";

fn method_not_allowed(method: &Method, allow: &'static str) -> ScimError {
    ScimError {
        allow: Some(allow),
        ..ScimError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            format!("{method} is not supported here"),
        )
    }
}

fn json_body(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("malformed JSON: {e}")))
}

fn query(uri: &Uri) -> Result<HashMap<String, String>, ScimError> {
    let mut out = HashMap::new();
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |t: &str| -> Result<String, ScimError> {
            percent_decode(&t.replace('+', " ")).ok_or_else(|| {
                ScimError::invalid_syntax(format!(
                    "query parameter {name:?} is not valid percent-encoded UTF-8"
                ))
            })
        };
        out.insert(decode(name)?.to_ascii_lowercase(), decode(value)?);
    }
    Ok(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.9) on top-level attributes; `id` and
/// `schemas` always stay; an empty list is no list.
fn project(resource: &mut Value, params: &HashMap<String, String>) {
    let names = |key: &str| -> Option<Vec<String>> {
        params
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(|a| {
                        a.trim()
                            .rsplit(':')
                            .next()
                            .unwrap_or("")
                            .split('.')
                            .next()
                            .unwrap_or("")
                            .to_ascii_lowercase()
                    })
                    .filter(|a| !a.is_empty())
                    .collect::<Vec<String>>()
            })
            .filter(|names| !names.is_empty())
    };
    let Some(map) = resource.as_object_mut() else {
        return;
    };
    if let Some(keep) = names("attributes") {
        map.retain(|k, _| k == "id" || k == "schemas" || keep.contains(&k.to_ascii_lowercase()));
    } else if let Some(drop) = names("excludedattributes") {
        map.retain(|k, _| k == "id" || k == "schemas" || !drop.contains(&k.to_ascii_lowercase()));
    }
}

fn list(params: &HashMap<String, String>, resources: Vec<Value>) -> Answer {
    let query = ListQuery::parse(
        params.get("filter").map(String::as_str),
        params.get("startindex").map(String::as_str),
        params.get("count").map(String::as_str),
    )?;
    let mut answer = query.answer(resources);
    if let Some(Value::Array(items)) = answer.get_mut("Resources") {
        for item in items {
            project(item, params);
        }
    }
    ok(StatusCode::OK, &answer)
}

fn single(status: StatusCode, mut resource: Value, params: &HashMap<String, String>) -> Answer {
    project(&mut resource, params);
    ok(status, &resource)
}

async fn users(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, body: Bytes) -> Answer {
    let params = query(&uri)?;
    match method {
        Method::GET => {
            let resources = shared.lock().scim_users();
            list(&params, resources)
        }
        Method::POST => {
            let input = parse_user(&json_body(&body)?)?;
            let resource = shared.lock().scim_create_user(input, now_ms())?;
            single(StatusCode::CREATED, resource, &params)
        }
        other => Err(method_not_allowed(&other, COLLECTION)),
    }
}

async fn user(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let params = query(&uri)?;
    match method {
        Method::GET => {
            let resource = shared.lock().scim_user(&id)?;
            single(StatusCode::OK, resource, &params)
        }
        Method::PUT => {
            let input = parse_user(&json_body(&body)?)?;
            let resource = shared.lock().scim_replace_user(&id, input, now_ms())?;
            single(StatusCode::OK, resource, &params)
        }
        Method::PATCH => {
            let request = json_body(&body)?;
            let mut state = shared.lock();
            let mut resource = state.scim_user(&id)?;
            scim_patch::apply(&mut resource, &request)?;
            let input = parse_user(&resource)?;
            let resource = state.scim_replace_user(&id, input, now_ms())?;
            drop(state);
            single(StatusCode::OK, resource, &params)
        }
        Method::DELETE => {
            shared.lock().scim_delete_user(&id, now_ms())?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        other => Err(method_not_allowed(&other, ITEM)),
    }
}

async fn groups(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let params = query(&uri)?;
    match method {
        Method::GET => {
            let resources = shared.lock().scim_group_list();
            list(&params, resources)
        }
        Method::POST => {
            let input = parse_group(&json_body(&body)?)?;
            let resource = shared.lock().scim_put_group(None, input, now_ms())?;
            single(StatusCode::CREATED, resource, &params)
        }
        other => Err(method_not_allowed(&other, COLLECTION)),
    }
}

async fn group(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let params = query(&uri)?;
    match method {
        Method::GET => {
            let resource = shared.lock().scim_group(&id)?;
            single(StatusCode::OK, resource, &params)
        }
        Method::PUT => {
            let input = parse_group(&json_body(&body)?)?;
            let resource = shared.lock().scim_put_group(Some(&id), input, now_ms())?;
            single(StatusCode::OK, resource, &params)
        }
        Method::PATCH => {
            let request = json_body(&body)?;
            let mut state = shared.lock();
            let mut resource = state.scim_group(&id)?;
            scim_patch::apply(&mut resource, &request)?;
            let input = parse_group(&resource)?;
            let resource = state.scim_put_group(Some(&id), input, now_ms())?;
            drop(state);
            single(StatusCode::OK, resource, &params)
        }
        Method::DELETE => {
            shared.lock().scim_delete_group(&id, now_ms())?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        other => Err(method_not_allowed(&other, ITEM)),
    }
}

pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// A `POST .../.search` body (RFC 7644 §3.4.3) as the query parameters a GET would carry.
fn search_params(method: &Method, body: &Bytes) -> Result<HashMap<String, String>, ScimError> {
    if method != Method::POST {
        return Err(method_not_allowed(method, SEARCH));
    }
    let request = json_body(body)?;
    let schemas = request.get("schemas").and_then(Value::as_array);
    let only_search = schemas
        .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s.as_str() == Some(SEARCH_SCHEMA)));
    if !only_search {
        return Err(ScimError::invalid_syntax(format!(
            "a search body's schemas must be [\"{SEARCH_SCHEMA}\"]"
        )));
    }
    let mut params = HashMap::new();
    for (name, key) in [
        ("filter", "filter"),
        ("startIndex", "startindex"),
        ("count", "count"),
        ("attributes", "attributes"),
        ("excludedAttributes", "excludedattributes"),
    ] {
        let list = key.ends_with("attributes");
        let text = match (request.get(name), list) {
            (None | Some(Value::Null), _) => continue,
            (Some(Value::String(s)), false) if name == "filter" => s.clone(),
            (Some(Value::Number(n)), false) if name != "filter" => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.to_string(),
                // Beyond i64: as good as the largest (or smallest) count.
                (None, Some(f)) if f.fract() == 0.0 => {
                    (if f < 0.0 { i64::MIN } else { i64::MAX }).to_string()
                }
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "{name} must be an integer"
                    )));
                }
            },
            (Some(Value::Array(items)), true) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            (Some(other), _) => {
                let wanted = match (list, name) {
                    (true, _) => "an array of strings",
                    (false, "filter") => "a string",
                    _ => "an integer",
                };
                return Err(ScimError::invalid_value(format!(
                    "{name} must be {wanted}, not {other}"
                )));
            }
        };
        params.insert(key.to_owned(), text);
    }
    Ok(params)
}

async fn search_users(State(shared): State<Arc<Shared>>, method: Method, body: Bytes) -> Answer {
    let params = search_params(&method, &body)?;
    let resources = shared.lock().scim_users();
    list(&params, resources)
}

async fn search_groups(State(shared): State<Arc<Shared>>, method: Method, body: Bytes) -> Answer {
    let params = search_params(&method, &body)?;
    let resources = shared.lock().scim_group_list();
    list(&params, resources)
}

/// The root search covers both resource types, users first.
async fn search_all(State(shared): State<Arc<Shared>>, method: Method, body: Bytes) -> Answer {
    let params = search_params(&method, &body)?;
    let resources = {
        let state = shared.lock();
        let mut all = state.scim_users();
        all.extend(state.scim_group_list());
        all
    };
    list(&params, resources)
}

async fn unknown(uri: Uri) -> Answer {
    Err(ScimError::not_found(format!(
        "no SCIM endpoint {}",
        uri.path()
    )))
}

fn get_only(method: &Method) -> Result<(), ScimError> {
    if method == Method::GET {
        Ok(())
    } else {
        Err(method_not_allowed(method, READ))
    }
}

fn base(shared: &Shared) -> String {
    format!("{}/scim/v2", shared.lock().workspace.config.base_url)
}

/// RFC 7643 §5.
async fn service_provider_config(State(shared): State<Arc<Shared>>, method: Method) -> Answer {
    get_only(&method)?;
    let base = base(&shared);
    ok(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://example.invalid/proto/scim.md",
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": scim_state::MAX_RESULTS },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The token the admin CLI's scim-token command shows",
                "primary": true
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") }
        }),
    )
}

fn resource_type_list(base: &str) -> Vec<Value> {
    [("User", "/Users", USER_SCHEMA), ("Group", "/Groups", GROUP_SCHEMA)]
        .into_iter()
        .map(|(name, endpoint, schema)| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": name,
                "name": name,
                "endpoint": endpoint,
                "description": format!("{name}s of the workspace"),
                "schema": schema,
                "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}") }
            })
        })
        .collect()
}

fn list_of(items: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

async fn resource_types(State(shared): State<Arc<Shared>>, method: Method) -> Answer {
    get_only(&method)?;
    ok(StatusCode::OK, &list_of(resource_type_list(&base(&shared))))
}

async fn resource_type(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    method: Method,
) -> Answer {
    get_only(&method)?;
    resource_type_list(&base(&shared))
        .into_iter()
        .find(|r| r["id"] == name.as_str())
        .map_or_else(
            || Err(ScimError::not_found(format!("no ResourceType {name:?}"))),
            |r| ok(StatusCode::OK, &r),
        )
}

fn attribute(
    name: &str,
    kind: &str,
    multi: bool,
    required: bool,
    mutability: &str,
    uniqueness: &str,
    case_exact: bool,
) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": multi, "required": required,
        "caseExact": case_exact, "mutability": mutability, "returned": "default",
        "uniqueness": uniqueness, "description": name
    })
}

fn complex(name: &str, multi: bool, mutability: &str, subs: Vec<Value>) -> Value {
    let mut a = attribute(name, "complex", multi, false, mutability, "none", false);
    if let Some(map) = a.as_object_mut() {
        map.insert("subAttributes".into(), Value::Array(subs));
    }
    a
}

/// The workspace needs an address to mail the activation link to: `emails` is required.
fn required(mut attribute: Value) -> Value {
    attribute["required"] = true.into();
    attribute
}

/// RFC 7643 §7: a reference attribute names the resource types it may point at.
fn references(mut attribute: Value, resource_type: &str) -> Value {
    attribute["referenceTypes"] = json!([resource_type]);
    attribute
}

fn schema_list(base: &str) -> Vec<Value> {
    let s = |name: &str| attribute(name, "string", false, false, "readWrite", "none", false);
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA, "name": "User", "description": "A workspace user",
        "attributes": [
            attribute("userName", "string", false, true, "readWrite", "server", false),
            attribute("externalId", "string", false, false, "readWrite", "server", true),
            complex("name", false, "readWrite", vec![s("formatted"), s("familyName"), s("givenName")]),
            s("displayName"),
            attribute("active", "boolean", false, false, "readWrite", "none", false),
            required(complex("emails", true, "readWrite", vec![
                required(s("value")), s("type"),
                attribute("primary", "boolean", false, false, "readWrite", "none", false),
            ])),
            complex("groups", true, "readOnly", vec![
                attribute("value", "string", false, false, "readOnly", "none", true),
                attribute("display", "string", false, false, "readOnly", "none", false),
                references(attribute("$ref", "reference", false, false, "readOnly", "none", true), "Group"),
            ]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}") }
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA, "name": "Group", "description": "A workspace group",
        "attributes": [
            attribute("displayName", "string", false, true, "readWrite", "server", false),
            attribute("externalId", "string", false, false, "readWrite", "server", true),
            complex("members", true, "readWrite", vec![
                attribute("value", "string", false, false, "immutable", "none", true),
                attribute("display", "string", false, false, "readOnly", "none", false),
                references(attribute("$ref", "reference", false, false, "immutable", "none", true), "User"),
            ]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}") }
    });
    vec![user, group]
}

async fn schemas(State(shared): State<Arc<Shared>>, method: Method) -> Answer {
    get_only(&method)?;
    ok(StatusCode::OK, &list_of(schema_list(&base(&shared))))
}

async fn schema(
    State(shared): State<Arc<Shared>>,
    Path(urn): Path<String>,
    method: Method,
) -> Answer {
    get_only(&method)?;
    schema_list(&base(&shared))
        .into_iter()
        .find(|s| s["id"] == urn.as_str())
        .map_or_else(
            || Err(ScimError::not_found(format!("no Schema {urn:?}"))),
            |s| ok(StatusCode::OK, &s),
        )
}
