//! SCIM 2.0 against a real `workspace-server` process: Entra ID's provisioning calls for one
//! user's life with the exact answers, the bearer token, uniqueness, CSV users claimed by
//! email, groups, a key suspended/resumed/revoked by `active` and DELETE as the phone sees
//! it, and users, groups and the token surviving a restart (`serve --db`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Phone, Server};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A server with a SCIM token, and a way to call `/scim/v2` with it.
struct Scim {
    server: Server,
    token: String,
}

impl Scim {
    async fn start_with(args: &[&str]) -> Self {
        let server = Server::start_with(args);
        let (status, body) = server.post("/admin/scim-token", json!({})).await;
        assert_eq!(status, 201, "{body}");
        let token = body["token"].as_str().unwrap().to_owned();
        Self { server, token }
    }

    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.raw(method, path, body.map(|b| b.to_string()), Some(&self.token))
            .await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}/scim/v2{path}", self.server.url);
        let mut request = self
            .server
            .http
            .request(method.parse().unwrap(), url)
            .header("content-type", "application/scim+json");
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.body(b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if status != 204 {
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(kind, "application/scim+json", "{method} {path}");
        }
        let bytes = response.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }
}

fn error(status: u16, scim_type: Option<&str>, detail: &str) -> Value {
    let mut e = json!({ "schemas": [ERROR], "status": status.to_string(), "detail": detail });
    if let Some(t) = scim_type {
        e["scimType"] = t.into();
    }
    e
}

fn empty_list() -> Value {
    json!({ "schemas": [LIST], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": [] })
}

/// The server's timestamps: RFC 3339 UTC, whole seconds.
fn meta_times(resource: &Value) -> (String, String) {
    let created = resource["meta"]["created"].as_str().unwrap().to_owned();
    let modified = resource["meta"]["lastModified"]
        .as_str()
        .unwrap()
        .to_owned();
    for t in [&created, &modified] {
        assert!(
            t.len() == 20 && t.ends_with('Z') && &t[10..11] == "T",
            "{t}"
        );
    }
    (created, modified)
}

/// What Entra ID sends for one user's life (Microsoft's "Develop a SCIM endpoint" request
/// sequence with this workspace's attribute mapping from the product documents: objectId ->
/// externalId and userName, userPrincipalName -> emails[type eq "work"].value), with every
/// answer compared in full.
#[tokio::test]
async fn entra_id_user_lifecycle_request_sequence() {
    let scim = Scim::start().await;
    let object_id = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

    // 1. Entra looks the user up by its matching attribute first.
    let filter = format!("/Users?filter=externalId+eq+%22{object_id}%22");
    assert_eq!(scim.call("GET", &filter, None).await, (200, empty_list()));

    // 2. Create.
    let (status, created) = scim
        .call(
            "POST",
            "/Users",
            Some(json!({
                "schemas": [USER, ENTERPRISE],
                "externalId": object_id,
                "userName": object_id,
                "active": true,
                "displayName": "Jane Roe",
                "emails": [{ "primary": true, "type": "work", "value": "Jane.Roe@Contoso.example" }],
                "meta": { "resourceType": "User" },
                "name": { "formatted": "Jane Roe", "familyName": "Roe", "givenName": "Jane" },
                "roles": [],
                ENTERPRISE: { "department": "Sales" }
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("usr_") && id.len() == 24, "{id}");
    let location = format!("{}/scim/v2/Users/{id}", scim.server.url);
    let (t0, _) = meta_times(&created);
    let expected = |display: &str, family: &str, active: bool, modified: &str| {
        json!({
            "schemas": [USER],
            "id": id,
            "externalId": object_id,
            "userName": object_id,
            "name": { "givenName": "Jane", "familyName": family, "formatted": display },
            "displayName": display,
            "emails": [{ "value": "jane.roe@contoso.example", "type": "work", "primary": true }],
            "active": active,
            "groups": [],
            "meta": { "resourceType": "User", "created": t0, "lastModified": modified, "location": location }
        })
    };
    assert_eq!(created, expected("Jane Roe", "Roe", true, &t0));

    // 3. The next cycle finds it by externalId, and by the work email.
    let (status, found) = scim.call("GET", &filter, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        found,
        json!({ "schemas": [LIST], "totalResults": 1, "startIndex": 1, "itemsPerPage": 1, "Resources": [created] })
    );
    let by_email = "/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22jane.roe%40contoso.example%22";
    assert_eq!(scim.call("GET", by_email, None).await.1["totalResults"], 1);

    // 4. Attribute changes arrive as PATCH with Entra's capitalised ops.
    let (status, patched) = scim
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH],
                "Operations": [
                    { "op": "Replace", "path": "displayName", "value": "Jane Doe" },
                    { "op": "Replace", "path": "name.familyName", "value": "Doe" },
                    { "op": "Replace", "path": "name.formatted", "value": "Jane Doe" }
                ]
            })),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let (_, t1) = meta_times(&patched);
    assert_eq!(patched, expected("Jane Doe", "Doe", true, &t1));

    // 5. Soft delete in Entra: active "False", a string.
    let (status, disabled) = scim
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH],
                "Operations": [{ "op": "Replace", "path": "active", "value": "False" }]
            })),
        )
        .await;
    assert_eq!(status, 200, "{disabled}");
    let (_, t2) = meta_times(&disabled);
    assert_eq!(disabled, expected("Jane Doe", "Doe", false, &t2));
    assert_eq!(
        scim.server.user("jane.roe@contoso.example").await["active"],
        false
    );

    // 6. Hard delete, then the user is gone.
    assert_eq!(
        scim.call("DELETE", &format!("/Users/{id}"), None).await,
        (204, Value::Null)
    );
    assert_eq!(
        scim.call("GET", &format!("/Users/{id}"), None).await,
        (404, error(404, None, &format!("no User with id \"{id}\"")))
    );
    assert_eq!(scim.call("GET", &filter, None).await, (200, empty_list()));
}

