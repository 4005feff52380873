//! `pairing-tool`: the emulated PC pairing tool (DESIGN §7, proto/link.md). It shows pairing
//! codes, pairs with a phone over the cloud relay, and exposes the paired phone on a CTAPHID
//! TCP socket framed exactly like the virtual phone's (proto/ctaphid-socket.md), so any PC-side
//! FIDO2 client can use the phone through it. Its OBR mode is the administrator's tool of
//! on-behalf registration (proto/obr-grant.md §6).
//!
//! Module map: `store` (the data directory: static key, pairing record), `pairing` (codes and
//! first pairings), `forward` (the CTAPHID handler that forwards requests to the phone, over
//! sessions from a source), `obr` (OBR mode: grant, door, status, receipts), `workspace` (the
//! workspace admin API calls of OBR mode), `uhid` (`serve --uhid`: the phone as a FIDO HID
//! device of the Linux kernel, served by the same handler as the socket), `floor` (the hidden
//! `floor` command: the reconnect's curve operations timed, for the link bench).
//!
//! Output: stdout carries only the lines of README.md ("ctaphid listening on", "uhid device
//! ready:", "qr",
//! "paired with", "pairing failed:"; in OBR mode "grant", "obr accepted", "obr refused:",
//! "obr failed:", "obr ended:", "receipt", "bad receipt:"), each flushed; everything else
//! goes to stderr. Exit codes: 0 done, 1 failure, 2 usage (bad flags, bad relay URL).

mod floor;
mod forward;
mod obr;
mod pairing;
mod store;
mod uhid;
mod workspace;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use authenticator_core::ctaphid;
use authenticator_core::link::qr::QR_VALIDITY_SECS;
use authenticator_core::link::relay::{RelayClient, RelayConfig, check_relay_url};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use crate::forward::{Forwarder, Paired};
use crate::pairing::Pairer;
use crate::store::{DataDir, printable};

/// How long one wait for a knock on the pairing doors lasts at the relay; a code that expires
/// is replaced at most this late.
const DOOR_POLL_WAIT: Duration = Duration::from_secs(1);
/// The name the phone shows for this PC unless `--name` says otherwise.
const DEFAULT_NAME: &str = "Pairing tool";
/// The administrator id and name OBR mode puts in the grant unless told otherwise.
const DEFAULT_ADMIN_ID: &str = "admin";
const DEFAULT_ADMIN_NAME: &str = "Administrator";

/// The emulated PC pairing tool: pairs with a phone over the relay and exposes it on a
/// CTAPHID TCP socket.
#[derive(Parser)]
#[command(name = "pairing-tool", version)]
struct Cli {
    /// Folder for the tool's static key and its pairing (created if missing).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The relay's base URL, e.g. https://relay.example (needed by `serve`).
    #[arg(long, value_name = "URL", global = true)]
    relay: Option<String>,
    /// Accept an http:// relay on a loopback host (tests only).
    #[arg(long, global = true)]
    allow_insecure_loopback: bool,
    /// The name the phone shows for this computer (at most 64 bytes are sent).
    #[arg(long, value_name = "NAME", global = true)]
    name: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show pairing codes, pair, and serve the paired phone on a CTAPHID socket and/or as a
    /// FIDO HID device (Linux uhid) until stopped (SIGTERM, ctrl-c).
    Serve {
        /// Address of the CTAPHID socket, IP:PORT (port 0 picks a free one).
        #[arg(long, value_name = "IP:PORT", required_unless_present = "uhid")]
        ctaphid: Option<SocketAddr>,
        /// Create a FIDO HID device through the kernel's uhid (Linux): browsers, libfido2
        /// and OpenSSH then find the phone as a USB security key.
        #[arg(long)]
        uhid: bool,
        /// The uhid character device.
        #[arg(long, value_name = "PATH", default_value = uhid::DEFAULT_PATH, requires = "uhid")]
        uhid_path: PathBuf,
        /// Seconds a pairing code is honoured (proto/link.md §2.4 allows at most 60).
        #[arg(long, value_name = "SECS", default_value_t = QR_VALIDITY_SECS,
              value_parser = clap::value_parser!(u64).range(1..=60))]
        qr_lifetime_secs: u64,
        /// Test setting: end a session to the phone after this many idle seconds (§5.6: 60).
        #[arg(long, value_name = "SECS", default_value_t = forward::IDLE_LIMIT.as_secs(), hide = true,
              value_parser = clap::value_parser!(u64).range(1..=60))]
        session_idle_secs: u64,
    },
    /// On-behalf registration: ask the workspace for a grant for USER's security key, hand it
    /// to the user's phone over the relay, and serve the phone on a CTAPHID socket.
    Obr {
        /// The workspace's base URL (its admin API), e.g. http://127.0.0.1:8080.
        #[arg(long, value_name = "URL")]
        workspace: String,
        /// The user's email.
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// A relying party id the grant allows (repeat for more; at least one).
        #[arg(long = "rp", value_name = "RP", required = true)]
        rp: Vec<String>,
        /// How many passkeys may be registered (1 to 25).
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u8).range(1..=25))]
        count: u8,
        /// How long the grant lasts, in minutes (1 to 15).
        #[arg(long, value_name = "M", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..=15))]
        minutes: u64,
        /// The administrator's id in the grant.
        #[arg(long, value_name = "ID", default_value = DEFAULT_ADMIN_ID)]
        admin_id: String,
        /// The administrator's name the phone shows (default: --name, else "Administrator").
        #[arg(long, value_name = "NAME")]
        admin_name: Option<String>,
        /// Address of the CTAPHID socket, IP:PORT (port 0 picks a free one).
        #[arg(long, value_name = "IP:PORT")]
        ctaphid: SocketAddr,
        /// Test setting: the grant's lifetime in seconds instead of --minutes.
        #[arg(long, value_name = "SECS", hide = true,
              value_parser = clap::value_parser!(u64).range(1..=900))]
        duration_secs: Option<u64>,
        /// Test setting: arm this OBR grant fault at the workspace before starting, so the
        /// phone gets a grant it refuses.
        #[arg(long, value_name = "FAULT", hide = true,
              value_parser = ["forge_signature", "other_key", "expired", "replay"])]
        test_grant_fault: Option<String>,
        /// Test setting: hand the phone another grant than the one it was announced:
        /// `malleate` (the same grant with its signature's s replaced by n - s: same id, same
        /// payload, other bytes) or `other` (a grant started for the same user, tool key
        /// and door just before the announced one, and stopped).
        #[arg(long, value_name = "SWAP", hide = true, value_parser = ["malleate", "other"])]
        test_link_grant: Option<String>,
        /// Test setting: expect the phone's device key as its handshake key instead of the
        /// OBR key the workspace reported (the phone must not be accepted).
        #[arg(long, hide = true)]
        test_expect_device_key: bool,
    },
    /// Print the pairing (phone name, creation time) or `not paired`.
    Status,
    /// Forget the paired phone.
    Unpair,
    /// Test command (tests/bench/link_rtt.py): time ROUNDS P-256 ECDH, key generations and
    /// KKpsk0 handshakes in this process and print their medians on a `floor:` line.
    #[command(hide = true)]
    Floor {
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        rounds: u32,
    },
}

