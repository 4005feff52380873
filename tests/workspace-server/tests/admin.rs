//! Admin API and admin CLI: users, groups, CSV import, assignment emails, the text output of
//! every CLI command, and the loopback-only guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BIN, Phone, Server};
use serde_json::json;

#[tokio::test]
async fn add_user_defaults_to_everyone_and_rejects_duplicates() {
    let server = Server::start();
    let (status, user) = server
        .post(
            "/admin/users",
            json!({ "email": "Alice@Example.com", "display_name": "Alice Doe" }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["groups"], json!(["Everyone"]));
    assert_eq!(user["key"], json!(null));
    assert!(user["id"].as_str().unwrap().starts_with("usr_"));

    let (status, user) = server
        .post(
            "/admin/users",
            json!({ "email": "bob@example.com", "display_name": "Bob", "groups": ["Sales"] }),
        )
        .await;
    assert_eq!((status, &user["groups"]), (201, &json!(["Sales"])));

    let (status, error) = server
        .post(
            "/admin/users",
            json!({ "email": "alice@example.com", "display_name": "Again" }),
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("email_exists"))
    );

    let (status, error) = server
        .post(
            "/admin/users",
            json!({ "email": "not-an-email", "display_name": "X" }),
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("bad_request"))
    );

    let (_, users) = server.get("/admin/users").await;
    assert_eq!(users.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn csv_import_reports_bad_lines() {
    let server = Server::start();
    server.add_user("taken@example.com", "Taken").await;
    let csv = "email,display_name,group\n\
               carol@example.com,\"Doe, Carol\",Finance\n\
               dave@example.com,Dave\n\
               not-an-email,Broken\n\
               taken@example.com,Duplicate\n\
               erin@example.com\n";
    let response = server
        .http
        .post(format!("{}/admin/users/import", server.url))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let result: serde_json::Value = response.json().await.unwrap();
    assert_eq!(result["imported"], 2);
    let skipped = result["skipped"].as_array().unwrap();
    let lines: Vec<u64> = skipped
        .iter()
        .map(|s| s["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 5, 6]);
    assert!(skipped[1]["reason"].as_str().unwrap().contains("exists"));

    let carol = server.user("carol@example.com").await;
    assert_eq!(carol["display_name"], "Doe, Carol");
    assert_eq!(carol["groups"], json!(["Finance"]));
    assert_eq!(
        server.user("dave@example.com").await["groups"],
        json!(["Everyone"])
    );

    let response = server
        .http
        .post(format!("{}/admin/users/import", server.url))
        .body("alice@example.com,Alice\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400, "a header is required");
}

#[tokio::test]
async fn assign_mails_a_link_and_optionally_a_pin() {
    let server = Server::start_with(&["--name", "Acme Corp"]);
    let alice = server.add_user("alice@example.com", "Alice").await;
    let bob = server.add_user("bob@example.com", "Bob").await;

    let user = server.assign(&alice, false, false).await;
    assert_eq!(user["key"]["type"], "smartphone");
    assert_eq!(user["key"]["status"], "pending");
    assert_eq!(user["key"]["client_pin"], false);
    assert!(user["key"].get("security_key_id").is_none());
    let mails = server.outbox("alice@example.com").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["subject"], "Activate your smartphone security key");
    let link = mails[0]["link"].as_str().unwrap();
    let prefix = format!("{}/activate?code=", server.url);
    let code = link
        .strip_prefix(&prefix)
        .expect("link on the server's own host");
    assert_eq!(code.len(), 26);
    assert!(
        code.bytes()
            .all(|c| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&c))
    );
    let body = mails[0]["body"].as_str().unwrap();
    assert!(body.contains(link));
    assert!(body.contains("Acme Corp"));
    let host = server.url.strip_prefix("http://").unwrap();
    assert!(body.contains(&format!("passkeyphone://activate?host={host}&code={code}")));
    assert!(mails[0].get("pin").is_none());

    server.assign(&bob, true, true).await;
    let mails = server.outbox("bob@example.com").await;
    assert_eq!(mails.len(), 2, "activation email and PIN email");
    assert!(mails[0]["link"].is_string());
    let pin = mails[1]["pin"].as_str().unwrap();
    assert_eq!(pin.len(), 6);
    assert!(pin.bytes().all(|c| c.is_ascii_digit()));
    let pin_body = mails[1]["body"].as_str().unwrap();
    assert!(pin_body.contains(&format!("Your security key PIN is {pin}")));
    assert!(
        !mails[0]["body"].as_str().unwrap().contains(pin),
        "PIN only in its own email"
    );

    let (_, all) = server.get("/admin/outbox").await;
    assert_eq!(all.as_array().unwrap().len(), 3);

    let (status, error) = server
        .post(
            &format!("/admin/users/{alice}/security-key"),
            json!({ "type": "smartphone", "client_pin": false, "force_change": true }),
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, _) = server
        .post(
            "/admin/users/usr_nobody/security-key",
            json!({ "type": "smartphone", "client_pin": false, "force_change": false }),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn reassigning_replaces_an_unredeemed_link_but_not_an_active_key() {
    let server = Server::start();
    let (alice, old_code) = server.user_with_key("alice@example.com", false).await;
    server.assign(&alice, false, false).await;
    let new_code = server.latest_code("alice@example.com").await;
    assert_ne!(old_code, new_code);

    let mut phone = Phone::new(&server);
    let (status, error) = phone.redeem(&old_code).await;
    assert_eq!((status, error["error"].as_str()), (410, Some("revoked")));
    assert_eq!(phone.redeem(&new_code).await.0, 200);

    let (status, error) = server
        .post(
            &format!("/admin/users/{alice}/security-key"),
            json!({ "type": "smartphone", "client_pin": false, "force_change": false }),
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("key_assigned"))
    );

    let (_, jobs) = server
        .get(&format!("/admin/users/{alice}/binding-jobs"))
        .await;
    let statuses: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["revoked", "bound"]);
}

#[tokio::test]
async fn cli_commands_print_plain_text() {
    let server = Server::start_with(&["--name", "Acme Corp"]);
    let (ok, out, _) = server.cli(&["add-user", "alice@example.com", "Alice Doe"]);
    assert!(ok);
    assert!(
        out.starts_with("added Alice Doe <alice@example.com> (usr_"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("to Everyone"), "{out}");
    let (ok, out, _) = server.cli(&["add-user", "bob@example.com", "Bob", "--group", "Sales"]);
    assert!(ok && out.trim_end().ends_with("to Sales"), "{out}");

    let (ok, _, err) = server.cli(&["add-user", "alice@example.com", "Again"]);
    assert!(!ok);
    assert!(
        err.contains("email_exists") && err.contains("HTTP 409"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("ws-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("users.csv");
    std::fs::write(
        &csv,
        "email,display_name\ncarol@example.com,Carol\nbroken,Broken\n",
    )
    .unwrap();
    let (ok, out, _) = server.cli(&["import-csv", csv.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(
        out,
        "imported 1 user\nskipped line 3: \"broken\" is not an email address\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let (ok, out, _) = server.cli(&[
        "assign",
        "alice@example.com",
        "--client-pin",
        "--force-change",
    ]);
    assert!(ok);
    assert_eq!(
        out,
        "assigned a smartphone security key to alice@example.com (client PIN: yes, force change: \
         yes); status pending\nactivation email sent to alice@example.com\n\
         PIN email sent to alice@example.com\n"
    );
    let (ok, out, _) = server.cli(&["assign", "bob@example.com"]);
    assert!(
        ok && out.contains("(client PIN: no, force change: no)"),
        "{out}"
    );

    let (ok, out, _) = server.cli(&["users"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for column in [
        "EMAIL",
        "NAME",
        "GROUPS",
        "KEY",
        "SECURITY KEY ID",
        "CLIENT PIN",
        "REVOCATION ACK",
    ] {
        assert!(lines[0].contains(column), "{out}");
    }
    let alice_line = lines.iter().find(|l| l.starts_with("alice@")).unwrap();
    let cells: Vec<&str> = alice_line
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        cells,
        [
            "alice@example.com",
            "Alice Doe",
            "Everyone",
            "pending",
            "-",
            "yes (force change)",
            "no"
        ]
    );
    let carol_line = lines.iter().find(|l| l.starts_with("carol@")).unwrap();
    assert!(carol_line.contains(" none "), "{out}");

    let (ok, out, _) = server.cli(&["outbox", "--to", "alice@example.com"]);
    assert!(ok);
    assert!(
        out.contains("Subject: Activate your smartphone security key"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Link:    {}/activate?code=", server.url)),
        "{out}"
    );
    let pin = server.latest_pin("alice@example.com").await;
    assert!(out.contains(&format!("PIN:     {pin}")), "{out}");
    assert!(
        out.contains(&format!("Your security key PIN is {pin}")),
        "{out}"
    );
    assert!(!out.contains("bob@example.com"), "{out}");
    let (ok, out, _) = server.cli(&["outbox", "--to", "nobody@example.com"]);
    assert!(ok && out == "the outbox is empty\n", "{out}");

    let (ok, out, _) = server.cli(&["binding-jobs", "alice@example.com"]);
    assert!(ok);
    assert!(out.starts_with("STATUS"), "{out}");
    assert!(
        out.lines().nth(1).unwrap().starts_with("pending  -"),
        "{out}"
    );

    // Bob activates, so his key can be suspended, resumed and revoked.
    let code = server.latest_code("bob@example.com").await;
    let mut phone = Phone::new(&server);
    assert_eq!(phone.redeem(&code).await.0, 200);
    let (ok, out, _) = server.cli(&["suspend", "bob@example.com"]);
    assert!(
        ok && out == "bob@example.com: security key suspended\n",
        "{out}"
    );
    let (ok, out, _) = server.cli(&["resume", "bob@example.com"]);
    assert!(
        ok && out == "bob@example.com: security key active\n",
        "{out}"
    );
    let (ok, out, _) = server.cli(&["revoke", "bob@example.com"]);
    assert!(
        ok && out == "bob@example.com: security key revoked\n",
        "{out}"
    );
    let (ok, out, _) = server.cli(&["binding-jobs", "bob@example.com"]);
    assert!(
        ok && out.lines().nth(1).unwrap().starts_with("revoked  sk_"),
        "{out}"
    );

    // Suspending a key that was never activated is refused, with the reason on stderr.
    let (ok, out, err) = server.cli(&["suspend", "alice@example.com"]);
    assert!(!ok && out.is_empty());
    assert!(
        err.starts_with("error: ") && err.contains("invalid_state"),
        "{err}"
    );

    let (ok, out, _) = server.cli(&["delete", "alice@example.com"]);
    assert!(
        ok && out == "deleted alice@example.com (security key revoked)\n",
        "{out}"
    );
    let (ok, _, err) = server.cli(&["revoke", "alice@example.com"]);
    assert!(
        !ok && err.contains("no user with email alice@example.com"),
        "{err}"
    );
}

#[test]
fn cli_errors_go_to_stderr_with_a_failure_code() {
    let output = std::process::Command::new(BIN)
        .arg("users")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--server"));

    let output = std::process::Command::new(BIN)
        .args(["--server", "http://127.0.0.1:1", "users"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot connect"));
}

#[test]
fn serve_refuses_non_loopback_addresses() {
    let output = std::process::Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--allow-non-loopback"), "{err}");
}