#[tokio::test]
async fn every_request_needs_the_current_token() {
    let scim = Scim::start().await;
    let unauthorized = error(
        401,
        None,
        "a valid bearer token is required (admin CLI: scim-token)",
    );
    for token in [None, Some("wrong"), Some("")] {
        assert_eq!(
            scim.raw("GET", "/Users", None, token).await,
            (401, unauthorized.clone())
        );
        assert_eq!(
            scim.raw("GET", "/ServiceProviderConfig", None, token)
                .await
                .0,
            401
        );
    }
    assert_eq!(scim.call("GET", "/Users", None).await.0, 200);

    // Rotating through the CLI: the old token stops working at once.
    let (ok, shown, _) = scim.server.cli(&["scim-token"]);
    assert_eq!((ok, shown.trim()), (true, scim.token.as_str()));
    let (ok, rotated, _) = scim.server.cli(&["scim-token", "--rotate"]);
    let rotated = rotated.trim();
    assert!(
        ok && rotated.starts_with("scim_") && rotated.len() == 69,
        "{rotated}"
    );
    assert_ne!(rotated, scim.token);
    assert_eq!(
        scim.raw("GET", "/Users", None, Some(&scim.token)).await,
        (401, unauthorized)
    );
    assert_eq!(scim.raw("GET", "/Users", None, Some(rotated)).await.0, 200);

    // Before any token is issued nothing is accepted.
    let fresh = Server::start();
    let (ok, out, _) = fresh.cli(&["scim-token"]);
    assert_eq!(
        (ok, out.as_str()),
        (
            true,
            "no SCIM token yet; run scim-token --rotate to issue one\n"
        )
    );
    let response = fresh
        .http
        .get(format!("{}/scim/v2/Users", fresh.url))
        .bearer_auth("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"scim\""
    );
}

fn new_user(user_name: &str, email: &str) -> Value {
    json!({ "schemas": [USER], "userName": user_name, "emails": [{ "value": email, "type": "work" }] })
}

