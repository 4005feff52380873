//! The demo's emulated workspace: `workspace-server serve` started as a child process on a
//! loopback port chosen at run time (by the harness crate's spawner, killed when dropped), and
//! the administrator's actions through its admin HTTP API.

use std::process::Command;

use harness::{Process, Stderr, binary};
use serde_json::{Value, json};

pub struct Workspace {
    _process: Process,
    pub url: String,
    http: reqwest::Client,
}

impl Workspace {
    pub fn start() -> Result<Self, String> {
        let (process, url) = Process::start_server(
            Command::new(binary("workspace-server", "WORKSPACE_SERVER")?).args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--name",
                "Acme Corp",
            ]),
            "workspace server",
            Stderr::Discard,
            "workspace listening on ",
        )?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            _process: process,
            url,
            http,
        })
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.url);
        let request = match method {
            "POST" => self.http.post(&url).json(&body.unwrap_or(json!({}))),
            _ => self.http.get(&url),
        };
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!("workspace admin API {path}: {status} {value}"))
        }
    }

    /// Adds a user and assigns a smartphone security key; returns the user's id.
    pub async fn add_user_with_phone_key(
        &self,
        email: &str,
        name: &str,
        client_pin: bool,
    ) -> Result<String, String> {
        let user = self
            .call(
                "POST",
                "/admin/users",
                Some(json!({"email": email, "display_name": name})),
            )
            .await?;
        let id = user["id"].as_str().ok_or("user has no id")?.to_owned();
        self.call(
            "POST",
            &format!("/admin/users/{id}/security-key"),
            Some(json!({"type": "smartphone", "client_pin": client_pin, "force_change": false})),
        )
        .await?;
        Ok(id)
    }

    /// The emails sent to `email`.
    pub async fn outbox(&self, email: &str) -> Result<Vec<Value>, String> {
        let value = self
            .call("GET", &format!("/admin/outbox?to={email}"), None)
            .await?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }

    /// The key status the administrator sees for `email`.
    pub async fn key_status(&self, email: &str) -> Result<String, String> {
        let users = self.call("GET", "/admin/users", None).await?;
        users
            .as_array()
            .and_then(|list| list.iter().find(|u| u["email"] == email))
            .and_then(|u| u["key"]["status"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("{email} has no key"))
    }
}
