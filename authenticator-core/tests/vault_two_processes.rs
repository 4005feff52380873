#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Two processes on one vault (an app and its extension): no lost write, no corruption.
//!
//! Two children (this test binary, re-executed) are released at the same instant on a fresh
//! folder, so both race to create the vault; each then inserts its own credentials, advances
//! one shared credential's sign counter and updates the PIN state, interleaved with the other.
//! The parent proves that both ended up in one vault under one key, that every credential is
//! there and decodes, that the shared counter handed out every value exactly once and ends at
//! start + 2M, that no PIN-state update was lost, and that SQLite finds the file intact.
//!
//! The counter race (issue 13, item 8b): the app signs in while the extension, in its own
//! process, signs in with the same passkey during the app's presence prompt (after the app read
//! the passkey, before it takes its counter). The app's counter must still come after the
//! extension's.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authenticator_core::platform::SoftwareKeyProtector;
use authenticator_core::secret::SecretBytes;
use authenticator_core::vault::{Credential, CredentialSecrets, Vault, VaultError};

const DIR_ENV: &str = "VAULT_TWO_CHILD_DIR";
const NAME_ENV: &str = "VAULT_TWO_CHILD_NAME";
const COUNT_ENV: &str = "VAULT_TWO_CHILD_M";
const START_ENV: &str = "VAULT_TWO_CHILD_START_NS";
const CHILD_TEST: &str = "two_process_child";
const RACE_DIR_ENV: &str = "VAULT_COUNTER_RACE_DIR";
const RACE_CHILD_TEST: &str = "counter_race_child";
const RACE_RP: &str = "example.com";
/// Credentials (and counter advances) per child in the main test.
const M: u32 = 150;
/// The shared credential's counter before either child advances it.
const SHARED_START: u32 = 1_000;
/// The children are started this long before the instant both open the vault.
const START_DELAY: Duration = Duration::from_millis(250);
/// The pause of a child between two iterations.
const PAUSE: Duration = Duration::from_millis(1);
const CHILD_TIME_LIMIT: Duration = Duration::from_secs(90);

fn shared_id() -> Vec<u8> {
    b"shared-credential".to_vec()
}

fn cred_id(name: &str, i: u32) -> Vec<u8> {
    format!("cred-{name}-{i:05}").into_bytes()
}

