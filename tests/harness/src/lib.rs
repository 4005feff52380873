//! Test-only: the one process spawner of the test harnesses, and ([`stop_signal`]) the stop
//! request the servers it starts obey. Starts a built binary of this
//! workspace as a child process, reads the lines it prints (the address it listens on, what
//! it did), and kills it by its pid when dropped, so a failing test leaves nothing running.
//!
//! Servers are started on `127.0.0.1:0`: the system picks the port at run time and the
//! process prints its address in a ready line (`relay listening on http://127.0.0.1:PORT`),
//! which [`Process::start_server`] waits for.
//!
//! Invariants: stdout is read line by line on a thread of its own (a child never blocks on a
//! full pipe), and so is stderr when it is collected. Every line read is kept, in order; a line
//! is *claimed* by the wait that returns it. [`Process::expect_line`] and
//! [`Process::sees_line`] look only at lines not read yet (the *next* pairing code, not an
//! older one); [`Process::wait_for`] first looks at lines read but never claimed (a line the
//! child printed while the caller waited for another).

mod stop;

pub use stop::stop_signal;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a server may take to print its ready line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What becomes of a child's stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    /// Kept for [`Process::stderr`] (a log to inspect, or to show when a wait fails).
    Collect,
    /// Goes to the test's own stderr.
    Inherit,
    /// Thrown away.
    Discard,
}

/// The directory cargo puts this workspace's binaries in: the running executable's own, or
/// its parent when it is a test binary in `deps/`.
fn bin_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("no current executable: {e}"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| format!("{} has no folder", exe.display()))?;
    Ok(match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().unwrap_or(dir).to_owned(),
        _ => dir.to_owned(),
    })
}

