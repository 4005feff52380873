//! OBR mode (proto/obr-grant.md §6) with real `workspace-server`, `relay` and `pairing-tool`
//! processes; the user's phone is played here with the core's `phone_obr_handshake` over the
//! relay, with a device key that redeemed an activation at the workspace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authenticator_core::link::channel::MessageType;
use authenticator_core::link::noise::KeyPair;
use authenticator_core::link::relay::{RelayClient, SessionEnd};
use authenticator_core::link::session::{LinkSession, SessionError, obr_psk, phone_obr_handshake};
use authenticator_core::obr::{Grant, Receipt};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{Hid, Proc, relay_config, start, start_relay, tool_command, tool_on_relay};
use serde_json::{Value, json};

const LINE_WAIT: Duration = Duration::from_secs(20);
const OPERATION_DENIED: u8 = 0x27;

struct Workspace {
    _proc: Proc,
    url: String,
    http: reqwest::Client,
}

/// The phone's side: its device key (signs receipts), its OBR key (its static key in the OBR
/// handshake) and what the redeem answered.
struct Device {
    scalar: [u8; 32],
    obr_scalar: [u8; 32],
    security_key_id: String,
    grant_signing_key: Vec<u8>,
}

fn start_workspace() -> Workspace {
    // The workspace-server binary beside ours, built first (a no-op when it is fresh).
    let (proc, url) = Proc::start_server(
        Command::new(harness::built_binary("workspace-server")).args([
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]),
        "workspace server",
        harness::Stderr::Collect,
        "workspace listening on ",
    )
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    Workspace {
        _proc: proc,
        url,
        http: reqwest::Client::new(),
    }
}

impl Workspace {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn add_user(&self, email: &str) -> String {
        let (status, user) = self
            .call(
                reqwest::Method::POST,
                "/admin/users",
                Some(json!({ "email": email, "display_name": "Test User" })),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        user["id"].as_str().unwrap().to_owned()
    }

    /// A user whose phone redeemed an activation without a client PIN: the key is active.
    async fn active_user(&self, email: &str) -> Device {
        let id = self.add_user(email).await;
        let (status, _) = self
            .call(
                reqwest::Method::POST,
                &format!("/admin/users/{id}/security-key"),
                Some(json!({ "type": "smartphone", "client_pin": false, "force_change": false })),
            )
            .await;
        assert_eq!(status, 201);
        let (_, mails) = self
            .call(
                reqwest::Method::GET,
                &format!("/admin/outbox?to={email}"),
                None,
            )
            .await;
        let link = mails
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find_map(|m| m["link"].as_str())
            .unwrap()
            .to_owned();
        let code = link.split_once("code=").unwrap().1;
        let key = KeyPair::generate().unwrap();
        let obr_key = KeyPair::generate().unwrap();
        let (status, redeemed) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/activations/redeem",
                Some(json!({
                    "code": code,
                    "device_public_key": B64.encode(key.public_key()),
                    "obr_public_key": B64.encode(obr_key.public_key()),
                    "device_name": "Test phone",
                    "platform": "virtual",
                })),
            )
            .await;
        assert_eq!(status, 200, "{redeemed}");
        assert_eq!(redeemed["status"], "active");
        Device {
            scalar: *key.scalar_bytes(),
            obr_scalar: *obr_key.scalar_bytes(),
            security_key_id: redeemed["security_key_id"].as_str().unwrap().to_owned(),
            grant_signing_key: B64
                .decode(redeemed["grant_signing_key"].as_str().unwrap())
                .unwrap(),
        }
    }

    /// The workspace's record of a grant (`GET /admin/obr`).
    async fn grant(&self, grant_id: &[u8; 16]) -> Value {
        let (_, list) = self.call(reqwest::Method::GET, "/admin/obr", None).await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|g| g["grant_id"] == B64.encode(grant_id))
            .cloned()
            .expect("the grant is listed")
    }
}

/// An OBR-mode tool: its process, CTAPHID address and printed grant id.
struct ObrTool {
    proc: Proc,
    ctaphid: std::net::SocketAddr,
    grant_id: [u8; 16],
}