/// A failure and the exit code it gets.
enum Failure {
    Usage(String),
    Runtime(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("pairing-tool: error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("pairing-tool: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Status => status(&cli.data_dir),
        Command::Unpair => unpair(&cli.data_dir),
        Command::Floor { rounds } => floor::run(rounds).map_err(Failure::Runtime),
        Command::Obr {
            workspace,
            user,
            rp,
            count,
            minutes,
            admin_id,
            admin_name,
            ctaphid,
            duration_secs,
            test_grant_fault,
            test_link_grant,
            test_expect_device_key,
        } => {
            let (relay, config) = relay_option(cli.relay, cli.allow_insecure_loopback, "obr")?;
            let workspace = workspace::parse_url(&workspace)
                .map_err(|e| Failure::Usage(format!("--workspace {workspace:?}: {e}")))?;
            let options = obr::ObrOptions {
                data_dir: cli.data_dir,
                relay,
                config,
                workspace,
                user,
                rp_ids: rp,
                count,
                duration_secs: duration_secs.unwrap_or(minutes * 60),
                admin_id,
                admin_name: admin_name
                    .or(cli.name)
                    .unwrap_or_else(|| DEFAULT_ADMIN_NAME.to_owned()),
                ctaphid,
                test_grant_fault,
                test_link_grant,
                test_expect_device_key,
            };
            runtime()?
                .block_on(obr::run(options))
                .map_err(Failure::Runtime)
        }
        Command::Serve {
            ctaphid,
            uhid,
            uhid_path,
            qr_lifetime_secs,
            session_idle_secs,
        } => {
            let (relay, config) = relay_option(cli.relay, cli.allow_insecure_loopback, "serve")?;
            let options = ServeOptions {
                data_dir: cli.data_dir,
                relay,
                config,
                name: cli.name.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
                ctaphid,
                uhid: uhid.then_some(uhid_path),
                code_lifetime: Duration::from_secs(qr_lifetime_secs),
                session_idle: Duration::from_secs(session_idle_secs),
            };
            runtime()?
                .block_on(serve(options))
                .map_err(Failure::Runtime)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))
}

/// `--relay`, checked with the core's `check_relay_url`.
fn relay_option(
    relay: Option<String>,
    allow_insecure_loopback: bool,
    command: &str,
) -> Result<(String, RelayConfig), Failure> {
    let relay = relay.ok_or_else(|| {
        Failure::Usage(format!(
            "`{command}` needs --relay URL (the relay's base URL)"
        ))
    })?;
    let config = RelayConfig {
        allow_insecure_loopback,
        ..RelayConfig::default()
    };
    check_relay_url(&relay, &config).map_err(|e| {
        let hint = if relay.starts_with("http://") && !allow_insecure_loopback {
            " (add --allow-insecure-loopback for a loopback test relay)"
        } else {
            ""
        };
        Failure::Usage(format!("--relay {relay:?}: {e}{hint}"))
    })?;
    Ok((relay, config))
}

/// Prints one line on stdout and flushes it (tests and scripts read these lines as they come).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn status(data_dir: &Path) -> Result<(), Failure> {
    match DataDir::at(data_dir).load_pairing() {
        Ok(Some(pairing)) => {
            say(&format!(
                "paired with {} (created {} unix seconds, relay {})",
                pairing.display_name(),
                pairing.created_at,
                printable(&pairing.relay_url)
            ));
            Ok(())
        }
        Ok(None) => {
            say("not paired");
            Ok(())
        }
        Err(e) => Err(Failure::Runtime(e.to_string())),
    }
}

