//! Shared harness for the relay's integration tests: the real `relay` binary on a free
//! loopback port (the harness crate's spawner: killed on drop), its stderr log collected for inspection, and reqwest
//! helpers for each endpoint of link.md §5.4.
//!
//! The store: in memory by default; with `RELAY_TEST_STORE=redis` every relay a test starts
//! keeps its state in a Redis server of its own (Debian's `redis-server` on a loopback port
//! picked at run time, killed by its pid with the test's relay), so the same suite checks
//! both stores. `Relay::another_instance` starts a second relay on the same store.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, ExitStatus};
use std::sync::Once;
use std::time::{Duration, Instant};

use harness::{Process, Stderr};

use serde_json::Value;
use tokio::task::JoinHandle;

pub const BIN: &str = env!("CARGO_BIN_EXE_relay");

static PROVIDER: Once = Once::new();

pub fn http() -> reqwest::Client {
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A fresh random id as 32 lower-case hex digits.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    hex(&bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A GET answer: status, `Relay-Seq` header, body.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub seq: Option<String>,
    pub body: Vec<u8>,
}

/// Whether this run's relays keep their state in Redis (`RELAY_TEST_STORE=redis`).
pub fn on_redis() -> bool {
    std::env::var("RELAY_TEST_STORE").is_ok_and(|v| v == "redis")
}

/// A free loopback port picked by the system (for servers that cannot report their own).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `redis-server` of this test on 127.0.0.1, without persistence; killed when dropped.
pub struct RedisServer {
    process: Option<Process>,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> Self {
        let mut server = Self {
            process: None,
            port: free_port(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL by pid): everything it held is lost.
    pub fn kill(&mut self) {
        self.process = None;
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.process = None;
        let process = Process::spawn(
            Command::new("redis-server")
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"]),
            "redis-server",
            Stderr::Collect,
        )
        .expect("redis-server (Debian package redis-server; tests/setup.sh installs it)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.process = Some(process);
    }
}

/// A running `relay serve`; killed when dropped (then its Redis, if it has one).
pub struct Relay {
    process: Process,
    pub url: String,
    pub http: reqwest::Client,
    /// The relay's own Redis (`RELAY_TEST_STORE=redis`), shared with `another_instance`s.
    pub redis: Option<std::sync::Arc<std::sync::Mutex<RedisServer>>>,
    /// The arguments it was started with (its limits), for `another_instance`.
    args: Vec<String>,
}

impl Relay {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A relay on the store this run tests (see the module header).
    pub fn start_with(args: &[&str]) -> Self {
        let redis =
            on_redis().then(|| std::sync::Arc::new(std::sync::Mutex::new(RedisServer::start())));
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Self::start_on(redis, args)
    }

    /// A relay on Redis (whatever `RELAY_TEST_STORE` says).
    pub fn start_on_redis(args: &[&str]) -> Self {
        let redis = std::sync::Arc::new(std::sync::Mutex::new(RedisServer::start()));
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Self::start_on(Some(redis), args)
    }

    /// A second relay process on the same Redis and prefix with the same options: another
    /// instance of the same relay (in-memory runs: `None`).
    pub fn another_instance(&self) -> Option<Self> {
        self.redis
            .clone()
            .map(|redis| Self::start_on(Some(redis), self.args.clone()))
    }

    fn start_on(
        redis: Option<std::sync::Arc<std::sync::Mutex<RedisServer>>>,
        args: Vec<String>,
    ) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args);
        if let Some(redis) = &redis {
            command.args(["--redis", &redis.lock().unwrap().url()]);
            command.args(["--redis-prefix", "test"]);
        }
        let (process, url) = Process::start_server(
            &mut command,
            "relay",
            Stderr::Collect,
            "relay listening on ",
        )
        .unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self {
            process,
            url,
            http: http(),
            redis,
            args,
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The log so far (stderr).
    pub fn log(&self) -> String {
        self.process.stderr()
    }

    /// SIGTERM, wait for the exit (at most 10 s); the exit status and everything the
    /// process wrote after its ready line (stdout, stderr).
    pub fn stop(mut self) -> (ExitStatus, String, String) {
        self.process.terminate().unwrap();
        let status = self
            .process
            .wait_exit(Duration::from_secs(10))
            .expect("relay did not exit on SIGTERM");
        let (stdout, log) = self.process.finish();
        (status, stdout.join("\n"), log)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Got {
        fetch(request).await
    }

    /// A GET of `path` running in the background (a long-poll): its answer and how long it
    /// took.
    pub fn spawn_get(&self, path: &str) -> JoinHandle<(Got, Duration)> {
        let request = self.http.get(self.url(path));
        tokio::spawn(async move {
            let started = Instant::now();
            let got = fetch(request).await;
            (got, started.elapsed())
        })
    }

    pub async fn put(&self, session: &str) -> u16 {
        let request = self.http.put(self.url(&format!("/v1/sessions/{session}")));
        self.send(request).await.status
    }

    /// Creates a session and returns its id.
    pub async fn session(&self) -> String {
        let id = new_id();
        assert_eq!(self.put(&id).await, 201);
        id
    }

    pub async fn delete(&self, session: &str) -> u16 {
        let request = self
            .http
            .delete(self.url(&format!("/v1/sessions/{session}")));
        self.send(request).await.status
    }

    pub async fn knock_raw(&self, door: &str, body: Vec<u8>) -> u16 {
        let request = self
            .http
            .post(self.url(&format!("/v1/doors/{door}/knock")))
            .body(body);
        self.send(request).await.status
    }

    pub async fn knock(&self, door: &str, session: &str) -> u16 {
        self.knock_raw(door, unhex(session)).await
    }

    pub async fn doors(&self, doors: &[&str], wait_ms: u64) -> Got {
        let mut query: Vec<String> = doors.iter().map(|d| format!("door={d}")).collect();
        query.push(format!("wait_ms={wait_ms}"));
        let request = self
            .http
            .get(self.url(&format!("/v1/doors?{}", query.join("&"))));
        self.send(request).await
    }

    pub async fn post(&self, session: &str, dir: &str, seq: u64, frame: &[u8]) -> u16 {
        let request = self
            .http
            .post(self.url(&format!("/v1/sessions/{session}/{dir}/{seq}")))
            .header("content-type", "application/octet-stream")
            .body(frame.to_vec());
        self.send(request).await.status
    }

    pub async fn get(&self, session: &str, dir: &str, seq: u64, wait_ms: u64) -> Got {
        let request = self.http.get(self.url(&format!(
            "/v1/sessions/{session}/{dir}/{seq}?wait_ms={wait_ms}"
        )));
        self.send(request).await
    }

    pub async fn stats(&self) -> Value {
        let got = self.send(self.http.get(self.url("/v1/test/stats"))).await;
        assert_eq!(got.status, 200);
        serde_json::from_slice(&got.body).unwrap()
    }

    pub async fn arm(&self, fault: Value) -> (u16, Value) {
        let request = self.http.post(self.url("/v1/test/faults")).json(&fault);
        let got = self.send(request).await;
        let value = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
        (got.status, value)
    }
}

pub async fn fetch(request: reqwest::RequestBuilder) -> Got {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let seq = response
        .headers()
        .get("Relay-Seq")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.bytes().await.unwrap().to_vec();
    Got { status, seq, body }
}

/// An error answer is one line of UTF-8 text.
pub fn assert_one_line(got: &Got) {
    let text = std::str::from_utf8(&got.body).expect("UTF-8 error body");
    let line = text.strip_suffix('\n').unwrap_or(text);
    assert!(!line.is_empty() && !line.contains('\n'), "{text:?}");
}