fn obr_command(dir: &Path, relay: &str, workspace: &str, email: &str, extra: &[&str]) -> Command {
    let mut command = tool_on_relay(dir, relay, "Admin PC");
    command
        .args(["obr", "--workspace", workspace, "--user", email])
        .args([
            "--rp",
            "example.com",
            "--rp",
            "login.example.org",
            "--count",
            "2",
        ])
        .args(["--admin-id", "adm_7", "--admin-name", "Ann Admin"])
        .args(["--ctaphid", "127.0.0.1:0"])
        .args(extra);
    command
}

fn start_obr(dir: &Path, relay: &str, workspace: &str, email: &str, extra: &[&str]) -> ObrTool {
    let mut proc = start(
        obr_command(dir, relay, workspace, email, extra),
        "administrator's pairing tool",
    );
    let line = proc.expect_line("ctaphid listening on ", LINE_WAIT);
    let ctaphid = line
        .trim_start_matches("ctaphid listening on ")
        .parse()
        .unwrap();
    let line = proc.expect_line("grant ", LINE_WAIT);
    let hex = line.trim_start_matches("grant ");
    assert_eq!(hex.len(), 32, "{line}");
    let grant_id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    ObrTool {
        proc,
        ctaphid,
        grant_id: grant_id.try_into().unwrap(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The phone's side of §6 step 3: the grant from the workspace (the `obr_request` event's
/// fields, read here from the admin list), verified unbound; a session knocked on the admin
/// door; IKpsk1 with `device_scalar` (the right device key or another).
async fn phone_connect(
    ws: &Workspace,
    device: &Device,
    device_scalar: &[u8; 32],
    grant_id: &[u8; 16],
) -> (Result<LinkSession, SessionError>, RelayClient, Vec<u8>) {
    let record = ws.grant(grant_id).await;
    let grant = B64.decode(record["grant"].as_str().unwrap()).unwrap();
    let verified = Grant::verify_unbound(
        &grant,
        &device.grant_signing_key,
        &device.security_key_id,
        now(),
        30,
    )
    .unwrap();
    assert_eq!(&verified.grant_id, grant_id);
    let door: [u8; 16] = B64
        .decode(record["admin_door"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let client = RelayClient::new(record["relay_url"].as_str().unwrap(), relay_config()).unwrap();
    let session = client.create_session().await.unwrap();
    client.knock(&door, &session).await.unwrap();
    let result = phone_obr_handshake(
        Box::new(client.link(session, SessionEnd::Phone)),
        KeyPair::from_scalar_bytes(device_scalar).unwrap(),
        &verified.admin_static_key,
        &obr_psk(grant_id),
    )
    .await;
    (result, client, grant)
}

/// The phone's receipt for registration `index` (signed with `scalar`).
fn receipt(
    scalar: &[u8; 32],
    grant_id: [u8; 16],
    index: u8,
    rp_id: &str,
    credential: &[u8],
) -> Vec<u8> {
    let key = p256::ecdsa::SigningKey::from_slice(scalar).unwrap();
    Receipt {
        grant_id,
        index,
        rp_id: rp_id.into(),
        credential_id: credential.to_vec(),
        aaguid: [7; 16],
        created_at: now(),
        auth_data_hash: Receipt::hash_auth_data(b"authenticator data"),
    }
    .sign(&key)
}

#[tokio::test(flavor = "multi_thread")]
async fn accepted_grant_forwards_ctap_and_prints_receipts() {
    let ws = start_workspace();
    let relay = start_relay();
    let device = ws.active_user("alice@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let mut tool = start_obr(dir.path(), &relay.url, &ws.url, "ALICE@acme.example", &[]);

    // The grant the workspace issued carries the tool's static key, the admin and the scope.
    let tool_key = std::fs::read(dir.path().join("pc-static.key")).unwrap();
    let tool_public = *KeyPair::from_scalar_bytes(&tool_key.try_into().unwrap())
        .unwrap()
        .public_key();
    let record = ws.grant(&tool.grant_id).await;
    assert_eq!(record["status"], "running");
    let grant = Grant::verify(
        &B64.decode(record["grant"].as_str().unwrap()).unwrap(),
        &device.grant_signing_key,
        &device.security_key_id,
        &tool_public,
        now(),
        30,
    )
    .unwrap();
    assert_eq!(grant.grant_id(), &tool.grant_id);
    assert_eq!(grant.grant().admin_id, "adm_7");
    assert_eq!(grant.grant().admin_name, "Ann Admin");
    assert_eq!(grant.grant().rp_ids, ["example.com", "login.example.org"]);
    assert_eq!(grant.max_registrations(), 2);

    // A request before the phone accepted waits for it.
    let early = tokio::spawn({
        let addr = tool.ctaphid;
        async move {
            let mut hid = Hid::connect(addr).await;
            hid.cbor(&[0x04]).await.0
        }
    });

    let (session, _client, grant_bytes) =
        phone_connect(&ws, &device, &device.obr_scalar, &tool.grant_id).await;
    let session = session.unwrap();
    assert_eq!(
        session.recv().await.unwrap(),
        (MessageType::ObrGrant, grant_bytes)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!early.is_finished(), "the request waits for the acceptance");
    session
        .send(MessageType::ObrStatus, b"accepted")
        .await
        .unwrap();
    tool.proc.expect_line("obr accepted", LINE_WAIT);

    // The early request reaches the phone, the answer comes back.
    assert_eq!(
        session.recv().await.unwrap(),
        (MessageType::Ctap, vec![0x04])
    );
    session
        .send(MessageType::Ctap, &[0x00, 0xa0])
        .await
        .unwrap();
    assert_eq!(early.await.unwrap(), vec![0x00, 0xa0]);

    // A makeCredential with keepalives; the receipt follows the answer.
    let mut hid = Hid::connect(tool.ctaphid).await;
    let phone = tokio::spawn(async move {
        let (kind, request) = session.recv().await.unwrap();
        assert_eq!(
            (kind, request),
            (MessageType::Ctap, vec![0x01, 0xa1, 0x01, 0x02])
        );
        for _ in 0..3 {
            session.send(MessageType::Keepalive, &[2]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        session
            .send(
                MessageType::Ctap,
                &[0x00, 0xa1, 0x01, 0x63, b'f', b'm', b't'],
            )
            .await
            .unwrap();
        session
    });
    let (answer, keepalives) = hid.cbor(&[0x01, 0xa1, 0x01, 0x02]).await;
    assert_eq!(answer, vec![0x00, 0xa1, 0x01, 0x63, b'f', b'm', b't']);
    assert!(keepalives.contains(&2), "{keepalives:?}");
    let session = phone.await.unwrap();

    let credential = [0xc1u8; 48];
    let good = receipt(&device.scalar, tool.grant_id, 1, "example.com", &credential);
    session.send(MessageType::Receipt, &good).await.unwrap();
    let line = tool.proc.expect_line("receipt ", LINE_WAIT);
    assert_eq!(line, format!("receipt 1 example.com {}", hex(&credential)));

    // Signed by another key; outside the scope; under another grant.
    let other = *KeyPair::generate().unwrap().scalar_bytes();
    let forged = receipt(&other, tool.grant_id, 2, "example.com", &credential);
    session.send(MessageType::Receipt, &forged).await.unwrap();
    assert_eq!(
        tool.proc.expect_line("bad receipt", LINE_WAIT),
        "bad receipt: kid_mismatch"
    );
    let outside = receipt(
        &device.scalar,
        tool.grant_id,
        2,
        "evil.example",
        &credential,
    );
    session.send(MessageType::Receipt, &outside).await.unwrap();
    assert_eq!(
        tool.proc.expect_line("bad receipt", LINE_WAIT),
        "bad receipt: rp_out_of_scope"
    );
    let elsewhere = receipt(&device.scalar, [9; 16], 2, "example.com", &credential);
    session
        .send(MessageType::Receipt, &elsewhere)
        .await
        .unwrap();
    assert_eq!(
        tool.proc.expect_line("bad receipt", LINE_WAIT),
        "bad receipt: unknown_grant"
    );

    // The phone ends the session (grant used up): the OBR is over, requests are denied and
    // the grant is stopped at the workspace.
    session.close().await;
    tool.proc
        .expect_line("obr ended: the phone ended the session", LINE_WAIT);
    let (answer, _) = hid.cbor(&[0x04]).await;
    assert_eq!(answer, vec![OPERATION_DENIED]);
    let deadline = std::time::Instant::now() + LINE_WAIT;
    while ws.grant(&tool.grant_id).await["status"] != "stopped" {
        assert!(
            std::time::Instant::now() < deadline,
            "the grant was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_device_key_is_turned_away_and_a_denial_ends_the_obr() {
    let ws = start_workspace();
    let relay = start_relay();
    let device = ws.active_user("bob@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let mut tool = start_obr(dir.path(), &relay.url, &ws.url, "bob@acme.example", &[]);

    // Knows the grant id but holds another key, or shows its device key instead of its OBR
    // key: the session is deleted, no grant.
    let other = *KeyPair::generate().unwrap().scalar_bytes();
    for key in [other, device.scalar] {
        let (session, _client, _) = phone_connect(&ws, &device, &key, &tool.grant_id).await;
        assert_eq!(
            tool.proc.expect_line("obr failed", LINE_WAIT),
            "obr failed: the phone is not the user's security key"
        );
        if let Ok(session) = session {
            assert!(session.recv().await.is_err(), "no grant for another key");
        }
    }

    // The user's phone still can connect; the user denies.
    let (session, _client, grant_bytes) =
        phone_connect(&ws, &device, &device.obr_scalar, &tool.grant_id).await;
    let session = session.unwrap();
    assert_eq!(
        session.recv().await.unwrap(),
        (MessageType::ObrGrant, grant_bytes)
    );
    session
        .send(MessageType::ObrStatus, b"denied")
        .await
        .unwrap();
    session.close().await;
    assert_eq!(
        tool.proc.expect_line("obr ", LINE_WAIT),
        "obr refused: denied"
    );

    // Requests after the refusal are denied; the grant is stopped at the workspace.
    let mut hid = Hid::connect(tool.ctaphid).await;
    let (answer, _) = hid.cbor(&[0x01, 0xa0]).await;
    assert_eq!(answer, vec![OPERATION_DENIED]);
    let deadline = std::time::Instant::now() + LINE_WAIT;
    while ws.grant(&tool.grant_id).await["status"] != "stopped" {
        assert!(
            std::time::Instant::now() < deadline,
            "the grant was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_and_sigterm_stop_the_obr() {
    let ws = start_workspace();
    let relay = start_relay();
    ws.active_user("carol@acme.example").await;
    ws.active_user("dave@acme.example").await;

    // No phone within the grant's lifetime: over, requests denied.
    let dir = tempfile::tempdir().unwrap();
    let mut tool = start_obr(
        dir.path(),
        &relay.url,
        &ws.url,
        "carol@acme.example",
        &["--duration-secs", "2"],
    );
    let mut hid = Hid::connect(tool.ctaphid).await;
    let started = std::time::Instant::now();
    let (answer, _) = hid.cbor(&[0x04]).await;
    assert_eq!(answer, vec![OPERATION_DENIED]);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the request waited for the phone"
    );
    tool.proc.expect_line(
        "obr ended: the grant expired before the phone connected",
        LINE_WAIT,
    );

    // SIGTERM stops the running grant at the workspace and exits 0.
    let dir = tempfile::tempdir().unwrap();
    let mut tool = start_obr(dir.path(), &relay.url, &ws.url, "dave@acme.example", &[]);
    assert_eq!(ws.grant(&tool.grant_id).await["status"], "running");
    tool.proc.terminate().unwrap();
    assert_eq!(
        tool.proc.wait_exit(LINE_WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        tool.proc.stderr()
    );
    assert_eq!(ws.grant(&tool.grant_id).await["status"], "stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn workspace_errors_and_usage() {
    let ws = start_workspace();
    let relay = start_relay();
    ws.add_user("nokey@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let run = |workspace: &str, email: &str, extra: &[&str]| {
        let out = obr_command(dir.path(), &relay.url, workspace, email, extra)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stderr).unwrap(),
        )
    };

    let (code, stderr) = run(&ws.url, "nobody@acme.example", &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the workspace has no user with the email nobody@acme.example"),
        "{stderr}"
    );

    let (code, stderr) = run(&ws.url, "nokey@acme.example", &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the workspace refused to start OBR: no_key: "),
        "{stderr}"
    );

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, stderr) = run(&url, "nokey@acme.example", &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot find the user: cannot reach the workspace"),
        "{stderr}"
    );

    let (code, stderr) = run("ftp://x", "a@b.example", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--workspace"), "{stderr}");
    let (code, stderr) = run(&ws.url, "a@b.example", &["--count", "26"]);
    assert_eq!(code, 2, "{stderr}");

    let (code, _, stderr) = tool_command(
        dir.path(),
        &[
            "obr",
            "--workspace",
            &ws.url,
            "--user",
            "a@b.example",
            "--ctaphid",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--rp"), "{stderr}");
    let (code, _, stderr) = tool_command(
        dir.path(),
        &[
            "obr",
            "--workspace",
            &ws.url,
            "--user",
            "a@b.example",
            "--rp",
            "example.com",
            "--ctaphid",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`obr` needs --relay URL"), "{stderr}");
}

/// A device-signed phone request (workspace contract, phone endpoint 2).
async fn device_call(
    ws: &Workspace,
    device: &Device,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Value) {
    use p256::ecdsa::DerSignature;
    use p256::ecdsa::signature::Signer;
    let timestamp = now();
    // Receipt::hash_auth_data is plain SHA-256.
    let digest = hex(&Receipt::hash_auth_data(body.as_bytes()));
    let input = format!("{method}\n{path}\n{timestamp}\n{digest}");
    let key = p256::ecdsa::SigningKey::from_slice(&device.scalar).unwrap();
    let signature: DerSignature = key.sign(input.as_bytes());
    let url = format!("{}{path}", ws.url);
    let mut request = match method {
        "POST" => ws.http.post(url),
        _ => ws.http.get(url),
    }
    .header("X-Security-Key-Id", &device.security_key_id)
    .header("X-Timestamp", timestamp.to_string())
    .header("X-Signature", B64.encode(signature.as_bytes()));
    if !body.is_empty() {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A phone that refuses the grant its `obr_request` event carries never connects; it reports
/// the refusal to the workspace, and the tool (watching its grant) prints the same line as
/// for a type-6 refusal and answers CTAP requests 0x27. Each `--test-grant-fault` makes the
/// workspace deliver a grant the phone refuses with its code (replay: the previous event's).
#[tokio::test(flavor = "multi_thread")]
async fn refusal_before_connecting_reaches_the_admin_tool() {
    let ws = start_workspace();
    let relay = start_relay();
    let device = ws.active_user("alice@acme.example").await;
    let events_path = format!(
        "/api/v1/devices/{}/events?after=0&wait=0",
        device.security_key_id
    );
    let refusals_path = format!("/api/v1/devices/{}/obr-refusals", device.security_key_id);
    // The grant ids this phone has seen (obr-grant.md §3.4).
    let mut seen: Vec<String> = Vec::new();
    for (fault, code) in [
        ("forge_signature", "bad_signature"),
        ("other_key", "wrong_security_key"),
        ("expired", "expired"),
        ("replay", "replayed"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut tool = start_obr(
            dir.path(),
            &relay.url,
            &ws.url,
            "alice@acme.example",
            &["--test-grant-fault", fault],
        );
        // The phone's side: the newest obr_request, checked as Grant::verify_unbound does.
        let (status, events) = device_call(&ws, &device, "GET", &events_path, "").await;
        assert_eq!(status, 200, "{events}");
        let event = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["type"] == "obr_request")
            .cloned()
            .unwrap();
        let id = event["grant_id"].as_str().unwrap().to_owned();
        let verdict = if seen.contains(&id) {
            "replayed"
        } else {
            let grant = B64.decode(event["grant"].as_str().unwrap()).unwrap();
            Grant::verify_unbound(
                &grant,
                &device.grant_signing_key,
                &device.security_key_id,
                now(),
                30,
            )
            .unwrap_err()
            .code()
        };
        assert_eq!(verdict, code, "{fault}");
        seen.push(id.clone());
        let body = json!({ "grant_id": id, "code": verdict }).to_string();
        let (status, answer) = device_call(&ws, &device, "POST", &refusals_path, &body).await;
        assert_eq!(status, 204, "{answer}");

        let line = tool.proc.expect_line("obr ", Duration::from_secs(3));
        assert_eq!(line, format!("obr refused: {code}"), "{fault}");
        let record = ws.grant(&tool.grant_id).await;
        assert_eq!(record["status"], "refused");
        let mut hid = Hid::connect(tool.ctaphid).await;
        assert_eq!(hid.cbor(&[0x04]).await.0, vec![OPERATION_DENIED], "{fault}");
    }
}
