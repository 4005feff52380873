//! A private D-Bus "system" bus for one test run: `dbus-daemon` on a socket in a temporary
//! folder, with a policy that lets the test user own any name (the fake BlueZ takes
//! `org.bluez`) and call anything. Nothing reaches the machine's real system bus: btleplug
//! finds this one through `DBUS_SYSTEM_BUS_ADDRESS`, which the process sets at start-up
//! ([`bus_address_for`] gives it before any thread exists).
//!
//! Invariant: the daemon is stopped (by its pid) when the [`PrivateBus`] is dropped.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::process::stop_child;

/// The bus's policy (`@ADDRESS@` is replaced by the socket's address): a test bus for one user, where every name may be owned and every message
/// sent (the bus's own default denies owning names it does not know).
const CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>@ADDRESS@</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"#;

/// The bus socket's address inside `dir` (the value for `DBUS_SYSTEM_BUS_ADDRESS`).
pub fn bus_address_for(dir: &Path) -> String {
    format!("unix:path={}", dir.join("system_bus_socket").display())
}

/// A running private bus.
pub struct PrivateBus {
    child: Child,
    address: String,
    _config: PathBuf,
}

impl PrivateBus {
    /// Starts `dbus-daemon` listening at [`bus_address_for`]`(dir)` and waits until it says
    /// it is ready (it prints its address).
    pub fn start(dir: &Path) -> Result<Self, String> {
        let config = dir.join("bus.conf");
        let address = bus_address_for(dir);
        fs::write(&config, CONFIG.replace("@ADDRESS@", &address))
            .map_err(|e| format!("writing {}: {e}", config.display()))?;
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting dbus-daemon (apt package dbus-daemon): {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            stop_child(&mut child);
            return Err("dbus-daemon: no stdout".into());
        };
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        if read.map_or(true, |n| n == 0) || !line.trim().starts_with("unix:") {
            stop_child(&mut child);
            return Err(format!("dbus-daemon did not start (printed {line:?})"));
        }
        Ok(Self {
            child,
            address,
            _config: config,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}
