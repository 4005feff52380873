//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON form; `scim_state` then reads the
//! result exactly as it reads a PUT body, so a PATCH can never store what a PUT could not.
//!
//! Supported: `add`, `replace`, `remove` (any case: Entra sends `Replace`); a path-less
//! `add`/`replace` whose value is a map of attribute (or `name.givenName`-style path) to value;
//! paths `attr`, `attr.sub`, `attr[filter]` and `attr[filter].sub`. Entra's forms work:
//! `replace` of `emails[type eq "work"].value` creates the work email when there is none,
//! `remove` of `members` with a value list removes those members, `remove` of
//! `members[value eq "..."]` removes one. Read-only attributes (`id`, `meta`, a user's
//! `groups`) are `mutability` errors; attributes of schema extensions are ignored.

use serde_json::{Map, Value};

use crate::scim_error::ScimError;
use crate::scim_filter::{self, AttrPath, Filter, Op};

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Operations one request may carry (ServiceProviderConfig says nothing; this bounds work).
pub const MAX_OPERATIONS: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

const READ_ONLY: [&str; 3] = ["id", "meta", "groups"];

/// Applies the PATCH request `body` to `resource`.
pub fn apply(resource: &mut Value, body: &Value) -> Result<(), ScimError> {
    let schemas = body
        .get("schemas")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs \"schemas\": [PatchOp]"))?;
    if !schemas.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)) {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body's schemas must be [\"{PATCH_SCHEMA}\"]"
        )));
    }
    let operations = scim_filter::get_ci(body, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| ScimError::invalid_syntax("\"Operations\" must be a non-empty array"))?;
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!(
            "at most {MAX_OPERATIONS} operations per request"
        )));
    }
    for (n, operation) in operations.iter().enumerate() {
        operation_on(resource, operation).map_err(|e| ScimError {
            detail: format!("operation {}: {}", n + 1, e.detail),
            ..e
        })?;
    }
    Ok(())
}

fn operation_on(resource: &mut Value, operation: &Value) -> Result<(), ScimError> {
    if !operation.is_object() {
        return Err(ScimError::invalid_syntax("an operation must be an object"));
    }
    let kind = match scim_filter::get_ci(operation, "op").and_then(Value::as_str) {
        Some(op) if op.eq_ignore_ascii_case("add") => Kind::Add,
        Some(op) if op.eq_ignore_ascii_case("replace") => Kind::Replace,
        Some(op) if op.eq_ignore_ascii_case("remove") => Kind::Remove,
        Some(op) => {
            return Err(ScimError::invalid_syntax(format!(
                "op {op:?} is not add, replace or remove"
            )));
        }
        None => return Err(ScimError::invalid_syntax("an operation needs \"op\"")),
    };
    let path = match scim_filter::get_ci(operation, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.as_str()),
        Some(_) => return Err(ScimError::invalid_path("\"path\" must be a string")),
    };
    let value = scim_filter::get_ci(operation, "value");
    match (kind, path) {
        (Kind::Remove, None) => Err(ScimError::no_target("remove needs a path")),
        (Kind::Remove, Some(p)) => remove(resource, &target(p)?, value),
        (_, Some(p)) => {
            let value = value.ok_or_else(|| ScimError::invalid_value(format!("{p}: no value")))?;
            set(resource, &target(p)?, value.clone(), kind)
        }
        (_, None) => {
            let Some(Value::Object(map)) = value else {
                return Err(ScimError::invalid_value(
                    "an operation without a path needs an object value",
                ));
            };
            for (key, v) in map {
                if key.to_ascii_lowercase().starts_with("urn:")
                    && scim_filter::parse_path(key).is_err()
                {
                    // An extension schema's attributes (enterprise User): not kept here.
                    continue;
                }
                if key.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                set(resource, &target(key)?, v.clone(), kind)?;
            }
            Ok(())
        }
    }
}

fn target(text: &str) -> Result<AttrPath, ScimError> {
    let path = scim_filter::parse_path(text)?;
    if READ_ONLY.contains(&path.attr.as_str()) {
        return Err(ScimError::mutability(format!("{text} is read-only")));
    }
    Ok(path)
}

