//! Shared harness for the workspace-server integration tests: a real server process on a
//! free loopback port (the harness crate's spawner: killed on drop), reqwest over plain http,
//! a scripted phone that signs its requests exactly as the contract says, and a runner for the
//! admin CLI.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use harness::{Process, Stderr};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_workspace-server");

static PROVIDER: Once = Once::new();

pub fn http() -> reqwest::Client {
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder().build().unwrap()
}

/// A running `workspace-server serve`; killed when dropped.
pub struct Server {
    _process: Process,
    pub url: String,
    pub http: reqwest::Client,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Self {
        let (process, url) = Process::start_server(
            Command::new(BIN)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(args),
            "workspace server",
            Stderr::Inherit,
            "workspace listening on ",
        )
        .unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self {
            _process: process,
            url,
            http: http(),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    pub async fn delete(&self, path: &str) -> u16 {
        let response = self
            .http
            .delete(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// Adds a user and returns its id.
    pub async fn add_user(&self, email: &str, name: &str) -> String {
        let (status, user) = self
            .post(
                "/admin/users",
                json!({ "email": email, "display_name": name }),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        user["id"].as_str().unwrap().to_owned()
    }

    pub async fn assign(&self, user_id: &str, client_pin: bool, force_change: bool) -> Value {
        let (status, user) = self
            .post(
                &format!("/admin/users/{user_id}/security-key"),
                json!({ "type": "smartphone", "client_pin": client_pin, "force_change": force_change }),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        user
    }

    pub async fn outbox(&self, to: &str) -> Vec<Value> {
        let (status, mails) = self.get(&format!("/admin/outbox?to={to}")).await;
        assert_eq!(status, 200);
        mails.as_array().unwrap().clone()
    }

    /// The newest activation link mailed to `to`, and its code.
    pub async fn latest_code(&self, to: &str) -> String {
        let mails = self.outbox(to).await;
        let link = mails
            .iter()
            .rev()
            .find_map(|m| m["link"].as_str())
            .expect("an activation email");
        link.split_once("code=").unwrap().1.to_owned()
    }

    pub async fn latest_pin(&self, to: &str) -> String {
        let mails = self.outbox(to).await;
        mails
            .iter()
            .rev()
            .find_map(|m| m["pin"].as_str())
            .expect("a PIN email")
            .to_owned()
    }

    /// A user with a freshly assigned key: (user id, activation code).
    pub async fn user_with_key(&self, email: &str, client_pin: bool) -> (String, String) {
        let id = self.add_user(email, "Test User").await;
        self.assign(&id, client_pin, false).await;
        (id, self.latest_code(email).await)
    }

    pub async fn user(&self, email: &str) -> Value {
        let (_, users) = self.get("/admin/users").await;
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .cloned()
            .expect("user listed")
    }

    /// Runs an admin CLI command against this server: (exit ok, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new(BIN)
            .args(["--server", &self.url])
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("non-JSON body: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, value)
}

pub fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The contract's string to sign (phone endpoint 2).
pub fn signing_input(method: &str, path: &str, timestamp: i64, body: &[u8]) -> String {
    let hex: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{method}\n{path}\n{timestamp}\n{hex}")
}

/// HMAC-SHA256(key = SHA-256(PIN), "client-pin/v1" || security_key_id || nonce).
pub fn pin_proof(pin: &str, security_key_id: &str, nonce: &[u8]) -> String {
    let key = Sha256::digest(pin.as_bytes());
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key).unwrap();
    mac.update(b"client-pin/v1");
    mac.update(security_key_id.as_bytes());
    mac.update(nonce);
    B64.encode(mac.finalize().into_bytes())
}

pub fn new_key() -> SigningKey {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// How a test wants a signed request built (for the negative cases).
#[derive(Clone, Default)]
pub struct Signing {
    pub timestamp_offset: i64,
    /// Sign with this key instead of the phone's own.
    pub wrong_key: Option<SigningKey>,
    /// Send this key id header instead of the phone's.
    pub key_id: Option<String>,
    /// Sign this body but send the real one.
    pub signed_body: Option<String>,
    /// Sign this path but send the request to the real one.
    pub signed_path: Option<String>,
}

/// A scripted phone: one device key, the contract's requests.
pub struct Phone {
    pub key: SigningKey,
    /// The phone's OBR key (its static key in OBR sessions), told at redeem.
    pub obr_key: SigningKey,
    pub url: String,
    pub http: reqwest::Client,
    pub security_key_id: String,
    pub pin_nonce: Vec<u8>,
}

impl Phone {
    pub fn new(server: &Server) -> Self {
        Self {
            key: new_key(),
            obr_key: new_key(),
            url: server.url.clone(),
            http: http(),
            security_key_id: String::new(),
            pin_nonce: Vec::new(),
        }
    }

    pub fn public_key(&self) -> String {
        B64.encode(self.key.verifying_key().to_sec1_point(false).as_bytes())
    }

    pub fn obr_public_key(&self) -> String {
        B64.encode(self.obr_key.verifying_key().to_sec1_point(false).as_bytes())
    }

    pub async fn redeem_raw(&self, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/v1/activations/redeem", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Redeems `code`; on 200 remembers the key id and PIN nonce.
    pub async fn redeem(&mut self, code: &str) -> (u16, Value) {
        let (status, body) = self
            .redeem_raw(json!({
                "code": code,
                "device_public_key": self.public_key(),
                "obr_public_key": self.obr_public_key(),
                "device_name": "Test phone",
                "platform": "virtual",
            }))
            .await;
        if status == 200 {
            self.security_key_id = body["security_key_id"].as_str().unwrap().to_owned();
            self.pin_nonce = body["pin_nonce"]
                .as_str()
                .map(|n| B64.decode(n).unwrap())
                .unwrap_or_default();
        }
        (status, body)
    }

    pub async fn signed_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        signing: Signing,
    ) -> (u16, Value) {
        let body = body.unwrap_or("");
        let timestamp = now_secs() + signing.timestamp_offset;
        let signed_body = signing.signed_body.as_deref().unwrap_or(body);
        let signed_path = signing.signed_path.as_deref().unwrap_or(path);
        let input = signing_input(method, signed_path, timestamp, signed_body.as_bytes());
        let key = signing.wrong_key.as_ref().unwrap_or(&self.key);
        let signature: DerSignature = key.sign(input.as_bytes());
        let url = format!("{}{path}", self.url);
        let request = match method {
            "POST" => self.http.post(url),
            _ => self.http.get(url),
        };
        let key_id = signing.key_id.as_deref().unwrap_or(&self.security_key_id);
        let mut request = request
            .header("X-Security-Key-Id", key_id)
            .header("X-Timestamp", timestamp.to_string())
            .header("X-Signature", B64.encode(signature.as_bytes()));
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn signed(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.signed_with(method, path, body, Signing::default())
            .await
    }

    pub fn device_path(&self, rest: &str) -> String {
        format!("/api/v1/devices/{}{rest}", self.security_key_id)
    }

    pub async fn status(&self) -> (u16, Value) {
        self.signed("GET", &self.device_path(""), None).await
    }

    pub async fn submit_pin(&self, pin: &str) -> (u16, Value) {
        let proof = pin_proof(pin, &self.security_key_id, &self.pin_nonce);
        let body = json!({ "proof": proof }).to_string();
        self.signed("POST", &self.device_path("/client-pin"), Some(&body))
            .await
    }

    pub async fn events(&self, after: u64, wait: u64) -> (u16, Value) {
        let path = self.device_path(&format!("/events?after={after}&wait={wait}"));
        self.signed("GET", &path, None).await
    }

    pub async fn revocation_ack(&self) -> (u16, Value) {
        self.signed("POST", &self.device_path("/revocation-ack"), Some("{}"))
            .await
    }
}
