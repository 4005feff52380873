//! `relay-load`: a load test of the reference relay on loopback. It starts the relay binary,
//! opens N paired sessions that stay open on the relay at once for the whole run, runs M
//! ping-pong round trips on every session with at most A sessions active at a time, then
//! prints latency percentiles, throughput, the relay's peak resident memory and open files,
//! the error count and `N passed, N failed` (sessions that completed every step).
//!
//! The model (issue 19: what an open session costs a relay, not what a burst of N clients
//! costs). Each session has two ends, the phone and the PC, and each end has at most one
//! HTTP/1.1 connection (`End`), reused for its requests one after another. An *idle* session
//! holds exactly what a real idle link holds: the PC's long-poll waiting for the phone's next
//! frame, on the PC's one connection; the phone holds none. A session is *active* while it
//! holds one of `--active` permits (a fair semaphore): its phone opens a connection, does its
//! step and closes it. So the tool and the relay hold about N + A connections, not 2N or more.
//!
//! Each session goes through the flows of link.md §5.5, phase by phase (barriers between
//! phases, every phase's steps bounded by the permits):
//! 1. the phone PUTs the session (active), the PC starts waiting on its door; the tool checks
//!    that all N door long-polls wait at once;
//! 2. the phone knocks (active); the PC's door GET consumes the knock and the PC starts
//!    waiting on `up` 0; the tool checks that all N sessions are open and that all N
//!    long-polls wait at once;
//! 3. each session in turn (A at a time) runs its M round trips: the phone POSTs `up` i
//!    (64..=200 random bytes) and GETs `down` i, while the PC, already waiting on `up` i,
//!    echoes the bytes reversed on `down` i, then waits on `up` i+1; a round trip is timed
//!    from the phone's POST to the end of its GET. A session done with its turn is idle again
//!    (the PC waits on `up` M). The tool samples the relay's open sessions and long-polls
//!    through the phase;
//! 4. the phone DELETEs the session (active); the PC's waiting GET answers `404`.
//!
//! Every request goes to 127.0.0.1 and the run is bounded in time.
//!
//! `--compare-redis` (issue 19) runs the same load three times in one run: against one
//! in-memory relay; against the floor of a Redis-backed relay (one in-memory relay that also
//! takes one no-op Redis step per request on the Redis store's client path, with its own
//! `redis-server`: the relay's floor.rs); then through Debian's nginx (round-robin) to
//! `--instances` relays sharing one Debian `redis-server` (all on loopback, ports picked at
//! run time, stopped by pid). It prints each run's figures, CPU seconds per 1,000 round trips
//! for every relay, for Redis and for nginx, peak RSS per instance, the Redis commands per
//! round trip, and the targets: Redis mode (relays + Redis) at most 2x the in-memory CPU per
//! round trip, and each instance's peak RSS under 100 MiB; beside them, Redis mode over the
//! floor.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hyper::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::{Barrier, Semaphore, oneshot};

use end::{Answer, End};

/// Long-poll length the tool asks for (the relay's default maximum).
const WAIT_MS: u64 = 30_000;

