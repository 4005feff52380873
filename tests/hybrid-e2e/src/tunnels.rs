//! The tunnel servers a run goes through, each a child process on 127.0.0.1 with a port
//! chosen at run time, stopped by its pid when dropped:
//! - ours, `tests/tunnel-server` (built in the main workspace): binds port 0 and prints
//!   `tunnel-server listening on ADDR`;
//! - `cable-tunnel-server-backend` 0.1.0 from crates.io (webauthn-rs's server, MPL-2.0),
//!   installed by `run.sh` with `cargo install --locked` into `target/hybrid-e2e-tools`. It
//!   takes its port on the command line, so the port is picked free just before; it answers
//!   every `/cable/new/` with the routing id it was given and ignores routing ids on connect.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::paths;
use crate::process::{Lines, free_loopback_port, stop_child, wait_for_listener};

/// Which implementation a tunnel server is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// Our reference server, `tests/tunnel-server`.
    Ours,
    /// webauthn-rs's `cable-tunnel-server-backend` 0.1.0.
    CableBackend,
}

impl TunnelKind {
    /// Every tunnel server a run goes through.
    pub const ALL: &'static [TunnelKind] = &[TunnelKind::Ours, TunnelKind::CableBackend];

    /// Whether it has the `/cable/contact/` and `/cable/listen/` routes of state-assisted
    /// reconnects (only ours; `proto/hybrid.md`).
    pub fn has_contact_route(self) -> bool {
        self == TunnelKind::Ours
    }

    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Ours => "tunnel-server",
            TunnelKind::CableBackend => "cable-tunnel-server-backend",
        }
    }
}

/// How long a tunnel lives unless a scenario says otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// The routing id given to `cable-tunnel-server-backend` (it reports it on every new tunnel).
pub const CABLE_BACKEND_ROUTING_ID: [u8; 3] = [0xc0, 0xff, 0xee];

pub struct TunnelServer {
    child: Child,
    addr: SocketAddr,
    kind: TunnelKind,
    /// Keeps reading the server's stdout, so it never writes into a closed pipe.
    _stdout: Option<Lines>,
}

impl TunnelServer {
    /// A server whose tunnels live [`DEFAULT_LIFETIME`].
    pub fn start(kind: TunnelKind) -> Result<Self, String> {
        Self::start_with_lifetime(kind, DEFAULT_LIFETIME)
    }

    /// A server whose tunnels close `lifetime` after the phone connected (the backend counts
    /// in whole seconds, at least one).
    pub fn start_with_lifetime(kind: TunnelKind, lifetime: Duration) -> Result<Self, String> {
        match kind {
            TunnelKind::Ours => Self::start_ours(lifetime),
            TunnelKind::CableBackend => Self::start_cable_backend(lifetime),
        }
    }

    fn start_ours(lifetime: Duration) -> Result<Self, String> {
        let bin = paths::tunnel_server_bin();
        let lifetime_ms = lifetime.as_millis().max(1).to_string();
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--lifetime-ms", &lifetime_ms])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting {} (cargo build -p tunnel-server): {e}",
                    bin.display()
                )
            })?;
        let Some(stdout) = child.stdout.take() else {
            stop_child(&mut child);
            return Err("tunnel-server: no stdout".into());
        };
        let lines = Lines::spawn(stdout, "tunnel-server");
        let line = lines.next(Duration::from_secs(15));
        let addr = match &line {
            Ok(Some(l)) => l
                .strip_prefix("tunnel-server listening on ")
                .and_then(|a| a.trim().parse::<SocketAddr>().ok()),
            _ => None,
        };
        match addr {
            Some(addr) => Ok(Self {
                child,
                addr,
                kind: TunnelKind::Ours,
                _stdout: Some(lines),
            }),
            None => {
                stop_child(&mut child);
                Err(format!(
                    "tunnel-server did not say where it listens: {line:?}"
                ))
            }
        }
    }

    fn start_cable_backend(lifetime: Duration) -> Result<Self, String> {
        let ttl = lifetime.as_secs().max(1).to_string();
        let bin: PathBuf = paths::cable_backend_bin();
        // The port is free when picked and taken a moment later; if someone else took it in
        // between, the server exits and the next attempt picks another.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_loopback_port()?;
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut child = Command::new(&bin)
                .args([
                    "--bind-address",
                    &addr.to_string(),
                    "--insecure-http-server",
                ])
                .args(["--routing-id", &hex::encode(CABLE_BACKEND_ROUTING_ID)])
                .args(["--tunnel-ttl", &ttl])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("starting {} (run.sh installs it): {e}", bin.display()))?;
            match wait_for_listener(&mut child, addr, Duration::from_secs(15)) {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        addr,
                        kind: TunnelKind::CableBackend,
                        _stdout: None,
                    });
                }
                Err(e) => {
                    stop_child(&mut child);
                    last = e;
                }
            }
        }
        Err(format!("cable-tunnel-server-backend: {last}"))
    }

    /// The base URL browsers and phones use instead of the advert's domain (`ws://...`).
    pub fn base_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn kind(&self) -> TunnelKind {
        self.kind
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TunnelServer {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}