fn object(resource: &mut Value) -> Result<&mut Map<String, Value>, ScimError> {
    resource.as_object_mut().ok_or_else(|| {
        ScimError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "resource is not an object",
        )
    })
}

/// Paths arrive lower-cased; a new key gets RFC 7643's spelling.
const CANONICAL: [&str; 12] = [
    "userName",
    "externalId",
    "displayName",
    "givenName",
    "familyName",
    "formatted",
    "emails",
    "members",
    "active",
    "name",
    "primary",
    "nickName",
];

/// The existing key spelled as stored, or `name` (canonically spelled) for a new one.
fn key(map: &Map<String, Value>, name: &str) -> String {
    map.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| {
            CANONICAL
                .iter()
                .find(|c| c.eq_ignore_ascii_case(name))
                .map_or_else(|| name.to_owned(), |c| (*c).to_owned())
        })
}

fn set(resource: &mut Value, path: &AttrPath, value: Value, kind: Kind) -> Result<(), ScimError> {
    let map = object(resource)?;
    let k = key(map, &path.attr);
    match (&path.filter, &path.sub) {
        (None, None) => {
            match (map.get_mut(&k), value, kind) {
                (Some(Value::Array(items)), Value::Array(new), Kind::Add) => {
                    for item in new {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                }
                (Some(Value::Object(old)), Value::Object(new), Kind::Add) => old.extend(new),
                (_, value, _) => {
                    map.insert(k, value);
                }
            }
            Ok(())
        }
        (None, Some(sub)) => {
            let entry = map.entry(k).or_insert_with(|| Value::Object(Map::new()));
            if entry.is_null() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(inner) = entry else {
                return Err(ScimError::invalid_path(format!(
                    "{}.{sub}: {} is not a complex attribute (use a filter)",
                    path.attr, path.attr
                )));
            };
            let sk = key(inner, sub);
            inner.insert(sk, value);
            Ok(())
        }
        (Some(filter), sub) => {
            let entry = map.entry(k).or_insert_with(|| Value::Array(Vec::new()));
            if entry.is_null() {
                *entry = Value::Array(Vec::new());
            }
            let Value::Array(items) = entry else {
                return Err(ScimError::invalid_path(format!(
                    "{}[...]: not a multi-valued attribute",
                    path.attr
                )));
            };
            let mut hit = false;
            for item in items.iter_mut().filter(|i| scim_filter::matches(filter, i)) {
                hit = true;
                match (sub, item, &value) {
                    (Some(sub), Value::Object(o), _) => {
                        let sk = key(o, sub);
                        o.insert(sk, value.clone());
                    }
                    (None, Value::Object(o), Value::Object(new)) if kind == Kind::Add => {
                        o.extend(new.clone());
                    }
                    (None, item, _) => *item = value.clone(),
                    (Some(_), _, _) => {
                        return Err(ScimError::invalid_path(format!(
                            "{}: the values are not complex",
                            path.attr
                        )));
                    }
                }
            }
            if hit {
                return Ok(());
            }
            // Entra replaces emails[type eq "work"].value on a user without a work email:
            // the filter's `eq` names the new value's other sub-attribute.
            match (&**filter, sub) {
                (Filter::Compare(fp, Op::Eq, fv), Some(sub)) if fp.filter.is_none() => {
                    let mut new = Map::new();
                    let field = fp.sub.clone().unwrap_or_else(|| fp.attr.clone());
                    new.insert(key(&Map::new(), &field), fv.clone());
                    new.insert(key(&Map::new(), sub), value);
                    items.push(Value::Object(new));
                    Ok(())
                }
                _ => Err(ScimError::no_target(format!(
                    "no value of {} matches the path's filter",
                    path.attr
                ))),
            }
        }
    }
}

fn remove(resource: &mut Value, path: &AttrPath, value: Option<&Value>) -> Result<(), ScimError> {
    let map = object(resource)?;
    let k = key(map, &path.attr);
    match (&path.filter, &path.sub) {
        (None, None) => {
            match (map.get_mut(&k), value) {
                // Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]}.
                (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                    let ids: Vec<&Value> = gone.iter().filter_map(|g| g.get("value")).collect();
                    items.retain(|i| !i.get("value").is_some_and(|v| ids.contains(&v)));
                }
                _ => {
                    map.remove(&k);
                }
            }
            Ok(())
        }
        (None, Some(sub)) => {
            match map.get_mut(&k) {
                Some(Value::Object(inner)) => {
                    let sk = key(inner, sub);
                    inner.remove(&sk);
                }
                Some(Value::Array(_)) => {
                    return Err(ScimError::invalid_path(format!(
                        "{}.{sub}: use a filter to pick values",
                        path.attr
                    )));
                }
                _ => {}
            }
            Ok(())
        }
        (Some(filter), sub) => {
            if let Some(Value::Array(items)) = map.get_mut(&k) {
                match sub {
                    None => items.retain(|i| !scim_filter::matches(filter, i)),
                    Some(sub) => {
                        for item in items.iter_mut().filter(|i| scim_filter::matches(filter, i)) {
                            if let Value::Object(o) = item {
                                let sk = key(o, sub);
                                o.remove(&sk);
                            }
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(resource: Value, ops: Value) -> Result<Value, ScimError> {
        let mut r = resource;
        apply(
            &mut r,
            &json!({ "schemas": [PATCH_SCHEMA], "Operations": ops }),
        )?;
        Ok(r)
    }

    #[test]
    fn entra_forms() {
        let user = json!({ "userName": "a", "active": true, "emails": [] });
        let out = patch(
            user,
            json!([
                { "op": "Replace", "path": "active", "value": "False" },
                { "op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@x.io" },
                { "op": "Replace", "value": { "displayName": "A", "name.givenName": "Al" } }
            ]),
        )
        .unwrap();
        assert_eq!(out["active"], "False");
        assert_eq!(
            out["emails"],
            json!([{ "type": "work", "value": "a@x.io" }])
        );
        assert_eq!(out["name"], json!({ "givenName": "Al" }));
        assert_eq!(out["displayName"], "A");

        let group =
            json!({ "displayName": "G", "members": [{ "value": "u1" }, { "value": "u2" }] });
        let out = patch(
            group,
            json!([
                { "op": "Add", "path": "members", "value": [{ "value": "u3" }, { "value": "u1" }] },
                { "op": "Remove", "path": "members[value eq \"u2\"]" },
                { "op": "Remove", "path": "members", "value": [{ "value": "u1" }] }
            ]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{ "value": "u3" }]));
    }

    #[test]
    fn bad_operations() {
        let r = json!({ "userName": "a" });
        let cases = [
            (
                json!([{ "op": "move", "path": "a" }]),
                "invalidSyntax",
                "operation 1: op \"move\" is not add, replace or remove",
            ),
            (
                json!([{ "op": "remove" }]),
                "noTarget",
                "operation 1: remove needs a path",
            ),
            (
                json!([{ "op": "replace", "path": "id", "value": "x" }]),
                "mutability",
                "operation 1: id is read-only",
            ),
            (
                json!([{ "op": "replace", "path": "emails[type eq]", "value": "x" }]),
                "invalidPath",
                "operation 1: invalid path \"emails[type eq]\": expected a value",
            ),
            (
                json!([{ "op": "add", "value": 3 }]),
                "invalidValue",
                "operation 1: an operation without a path needs an object value",
            ),
            (
                json!([{ "op": "replace", "path": "emails[type ne \"x\"].value", "value": "v" }]),
                "noTarget",
                "operation 1: no value of emails matches the path's filter",
            ),
        ];
        for (ops, kind, detail) in cases {
            let e = patch(r.clone(), ops.clone()).unwrap_err();
            assert_eq!(
                (e.scim_type, e.detail.as_str()),
                (Some(kind), detail),
                "{ops}"
            );
        }
        let mut r2 = r.clone();
        let e = apply(&mut r2, &json!({ "Operations": [] })).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
    }
}
