//! `workspace-server`: the emulated workspace backend (DESIGN §6, `proto/workspace-api.yaml`).
//!
//! `serve` runs the server (phone API + admin API + SCIM; users, groups and the SCIM token in
//! SQLite, a file with `--db`, the rest in memory); every other subcommand
//! is an admin CLI call to a running server given by `--server URL`.
//!
//! Module map:
//! - `server`: binding, the ready line, the router; `phone_api`, `admin_api`: HTTP handlers.
//! - `state`: users, assignments, outbox, faults behind one mutex; `assignment`: one key's
//!   status machine, client-PIN check, event inbox, binding job; `activation`: redeem and the
//!   other phone operations; `device_auth`: request signatures; `faults`: fault injection;
//!   `obr`: on-behalf registration (start checks, issued grants, receipts, their views).
//! - `outbox`: email texts; `csv_import`: CSV parsing; `random`, `clock`: codes, PINs, time.
//! - `store`: the SQLite tables behind users, SCIM groups and settings.
//! - `scim_api`: the `/scim/v2` endpoints; `scim_filter`: the filter and PATCH-path grammar;
//!   `scim_patch`: PATCH operations on a resource's JSON; `scim_state`: SCIM resources <->
//!   workspace users and groups; `scim_error`: RFC 7644 error bodies.
//! - `admin_client`, `http_client`: the CLI side.

mod activation;
mod admin_api;
mod admin_client;
mod assignment;
mod clock;
mod csv_import;
mod device_auth;
mod error;
mod faults;
mod http_client;
mod obr;
mod outbox;
mod phone_api;
mod random;
mod scim_api;
mod scim_error;
mod scim_filter;
mod scim_patch;
mod scim_state;
mod server;
mod state;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use admin_client::Client;

