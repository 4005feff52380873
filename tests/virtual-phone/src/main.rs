//! `virtual-phone`: the authenticator core running headless, standing in for a handset in
//! integration tests and demos. It is an app of the core's exported API (`api`), as the
//! Kotlin and Swift shells are: one `Authenticator` per command, with the software key
//! protector in place of the platform key store, a scripted user and a stderr logger; its
//! CTAPHID socket drives the API's CTAP channels.

mod demo;
mod enrollment;
mod hid_client;
mod hybrid;
mod link;
mod link_processes;
mod obr;
mod phone;
mod pin_client;
mod relying_party;
mod scripted_ui;
mod serve;
mod upkeep;
mod workspace_process;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use authenticator_core::api::Authenticator;
use authenticator_core::platform::UserInterface;
use clap::{Parser, Subcommand};
use phone::Settings;
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
    /// Serves the browser showing the hybrid QR code (FIDO:/...): prints `hybrid advert HEX`
    /// each time it advertises, then `hybrid done: OK` or `hybrid done: ERROR <reason>`.
    Hybrid {
        /// The browser's `FIDO:/` QR text (not with `--linked`).
        #[arg(required_unless_present = "linked", conflicts_with = "linked")]
        qr: Option<String>,
        /// The user consents to link the browser (when its QR asks for state-assisted
        /// linking), naming it NAME.
        #[arg(long, value_name = "NAME")]
        link_as: Option<String>,
        /// Instead of a QR code: wait for the most recently used linked browser to call.
        #[arg(long, conflicts_with = "link_as")]
        linked: bool,
        /// Replaces wss://{domain} of the tunnel server (a loopback test server).
        #[arg(long, value_name = "URL")]
        tunnel_url: Option<String>,
        /// Accept a plain-ws tunnel server on a loopback address. Test setting only.
        #[arg(long)]
        allow_insecure_loopback: bool,
        /// The tunnel server id the advert names (0 = cable.ua5v.com).
        #[arg(long, default_value = "0", value_name = "ID")]
        tunnel_server_id: u16,
        /// How the scripted user answers presence prompts.
        #[arg(long, value_enum, default_value = "approve")]
        presence: Answer,
        /// How the phone's built-in user verification answers.
        #[arg(long, value_enum, default_value = "approve")]
        uv: Answer,
        /// How long the user has to answer a prompt, in milliseconds.
        #[arg(long, default_value = "30000", value_name = "MS")]
        user_timeout_ms: u64,
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
    let settings = |allow_insecure_loopback| Settings {
        workspace_timeout_ms: cli.workspace_timeout_ms,
        allow_insecure_loopback,
    };
    // A phone whose user approves whatever is asked (commands that prompt nobody).
    let open = |allow_insecure_loopback: bool, device_name: &str| {
        let user: Arc<dyn UserInterface> = Arc::new(ScriptedUser {
            presence: Answer::Approve,
            verification: Answer::Approve,
        });
        phone::open(
            &data_dir,
            user,
            settings(allow_insecure_loopback).options(device_name),
        )
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
            let options = authenticator_core::api::AuthenticatorOptions {
                self_attestation: matches!(attestation, Attestation::Packed),
                user_action_timeout_ms: user_timeout_ms,
                builtin_user_verification: !no_builtin_uv,
                choose_account_on_phone: select_on_device,
                approval_answer_timeout_ms: obr_answer_timeout_ms,
                ..settings(allow_insecure_loopback).options(phone::DEVICE_NAME)
            };
            let user = Arc::new(ScriptedApprover {
                user: ScriptedUser {
                    presence,
                    verification: uv,
                },
                obr: obr_approval,
            });
            phone::open(&data_dir, user, options)
                .and_then(|phone| runtime.block_on(serve::run(phone, ctaphid, link)))
        }
        Command::Activate {
            link,
            allow_insecure_loopback,
        } => open(allow_insecure_loopback, phone::DEVICE_NAME)
            .and_then(|phone| runtime.block_on(enrollment::activate(&phone, link))),
        Command::Status { refresh } => open(false, phone::DEVICE_NAME)
            .and_then(|phone| runtime.block_on(enrollment::status(&phone, refresh))),
        Command::Pin {
            command: PinCommand::Submit { pin },
        } => open(false, phone::DEVICE_NAME)
            .and_then(|phone| runtime.block_on(enrollment::submit_pin(&phone, pin))),
        Command::Pair {
            code,
            allow_insecure_loopback,
            name,
        } => open(allow_insecure_loopback, &name)
            .and_then(|phone| runtime.block_on(link::pair(&phone, code))),
        Command::Hybrid {
            qr,
            link_as,
            linked,
            tunnel_url,
            allow_insecure_loopback,
            tunnel_server_id,
            presence,
            uv,
            user_timeout_ms,
        } => {
            let options = authenticator_core::api::AuthenticatorOptions {
                user_action_timeout_ms: user_timeout_ms,
                hybrid_tunnel_server_id: tunnel_server_id,
                hybrid_tunnel_url: tunnel_url,
                ..settings(allow_insecure_loopback).options(phone::DEVICE_NAME)
            };
            let user = Arc::new(ScriptedUser {
                presence,
                verification: uv,
            });
            phone::open(&data_dir, user, options)
                .and_then(|phone| runtime.block_on(hybrid::serve(&phone, qr, link_as, linked)))
        }
        Command::Paired {
            command: PairedCommand::List,
        } => open(false, phone::DEVICE_NAME).and_then(|phone| link::list(&phone)),
        Command::Paired {
            command: PairedCommand::Remove { id },
        } => open(false, phone::DEVICE_NAME).and_then(|phone| link::remove(&phone, &id)),
        Command::Passkeys {
            command: PasskeysCommand::List,
        } => open(false, phone::DEVICE_NAME).and_then(|phone| list_passkeys(&phone)),
        Command::Approvals {
            command: ApprovalsCommand::List { refresh },
        } => open(false, phone::DEVICE_NAME)
            .and_then(|phone| runtime.block_on(obr::list(&phone, refresh))),
        Command::Approvals {
            command:
                ApprovalsCommand::Approve {
                    id,
                    allow_insecure_loopback,
                },
        } => obr::decider(&data_dir, settings(allow_insecure_loopback), true)
            .and_then(|phone| runtime.block_on(obr::decide(&phone, id, true))),
        Command::Approvals {
            command:
                ApprovalsCommand::Deny {
                    id,
                    allow_insecure_loopback,
                },
        } => obr::decider(&data_dir, settings(allow_insecure_loopback), false)
            .and_then(|phone| runtime.block_on(obr::decide(&phone, id, false))),
        Command::Audit => open(false, phone::DEVICE_NAME).and_then(|phone| obr::audit(&phone)),
    };
    // The phone's threads stop before the runtime's (a request still running is dropped).
    drop(runtime);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("virtual-phone: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `passkeys list`: newest first, `ID  RP  USER  discoverable|server-side`.
fn list_passkeys(phone: &Authenticator) -> Result<(), String> {
    let mut passkeys = phone.passkeys().map_err(|e| e.to_string())?;
    passkeys.reverse();
    println!("{} passkey(s)", passkeys.len());
    for p in passkeys {
        println!(
            "{}  {}  {}  {}",
            p.id,
            p.rp_id,
            p.user_name.as_deref().unwrap_or("-"),
            if p.discoverable {
                "discoverable"
            } else {
                "server-side"
            }
        );
    }
    Ok(())
}