fn bytes(seed: &[u8], tag: u8, len: usize) -> Vec<u8> {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in seed.iter().chain([tag].iter()) {
        state = (state ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn credential(id: Vec<u8>, sign_count: u32) -> Credential {
    let mut public_key = vec![4u8];
    public_key.extend(bytes(&id, 1, 64));
    Credential {
        rp_id: format!("rp-{}.example", id.len() % 3),
        rp_name: Some("Example".into()),
        user_id: bytes(&id, 2, 16),
        user_name: Some(String::from_utf8(id.clone()).unwrap()),
        user_display_name: None,
        algorithm: -7,
        public_key,
        discoverable: true,
        cred_protect: 2,
        cred_blob: None,
        created_at: 1_700_000_000,
        label: None,
        sign_count,
        credential_id: id,
    }
}

fn secrets(id: &[u8]) -> CredentialSecrets {
    CredentialSecrets {
        private_key: SecretBytes::new(bytes(id, 3, 32)),
        cred_random_with_uv: Some(SecretBytes::new(bytes(id, 4, 32))),
        cred_random_without_uv: None,
    }
}

fn pin_mark(name: &str, i: u32) -> String {
    format!("{name}.example/{i}")
}

fn open_vault(dir: &Path) -> Result<Vault, VaultError> {
    let protector = SoftwareKeyProtector::new(dir.join("device.key"));
    Vault::open(dir.join("vault.db"), &protector)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- the child -------------------------------------------------------------------------

#[test]
#[ignore = "child process of the two-process vault tests"]
fn two_process_child() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let name = std::env::var(NAME_ENV).unwrap();
    let m: u32 = std::env::var(COUNT_ENV).unwrap().parse().unwrap();
    let start_ns: u128 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };

    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    if start_ns > now_ns {
        // A real sleep: the instant is shared with another process, not a timer of the core.
        thread::sleep(Duration::from_nanos((start_ns - now_ns) as u64));
    }
    let vault = open_vault(&dir).unwrap_or_else(|e| panic!("child {name}: open failed: {e}"));
    {
        // Which vault key did this process end up with? (Read its wrapped form; never create
        // a file here: the vault file must exist at its path.)
        let wrapped: Vec<u8> = rusqlite::Connection::open_with_flags(
            dir.join("vault.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
        )
        .and_then(|conn| {
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.query_row("SELECT wrapped_key FROM vault_meta WHERE id = 1", [], |r| {
                r.get(0)
            })
        })
        .unwrap_or_else(|e| panic!("child {name}: cannot read the vault key record: {e}"));
        say(format!("key {}", hex(&wrapped)));
    }
    let credentials = vault.credentials();
    match credentials.insert(
        &credential(shared_id(), SHARED_START),
        &secrets(&shared_id()),
    ) {
        Ok(()) | Err(VaultError::DuplicateCredential) => {}
        Err(e) => panic!("child {name}: inserting the shared credential: {e}"),
    }
    for i in 0..m {
        let id = cred_id(&name, i);
        credentials
            .insert(&credential(id.clone(), 0), &secrets(&id))
            .unwrap_or_else(|e| panic!("child {name}: insert {i}: {e}"));
        let value = credentials
            .advance_sign_count(&shared_id())
            .unwrap_or_else(|e| panic!("child {name}: advance {i}: {e}"))
            .expect("the shared credential vanished");
        say(format!("count {value}"));
        if i % 10 == 9 {
            vault
                .pin_state()
                .update(|s| s.min_pin_length_rp_ids.push(pin_mark(&name, i)))
                .unwrap_or_else(|e| panic!("child {name}: PIN update {i}: {e}"));
        }
        // A pause outside any transaction, like an app between two requests: lets the other
        // process's busy handler find the file unlocked, so that the two really interleave (a
        // real sleep: SQLite's file lock and the other process run on the real clock).
        thread::sleep(PAUSE);
    }
    say(format!("done {name}"));
}

// ---- the parent ------------------------------------------------------------------------

/// Kills and reaps the child however the parent's test ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn spawn_child(dir: &Path, name: &str, m: u32, start_ns: u128) -> ChildGuard {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--include-ignored"])
        .env(DIR_ENV, dir)
        .env(NAME_ENV, name)
        .env(COUNT_ENV, m.to_string())
        .env(START_ENV, start_ns.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot re-execute the test binary");
    ChildGuard(child)
}

/// Waits for both children (killing them past the time limit) and collects their output.
fn finish(mut children: Vec<ChildGuard>) -> Vec<Finished> {
    let readers: Vec<_> = children
        .iter_mut()
        .map(|c| {
            let mut stdout = c.0.stdout.take().unwrap();
            let mut stderr = c.0.stderr.take().unwrap();
            let out = thread::spawn(move || {
                let mut s = String::new();
                stdout.read_to_string(&mut s).unwrap();
                s
            });
            let err = thread::spawn(move || {
                let mut s = String::new();
                stderr.read_to_string(&mut s).unwrap();
                s
            });
            (out, err)
        })
        .collect();
    let deadline = Instant::now() + CHILD_TIME_LIMIT;
    let mut statuses = Vec::new();
    for child in &mut children {
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "a child is still running after {CHILD_TIME_LIMIT:?}"
            );
            // A real sleep: polls a real child process's exit.
            thread::sleep(Duration::from_millis(5));
        };
        statuses.push(status);
    }
    statuses
        .into_iter()
        .zip(readers)
        .map(|(status, (out, err))| Finished {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        })
        .collect()
}

struct Outcome {
    /// Times the shared counter passed from one child to the other.
    handovers: usize,
}

/// Runs two children with `m` writes each on a fresh vault released at the same instant, then
/// checks everything they did. `Err` names a child that failed, with its output.
fn run_two(m: u32) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().unwrap();
    let vault_dir = dir.path().join("vault");
    let start_ns = (SystemTime::now() + START_DELAY)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let names = ["app", "extension"];
    let children = names
        .iter()
        .map(|name| spawn_child(&vault_dir, name, m, start_ns))
        .collect();
    let finished = finish(children);

    // Both children ran to the end, on the same vault key.
    let mut keys = BTreeSet::new();
    let mut handed_out = Vec::new();
    let mut sequence = Vec::new();
    for (name, f) in names.iter().zip(&finished) {
        if !(f.status.success() && f.stdout.contains(&format!("done {name}"))) {
            let panic = f
                .stderr
                .lines()
                .find(|l| l.starts_with("child "))
                .unwrap_or("(no panic message)");
            let others: Vec<_> = names
                .iter()
                .zip(&finished)
                .filter(|(other, _)| *other != name)
                .map(|(other, o)| {
                    let done = o.stdout.contains(&format!("done {other}"));
                    format!("child {other}: {}, finished its writes: {done}", o.status)
                })
                .collect();
            let mut files: Vec<_> = std::fs::read_dir(&vault_dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            return Err(format!(
                "child {name} failed ({}): {panic} [{}; files left: {files:?}]\n\
                 --- stdout ---\n{}\n--- stderr ---\n{}",
                f.status,
                others.join("; "),
                f.stdout,
                f.stderr
            ));
        }
        let mut own = Vec::new();
        for line in f.stdout.lines() {
            if let Some(key) = line.strip_prefix("key ") {
                keys.insert(key.to_owned());
            } else if let Some(value) = line.strip_prefix("count ") {
                let value: u32 = value.parse().unwrap();
                own.push(value);
                sequence.push((value, *name));
            }
        }
        assert!(
            own.windows(2).all(|w| w[0] < w[1]),
            "child {name} saw its own counter go back"
        );
        handed_out.extend(own);
    }
    assert_eq!(
        keys.len(),
        1,
        "the children opened different vault keys: {keys:?}"
    );
    handed_out.sort_unstable();
    assert_eq!(
        handed_out,
        (SHARED_START + 1..=SHARED_START + 2 * m).collect::<Vec<_>>(),
        "the shared counter did not hand out each value exactly once"
    );
    sequence.sort_unstable();
    let handovers = sequence.windows(2).filter(|w| w[0].1 != w[1].1).count();

    // The parent reads everything with the one key.
    let vault = open_vault(&vault_dir).unwrap();
    let credentials = vault.credentials();
    assert_eq!(credentials.count().unwrap(), u64::from(2 * m) + 1);
    let listed = credentials.list().unwrap();
    assert_eq!(
        listed.len() as u64,
        u64::from(2 * m) + 1,
        "list() lost rows"
    );
    for name in names {
        for i in 0..m {
            let id = cred_id(name, i);
            let stored = credentials
                .get(&id)
                .unwrap()
                .unwrap_or_else(|| panic!("credential {name} {i} is missing"));
            assert!(
                stored == credential(id.clone(), 0),
                "credential {name} {i} differs"
            );
            let s = credentials.secrets(&id).unwrap().unwrap();
            let want = secrets(&id);
            assert!(
                s.private_key == want.private_key
                    && s.cred_random_with_uv == want.cred_random_with_uv
                    && s.cred_random_without_uv.is_none(),
                "secrets of {name} {i} differ"
            );
        }
    }
    let shared = credentials.get(&shared_id()).unwrap().unwrap();
    assert_eq!(
        shared.sign_count,
        SHARED_START + 2 * m,
        "lost sign counter advances"
    );
    let pin = vault.pin_state().load().unwrap();
    let marks: BTreeSet<_> = pin.min_pin_length_rp_ids.iter().cloned().collect();
    let expected: BTreeSet<_> = names
        .iter()
        .flat_map(|name| (0..m).filter(|i| i % 10 == 9).map(|i| pin_mark(name, i)))
        .collect();
    assert_eq!(
        pin.min_pin_length_rp_ids.len() as u32,
        2 * (m / 10),
        "PIN-state updates lost or doubled"
    );
    assert_eq!(marks, expected, "PIN-state updates lost");
    drop(vault);

    // No stray files, one key file, and SQLite's own full check of the closed file.
    let mut files: Vec<_> = std::fs::read_dir(&vault_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(
        files.iter().all(|f| [
            "device.key",
            "device.key.anchor",
            "vault.db",
            "vault.db-wal",
            "vault.db-shm"
        ]
        .contains(&f.as_str())),
        "unexpected files {files:?}"
    );
    let conn = rusqlite::Connection::open(vault_dir.join("vault.db")).unwrap();
    let verdict: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(verdict, ["ok"], "integrity_check");
    let metas: i64 = conn
        .query_row("SELECT count(*) FROM vault_meta", [], |r| r.get(0))
        .unwrap();
    assert_eq!(metas, 1, "more than one vault key record");
    Ok(Outcome { handovers })
}

#[test]
fn two_processes_on_one_vault_lose_no_write() {
    let started = Instant::now();
    let outcome = run_two(M).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "vault_two_processes: 2 x {M} credentials, {} counter advances, {} PIN updates; \
         the counter changed hands {} times; {:.1} s",
        2 * M,
        2 * (M / 10),
        outcome.handovers,
        started.elapsed().as_secs_f64()
    );
    // Both really ran at the same time (they pause between iterations; typically 30 to 70).
    assert!(
        outcome.handovers >= 3,
        "the two children did not interleave"
    );
}

#[test]
fn two_processes_racing_to_create_the_vault_share_one_key() {
    const ROUNDS: usize = 20;
    let started = Instant::now();
    let failures: Vec<String> = (0..ROUNDS).filter_map(|_| run_two(10).err()).collect();
    println!(
        "vault_two_processes: {ROUNDS} creation races, {} failed, {:.1} s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {ROUNDS} creation races failed:\n{}\n\nthe first in full:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| f.lines().next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n"),
        failures[0]
    );
}

