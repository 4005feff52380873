//! `virtual-phone`: the authenticator core running headless, standing in for a handset in
//! integration tests and demos. It uses only the core's public API, with the software key
//! protector in place of the platform key store and a scripted user.

mod demo;
mod enrollment;
mod hid_client;
mod link;
mod link_processes;
mod obr;
mod relying_party;
mod scripted_ui;
mod serve;
mod workspace_process;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use authenticator_core::ctap::{AttestationFormat, CtapEngine, EngineConfig};
use authenticator_core::platform::{SoftwareKeyProtector, SystemClock, UserInterface};
use authenticator_core::vault::Vault;
use authenticator_core::workspace::KeyStatusGate;
use clap::{Parser, Subcommand};
use scripted_ui::{Answer, ScriptedApprover, ScriptedUser};

#[derive(Parser)]
#[command(
    name = "virtual-phone",
    version,
    about = "A headless phone running the authenticator core"
)]
struct Cli {
    /// Folder holding the phone's vault and software device key. Defaults to a temporary folder
    /// that is removed on exit.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How long one request to the workspace may take, in milliseconds.
    #[arg(long, global = true, default_value = "20000", value_name = "MS")]
    workspace_timeout_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Walks through the phone's features end to end and prints each step.
    Demo,
    /// Serves CTAP over a CTAPHID-over-TCP socket (see proto/ctaphid-socket.md).
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, value_name = "HOST:PORT", required_unless_present = "link")]
        ctaphid: Option<String>,
        /// Also serve the paired computers through the link (cloud relay).
        #[arg(long)]
        link: bool,
        /// Accept plain-http relays on a loopback address (the test relay). Test setting only.
        #[arg(long)]
        allow_insecure_loopback: bool,
        /// How the scripted user answers presence prompts.
        #[arg(long, value_enum, default_value = "approve")]
        presence: Answer,
        /// How the phone's built-in user verification answers.
        #[arg(long, value_enum, default_value = "approve")]
        uv: Answer,
        /// Run without built-in user verification (getInfo then has no "uv" option and
        /// clients use the client PIN).
        #[arg(long)]
        no_builtin_uv: bool,
        /// Let the user pick the account on the phone when several match.
        #[arg(long)]
        select_on_device: bool,
        /// How long the user has to answer a prompt, in milliseconds.
        #[arg(long, default_value = "30000", value_name = "MS")]
        user_timeout_ms: u64,
        /// Attestation format of new passkeys.
        #[arg(long, value_enum, default_value = "packed")]
        attestation: Attestation,
        /// How the scripted user answers on-behalf registration requests, which the phone
        /// runs as soon as the workspace announces them.
        #[arg(long, value_enum, default_value = "approve")]
        obr_approval: Answer,
        /// How long the user has to answer an on-behalf registration request, in
        /// milliseconds (then the admin's tool is told `timeout`).
        #[arg(long, default_value = "60000", value_name = "MS")]
        obr_answer_timeout_ms: u64,
    },
    /// On-behalf registration requests waiting for the user.
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// Lists the audit trail (on-behalf registrations, grants, enrollment), oldest first.
    Audit,
    /// Activates the phone from the administrator's activation link.
    Activate {
        link: String,
        /// Accept an http link to a loopback address (the emulated workspace server). Test
        /// setting only.
        #[arg(long)]
        allow_insecure_loopback: bool,
    },
    /// Shows the security key's status.
    Status {
        /// Ask the workspace instead of showing the stored status.
        #[arg(long)]
        refresh: bool,
    },
    /// Client PIN delivered by the administrator.
    Pin {
        #[command(subcommand)]
        command: PinCommand,
    },
    /// Pairs with the computer showing the pairing code (PASSKEYPHONE:/...).
    Pair {
        code: String,
        /// Accept a plain-http relay on a loopback address (the test relay). Test setting only.
        #[arg(long)]
        allow_insecure_loopback: bool,
        /// The phone's name as the computer will show it.
        #[arg(long, default_value = "Virtual phone")]
        name: String,
    },
    /// The computers this phone is paired with.
    Paired {
        #[command(subcommand)]
        command: PairedCommand,
    },
    /// The passkeys on this phone.
    Passkeys {
        #[command(subcommand)]
        command: PasskeysCommand,
    },
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// Lists the pending requests: grant id, admin, RP ids, count, expiry.
    List {
        /// First fetch the workspace's new events once (without `serve` running, this is
        /// how requests arrive).
        #[arg(long)]
        refresh: bool,
    },
    /// Approves a request (id from `approvals list`) and runs its session in this process
    /// until the admin's tool is done.
    Approve {
        id: String,
        /// Accept a plain-http relay on a loopback address (the test relay). Test setting only.
        #[arg(long)]
        allow_insecure_loopback: bool,
    },
    /// Denies a request: tells the admin's tool `denied`, or just drops the request if the
    /// tool cannot be reached.
    Deny {
        id: String,
        /// Accept a plain-http relay on a loopback address (the test relay). Test setting only.
        #[arg(long)]
        allow_insecure_loopback: bool,
    },
}

#[derive(Subcommand)]
enum PasskeysCommand {
    /// Lists the passkeys, newest first.
    List,
}

#[derive(Subcommand)]
enum PairedCommand {
    /// Lists the paired computers, most recently used first.
    List,
    /// Forgets a paired computer (id from `paired list`).
    Remove { id: String },
}

