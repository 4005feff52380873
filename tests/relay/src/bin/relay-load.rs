//! `relay-load`: a load test of the reference relay on loopback. It starts the relay binary,
//! opens N paired sessions that are all open on the relay at once, and runs M ping-pong round
//! trips on each, then prints latency percentiles, throughput, the relay's peak resident
//! memory, the error count and `N passed, N failed` (sessions that completed every step).
//!
//! Each session goes through the flows of link.md §5.5: the phone PUTs the session, the PC
//! waits on its door (the tool checks that all N door long-polls are waiting before anyone
//! knocks), the phone knocks and the waiting GET consumes the knock. Then, M times, the phone
//! POSTs `up` i (64..=200 random bytes) and GETs `down` i, while the PC, already waiting on
//! `up` i, echoes the bytes reversed on `down` i; a round trip is timed from the phone's POST
//! to the end of its GET. Phases are separated by barriers, so the round trips of all
//! sessions overlap. Every request goes to 127.0.0.1 and the run is bounded in time.
//!
//! `--compare-redis` (issue 19) runs the same load twice in one run: against one in-memory
//! relay, then through Debian's nginx (round-robin) to `--instances` relays sharing one
//! Debian `redis-server` (all on loopback, ports picked at run time, stopped by pid). It
//! prints each run's figures, CPU seconds per 1,000 round trips for every relay, for Redis
//! and for nginx, peak RSS per instance, and the targets: Redis mode (relays + Redis) at most
//! 2x the in-memory CPU per round trip, and each instance's peak RSS under 100 MiB.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Barrier;

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
    /// Ping-pong round trips per session.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    round_trips: u32,
    /// Give up (and count what is unfinished as failed) after this long.
    #[arg(long, default_value_t = 120)]
    time_limit_secs: u64,
    /// Also run the load through nginx to `--instances` relays on one Redis, and compare.
    #[arg(long)]
    compare_redis: bool,
    /// Relay instances behind nginx with `--compare-redis`.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    instances: u32,
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
    fn start(path: &PathBuf, sessions: u32) -> Result<Self, String> {
        Self::start_with(path, sessions, &[])
    }

    fn start_with(path: &PathBuf, sessions: u32, extra: &[&str]) -> Result<Self, String> {
        let mut child = Command::new(path)
            .args(["serve", "--listen", "127.0.0.1:0", "--test-faults"])
            .args(["--max-sessions", &sessions.max(10_000).to_string()])
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

fn run(cli: &Cli) -> Result<bool, String> {
    let path = relay_path(cli)?;
    let n = usize::try_from(cli.sessions).map_err(|_| "too many sessions")?;
    // Every session has up to two requests open at once (one per end), but the client pool
    // opens a new connection when the last one is not back yet and keeps it: measured ~2.7
    // connections per session, in this tool and in the in-memory relay (it inherits the limit).
    if let Some(limit) = open_files_limit() {
        let needed = 3 * u64::from(cli.sessions) + 64;
        if limit < needed {
            eprintln!(
                "warning: open-file limit {limit} < {needed}: connections may fail (ulimit -n)"
            );
        }
    }
    if cli.compare_redis {
        return compare::run(cli, &path, n);
    }
    let mut relay = RelayProcess::start(&path, cli.sessions)?;
    println!(
        "relay-load: {} sessions x {} round trips against {} (relay pid {})",
        cli.sessions,
        cli.round_trips,
        relay.url,
        relay.pid()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let report = runtime.block_on(load(&relay.url, n, cli.round_trips, cli.time_limit_secs))?;
    let usage = relay.usage();
    let clean_exit = relay.stop();
    report.print(&usage, clean_exit);
    Ok(report.failed == 0 && report.errors == 0 && clean_exit)
}

#[path = "load/compare.rs"]
mod compare;

struct Ctx {
    http: reqwest::Client,
    url: String,
    round_trips: u32,
    errors: AtomicU64,
    /// Phase gates: every session task and the coordinator pass each one exactly once.
    barrier: Barrier,
}

impl Ctx {
    fn error(&self, what: &str, detail: impl std::fmt::Display) {
        let count = self.errors.fetch_add(1, Ordering::Relaxed);
        if count < 10 {
            eprintln!("error: {what}: {detail}");
        }
    }

    async fn stats(&self) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/v1/test/stats", self.url))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// A request expecting one status; its body on success.
    async fn call(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
        expect: StatusCode,
    ) -> Option<reqwest::Response> {
        match request.send().await {
            Ok(response) if response.status() == expect => Some(response),
            Ok(response) => {
                self.error(what, response.status());
                None
            }
            Err(e) => {
                self.error(what, e);
                None
            }
        }
    }

    /// A long-poll GET, asked again on `204` until `deadline`: the body of its `200`.
    async fn long_poll(
        &self,
        what: &str,
        url: &str,
        seq: Option<u32>,
        deadline: Instant,
    ) -> Option<Vec<u8>> {
        loop {
            let response = match self.http.get(url).send().await {
                Ok(response) => response,
                Err(e) => {
                    self.error(what, e);
                    return None;
                }
            };
            match response.status() {
                StatusCode::OK => {
                    if let Some(seq) = seq {
                        let header = response.headers().get("relay-seq");
                        if header.and_then(|h| h.to_str().ok()) != Some(&seq.to_string()) {
                            self.error(what, "wrong Relay-Seq");
                            return None;
                        }
                    }
                    return match response.bytes().await {
                        Ok(body) => Some(body.to_vec()),
                        Err(e) => {
                            self.error(what, e);
                            None
                        }
                    };
                }
                StatusCode::NO_CONTENT if Instant::now() < deadline => {}
                status => {
                    self.error(what, status);
                    return None;
                }
            }
        }
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

async fn session(ctx: Arc<Ctx>, deadline: Instant) -> Outcome {
    let mut outcome = Outcome::default();
    let (Ok(session), Ok(door)) = (random_id(), random_id()) else {
        ctx.error("ids", "no randomness");
        for _ in 0..5 {
            ctx.barrier.wait().await;
        }
        return outcome;
    };
    let (s, d) = (hex(&session), hex(&door));
    let url = &ctx.url;

    // Phase 1: the phone creates the session; the PC starts waiting on its door.
    let mut ok = ctx
        .call(
            "PUT session",
            ctx.http.put(format!("{url}/v1/sessions/{s}")),
            StatusCode::CREATED,
        )
        .await
        .is_some();
    let door_wait = ok.then(|| {
        let ctx = ctx.clone();
        let url = format!("{url}/v1/doors?door={d}&wait_ms={WAIT_MS}");
        tokio::spawn(async move { ctx.long_poll("GET doors", &url, None, deadline).await })
    });
    ctx.barrier.wait().await;
    // (the coordinator checks that every door long-poll is waiting)
    ctx.barrier.wait().await;

    // Phase 2: the phone knocks; the waiting door GET consumes the knock.
    if ok {
        ok = ctx
            .call(
                "knock",
                ctx.http
                    .post(format!("{url}/v1/doors/{d}/knock"))
                    .body(session.to_vec()),
                StatusCode::NO_CONTENT,
            )
            .await
            .is_some();
    }
    if let Some(wait) = door_wait {
        let knock = wait.await.ok().flatten();
        let expected: Vec<u8> = door.iter().chain(session.iter()).copied().collect();
        if ok && knock.as_deref() != Some(&expected[..]) {
            ctx.error("GET doors", "not this session's knock");
            ok = false;
        }
    }
    ctx.barrier.wait().await;

    // Phase 3: ping-pong, all sessions at once.
    ctx.barrier.wait().await;
    if ok {
        let phone = phone_end(&ctx, &s, deadline);
        let pc = pc_end(&ctx, &s, deadline);
        let (phone, pc) = tokio::join!(phone, pc);
        ok = phone.is_some() && pc;
        outcome.round_trips = phone.unwrap_or_default();
    }
    ctx.barrier.wait().await;

    // Phase 4: close.
    if ok {
        ok = ctx
            .call(
                "DELETE session",
                ctx.http.delete(format!("{url}/v1/sessions/{s}")),
                StatusCode::NO_CONTENT,
            )
            .await
            .is_some();
    }
    outcome.passed = ok;
    outcome
}

/// The phone: POST `up` i, GET `down` i; the round-trip times.
async fn phone_end(ctx: &Ctx, s: &str, deadline: Instant) -> Option<Vec<Duration>> {
    let url = &ctx.url;
    let mut times = Vec::new();
    for i in 0..ctx.round_trips {
        let frame = random_frame()?;
        let started = Instant::now();
        ctx.call(
            "POST up",
            ctx.http
                .post(format!("{url}/v1/sessions/{s}/up/{i}"))
                .body(frame.clone()),
            StatusCode::NO_CONTENT,
        )
        .await?;
        let answer = ctx
            .long_poll(
                "GET down",
                &format!("{url}/v1/sessions/{s}/down/{i}?wait_ms={WAIT_MS}"),
                Some(i),
                deadline,
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

/// The PC: GET `up` i (waiting), POST it reversed as `down` i.
async fn pc_end(ctx: &Ctx, s: &str, deadline: Instant) -> bool {
    let url = &ctx.url;
    for i in 0..ctx.round_trips {
        let Some(mut frame) = ctx
            .long_poll(
                "GET up",
                &format!("{url}/v1/sessions/{s}/up/{i}?wait_ms={WAIT_MS}"),
                Some(i),
                deadline,
            )
            .await
        else {
            return false;
        };
        frame.reverse();
        let posted = ctx
            .call(
                "POST down",
                ctx.http
                    .post(format!("{url}/v1/sessions/{s}/down/{i}"))
                    .body(frame),
                StatusCode::NO_CONTENT,
            )
            .await;
        if posted.is_none() {
            return false;
        }
    }
    true
}

/// What the relay process used, from /proc: memory and CPU time.
struct Usage {
    peak_kb: Option<u64>,
    rss_kb: Option<u64>,
    cpu: Option<Duration>,
}

struct Report {
    sessions: usize,
    passed: usize,
    failed: usize,
    errors: u64,
    open_time: Duration,
    door_waiters: u64,
    open_at_once: u64,
    latencies: Vec<Duration>,
    ping_pong_time: Duration,
    left_after: u64,
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
            "open: {} sessions, {} door long-polls waiting at once, knocks delivered, in {:.0} ms; {} sessions open at once on the relay",
            self.sessions,
            self.door_waiters,
            ms(self.open_time),
            self.open_at_once
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

async fn load(
    url: &str,
    n: usize,
    round_trips: u32,
    time_limit_secs: u64,
) -> Result<Report, String> {
    // reqwest is built with rustls but no default provider; plain http never uses it, yet
    // the client builder wants one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_millis(WAIT_MS + 15_000))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(time_limit_secs);
    let ctx = Arc::new(Ctx {
        http,
        url: url.to_owned(),
        round_trips,
        errors: AtomicU64::new(0),
        barrier: Barrier::new(n + 1),
    });

    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| tokio::spawn(session(ctx.clone(), deadline)))
        .collect();
    let stat = |v: &Option<Value>, key: &str| v.as_ref().and_then(|v| v[key].as_u64()).unwrap_or(0);
    // Behind a load balancer the stats come from any one instance: the relay-wide count of
    // long-polls (Redis store) is the one that says every door GET waits.
    let door_waiters_of = |v: &Option<Value>| match v.as_ref().map(|v| &v["waiters_relay_wide"]) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => stat(v, "door_waiters"),
    };

    // Gate 1 → 2: every created session's PC is waiting on its door.
    ctx.barrier.wait().await;
    let created = stat(&ctx.stats().await, "sessions");
    let mut door_waiters = 0;
    let wait_until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < wait_until {
        door_waiters = door_waiters_of(&ctx.stats().await);
        if door_waiters >= created {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if door_waiters < created {
        ctx.error(
            "door long-polls",
            format!("{door_waiters} of {created} waiting"),
        );
    }
    ctx.barrier.wait().await;
    // Gate 3: knocks delivered; every session open.
    ctx.barrier.wait().await;
    let open_time = started.elapsed();
    let open_at_once = stat(&ctx.stats().await, "sessions");
    // Gate 4 → 5: the ping-pong phase.
    let ping_pong = Instant::now();
    ctx.barrier.wait().await;
    ctx.barrier.wait().await;
    let ping_pong_time = ping_pong.elapsed();

    let mut report = Report {
        sessions: n,
        passed: 0,
        failed: 0,
        errors: 0,
        open_time,
        door_waiters,
        open_at_once,
        latencies: Vec::with_capacity(n * usize::try_from(round_trips).unwrap_or(0)),
        ping_pong_time,
        left_after: 0,
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
    report.latencies.sort_unstable();
    report.left_after = stat(&ctx.stats().await, "sessions");
    report.errors = ctx.errors.load(Ordering::Relaxed);
    if u64::try_from(n).unwrap_or(u64::MAX) != open_at_once {
        report.errors += 1;
        eprintln!("error: {open_at_once} of {n} sessions were open at once");
    }
    Ok(report)
}