// ---- the counter race (item 8b) ----------------------------------------------------------

use std::sync::{Arc, Mutex};

use authenticator_core::api::{Authenticator, default_options};
use authenticator_core::cbor::{self, Value};
use authenticator_core::testkit::ScriptedUser;

/// Runs the extension's sign-in (`counter_race_child`) in a process of its own, to the end;
/// returns what it printed.
fn extension_signs_in(dir: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            RACE_CHILD_TEST,
            "--nocapture",
            "--include-ignored",
        ])
        .env(RACE_DIR_ENV, dir)
        .stdin(Stdio::null())
        .output()
        .expect("cannot re-execute the test binary");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn open_phone(dir: &Path, user: Arc<ScriptedUser>) -> Arc<Authenticator> {
    Authenticator::open(
        dir.to_string_lossy().into_owned(),
        Arc::new(SoftwareKeyProtector::new(dir.join("device.key"))),
        user,
        None,
        default_options("test phone".into()),
    )
    .unwrap()
}

/// getAssertion for `RACE_RP` with user presence; returns the signature counter.
fn sign_in(phone: &Authenticator) -> u32 {
    let mut request = vec![0x02];
    request.extend(cbor::encode(&Value::map([
        (Value::int(1), Value::from(RACE_RP)),
        (Value::int(2), Value::Bytes(vec![2; 32])),
    ])));
    let answer = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(phone.handle_ctap(request));
    assert_eq!(answer[0], 0, "getAssertion failed: {:#04x}", answer[0]);
    let body = cbor::decode(&answer[1..]).unwrap();
    let auth_data = body
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_int() == Some(2))
        .and_then(|(_, v)| v.as_bytes())
        .unwrap()
        .to_vec();
    // authData: rpIdHash (32) || flags (1) || signCount (4, big endian).
    u32::from_be_bytes(auth_data[33..37].try_into().unwrap())
}