#[tokio::test]
async fn uniqueness_and_csv_users_claimed_by_email() {
    let scim = Scim::start().await;
    let (status, _) = scim
        .call("POST", "/Users", Some(new_user("a", "a@x.io")))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        scim.call("POST", "/Users", Some(new_user("a", "other@x.io")))
            .await,
        (
            409,
            error(409, Some("uniqueness"), "userName \"a\" is already in use")
        )
    );
    assert_eq!(
        scim.call("POST", "/Users", Some(new_user("b", "A@X.io")))
            .await,
        (
            409,
            error(
                409,
                Some("uniqueness"),
                "email \"a@x.io\" is already in use"
            )
        )
    );

    // A CSV-imported user is claimed, not duplicated; its id stays.
    let csv = "email,display_name,group\ncarol@x.io,Carol,Sales\n";
    let response = scim
        .server
        .http
        .post(format!("{}/admin/users/import", scim.server.url))
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let before = scim.server.user("carol@x.io").await;
    assert_eq!(before["source"], "csv");
    let (status, claimed) = scim
        .call("POST", "/Users", Some(new_user("carol-upn", "Carol@x.io")))
        .await;
    assert_eq!(status, 201, "{claimed}");
    assert_eq!(claimed["id"], before["id"]);
    let (_, users) = scim.server.get("/admin/users").await;
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    let after = scim.server.user("carol@x.io").await;
    assert_eq!(
        (&after["source"], &after["groups"]),
        (&json!("scim"), &json!(["Sales"]))
    );

    let (ok, out, _) = scim.server.cli(&["users", "--directory"]);
    assert!(ok);
    let carol: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("carol@"))
        .unwrap()
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(carol, ["carol@x.io", "scim", "-", "yes", "none"], "{out}");
}

#[tokio::test]
async fn filters_and_pagination() {
    let scim = Scim::start().await;
    for n in 1..=5 {
        let (status, _) = scim
            .call(
                "POST",
                "/Users",
                Some(new_user(&format!("user{n}"), &format!("u{n}@x.io"))),
            )
            .await;
        assert_eq!(status, 201);
    }
    let names = |body: &Value| -> Vec<String> {
        body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, page) = scim.call("GET", "/Users?startIndex=2&count=2", None).await;
    assert_eq!(
        (
            page["totalResults"].clone(),
            page["startIndex"].clone(),
            page["itemsPerPage"].clone()
        ),
        (json!(5), json!(2), json!(2))
    );
    assert_eq!(names(&page), ["user2", "user3"]);
    let (_, page) = scim.call("GET", "/Users?filter=userName%20sw%20%22USER%22%20and%20(userName%20co%20%224%22%20or%20userName%20eq%20%22user1%22)", None).await;
    assert_eq!(names(&page), ["user1", "user4"]);
    let (_, page) = scim
        .call("GET", "/Users?filter=not%20(externalId%20pr)&count=0", None)
        .await;
    assert_eq!(
        (page["totalResults"].clone(), page["itemsPerPage"].clone()),
        (json!(5), json!(0))
    );
    assert_eq!(
        scim.call("GET", "/Users?filter=userName%20eq", None).await,
        (
            400,
            error(
                400,
                Some("invalidFilter"),
                "invalid filter: expected a value"
            )
        )
    );
    assert_eq!(
        scim.call("GET", "/Users?count=ten", None).await,
        (
            400,
            error(
                400,
                Some("invalidValue"),
                "count must be an integer, not \"ten\""
            )
        )
    );
    let (_, page) = scim
        .call("GET", "/Users?attributes=userName&count=1", None)
        .await;
    let keys: Vec<&String> = page["Resources"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "schemas", "userName"]);
}

#[tokio::test]
async fn groups_and_membership_changes() {
    let scim = Scim::start().await;
    let (_, a) = scim
        .call("POST", "/Users", Some(new_user("a", "a@x.io")))
        .await;
    let (_, b) = scim
        .call("POST", "/Users", Some(new_user("b", "b@x.io")))
        .await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let (status, group) = scim
        .call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Sales", "externalId": "g1", "members": [{ "value": a }] })))
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap();
    assert_eq!(scim.server.user("a@x.io").await["groups"], json!(["Sales"]));
    assert_eq!(
        scim.call(
            "POST",
            "/Groups",
            Some(json!({ "schemas": [GROUP], "displayName": "sales" }))
        )
        .await,
        (
            409,
            error(
                409,
                Some("uniqueness"),
                "displayName \"sales\" is already in use"
            )
        )
    );
    let (status, _) = scim
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({ "schemas": [PATCH], "Operations": [
                { "op": "Add", "path": "members", "value": [{ "value": b }] },
                { "op": "Remove", "path": format!("members[value eq \"{a}\"]") },
                { "op": "Replace", "path": "displayName", "value": "Sales EU" }
            ]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        scim.server.user("a@x.io").await["groups"],
        json!(["Everyone"])
    );
    assert_eq!(
        scim.server.user("b@x.io").await["groups"],
        json!(["Sales EU"])
    );
    let (_, user_b) = scim.call("GET", &format!("/Users/{b}"), None).await;
    assert_eq!(user_b["groups"][0]["display"], "Sales EU");
    let (_, found) = scim
        .call(
            "GET",
            "/Groups?filter=displayName%20eq%20%22sales%20eu%22&excludedAttributes=members",
            None,
        )
        .await;
    assert_eq!(found["totalResults"], 1);
    assert!(found["Resources"][0].get("members").is_none());
    assert_eq!(
        scim.call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({ "schemas": [PATCH], "Operations": [
                { "op": "add", "path": "members", "value": [{ "value": "usr_nobody" }] }
            ]}))
        )
        .await,
        (
            400,
            error(
                400,
                Some("invalidValue"),
                "member \"usr_nobody\" is not a User id"
            )
        )
    );
    assert_eq!(
        scim.call("DELETE", &format!("/Groups/{gid}"), None).await.0,
        204
    );
    assert_eq!(
        scim.server.user("b@x.io").await["groups"],
        json!(["Everyone"])
    );
}