#[derive(Subcommand)]
enum PinCommand {
    /// Proves the delivered PIN to the workspace and installs it as the authenticator's PIN.
    Submit { pin: String },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Attestation {
    Packed,
    None,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    enrollment::set_request_timeout(Duration::from_millis(cli.workspace_timeout_ms));
    let temp = match &cli.data_dir {
        Some(_) => None,
        None => match tempfile::tempdir() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("virtual-phone: cannot make a temporary folder: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let data_dir = cli
        .data_dir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("virtual-phone: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Demo => runtime.block_on(demo::run(&data_dir)),
        Command::Serve {
            ctaphid,
            link,
            allow_insecure_loopback,
            presence,
            uv,
            no_builtin_uv,
            select_on_device,
            user_timeout_ms,
            attestation,
            obr_approval,
            obr_answer_timeout_ms,
        } => {
            let config = EngineConfig {
                attestation: match attestation {
                    Attestation::Packed => AttestationFormat::PackedSelf,
                    Attestation::None => AttestationFormat::None,
                },
                user_action_timeout: Duration::from_millis(user_timeout_ms),
                builtin_uv: !no_builtin_uv,
                select_account_on_device: select_on_device,
                ..EngineConfig::default()
            };
            let user = Arc::new(ScriptedApprover {
                user: ScriptedUser {
                    presence,
                    verification: uv,
                },
                obr: obr_approval,
            });
            match open_engine(&data_dir, user.clone(), config.clone()) {
                Ok(engine) => runtime.block_on(async {
                    let (runner, _printer) = obr::runner(
                        engine.vault().clone(),
                        config,
                        user,
                        allow_insecure_loopback,
                        Duration::from_millis(obr_answer_timeout_ms),
                    );
                    tokio::spawn(enrollment::watch(engine.vault().clone(), Some(runner)));
                    match (ctaphid, link) {
                        (Some(address), true) => {
                            tokio::spawn(link::serve(
                                engine.clone(),
                                allow_insecure_loopback,
                                false,
                            ));
                            serve::run(engine, &address).await
                        }
                        (Some(address), false) => serve::run(engine, &address).await,
                        (None, _) => {
                            link::serve(engine, allow_insecure_loopback, true).await;
                            Ok(())
                        }
                    }
                }),
                Err(e) => Err(e),
            }
        }
        Command::Activate {
            link,
            allow_insecure_loopback,
        } => open_vault(&data_dir).and_then(|vault| {
            runtime.block_on(enrollment::activate(&vault, &link, allow_insecure_loopback))
        }),
        Command::Status { refresh } => open_vault(&data_dir)
            .and_then(|vault| runtime.block_on(enrollment::status(&vault, refresh))),
        Command::Pin {
            command: PinCommand::Submit { pin },
        } => open_vault(&data_dir)
            .and_then(|vault| runtime.block_on(enrollment::submit_pin(&vault, &pin))),
        Command::Pair {
            code,
            allow_insecure_loopback,
            name,
        } => open_vault(&data_dir).and_then(|vault| {
            runtime.block_on(link::pair(&vault, &code, allow_insecure_loopback, &name))
        }),
        Command::Paired {
            command: PairedCommand::List,
        } => open_vault(&data_dir).and_then(|vault| link::list(&vault)),
        Command::Paired {
            command: PairedCommand::Remove { id },
        } => open_vault(&data_dir).and_then(|vault| link::remove(&vault, &id)),
        Command::Passkeys {
            command: PasskeysCommand::List,
        } => open_vault(&data_dir).and_then(|vault| list_passkeys(&vault)),
        Command::Approvals {
            command: ApprovalsCommand::List { refresh },
        } => open_vault(&data_dir).and_then(|vault| runtime.block_on(obr::list(&vault, refresh))),
        Command::Approvals {
            command:
                ApprovalsCommand::Approve {
                    id,
                    allow_insecure_loopback,
                },
        } => open_vault(&data_dir).and_then(|vault| {
            runtime.block_on(obr::decide(
                Arc::new(vault),
                &id,
                true,
                allow_insecure_loopback,
            ))
        }),
        Command::Approvals {
            command:
                ApprovalsCommand::Deny {
                    id,
                    allow_insecure_loopback,
                },
        } => open_vault(&data_dir).and_then(|vault| {
            runtime.block_on(obr::decide(
                Arc::new(vault),
                &id,
                false,
                allow_insecure_loopback,
            ))
        }),
        Command::Audit => open_vault(&data_dir).and_then(|vault| obr::audit(&vault)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("virtual-phone: {message}");
            ExitCode::FAILURE
        }
    }
}

fn list_passkeys(vault: &Vault) -> Result<(), String> {
    let passkeys = vault.credentials().list().map_err(|e| e.to_string())?;
    println!("{} passkey(s)", passkeys.len());
    for c in passkeys {
        let id: String = c.credential_id.iter().map(|b| format!("{b:02x}")).collect();
        println!(
            "{id}  {}  {}  {}",
            c.rp_id,
            c.user_name.as_deref().unwrap_or("-"),
            if c.discoverable {
                "discoverable"
            } else {
                "server-side"
            }
        );
    }
    Ok(())
}

/// The phone's vault, protected by the software key protector with its key file beside it.
pub fn open_vault(data_dir: &Path) -> Result<Vault, String> {
    // Kept by the vault so that every protected write advances the anchor beside the key file.
    let protector = Arc::new(SoftwareKeyProtector::new(data_dir.join("device.key")));
    Vault::open_anchored(data_dir.join("vault.db"), protector).map_err(|e| e.to_string())
}

/// The phone's vault and its CTAP engine.
pub fn open_engine(
    data_dir: &Path,
    user: Arc<dyn UserInterface>,
    config: EngineConfig,
) -> Result<Arc<CtapEngine>, String> {
    let vault = open_vault(data_dir)?;
    let vault = Arc::new(vault);
    CtapEngine::new(vault.clone(), user, Arc::new(SystemClock), config)
        .map(|e| e.with_serving_policy(Arc::new(KeyStatusGate::new(vault))))
        .map(Arc::new)
        .map_err(|e| e.to_string())
}