#[test]
#[ignore = "child process of the counter race test"]
fn counter_race_child() {
    let Some(dir) = std::env::var_os(RACE_DIR_ENV) else {
        return;
    };
    let phone = open_phone(Path::new(&dir), ScriptedUser::approving());
    println!("count {}", sign_in(&phone));
}

#[test]
fn a_counter_block_is_checked_in_the_transaction_that_uses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let user = ScriptedUser::approving();
    let app = open_phone(tmp.path(), user.clone());
    let answer = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(app.handle_ctap(common::obr::make_credential(RACE_RP)));
    assert_eq!(answer[0], 0, "makeCredential failed");
    // The app holds a counter block from here on.
    let first = sign_in(&app);

    // During the app's next presence prompt (after it read the passkey, before it takes its
    // counter), the extension serves a sign-in with the same passkey to the end.
    let other = Arc::new(Mutex::new(None));
    let (dir, seen) = (tmp.path().to_path_buf(), other.clone());
    user.on_prompt(move |_| {
        let mut seen = seen.lock().unwrap();
        if seen.is_none() {
            *seen = Some(extension_signs_in(&dir));
        }
    });
    let app_second = sign_in(&app);
    let other = other.lock().unwrap().clone().unwrap();
    let extension: u32 = other
        .lines()
        .find_map(|l| l.strip_prefix("count "))
        .unwrap_or_else(|| panic!("the extension process failed:\n{other}"))
        .parse()
        .unwrap();
    assert!(
        first < extension && extension < app_second,
        "the counter went back across processes: app {first}, extension {extension}, then app {app_second}"
    );
}