/// A binary of this workspace built beforehand: the path in environment variable `env` when
/// it is set, else `name` in the running executable's target directory.
pub fn binary(name: &str, env: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let path = bin_dir()?.join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build -p {name}`",
            path.display()
        ))
    }
}

/// The binary of workspace package `package` (named as the package) in the running test's
/// target directory, built first with `cargo build -p package` once per process (a no-op when
/// it is fresh; a test binary's own package builds only its own binaries).
///
/// # Panics
/// When it can be neither built nor found.
pub fn built_binary(package: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(package) {
        return path.clone();
    }
    let dir = bin_dir().unwrap_or_else(|e| panic!("{e}"));
    let binary = dir.join(package);
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace)
        .args(["build", "-q", "-p", package]);
    if dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let ok = build.status().is_ok_and(|s| s.success());
    assert!(
        ok || binary.exists(),
        "cannot build {package} (cargo build -p {package}) and {} does not exist",
        binary.display()
    );
    built.insert(package.to_owned(), binary.clone());
    binary
}

/// A running child process and the lines it printed; killed and reaped when dropped.
pub struct Process {
    child: Child,
    what: String,
    lines: Receiver<String>,
    /// Every stdout line read so far, and whether a wait returned it.
    seen: Vec<(String, bool)>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("what", &self.what)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

fn lock(text: &Mutex<String>) -> MutexGuard<'_, String> {
    text.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Process {
    /// Starts `command` (stdin closed, stdout read line by line); `what` names it in errors.
    pub fn spawn(command: &mut Command, what: &str, stderr: Stderr) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(match stderr {
                Stderr::Collect => Stdio::piped(),
                Stderr::Inherit => Stdio::inherit(),
                Stderr::Discard => Stdio::null(),
            })
            .spawn()
            .map_err(|e| format!("cannot start the {what}: {e}"))?;
        let mut readers = Vec::new();
        let (tx, lines) = channel();
        if let Some(out) = child.stdout.take() {
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }));
        }
        let collected = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let sink = collected.clone();
            readers.push(std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = err.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    lock(&sink).push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }));
        }
        Ok(Self {
            child,
            what: what.to_owned(),
            lines,
            seen: Vec::new(),
            stderr: collected,
            readers,
        })
    }

    /// Starts a server and waits for its ready line `ready` (up to [`START_TIMEOUT`]);
    /// returns it and the rest of that line (its address).
    pub fn start_server(
        command: &mut Command,
        what: &str,
        stderr: Stderr,
        ready: &str,
    ) -> Result<(Self, String), String> {
        let mut process = Self::spawn(command, what, stderr)?;
        let address = process.wait_for(ready, START_TIMEOUT)?;
        Ok((process, address))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything read from stdout so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.iter().map(|(line, _)| line.clone()).collect()
    }

    /// The stderr collected so far (empty unless started with [`Stderr::Collect`]).
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// The next new line starting with `prefix`, claimed; the lines before it are kept.
    fn next_line(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.starts_with(prefix);
                    self.seen.push((line.clone(), found));
                    if found {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "the {} printed no line starting with {prefix:?} within {timeout:?}; \
                         stdout so far: {:?}\nstderr: {}",
                        self.what,
                        self.seen(),
                        self.stderr()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "the {} ended before printing {prefix:?}; stdout: {:?}\nstderr: {}",
                        self.what,
                        self.seen(),
                        self.stderr()
                    ));
                }
            }
        }
    }

    /// The rest of the first line starting with `prefix` that no wait has returned: one read
    /// already (printed while the caller waited for another) or the next new one.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let earlier = self
            .seen
            .iter_mut()
            .find(|(line, claimed)| !*claimed && line.starts_with(prefix));
        let line = match earlier {
            Some((line, claimed)) => {
                *claimed = true;
                line.clone()
            }
            None => self.next_line(prefix, timeout)?,
        };
        Ok(line[prefix.len()..].to_owned())
    }

    /// The next new stdout line starting with `prefix`, whole.
    ///
    /// # Panics
    /// When none comes within `timeout` (with what the process printed).
    pub fn expect_line(&mut self, prefix: &str, timeout: Duration) -> String {
        self.next_line(prefix, timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Whether a new stdout line starting with `prefix` comes within `timeout`.
    pub fn sees_line(&mut self, prefix: &str, timeout: Duration) -> bool {
        self.next_line(prefix, timeout).is_ok()
    }

    /// Asks the process to stop (SIGTERM to its pid), as a user's Ctrl-C or a service manager.
    pub fn terminate(&self) -> Result<(), String> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -TERM {} failed: {status}", self.pid()))
        }
    }

    /// Waits up to `timeout` for the process to exit: its status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // A real sleep: polls a real process's exit.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Ends the process if it still runs, then returns what it printed: the stdout lines no
    /// wait claimed, and the collected stderr.
    pub fn finish(&mut self) -> (Vec<String>, String) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push((line, false));
        }
        let unclaimed = self
            .seen
            .iter()
            .filter(|(_, claimed)| !claimed)
            .map(|(line, _)| line.clone())
            .collect();
        (unclaimed, self.stderr())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Our own child, by its handle (its pid); then reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_server_s_address_comes_from_its_ready_line() {
        let (mut server, address) = Process::start_server(
            &mut shell(
                "echo starting; echo 'x listening on 127.0.0.1:4242'; echo more; exec sleep 30",
            ),
            "server",
            Stderr::Collect,
            "x listening on ",
        )
        .unwrap();
        assert_eq!(address, "127.0.0.1:4242");
        // A line printed before the ready line is still there for a later wait.
        assert_eq!(server.wait_for("start", START_TIMEOUT).unwrap(), "ing");
        assert_eq!(server.expect_line("mo", START_TIMEOUT), "more");
        assert!(server.wait_exit(Duration::from_millis(50)).is_none());
        server.terminate().unwrap();
        assert!(server.wait_exit(START_TIMEOUT).is_some());
    }

    #[test]
    fn expect_line_reads_only_new_lines_and_finish_returns_the_unclaimed_ones() {
        let mut process = Process::spawn(
            &mut shell("echo 'qr A'; echo paired; echo 'qr B'; echo bye >&2"),
            "tool",
            Stderr::Collect,
        )
        .unwrap();
        assert_eq!(process.expect_line("paired", START_TIMEOUT), "paired");
        assert_eq!(
            process.expect_line("qr ", START_TIMEOUT),
            "qr B",
            "the next one"
        );
        assert!(!process.sees_line("qr ", Duration::from_secs(5)));
        assert_eq!(
            process.wait_exit(START_TIMEOUT).map(|s| s.success()),
            Some(true)
        );
        let (rest, stderr) = process.finish();
        assert_eq!(rest, vec!["qr A".to_owned()]);
        assert_eq!(stderr, "bye\n");
    }

    /// The start time of process `pid` (field 22 of `/proc/PID/stat`), if it runs.
    fn started_at(pid: u32) -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) may hold spaces: count from after its closing parenthesis.
        let rest = &stat[stat.rfind(')')? + 2..];
        rest.split(' ').nth(19).map(str::to_owned)
    }

    #[test]
    fn dropping_it_kills_the_process() {
        let process =
            Process::spawn(&mut shell("exec sleep 30"), "sleeper", Stderr::Discard).unwrap();
        let pid = process.pid();
        let started = started_at(pid);
        assert!(started.is_some());
        drop(process);
        // Killed and reaped: the pid is gone (or, reused since, by a process started later).
        assert_ne!(started_at(pid), started);
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() {
        let error = binary("no-such-binary", "HARNESS_TEST_NO_SUCH_ENV").unwrap_err();
        assert!(error.contains("cargo build -p no-such-binary"), "{error}");
    }
}
