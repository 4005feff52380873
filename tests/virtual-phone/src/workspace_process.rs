//! The demo's emulated workspace: `workspace-server serve` started as a child process on a
//! loopback port chosen at run time (stopped when dropped), and the administrator's actions
//! through its admin HTTP API.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub struct Workspace {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

/// A binary built next to this one (`cargo build` puts the workspace's binaries together),
/// or the path in environment variable `env`.
pub fn sibling_binary(name: &str, env: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = exe.with_file_name(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build -p {name}` (tests/demo.sh does)",
            path.display()
        ))
    }
}

impl Workspace {
    pub fn start() -> Result<Self, String> {
        let mut child = Command::new(sibling_binary("workspace-server", "WORKSPACE_SERVER")?)
            .args(["serve", "--listen", "127.0.0.1:0", "--name", "Acme Corp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the workspace server: {e}"))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let Some(url) = line.trim().strip_prefix("workspace listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("unexpected workspace banner {line:?}"));
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            url: url.to_owned(),
            child,
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

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
