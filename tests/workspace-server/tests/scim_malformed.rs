//! 1,200 generated malformed SCIM requests (a seeded generator: the same requests every run)
//! against one server: broken JSON, wrong attribute types and schemas, bad filters, bad PATCH
//! operations and paths. Each must get a 4xx SCIM error of the expected `scimType` with the
//! error schema and a matching `status`, must change nothing, and the server must keep
//! answering.
//!
//! Every case is invalid by construction (a strict prefix of a JSON object, a valid filter
//! with a dangling token, ...), so the test does not use the server's parser as its oracle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const CASES: usize = 1200;

/// SplitMix64: small, seeded, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ATTRS: [&str; 8] = [
    "userName",
    "externalId",
    "displayName",
    "name.givenName",
    "emails.value",
    "active",
    "meta.lastModified",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
];

/// A valid filter of up to `depth` levels.
fn valid_filter(rng: &mut Rng, depth: usize) -> String {
    match if depth == 0 {
        rng.below(3)
    } else {
        rng.below(6)
    } {
        0 => format!("{} pr", rng.pick(&ATTRS)),
        1 => format!(
            "{} {} \"{}\"",
            rng.pick(&ATTRS),
            rng.pick(&["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]),
            rng.pick(&["a", "Jane", "x@y.io", "2026", "é\\\"q"])
        ),
        2 => format!(
            "emails[type eq \"work\"].value {} \"{}\"",
            rng.pick(&["eq", "co", "sw"]),
            rng.pick(&["a", "b@c.d"])
        ),
        3 => format!(
            "{} and {}",
            valid_filter(rng, depth - 1),
            valid_filter(rng, depth - 1)
        ),
        4 => format!(
            "({} or {})",
            valid_filter(rng, depth - 1),
            valid_filter(rng, depth - 1)
        ),
        _ => format!("not ({})", valid_filter(rng, depth - 1)),
    }
}

/// An invalid filter: a valid one broken in one of several ways.
fn bad_filter(rng: &mut Rng) -> String {
    let f = valid_filter(rng, 2);
    let attr = rng.pick(&ATTRS);
    match rng.below(12) {
        0 => format!("{f} {}", rng.pick(&["and", "or", "and not", "or ("])),
        1 => format!("({f}"),
        2 => format!("{f})"),
        3 => format!("{attr} {}", rng.pick(&["eq", "co", "sw", "gt"])),
        4 => format!("{attr} eq {}", rng.pick(&["bare", "Jane", "x@y.io", "'q'"])),
        5 => format!(
            "{attr} {} \"v\"",
            rng.pick(&["equals", "like", "==", "in", "has"])
        ),
        6 => format!(
            "{attr} {} {}",
            rng.pick(&["gt", "ge", "lt", "le", "co", "sw", "ew"]),
            rng.pick(&["true", "false", "null"])
        ),
        7 => format!("{attr} eq \"unterminated"),
        8 => format!("{f} {} {attr}", rng.pick(&["&&", "||", ";", "!"])),
        9 => format!("{}{f}{}", "(".repeat(17 + rng.below(20)), ")".repeat(17)),
        10 => format!(
            "{} and {f}",
            rng.pick(&[
                "emails[]",
                "emails[type eq \"work\"",
                "[type eq \"a\"]",
                "1st pr",
                "a..b pr"
            ])
        ),
        _ => format!("{f} {attr}"),
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

struct Case {
    method: &'static str,
    path: String,
    body: Option<String>,
    status: u16,
    scim_type: Option<&'static str>,
}

fn user_body(rng: &mut Rng) -> Value {
    json!({
        "schemas": [USER],
        "userName": format!("u{}", rng.below(1000)),
        "displayName": "Generated",
        "emails": [{ "value": format!("g{}@x.io", rng.below(1000)), "type": "work" }],
        "active": true
    })
}

fn case(rng: &mut Rng, id: &str) -> Case {
    let item = format!("/Users/{id}");
    match rng.below(8) {
        // A strict prefix of a JSON object (possibly empty) never parses.
        0 | 1 => {
            let text = user_body(rng).to_string();
            let cut = rng.below(text.len());
            let (method, path) = match rng.below(4) {
                0 => ("POST", "/Users".to_owned()),
                1 => ("PUT", item),
                2 => ("PATCH", item),
                _ => ("POST", "/Groups".to_owned()),
            };
            Case {
                method,
                path,
                body: Some(text[..cut].to_owned()),
                status: 400,
                scim_type: Some("invalidSyntax"),
            }
        }
        // Valid JSON followed by junk.
        2 => {
            let text = format!(
                "{}{}",
                user_body(rng),
                rng.pick(&["}", "x", ",{}", "\"", "[1]"])
            );
            Case {
                method: "POST",
                path: "/Users".into(),
                body: Some(text),
                status: 400,
                scim_type: Some("invalidSyntax"),
            }
        }
        // Wrong schemas or attribute types.
        3 => {
            let mut body = user_body(rng);
            let (status, scim_type) = match rng.below(8) {
                0 => {
                    body["schemas"] = json!(["urn:example:unknown"]);
                    (400, "invalidSyntax")
                }
                1 => {
                    body.as_object_mut().unwrap().remove("schemas");
                    (400, "invalidSyntax")
                }
                2 => {
                    body["userName"] = json!([1, 2]);
                    (400, "invalidValue")
                }
                3 => {
                    body.as_object_mut().unwrap().remove("userName");
                    (400, "invalidValue")
                }
                4 => {
                    body["active"] = json!(rng.pick(&["maybe", "yes", "0"]));
                    (400, "invalidValue")
                }
                5 => {
                    body["emails"] = json!({ "value": "a@b.c" });
                    (400, "invalidValue")
                }
                6 => {
                    body["emails"] = json!([{ "value": rng.pick(&["not-an-email", "a@b", "@x.io", "a b@x.io"]) }]);
                    (400, "invalidValue")
                }
                _ => {
                    body = json!(rng.pick(&["[]", "1", "\"user\"", "null"]));
                    (400, "invalidSyntax")
                }
            };
            let method = if rng.below(2) == 0 { "POST" } else { "PUT" };
            let path = if method == "POST" {
                "/Users".to_owned()
            } else {
                item
            };
            Case {
                method,
                path,
                body: Some(body.to_string()),
                status,
                scim_type: Some(scim_type),
            }
        }
        // Bad filters.
        4 | 5 => {
            let resource = rng.pick(&["/Users", "/Groups"]);
            Case {
                method: "GET",
                path: format!("{resource}?filter={}", percent(&bad_filter(rng))),
                body: None,
                status: 400,
                scim_type: Some("invalidFilter"),
            }
        }
        // Bad PATCH paths.
        6 => {
            let path = rng.pick(&[
                "emails[",
                "emails[type eq]",
                "emails]",
                "emails[type eq \"work\"].",
                "a b",
                "1abc",
                "name..givenName",
                "name.givenName.x",
                "emails[type eq \"work\"]x",
                "\"userName\"",
                "",
            ]);
            let op = rng.pick(&["add", "replace", "remove"]);
            let body = json!({ "schemas": [PATCH], "Operations": [{ "op": op, "path": path, "value": "v" }] });
            Case {
                method: "PATCH",
                path: item,
                body: Some(body.to_string()),
                status: 400,
                scim_type: Some("invalidPath"),
            }
        }
        // Bad PATCH operations.
        _ => {
            let (ops, scim_type): (Value, &str) = match rng.below(7) {
                0 => (
                    json!([{ "op": rng.pick(&["move", "copy", "test", ""]), "path": "active", "value": false }]),
                    "invalidSyntax",
                ),
                1 => (
                    json!([{ "path": "active", "value": false }]),
                    "invalidSyntax",
                ),
                2 => (json!([{ "op": "remove" }]), "noTarget"),
                3 => (
                    json!([{ "op": "replace", "path": rng.pick(&["id", "meta", "meta.created", "groups"]), "value": "x" }]),
                    "mutability",
                ),
                4 => (
                    json!([{ "op": "add", "value": rng.pick(&["s", "1"]) }]),
                    "invalidValue",
                ),
                5 => (json!(rng.pick(&["[]", "{}", "null"])), "invalidSyntax"),
                _ => (
                    json!([{ "op": "replace", "path": "active", "value": rng.pick(&["nope", "1", "TRUE!"]) }]),
                    "invalidValue",
                ),
            };
            let ops = if ops.is_string() {
                serde_json::from_str(ops.as_str().unwrap()).unwrap()
            } else {
                ops
            };
            let schemas = if rng.below(10) == 0 {
                json!(["urn:example:patch"])
            } else {
                json!([PATCH])
            };
            let scim_type = if schemas[0] == PATCH {
                scim_type
            } else {
                "invalidSyntax"
            };
            let body = json!({ "schemas": schemas, "Operations": ops });
            Case {
                method: "PATCH",
                path: item,
                body: Some(body.to_string()),
                status: 400,
                scim_type: Some(scim_type),
            }
        }
    }
}

#[tokio::test]
async fn generated_malformed_requests_get_scim_errors_and_change_nothing() {
    let server = Server::start();
    let (_, token) = server.post("/admin/scim-token", json!({})).await;
    let token = token["token"].as_str().unwrap().to_owned();
    let send = |method: &str, path: &str, body: Option<String>| {
        let mut request = server
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/scim/v2{path}", server.url),
            )
            .bearer_auth(&token);
        if let Some(b) = body {
            request = request.body(b);
        }
        request.send()
    };
    let created = send(
        "POST",
        "/Users",
        Some(
            json!({ "schemas": [USER], "userName": "keep", "emails": [{ "value": "keep@x.io" }] })
                .to_string(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let before: Value = created.json().await.unwrap();
    let id = before["id"].as_str().unwrap().to_owned();

    let mut rng = Rng(0x5c1a_2026);
    let mut by_type = std::collections::BTreeMap::new();
    for n in 0..CASES {
        let c = case(&mut rng, &id);
        let response = send(c.method, &c.path, c.body.clone()).await.unwrap();
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let context = format!(
            "case {n}: {} {} {:?} -> {status} {body}",
            c.method, c.path, c.body
        );
        assert_eq!(status, c.status, "{context}");
        assert_eq!(kind.as_deref(), Some("application/scim+json"), "{context}");
        assert_eq!(body["schemas"], json!([ERROR]), "{context}");
        assert_eq!(body["status"], json!(status.to_string()), "{context}");
        assert_eq!(body["scimType"].as_str(), c.scim_type, "{context}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{context}"
        );
        *by_type.entry(c.scim_type.unwrap_or("-")).or_insert(0) += 1;
    }
    println!("{CASES} malformed requests by scimType: {by_type:?}");
    assert!(by_type.len() >= 6, "{by_type:?}");

    // Nothing changed, and the server still serves.
    let after: Value = send("GET", &format!("/Users/{id}"), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, before);
    let list: Value = send("GET", "/Users", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalResults"], 1);
    assert_eq!(server.get("/admin/users").await.0, 200);
}