/// active=false suspends the activated key (the phone's events say so), active=true resumes
/// it, DELETE revokes it and the phone can still acknowledge.
#[tokio::test]
async fn active_and_delete_reach_the_phone() {
    let scim = Scim::start().await;
    let (_, user) = scim
        .call("POST", "/Users", Some(new_user("dan", "dan@x.io")))
        .await;
    let id = user["id"].as_str().unwrap().to_owned();
    scim.server.assign(&id, false, false).await;
    let code = scim.server.latest_code("dan@x.io").await;
    let mut phone = Phone::new(&scim.server);
    assert_eq!(phone.redeem(&code).await.0, 200);
    let set_active = |value: Value| json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "value": { "active": value } }] });
    assert_eq!(
        scim.call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(set_active(json!("False")))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        scim.server.user("dan@x.io").await["key"]["status"],
        "suspended"
    );
    let (_, events) = phone.events(0, 0).await;
    assert_eq!(
        events["events"],
        json!([{ "seq": 1, "type": "status", "status": "suspended" }])
    );
    assert_eq!(
        scim.call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(set_active(json!(true)))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        scim.server.user("dan@x.io").await["key"]["status"],
        "active"
    );
    assert_eq!(
        scim.call("DELETE", &format!("/Users/{id}"), None).await.0,
        204
    );
    let (_, events) = phone.events(2, 0).await;
    assert_eq!(
        events["events"],
        json!([{ "seq": 3, "type": "status", "status": "revoked" }])
    );
    assert_eq!(phone.revocation_ack().await.0, 200);
}

#[tokio::test]
async fn users_groups_and_token_survive_a_restart() {
    let db = std::env::temp_dir().join(format!("scim-restart-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let path = db.to_str().unwrap();
    let (token, user, group) = {
        let scim = Scim::start_with(&["--db", path]).await;
        let (_, user) = scim
            .call("POST", "/Users", Some(new_user("eve", "eve@x.io")))
            .await;
        let (_, group) = scim
            .call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Ops", "members": [{ "value": user["id"] }] })))
            .await;
        scim.server.add_user("frank@x.io", "Frank").await;
        let (_, user) = scim
            .call(
                "GET",
                &format!("/Users/{}", user["id"].as_str().unwrap()),
                None,
            )
            .await;
        // Locations name the server's address, which changes with the restart.
        let old = scim.server.url.clone();
        let relocate = |v: Value| -> Value {
            serde_json::from_str(&v.to_string().replace(&old, "NEW")).unwrap()
        };
        (scim.token.clone(), relocate(user), relocate(group))
    };
    let server = Server::start_with(&["--db", path]);
    let relocate = |v: Value| -> Value {
        serde_json::from_str(&v.to_string().replace("NEW", &server.url)).unwrap()
    };
    let (user, group) = (relocate(user), relocate(group));
    let scim = Scim { server, token };
    assert_eq!(
        scim.call(
            "GET",
            &format!("/Users/{}", user["id"].as_str().unwrap()),
            None
        )
        .await,
        (200, user)
    );
    let (_, groups) = scim.call("GET", "/Groups", None).await;
    assert_eq!(groups["Resources"], json!([group]));
    let frank = scim.server.user("frank@x.io").await;
    assert_eq!(
        (&frank["source"], &frank["display_name"]),
        (&json!("admin"), &json!("Frank"))
    );
    drop(scim);
    std::fs::remove_file(&db).unwrap();
}