fn unpair(data_dir: &Path) -> Result<(), Failure> {
    let store = DataDir::at(data_dir);
    let name = store
        .load_pairing()
        .ok()
        .flatten()
        .map(|p| p.display_name());
    match store.remove_pairing() {
        Ok(true) => {
            say(&format!(
                "unpaired {}",
                name.unwrap_or_else(|| "the phone".into())
            ));
            Ok(())
        }
        Ok(false) => {
            say("not paired");
            Ok(())
        }
        Err(e) => Err(Failure::Runtime(e.to_string())),
    }
}

struct ServeOptions {
    data_dir: PathBuf,
    relay: String,
    config: RelayConfig,
    name: String,
    ctaphid: Option<SocketAddr>,
    /// The uhid device's path when `--uhid` is on.
    uhid: Option<PathBuf>,
    code_lifetime: Duration,
    session_idle: Duration,
}

async fn serve(options: ServeOptions) -> Result<(), String> {
    // Opened first: a missing module or permission fails before anything is created or announced.
    let device = match &options.uhid {
        Some(path) => {
            let file = uhid::open(path)?;
            let reader = file
                .try_clone()
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            Some((reader, file))
        }
        None => None,
    };
    let store = DataDir::create(&options.data_dir).map_err(|e| e.to_string())?;
    let key = store.load_or_create_key().map_err(|e| e.to_string())?;
    let scalar: Zeroizing<[u8; 32]> = key.scalar_bytes();
    let pairing = store.load_pairing().map_err(|e| e.to_string())?;
    match &pairing {
        Some(pairing) => eprintln!(
            "pairing-tool: paired with {} (relay {})",
            pairing.display_name(),
            printable(&pairing.relay_url)
        ),
        None => eprintln!("pairing-tool: not paired yet"),
    }
    let door_client = RelayClient::new(
        &options.relay,
        RelayConfig {
            poll_wait: DOOR_POLL_WAIT,
            ..options.config
        },
    )
    .map_err(|e| e.to_string())?;
    let listener = match options.ctaphid {
        Some(address) => {
            let listener = TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen on {address}: {e}"))?;
            let local = listener
                .local_addr()
                .map_err(|e| format!("cannot read the listening address: {e}"))?;
            say(&format!("ctaphid listening on {local}"));
            Some(listener)
        }
        None => None,
    };

    // One handler for both transports: requests from the socket and the device take turns.
    let forwarder: Arc<dyn ctaphid::CtapHandler> = Arc::new(Forwarder::new(Arc::new(Paired::new(
        store.clone(),
        key,
        options.config,
        options.session_idle,
    ))));
    let pairer = Pairer {
        store,
        key: scalar,
        client: door_client,
        pc_name: Some(options.name),
        lifetime: options.code_lifetime,
    };
    let pairing_task = tokio::spawn(pairer.run());
    let socket = async {
        match listener {
            Some(listener) => accept(listener, forwarder.clone()).await,
            None => std::future::pending().await,
        }
    };
    let device = async {
        match device {
            Some((reader, writer)) => {
                let name = uhid::device_name(pairing.as_ref().map(|p| p.display_name()).as_deref());
                let info = uhid::event::DeviceInfo {
                    name: name.clone(),
                    phys: "pairing-tool".to_owned(),
                };
                uhid::run(reader, writer, &info, forwarder.clone(), || {
                    say(&format!("uhid device ready: {name}"));
                })
                .await
            }
            None => std::future::pending().await,
        }
    };
    // Whichever ends first ends the others; the device's guard destroys it as it is dropped.
    let result = tokio::select! {
        result = socket => result,
        result = device => result,
        () = stop_signal() => Ok(()),
    };
    pairing_task.abort();
    result
}

/// SIGTERM or ctrl-c (SIGINT).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            eprintln!("pairing-tool: cannot watch for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    eprintln!("pairing-tool: stopping");
}

/// One CTAPHID session per TCP connection, as on the virtual phone's socket.
async fn accept(
    listener: TcpListener,
    handler: Arc<dyn ctaphid::CtapHandler>,
) -> Result<(), String> {
    loop {
        let (stream, peer) = listener
            .accept()
            .await
            .map_err(|e| format!("accept failed: {e}"))?;
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = ctaphid::serve(stream, handler).await {
                eprintln!("pairing-tool: ctaphid connection from {peer} ended: {e}");
            }
        });
    }
}
