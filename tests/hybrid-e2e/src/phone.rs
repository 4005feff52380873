//! The virtual phone as a child process, through its pinned command (issue 15):
//! `virtual-phone --data-dir DIR hybrid 'FIDO:/...' --tunnel-url URL --allow-insecure-loopback
//! [--presence ...] [--uv ...]`. It prints `hybrid advert HEX` (the 20 advert bytes) each time
//! it starts advertising and ends with `hybrid done: OK` or `hybrid done: ERROR <reason>`,
//! exiting 0 only when it served. With `--link-as NAME` the user consents to link the browser;
//! `hybrid --linked` waits for a linked browser instead of a QR code ([`PhoneProcess::start_with`]).
//! [`serve`] is the radio between it and the browser: each
//! advert line becomes a new device in the fake BlueZ, reported until the phone is done.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fake_bluez::{Advert, FakeBluez};
use crate::paths;
use crate::process::{Lines, stop_child, wait_exit};

/// The name the virtual phone gives itself (`virtual-phone`'s `DEVICE_NAME`): what a linked
/// browser lists it as.
pub const PHONE_NAME: &str = "virtual-phone";

/// How the phone's scripted user answers (the values of `--presence` and `--uv`).
#[derive(Clone, Copy, Debug)]
pub struct UserAnswers {
    pub presence: &'static str,
    pub uv: &'static str,
}

impl Default for UserAnswers {
    fn default() -> Self {
        Self {
            presence: "approve",
            uv: "approve",
        }
    }
}

/// What the phone did in one session.
#[derive(Debug)]
pub struct PhoneRun {
    /// The adverts it printed, in order (lower-case hex as printed).
    pub adverts: Vec<String>,
    /// Its `hybrid done: ...` line.
    pub done: String,
    /// Whether it exited 0.
    pub exit_ok: bool,
    /// How many times the fake radio reported its adverts.
    pub reports: u32,
    /// Its `hybrid linked browsers: N` line, if it printed one.
    pub linked_browsers: Option<usize>,
}

pub struct PhoneProcess {
    child: Child,
    lines: Lines,
}

impl PhoneProcess {
    pub fn start(
        data_dir: &Path,
        qr: &str,
        tunnel_url: &str,
        answers: UserAnswers,
    ) -> Result<Self, String> {
        Self::start_with(data_dir, &[qr], tunnel_url, answers)
    }

    /// The phone with `hybrid_args` after `hybrid` (the QR text and `--link-as NAME`, or
    /// `--linked`).
    pub fn start_with(
        data_dir: &Path,
        hybrid_args: &[&str],
        tunnel_url: &str,
        answers: UserAnswers,
    ) -> Result<Self, String> {
        let bin = paths::virtual_phone_bin();
        let mut child = Command::new(&bin)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("hybrid")
            .args(hybrid_args)
            .args(["--tunnel-url", tunnel_url, "--allow-insecure-loopback"])
            .args(["--presence", answers.presence, "--uv", answers.uv])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting {} (cargo build -p virtual-phone): {e}",
                    bin.display()
                )
            })?;
        let Some(stdout) = child.stdout.take() else {
            stop_child(&mut child);
            return Err("virtual-phone: no stdout".into());
        };
        Ok(Self {
            child,
            lines: Lines::spawn(stdout, "phone"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Relays the phone's adverts through `bluez` until it prints its `hybrid done:` line,
    /// then waits for it to exit. Fails if `limit` passes first (the phone is then stopped).
    pub fn serve(mut self, bluez: &FakeBluez, limit: Duration) -> Result<PhoneRun, String> {
        let deadline = Instant::now() + limit;
        let mut adverts = Vec::new();
        let mut current: Option<Advert> = None;
        let mut reports = 0;
        let mut linked_browsers = None;
        let done = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.next(left) {
                Ok(Some(line)) => line,
                Ok(None) => break None,
                Err(e) => {
                    stop_child(&mut self.child);
                    return Err(format!("the phone: {e} (adverts so far: {adverts:?})"));
                }
            };
            if let Some(hex) = line.strip_prefix("hybrid advert ") {
                let bytes = parse_advert(hex)?;
                if let Some(previous) = current.take() {
                    reports += previous.reports();
                    previous.stop()?;
                }
                current = Some(bluez.advertise(&bytes)?);
                adverts.push(hex.to_owned());
            } else if let Some(n) = line.strip_prefix("hybrid linked browsers: ") {
                linked_browsers = n.parse().ok();
            } else if line.starts_with("hybrid done: ") {
                break Some(line);
            }
        };
        if let Some(advert) = current.take() {
            reports += advert.reports();
            advert.stop()?;
        }
        let status = wait_exit(&mut self.child, Duration::from_secs(15))?;
        let done =
            done.ok_or_else(|| format!("the phone exited ({status}) without `hybrid done:`"))?;
        Ok(PhoneRun {
            adverts,
            done,
            exit_ok: status.success(),
            reports,
            linked_browsers,
        })
    }
}

impl Drop for PhoneProcess {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// The pinned format: exactly 20 bytes, lower-case hex.
fn parse_advert(hex: &str) -> Result<Vec<u8>, String> {
    let ok = hex.len() == 40
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(format!(
            "`hybrid advert {hex}` is not 20 bytes of lower-case hex"
        ));
    }
    hex::decode(hex).map_err(|e| format!("advert hex: {e}"))
}

#[cfg(test)]
mod tests {
    use super::parse_advert;

    #[test]
    fn advert_lines_hold_20_lower_case_hex_bytes() {
        let hex = "20f1b9fbf09c9579ba87917609b13cefdf9cf771";
        assert_eq!(parse_advert(hex).map(|b| b.len()), Ok(20));
        for bad in [
            "20F1B9FBF09C9579BA87917609B13CEFDF9CF771",
            "20f1b9fbf09c9579ba87917609b13cefdf9cf7",
            "20f1b9fbf09c9579ba87917609b13cefdf9cf77100",
            "20f1b9fbf09c9579ba87917609b13cefdf9cf77g",
            "",
        ] {
            assert_eq!(
                parse_advert(bad),
                Err(format!(
                    "`hybrid advert {bad}` is not 20 bytes of lower-case hex"
                ))
            );
        }
    }
}
