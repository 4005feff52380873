//! `virtual-phone`: the authenticator core running headless, standing in for a handset in
//! integration tests and demos. It uses only the core's public API, with the software key
//! protector in place of the platform key store.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Walks through the phone's features end to end and prints each step.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => demo::run(cli.data_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("virtual-phone: {message}");
            ExitCode::FAILURE
        }
    }
}