/// The emulated workspace backend: activation links, client PIN delivery, the phone API and
/// an admin API with an email outbox.
#[derive(Parser)]
#[command(name = "workspace-server", version)]
struct Cli {
    /// A running server's URL, for the admin commands (e.g. http://127.0.0.1:8080).
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until killed; prints `workspace listening on http://HOST:PORT`.
    Serve {
        /// Address to bind; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Allow a non-loopback address (the admin API has no authentication).
        #[arg(long)]
        allow_non_loopback: bool,
        /// The workspace name shown to users.
        #[arg(long, default_value = "Emulated Workspace")]
        name: String,
        /// Lifetime of an activation link, in seconds (default 7 days).
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        link_ttl_secs: u64,
        /// The cloud relay URL handed to phones at activation.
        #[arg(long, default_value = "https://relay.invalid")]
        relay_url: String,
        /// SQLite file keeping users, groups and the SCIM token across restarts.
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
    },
    /// Add a user (group "Everyone" unless --group is given).
    AddUser {
        email: String,
        name: String,
        /// A group to put the user in (repeatable).
        #[arg(long = "group", value_name = "G")]
        groups: Vec<String>,
    },
    /// Import users from a CSV file with the header email,display_name[,group].
    ImportCsv { file: PathBuf },
    /// Assign a smartphone security key: emails an activation link (and a PIN).
    Assign {
        email: String,
        /// Send the user a client PIN that the phone must prove before it is active.
        #[arg(long)]
        client_pin: bool,
        /// Make the user change the client PIN on first use (needs --client-pin).
        #[arg(long)]
        force_change: bool,
    },
    /// List users with their security key status.
    Users {
        /// Show each user's directory source (admin, csv, scim), external id and active flag.
        #[arg(long)]
        directory: bool,
    },
    /// Show the SCIM bearer token; --rotate issues a new one (the old one stops working).
    ScimToken {
        #[arg(long)]
        rotate: bool,
    },
    /// Show the emails the workspace has sent, oldest first.
    Outbox {
        #[arg(long, value_name = "EMAIL")]
        to: Option<String>,
    },
    /// Suspend the user's security key.
    Suspend { email: String },
    /// Resume a suspended security key.
    Resume { email: String },
    /// Revoke the user's security key.
    Revoke { email: String },
    /// Revoke the user's security key and delete the user.
    Delete { email: String },
    /// Show the user's binding jobs (one per assignment).
    BindingJobs { email: String },
    /// Start on-behalf registration for the user's active key; prints the grant id and grant.
    ObrStart {
        email: String,
        /// A relying party id the administrator may register at (repeatable, 1 to 16).
        #[arg(long = "rp", value_name = "RP", required = true)]
        rp_ids: Vec<String>,
        /// How many passkeys may be registered (1 to 25).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// How long the grant lasts, in minutes (1 to 15; default 10).
        #[arg(long, value_name = "M", value_parser = clap::value_parser!(u64).range(1..=15))]
        minutes: Option<u64>,
        /// The admin pairing tool's static key: SEC1 uncompressed P-256, hex or base64url.
        #[arg(long, value_name = "HEX|B64")]
        admin_key: String,
        /// The relay the admin pairing tool waits on.
        #[arg(long = "relay", value_name = "URL")]
        relay_url: String,
        /// The 16-byte door the admin pairing tool waits on (hex or base64url).
        #[arg(long, value_name = "HEX")]
        door: String,
        /// The administrator's name shown on the user's phone.
        #[arg(long, value_name = "NAME", default_value = "Administrator")]
        admin_name: String,
        /// The administrator's id written in the grant and the audit trail.
        #[arg(long, value_name = "ID", default_value = "admin")]
        admin_id: String,
    },
    /// Stop a running on-behalf registration.
    ObrStop { grant_id: String },
    /// List the on-behalf-registration grants with their status and registrations.
    ObrList,
    /// List the passkeys registered on the user's behalf.
    Passkeys { email: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            listen,
            allow_non_loopback,
            name,
            link_ttl_secs,
            relay_url,
            db,
        } => serve(server::ServeOptions {
            listen,
            allow_non_loopback,
            name,
            link_ttl_secs,
            relay_url,
            db,
        }),
        command => match &cli.server {
            None => Err("admin commands need --server URL (the serve command prints it)".into()),
            Some(url) => admin(&Client::new(url), command),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: server::ServeOptions) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(server::serve(options))
}

fn admin(client: &Client, command: Command) -> Result<(), String> {
    let text = match command {
        Command::Serve { .. } => return Err("serve is not an admin command".into()),
        Command::AddUser {
            email,
            name,
            groups,
        } => client.add_user(&email, &name, &groups)?,
        Command::ImportCsv { file } => {
            let csv =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            client.import_csv(&csv)?
        }
        Command::Assign {
            email,
            client_pin,
            force_change,
        } => client.assign(&email, client_pin, force_change)?,
        Command::Users { directory: false } => client.users()?,
        Command::Users { directory: true } => client.directory()?,
        Command::ScimToken { rotate } => client.scim_token(rotate)?,
        Command::Outbox { to } => client.outbox(to.as_deref())?,
        Command::Suspend { email } => client.key_action(&email, "suspend")?,
        Command::Resume { email } => client.key_action(&email, "resume")?,
        Command::Revoke { email } => client.key_action(&email, "revoke")?,
        Command::Delete { email } => client.delete(&email)?,
        Command::BindingJobs { email } => client.binding_jobs(&email)?,
        Command::ObrStart {
            email,
            rp_ids,
            count,
            minutes,
            admin_key,
            relay_url,
            door,
            admin_name,
            admin_id,
        } => client.obr_start(&admin_client::ObrStart {
            email,
            rp_ids,
            count,
            duration_secs: minutes.map(|m| m * 60),
            admin_key,
            relay_url,
            door,
            admin_name,
            admin_id,
        })?,
        Command::ObrStop { grant_id } => client.obr_stop(&grant_id)?,
        Command::ObrList => client.obr_list()?,
        Command::Passkeys { email } => client.passkeys(&email)?,
    };
    print!("{text}");
    Ok(())
}
