//! Giving the process its private system bus. btleplug reads `DBUS_SYSTEM_BUS_ADDRESS` when
//! it connects, and setting an environment variable in a running (threaded) process is unsound,
//! so a test or demo binary re-runs itself once with the variable set to a socket in a fresh
//! temporary folder; the child starts the bus there ([`crate::scenario::Context::start`]).

use std::env;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use crate::bus::bus_address_for;

const BUS_DIR_ENV: &str = "HYBRID_E2E_BUS_DIR";

pub enum Role {
    /// This process is the one to run: its bus folder.
    Run(PathBuf),
    /// This process only waited for the re-run one: its exit code.
    Done(ExitCode),
}

pub fn private_bus() -> Role {
    if let Some(dir) = env::var_os(BUS_DIR_ENV).map(PathBuf::from) {
        let expected = bus_address_for(&dir);
        if env::var("DBUS_SYSTEM_BUS_ADDRESS").ok().as_deref() == Some(expected.as_str()) {
            return Role::Run(dir);
        }
    }
    let result = (|| -> Result<i32, String> {
        let dir = tempfile::Builder::new()
            .prefix("hybrid-e2e-bus")
            .tempdir()
            .map_err(|e| format!("temporary folder: {e}"))?;
        let exe = env::current_exe().map_err(|e| format!("own path: {e}"))?;
        let status = Command::new(exe)
            .args(env::args_os().skip(1))
            .env(BUS_DIR_ENV, dir.path())
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus_address_for(dir.path()))
            .status()
            .map_err(|e| format!("re-running with a private bus: {e}"))?;
        Ok(status.code().unwrap_or(1))
    })();
    match result {
        Ok(code) => Role::Done(ExitCode::from(u8::try_from(code).unwrap_or(1))),
        Err(e) => {
            eprintln!("hybrid-e2e: {e}");
            Role::Done(ExitCode::FAILURE)
        }
    }
}