/// Load test of the reference relay (link.md §5) on loopback.
#[derive(Parser)]
#[command(name = "relay-load")]
struct Cli {
    /// The relay binary (default: `relay` next to this executable).
    #[arg(long)]
    relay: Option<PathBuf>,
    /// Paired sessions, all open on the relay at once.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    sessions: u32,
    /// Sessions active at once (their phone connected, running round trips); the others are
    /// idle, each holding one long-poll. Default: all of them, at most 2,000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    active: Option<u32>,
    /// Ping-pong round trips per session.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    round_trips: u32,
    /// Give up (and count what is unfinished as failed) after this long.
    #[arg(long, default_value_t = 900)]
    time_limit_secs: u64,
    /// Also run the load through nginx to `--instances` relays on one Redis, and compare.
    #[arg(long)]
    compare_redis: bool,
    /// `--threads` of every relay started (both loads alike); default: the relay's own.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    relay_threads: Option<u16>,
    /// The relay binary of `--compare-redis`'s floor load (default: `--relay`'s), so an older
    /// relay without `--floor-redis` can be compared in the same run.
    #[arg(long, hide = true)]
    floor_relay: Option<PathBuf>,
    /// Relay instances behind nginx with `--compare-redis`.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    instances: u32,
    /// `--compare-redis` passes (each the three loads); with more than one, the verdicts are
    /// on the medians of the passes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    repeat: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The relay child; killed on drop if it was not stopped.
struct RelayProcess {
    child: Child,
    url: String,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl RelayProcess {
    fn start(path: &PathBuf, cli: &Cli) -> Result<Self, String> {
        Self::start_with(path, cli, &[])
    }

    fn start_with(path: &PathBuf, cli: &Cli, extra: &[&str]) -> Result<Self, String> {
        let threads = cli.relay_threads.map(|t| t.to_string());
        let mut child = Command::new(path)
            .args(["serve", "--listen", "127.0.0.1:0", "--test-faults"])
            .args(["--max-sessions", &cli.sessions.max(10_000).to_string()])
            .args(threads.iter().flat_map(|t| ["--threads", t.as_str()]))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let stdout = child.stdout.take().ok_or("the relay has no stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let url = match read {
            Ok(_) => line
                .trim_end()
                .strip_prefix("relay listening on ")
                .map(str::to_owned),
            Err(_) => None,
        };
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the relay did not print its ready line (got {line:?})"
            ));
        };
        Ok(Self {
            child,
            url,
            _stdout: stdout,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn usage(&self) -> Usage {
        usage(self.pid())
    }

    /// SIGTERM, then up to 5 s for a clean exit; whether it exited cleanly.
    fn stop(&mut self) -> bool {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while signalled && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A field of /proc/PID/status in kB (VmHWM: peak resident set).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time of all the process's threads so far (the first field of each schedstat).
fn cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut nanos = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanos))
}

fn usage(pid: u32) -> Usage {
    Usage {
        peak_kb: status_kb(pid, "VmHWM"),
        rss_kb: status_kb(pid, "VmRSS"),
        cpu: cpu_time(pid),
    }
}

fn relay_path(cli: &Cli) -> Result<PathBuf, String> {
    if let Some(path) = &cli.relay {
        return Ok(path.clone());
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let path = me.with_file_name(format!("relay{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no relay binary at {} (build it: cargo build -p relay; or pass --relay PATH)",
            path.display()
        ))
    }
}

/// "Max open files" soft limit of this process, from /proc (no unsafe libc call).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `--active`, or all sessions up to 2,000.
fn active(cli: &Cli) -> u32 {
    cli.active
        .unwrap_or(cli.sessions.min(2_000))
        .min(cli.sessions)
}

fn run(cli: &Cli) -> Result<bool, String> {
    let path = relay_path(cli)?;
    // One connection per idle session (the PC's long-poll) and two per active one, in this
    // tool and in the in-memory relay (it inherits the limit).
    if let Some(limit) = open_files_limit() {
        let needed = u64::from(cli.sessions) + u64::from(active(cli)) + 256;
        if limit < needed {
            eprintln!(
                "warning: open-file limit {limit} < {needed}: connections may fail (ulimit -n)"
            );
        }
    }
    if cli.compare_redis {
        return compare::run(cli, &path);
    }
    let mut relay = RelayProcess::start(&path, cli)?;
    println!(
        "relay-load: {} sessions x {} round trips, {} active at once, against {} (relay pid {})",
        cli.sessions,
        cli.round_trips,
        active(cli),
        relay.url,
        relay.pid()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let report = runtime.block_on(load(&relay.url, &[("relay", relay.pid())], cli))?;
    let usage = relay.usage();
    let clean_exit = relay.stop();
    report.print(&usage, clean_exit);
    Ok(report.failed == 0 && report.errors == 0 && clean_exit)
}

#[path = "load/compare.rs"]
mod compare;
#[path = "load/end.rs"]
mod end;

/// How long one request may take: a whole long-poll and some.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(WAIT_MS + 15_000);

struct Ctx {
    url: String,
    round_trips: u32,
    errors: AtomicU64,
    /// Phase gates: every session task and the coordinator pass each one exactly once.
    barrier: Barrier,
    /// Sessions active at once (`--active`).
    active: Semaphore,
    deadline: Instant,
}

impl Ctx {
    fn error(&self, what: &str, detail: impl std::fmt::Display) {
        let count = self.errors.fetch_add(1, Ordering::Relaxed);
        if count < 10 {
            eprintln!("error: {what}: {detail}");
        }
    }

    fn end(&self) -> Option<End> {
        match End::new(&self.url, REQUEST_TIMEOUT) {
            Ok(end) => Some(end),
            Err(e) => {
                self.error("client", e);
                None
            }
        }
    }

    /// A request expecting one status; its answer on success.
    async fn call(
        &self,
        end: &mut End,
        what: &str,
        method: Method,
        path: &str,
        body: &[u8],
        expect: StatusCode,
    ) -> Option<Answer> {
        match end.send(method, path, body).await {
            Ok(answer) if answer.status == expect => Some(answer),
            Ok(answer) => {
                self.error(what, answer.status);
                None
            }
            Err(e) => {
                self.error(what, e);
                None
            }
        }
    }

    /// A long-poll GET, asked again on `204` until the deadline: its first other answer.
    async fn long_poll(&self, end: &mut End, what: &str, path: &str) -> Option<Answer> {
        loop {
            match end.send(Method::GET, path, &[]).await {
                Ok(answer) if answer.status == StatusCode::NO_CONTENT => {
                    if Instant::now() >= self.deadline {
                        self.error(what, "still waiting at the time limit");
                        return None;
                    }
                }
                Ok(answer) => return Some(answer),
                Err(e) => {
                    self.error(what, e);
                    return None;
                }
            }
        }
    }

    /// A long-poll that must deliver frame `seq`: its bytes.
    async fn frame(&self, end: &mut End, what: &str, path: &str, seq: u32) -> Option<Vec<u8>> {
        let answer = self.long_poll(end, what, path).await?;
        if answer.status != StatusCode::OK {
            self.error(what, answer.status);
            return None;
        }
        if answer.seq != Some(u64::from(seq)) {
            self.error(what, "wrong Relay-Seq");
            return None;
        }
        Some(answer.body.to_vec())
    }
}

async fn stats(end: &mut End) -> Option<Value> {
    let answer = end
        .send(Method::GET, "/v1/test/stats?frames=0", &[])
        .await
        .ok()?;
    if answer.status != StatusCode::OK {
        return None;
    }
    serde_json::from_slice(&answer.body).ok()
}

fn stat(v: &Option<Value>, key: &str) -> u64 {
    v.as_ref().and_then(|v| v[key].as_u64()).unwrap_or(0)
}

/// Long-polls waiting: relay-wide behind a load balancer (the Redis store's instances
/// report theirs each second), else the one relay's count (door and frame long-polls).
fn long_polls(v: &Option<Value>) -> u64 {
    match v.as_ref().map(|v| &v["waiters_relay_wide"]) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => stat(v, "waiters"),
    }
}

fn random_id() -> Result<[u8; 16], String> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| format!("no randomness: {e}"))?;
    Ok(id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64..=200 random bytes.
fn random_frame() -> Option<Vec<u8>> {
    let mut len = [0u8; 1];
    getrandom::fill(&mut len).ok()?;
    let mut frame = vec![0u8; 64 + usize::from(len[0]) % 137];
    getrandom::fill(&mut frame).ok()?;
    Some(frame)
}

/// What one session did.
#[derive(Default)]
struct Outcome {
    passed: bool,
    round_trips: Vec<Duration>,
}

/// The barrier waits of one session task (the coordinator passes as many).
const GATES: usize = 6;

/// The phone's side of one session, phase by phase; the PC runs as its own task.
async fn session(ctx: Arc<Ctx>) -> Outcome {
    let mut outcome = Outcome::default();
    let (Ok(session), Ok(door), Some(mut phone)) = (random_id(), random_id(), ctx.end()) else {
        ctx.error("ids", "no randomness");
        for _ in 0..GATES {
            ctx.barrier.wait().await;
        }
        return outcome;
    };
    let s = hex(&session);
    let active = &ctx.active;

    // Phase 1: the phone creates the session; the PC starts waiting on its door.
    let mut ok = {
        let _turn = active.acquire().await;
        let created = ctx
            .call(
                &mut phone,
                "PUT session",
                Method::PUT,
                &format!("/v1/sessions/{s}"),
                &[],
                StatusCode::CREATED,
            )
            .await
            .is_some();
        phone.idle();
        created
    };
    let (paired_tx, paired_rx) = oneshot::channel();
    let pc = ok.then(|| tokio::spawn(pc_end(ctx.clone(), session, door, paired_tx)));
    ctx.barrier.wait().await;
    // (the coordinator checks that every door long-poll is waiting)
    ctx.barrier.wait().await;

    // Phase 2: the phone knocks; the PC's waiting door GET consumes the knock.
    if ok {
        let _turn = active.acquire().await;
        ok = ctx
            .call(
                &mut phone,
                "knock",
                Method::POST,
                &format!("/v1/doors/{}/knock", hex(&door)),
                &session,
                StatusCode::NO_CONTENT,
            )
            .await
            .is_some();
        phone.idle();
        // The turn lasts until the PC has the knock (or has failed).
        ok = ok && paired_rx.await.is_ok();
    }
    ctx.barrier.wait().await;

    // Phase 3: this session's round trips, when its turn comes.
    ctx.barrier.wait().await;
    if ok {
        let _turn = active.acquire().await;
        let times = phone_end(&ctx, &mut phone, &s).await;
        phone.idle();
        ok = times.is_some();
        outcome.round_trips = times.unwrap_or_default();
    }
    ctx.barrier.wait().await;
    // (the coordinator takes its last sample of the round-trip phase)
    ctx.barrier.wait().await;

    // Phase 4: close; the PC's idle long-poll ends with `404`.
    if ok {
        let _turn = active.acquire().await;
        ok = ctx
            .call(
                &mut phone,
                "DELETE session",
                Method::DELETE,
                &format!("/v1/sessions/{s}"),
                &[],
                StatusCode::NO_CONTENT,
            )
            .await
            .is_some();
        phone.idle();
    }
    if let Some(pc) = pc {
        if ok {
            ok = pc.await.unwrap_or(false);
        } else {
            pc.abort();
        }
    }
    outcome.passed = ok;
    outcome
}

/// The phone's turn: POST `up` i, GET `down` i; the round-trip times.
async fn phone_end(ctx: &Ctx, phone: &mut End, s: &str) -> Option<Vec<Duration>> {
    let mut times = Vec::new();
    for i in 0..ctx.round_trips {
        let frame = random_frame()?;
        let started = Instant::now();
        ctx.call(
            phone,
            "POST up",
            Method::POST,
            &format!("/v1/sessions/{s}/up/{i}"),
            &frame,
            StatusCode::NO_CONTENT,
        )
        .await?;
        let answer = ctx
            .frame(
                phone,
                "GET down",
                &format!("/v1/sessions/{s}/down/{i}?wait_ms={WAIT_MS}"),
                i,
            )
            .await?;
        times.push(started.elapsed());
        if !answer.iter().eq(frame.iter().rev()) {
            ctx.error("GET down", "not the echo of the frame sent");
            return None;
        }
    }
    Some(times)
}

/// The PC, on its one connection: waits on its door for the knock, then always has one
/// long-poll waiting for the phone's next frame (`up` i), echoing each reversed on `down` i;
/// after the last, its wait on `up` M must end with `404` when the phone closes the session.
async fn pc_end(
    ctx: Arc<Ctx>,
    session: [u8; 16],
    door: [u8; 16],
    paired: oneshot::Sender<()>,
) -> bool {
    let Some(mut pc) = ctx.end() else {
        return false;
    };
    let s = hex(&session);
    let knock = ctx
        .long_poll(
            &mut pc,
            "GET doors",
            &format!("/v1/doors?door={}&wait_ms={WAIT_MS}", hex(&door)),
        )
        .await;
    let expected: Vec<u8> = door.iter().chain(session.iter()).copied().collect();
    match knock {
        Some(a) if a.status == StatusCode::OK && a.body[..] == expected[..] => {}
        Some(a) if a.status != StatusCode::OK => {
            ctx.error("GET doors", a.status);
            return false;
        }
        Some(_) => {
            ctx.error("GET doors", "not this session's knock");
            return false;
        }
        None => return false,
    }
    let _ = paired.send(());
    for i in 0..ctx.round_trips {
        let path = format!("/v1/sessions/{s}/up/{i}?wait_ms={WAIT_MS}");
        let Some(mut frame) = ctx.frame(&mut pc, "GET up", &path, i).await else {
            return false;
        };
        frame.reverse();
        let posted = ctx
            .call(
                &mut pc,
                "POST down",
                Method::POST,
                &format!("/v1/sessions/{s}/down/{i}"),
                &frame,
                StatusCode::NO_CONTENT,
            )
            .await;
        if posted.is_none() {
            return false;
        }
    }
    let path = format!("/v1/sessions/{s}/up/{}?wait_ms={WAIT_MS}", ctx.round_trips);
    match ctx.long_poll(&mut pc, "GET up (idle)", &path).await {
        Some(a) if a.status == StatusCode::NOT_FOUND => true,
        Some(a) => {
            ctx.error("GET up (idle)", a.status);
            false
        }
        None => false,
    }
}

/// What the relay process used, from /proc: memory and CPU time.
struct Usage {
    peak_kb: Option<u64>,
    rss_kb: Option<u64>,
    cpu: Option<Duration>,
}

/// Open files of a process now (its connections, mostly).
fn open_files(pid: &str) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// The most open files seen, sampled four times a second: this tool's and each watched process's.
struct FilePeaks {
    tool: AtomicU64,
    watched: Vec<(&'static str, u32, AtomicU64)>,
}

impl FilePeaks {
    fn sample(&self) {
        self.tool.fetch_max(open_files("self"), Ordering::Relaxed);
        for (_, pid, peak) in &self.watched {
            peak.fetch_max(open_files(&pid.to_string()), Ordering::Relaxed);
        }
    }
}

struct Report {
    sessions: usize,
    active: u32,
    passed: usize,
    failed: usize,
    errors: u64,
    open_time: Duration,
    door_waiters: u64,
    open_at_once: u64,
    idle_polls: u64,
    /// Through the round trips: fewest sessions open, fewest and most long-polls waiting.
    during_sessions: u64,
    during_polls: (u64, u64),
    latencies: Vec<Duration>,
    ping_pong_time: Duration,
    left_after: u64,
    tool_files: u64,
    /// Peak open files per watched process: (name, files).
    files: Vec<(&'static str, u64)>,
}

impl Report {
    fn print(&self, used: &Usage, clean_exit: bool) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let pct = |q: f64| -> f64 {
            if self.latencies.is_empty() {
                return 0.0;
            }
            let len = self.latencies.len();
            // Nearest rank: the smallest value with at least q of the samples at or below it.
            let rank = (q * len as f64).ceil().max(1.0);
            let index = (rank as usize).min(len) - 1;
            ms(self.latencies[index])
        };
        println!(
            "open: {} sessions, {} door long-polls waiting at once, knocks delivered, in {:.0} ms; {} sessions open at once on the relay, {} long-polls waiting",
            self.sessions,
            self.door_waiters,
            ms(self.open_time),
            self.open_at_once,
            self.idle_polls
        );
        println!(
            "during the round trips ({} sessions active at a time): sessions open >= {}, long-polls waiting {}..{}",
            self.active, self.during_sessions, self.during_polls.0, self.during_polls.1
        );
        let seconds = self.ping_pong_time.as_secs_f64().max(1e-9);
        let count = self.latencies.len();
        println!(
            "round trips: {count} in {seconds:.2} s: {:.0} round trips/s, {:.0} requests/s",
            count as f64 / seconds,
            4.0 * count as f64 / seconds
        );
        println!(
            "round-trip latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            pct(0.50),
            pct(0.90),
            pct(0.99),
            self.latencies.last().map_or(0.0, |d| ms(*d))
        );
        let mib = |kb: Option<u64>| {
            kb.map_or("?".to_owned(), |kb| {
                format!("{:.1} MiB", kb as f64 / 1024.0)
            })
        };
        println!(
            "relay memory: peak RSS (VmHWM) {}, RSS at the end {}",
            mib(used.peak_kb),
            mib(used.rss_kb)
        );
        if let Some(cpu) = used.cpu {
            println!("relay CPU time: {:.2} s", cpu.as_secs_f64());
        }
        let files: Vec<String> = self
            .files
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        println!(
            "open files (peak): this tool {}, {}",
            self.tool_files,
            files.join(", ")
        );
        println!(
            "sessions left on the relay after DELETE: {}",
            self.left_after
        );
        println!(
            "relay exit on SIGTERM: {}",
            if clean_exit { "clean" } else { "NOT clean" }
        );
        println!("errors: {}", self.errors);
        println!("{} passed, {} failed", self.passed, self.failed);
    }
}

/// Polls `stats` until `enough` holds or `within` passes; the last figures.
async fn wait_for(
    end: &mut End,
    within: Duration,
    enough: impl Fn(&Option<Value>) -> bool,
) -> Option<Value> {
    let until = Instant::now() + within;
    loop {
        let v = stats(end).await;
        if enough(&v) || Instant::now() >= until {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the load against `url`; `watch` are the relay processes whose open files are sampled.
async fn load(url: &str, watch: &[(&'static str, u32)], cli: &Cli) -> Result<Report, String> {
    let n = usize::try_from(cli.sessions).map_err(|_| "too many sessions")?;
    let n64 = u64::from(cli.sessions);
    let active = active(cli);
    let ctx = Arc::new(Ctx {
        url: url.to_owned(),
        round_trips: cli.round_trips,
        errors: AtomicU64::new(0),
        barrier: Barrier::new(n + 1),
        active: Semaphore::new(usize::try_from(active).map_err(|_| "too many active")?),
        deadline: Instant::now() + Duration::from_secs(cli.time_limit_secs),
    });
    let mut coordinator = End::new(url, REQUEST_TIMEOUT)?;
    let peaks = Arc::new(FilePeaks {
        tool: AtomicU64::new(0),
        watched: watch
            .iter()
            .map(|(name, pid)| (*name, *pid, AtomicU64::new(0)))
            .collect(),
    });
    let sampler = tokio::spawn({
        let peaks = peaks.clone();
        async move {
            loop {
                peaks.sample();
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });

    let started = Instant::now();
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(session(ctx.clone()))).collect();

    // Gate 1 → 2: every created session's PC is waiting on its door.
    ctx.barrier.wait().await;
    let created = stat(&stats(&mut coordinator).await, "sessions");
    let door_waiters = long_polls(
        &wait_for(&mut coordinator, Duration::from_secs(60), |v| {
            long_polls(v) >= created
        })
        .await,
    );
    if door_waiters < created {
        ctx.error(
            "door long-polls",
            format!("{door_waiters} of {created} waiting"),
        );
    }
    ctx.barrier.wait().await;
    // Gate 3: knocks delivered; every session open, its PC waiting on `up` 0.
    ctx.barrier.wait().await;
    let open_time = started.elapsed();
    let open_at_once = stat(&stats(&mut coordinator).await, "sessions");
    let idle_polls = long_polls(
        &wait_for(&mut coordinator, Duration::from_secs(20), |v| {
            long_polls(v) >= n64
        })
        .await,
    );
    if idle_polls < n64 {
        ctx.error("idle long-polls", format!("{idle_polls} of {n} waiting"));
    }
    // Gate 4 → 5: the round trips, sampled every second until gate 6.
    let ping_pong = Instant::now();
    ctx.barrier.wait().await;
    let mut done = tokio::spawn({
        let ctx = ctx.clone();
        async move { ctx.barrier.wait().await }
    });
    let mut during_sessions = u64::MAX;
    let mut during_polls = (u64::MAX, 0);
    loop {
        tokio::select! {
            _ = &mut done => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let v = stats(&mut coordinator).await;
                if v.is_some() {
                    during_sessions = during_sessions.min(stat(&v, "sessions"));
                    let polls = long_polls(&v);
                    during_polls = (during_polls.0.min(polls), during_polls.1.max(polls));
                }
            }
        }
    }
    let ping_pong_time = ping_pong.elapsed();
    // Gate 6: no session closes before the last sample above is taken.
    ctx.barrier.wait().await;
    if during_sessions == u64::MAX {
        // A phase shorter than a sample: what was open at its start.
        during_sessions = open_at_once;
        during_polls = (idle_polls, idle_polls);
    }

    let mut report = Report {
        sessions: n,
        active,
        passed: 0,
        failed: 0,
        errors: 0,
        open_time,
        door_waiters,
        open_at_once,
        idle_polls,
        during_sessions,
        during_polls,
        latencies: Vec::with_capacity(n * usize::try_from(cli.round_trips).unwrap_or(0)),
        ping_pong_time,
        left_after: 0,
        tool_files: 0,
        files: Vec::new(),
    };
    for task in tasks {
        match task.await {
            Ok(outcome) => {
                if outcome.passed {
                    report.passed += 1;
                } else {
                    report.failed += 1;
                }
                report.latencies.extend(outcome.round_trips);
            }
            Err(_) => report.failed += 1,
        }
    }
    sampler.abort();
    peaks.sample();
    report.latencies.sort_unstable();
    report.left_after = stat(&stats(&mut coordinator).await, "sessions");
    report.errors = ctx.errors.load(Ordering::Relaxed);
    if n64 != open_at_once {
        report.errors += 1;
        eprintln!("error: {open_at_once} of {n} sessions were open at once");
    }
    if during_sessions < n64 {
        report.errors += 1;
        eprintln!("error: only {during_sessions} of {n} sessions open during the round trips");
    }
    report.tool_files = peaks.tool.load(Ordering::Relaxed);
    report.files = peaks
        .watched
        .iter()
        .map(|(name, _, p)| (*name, p.load(Ordering::Relaxed)))
        .collect();
    Ok(report)
}
