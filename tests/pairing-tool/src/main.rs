//! `pairing-tool`: the emulated PC pairing tool (DESIGN §7, proto/link.md). It shows pairing
//! codes, pairs with a phone over the cloud relay, and exposes the paired phone on a CTAPHID
//! TCP socket framed exactly like the virtual phone's (proto/ctaphid-socket.md), so any PC-side
//! FIDO2 client can use the phone through it.
//!
//! Module map: `store` (the data directory: static key, pairing record), `pairing` (codes and
//! first pairings), `forward` (the CTAPHID handler that forwards requests to the phone).
//!
//! Output: stdout carries only the lines of README.md ("ctaphid listening on", "qr",
//! "paired with", "pairing failed:"), each flushed; everything else goes to stderr. Exit
//! codes: 0 done, 1 failure, 2 usage (bad flags, bad relay URL).

mod forward;
mod pairing;
mod store;

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

use crate::forward::Forwarder;
use crate::pairing::Pairer;
use crate::store::{DataDir, printable};

/// How long one wait for a knock on the pairing doors lasts at the relay; a code that expires
/// is replaced at most this late.
const DOOR_POLL_WAIT: Duration = Duration::from_secs(1);
/// The name the phone shows for this PC unless `--name` says otherwise.
const DEFAULT_NAME: &str = "Pairing tool";

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
    /// Show pairing codes, pair, and serve the paired phone on a CTAPHID socket until killed.
    Serve {
        /// Address of the CTAPHID socket, IP:PORT (port 0 picks a free one).
        #[arg(long, value_name = "IP:PORT")]
        ctaphid: SocketAddr,
        /// Seconds a pairing code is honoured (proto/link.md §2.4 allows at most 60).
        #[arg(long, value_name = "SECS", default_value_t = QR_VALIDITY_SECS,
              value_parser = clap::value_parser!(u64).range(1..=60))]
        qr_lifetime_secs: u64,
        /// Test setting: end a session to the phone after this many idle seconds (§5.6: 60).
        #[arg(long, value_name = "SECS", default_value_t = forward::IDLE_LIMIT.as_secs(), hide = true,
              value_parser = clap::value_parser!(u64).range(1..=60))]
        session_idle_secs: u64,
    },
    /// Print the pairing (phone name, creation time) or `not paired`.
    Status,
    /// Forget the paired phone.
    Unpair,
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
        Command::Serve {
            ctaphid,
            qr_lifetime_secs,
            session_idle_secs,
        } => {
            let relay = cli.relay.ok_or_else(|| {
                Failure::Usage("`serve` needs --relay URL (the relay's base URL)".into())
            })?;
            let config = RelayConfig {
                allow_insecure_loopback: cli.allow_insecure_loopback,
                ..RelayConfig::default()
            };
            check_relay_url(&relay, &config).map_err(|e| {
                let hint = if relay.starts_with("http://") && !cli.allow_insecure_loopback {
                    " (add --allow-insecure-loopback for a loopback test relay)"
                } else {
                    ""
                };
                Failure::Usage(format!("--relay {relay:?}: {e}{hint}"))
            })?;
            let options = ServeOptions {
                data_dir: cli.data_dir,
                relay,
                config,
                name: cli.name.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
                ctaphid,
                code_lifetime: Duration::from_secs(qr_lifetime_secs),
                session_idle: Duration::from_secs(session_idle_secs),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))?;
            runtime.block_on(serve(options)).map_err(Failure::Runtime)
        }
    }
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
    ctaphid: SocketAddr,
    code_lifetime: Duration,
    session_idle: Duration,
}

async fn serve(options: ServeOptions) -> Result<(), String> {
    let store = DataDir::create(&options.data_dir).map_err(|e| e.to_string())?;
    let key = store.load_or_create_key().map_err(|e| e.to_string())?;
    let scalar: Zeroizing<[u8; 32]> = key.scalar_bytes();
    match store.load_pairing().map_err(|e| e.to_string())? {
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
    let listener = TcpListener::bind(options.ctaphid)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.ctaphid))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    say(&format!("ctaphid listening on {local}"));

    let forwarder: Arc<dyn ctaphid::CtapHandler> = Arc::new(Forwarder::new(
        store.clone(),
        scalar.clone(),
        options.config,
        options.session_idle,
    ));
    let pairer = Pairer {
        store,
        key: scalar,
        client: door_client,
        pc_name: Some(options.name),
        lifetime: options.code_lifetime,
    };
    let pairing = tokio::spawn(pairer.run());
    let result = accept(listener, forwarder).await;
    pairing.abort();
    result
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
