//! `relay-load --compare-redis`: the same load against one in-memory relay, against the
//! floor of a Redis-backed relay (the in-memory relay plus one no-op Redis step per request,
//! `relay serve --floor-redis`, the relay's floor.rs) and, through nginx round-robin,
//! against several relays on one Redis, in one run (see the binary's header). Every process
//! is this tool's child, on loopback, stopped by its pid. The floor is what the load costs
//! when the shared store costs nothing but one step per request; Redis mode over it
//! says how much the real steps add, where the 2x target is judged against the in-memory
//! relay alone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{RelayProcess, Report, Usage, load, usage};

/// Targets of issue 19.
const CPU_RATIO_TARGET: f64 = 2.0;
const RSS_TARGET_MIB: f64 = 100.0;
/// The target proposed relative to the floor measured in the same run (tests/bench/README.md):
/// printed beside the issue's, which stays the verdict.
const FLOOR_RATIO_PROPOSED: f64 = 1.75;

/// A helper process (redis-server, nginx) killed by its pid when dropped.
struct Helper {
    child: Child,
}

impl Helper {
    fn spawn(name: &'static str, command: &mut Command) -> Result<Self, String> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {name} (tests/setup.sh installs it): {e}"))?;
        Ok(Self { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The pids of `pid`'s child processes (nginx's workers).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

impl Drop for Helper {
    /// SIGTERM (nginx's master then stops its workers), up to 5 s, then SIGKILL for the
    /// process and for any child it left behind, each by its pid.
    fn drop(&mut self) {
        let workers = children(self.pid());
        signal(self.pid(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for worker in workers {
            if std::fs::metadata(format!("/proc/{worker}")).is_ok() {
                signal(worker, "KILL");
            }
        }
    }
}

fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn wait_listening(name: &str, port: u16) -> Result<(), String> {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("{name} did not listen on {port}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn redis_server() -> Result<(Helper, u16), String> {
    let port = free_port()?;
    let helper = Helper::spawn(
        "redis-server",
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--maxclients", "50000"]),
    )?;
    wait_listening("redis-server", port)?;
    Ok((helper, port))
}

/// nginx worker processes. At 10,000 sessions nginx holds ~20,000 client and ~20,000
/// upstream connections; split over four workers (`reuseport`: the kernel spreads the
/// clients evenly) each stays far below a 20,000 open-file limit, which one process cannot.
const NGINX_WORKERS: usize = 4;
/// Per worker: clients plus upstreams, with room for an uneven spread.
const NGINX_WORKER_CONNECTIONS: usize = 16_000;

/// nginx (a master and `NGINX_WORKERS` workers), round-robin over `relays`.
fn nginx(dir: &Path, relays: &[&str]) -> Result<(Helper, u16), String> {
    let port = free_port()?;
    let servers: String = relays
        .iter()
        .map(|r| format!("        server {r};\n"))
        .collect();
    let conf = format!(
        r#"
daemon off;
worker_processes {NGINX_WORKERS};
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections {NGINX_WORKER_CONNECTIONS}; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream relays {{
{servers}        keepalive 4096;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=65535 reuseport;
        location / {{
            proxy_pass http://relays;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 60s;
            proxy_buffering off;
        }}
    }}
}}
"#,
        d = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let helper = Helper::spawn(
        "nginx",
        Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir),
    )?;
    wait_listening("nginx", port)?;
    Ok((helper, port))
}

/// `INFO commandstats`: (command, calls), commands in lower case; empty if Redis does not
/// answer (the figures are then missing, nothing else).
fn command_stats(url: &str) -> Vec<(String, u64)> {
    let info: Option<String> = redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut c| redis::cmd("INFO").arg("commandstats").query(&mut c))
        .ok();
    info.unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (name, fields) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse().ok())
            };
            Some((name.to_owned(), field("calls")?))
        })
        .collect()
}

/// The Redis steps and round trips a relay has made (`/metrics`:
/// `relay_redis_steps_total`, `relay_redis_round_trip_seconds_count`); zeros when it does
/// not answer.
fn redis_steps(rt: &tokio::runtime::Runtime, url: &str) -> (u64, u64) {
    let scrape = async {
        let mut end = super::End::new(url, Duration::from_secs(5)).ok()?;
        let answer = end.send(hyper::Method::GET, "/metrics", &[]).await.ok()?;
        String::from_utf8(answer.body.to_vec()).ok()
    };
    let text = rt.block_on(scrape).unwrap_or_default();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        value("relay_redis_steps_total"),
        value("relay_redis_round_trip_seconds_count"),
    )
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `--threads` of each Redis-mode instance: the cores divided among the instances (at least
/// one), unless `--relay-threads` sets every relay's.
fn instance_threads(cli: &super::Cli) -> Option<String> {
    if cli.relay_threads.is_some() {
        return None;
    }
    let instances = usize::try_from(cli.instances).unwrap_or(1).max(1);
    Some((cores() / instances).max(1).to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn cpu_s(u: &Usage) -> f64 {
    u.cpu.map_or(f64::NAN, |c| c.as_secs_f64())
}

fn mib(u: &Usage) -> f64 {
    u.peak_kb.map_or(f64::NAN, |kb| kb as f64 / 1024.0)
}

/// CPU seconds per 1,000 round trips.
fn per_k(cpu: f64, report: &Report) -> f64 {
    cpu * 1000.0 / (report.latencies.len().max(1) as f64)
}

/// One pass's figures (CPU s per 1,000 round trips), for the medians over `--repeat` passes.
struct Figures {
    memory: f64,
    floor: f64,
    relays: f64,
    redis: f64,
    peak_mib: f64,
    ok: bool,
    passed: usize,
    failed: usize,
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `--repeat` passes of the three loads, one after the other (in memory, floor, Redis
/// mode, again), so each pass's ratio compares loads measured within a few minutes of each
/// other; with more than one pass the verdicts are on the medians of the passes' figures
/// (this machine's CPU figures move by ~10% between loads of the same binary).
pub fn run(cli: &super::Cli, path: &PathBuf) -> Result<bool, String> {
    let rt = runtime()?;
    let mut passes = Vec::new();
    for pass in 1..=cli.repeat {
        if cli.repeat > 1 {
            println!("=== pass {pass} of {}", cli.repeat);
        }
        passes.push(one_pass(cli, path, &rt)?);
    }
    let passed = passes.iter().map(|f| f.passed).sum::<usize>();
    let failed = passes.iter().map(|f| f.failed).sum::<usize>();
    let ok = passes.iter().all(|f| f.ok);
    if cli.repeat > 1 {
        let of = |pick: fn(&Figures) -> f64| median(passes.iter().map(pick).collect());
        let ratios = |pick: fn(&Figures) -> f64| {
            let all: Vec<String> = passes.iter().map(|f| format!("{:.2}x", pick(f))).collect();
            all.join(" ")
        };
        println!(
            "== medians over {} passes (CPU s per 1,000 round trips)",
            cli.repeat
        );
        println!(
            "in-memory relay {:.3}; floor {:.3}; redis-mode relays {:.3} + redis-server {:.3}",
            of(|f| f.memory),
            of(|f| f.floor),
            of(|f| f.relays),
            of(|f| f.redis)
        );
        let ratio = of(|f| (f.relays + f.redis) / f.memory);
        println!(
            "redis mode / in-memory CPU per round trip, median of the passes: {ratio:.2}x ({}); target <= {CPU_RATIO_TARGET}x: {}",
            ratios(|f| (f.relays + f.redis) / f.memory),
            verdict(ratio <= CPU_RATIO_TARGET)
        );
        let floor_ratio = of(|f| (f.relays + f.redis) / f.floor);
        println!(
            "redis mode / floor, median of the passes: {floor_ratio:.2}x ({}); proposed target <= {FLOOR_RATIO_PROPOSED}x: {}",
            ratios(|f| (f.relays + f.redis) / f.floor),
            verdict(floor_ratio <= FLOOR_RATIO_PROPOSED)
        );
        let peak = passes.iter().map(|f| f.peak_mib).fold(0.0, f64::max);
        println!(
            "peak RSS per redis-mode instance, largest of the passes: {peak:.1} MiB (target < {RSS_TARGET_MIB} MiB: {})",
            verdict(peak < RSS_TARGET_MIB)
        );
    }
    println!("{passed} passed, {failed} failed");
    Ok(ok)
}

fn one_pass(
    cli: &super::Cli,
    path: &PathBuf,
    rt: &tokio::runtime::Runtime,
) -> Result<Figures, String> {
    println!("== in-memory: one relay");
    let mut memory = RelayProcess::start(path, cli)?;
    let mem_report = rt.block_on(load(&memory.url, &[("relay", memory.pid())], cli))?;
    let mem_usage = memory.usage();
    let mem_clean = memory.stop();
    mem_report.print(&mem_usage, mem_clean);

    println!(
        "== floor: one in-memory relay plus one no-op Redis step per request, on its own redis-server"
    );
    let (floor_redis, floor_port) = redis_server()?;
    let floor_url = format!("redis://127.0.0.1:{floor_port}/");
    let mut floor = RelayProcess::start_with(
        cli.floor_relay.as_ref().unwrap_or(path),
        cli,
        &["--floor-redis", &floor_url, "--redis-prefix", "floor"],
    )?;
    let floor_report = rt.block_on(load(
        &floor.url,
        &[("relay", floor.pid()), ("redis-server", floor_redis.pid())],
        cli,
    ))?;
    let floor_usage = floor.usage();
    let floor_redis_usage = usage(floor_redis.pid());
    let (floor_steps, _) = redis_steps(rt, &floor.url);
    let floor_commands = command_stats(&floor_url);
    let floor_clean = floor.stop();
    drop(floor_redis);
    floor_report.print(&floor_usage, floor_clean);

    println!(
        "== redis: {} relays on one redis-server, through nginx round-robin",
        cli.instances
    );
    let (redis, redis_port) = redis_server()?;
    let url = format!("redis://127.0.0.1:{redis_port}/");
    // Each instance gets its share of this host's cores as worker threads (`relay serve
    // --threads`' advice when instances share a host), as the in-memory relay, alone here,
    // has all of them; `--relay-threads` sets every relay's instead.
    let share = instance_threads(cli);
    if let Some(threads) = &share {
        println!(
            "each instance: --threads {threads} (its share of {} cores)",
            cores()
        );
    }
    let mut relays = Vec::new();
    for _ in 0..cli.instances {
        let mut args = vec!["--redis", &url, "--redis-prefix", "load"];
        if let Some(threads) = &share {
            args.extend(["--threads", threads.as_str()]);
        }
        relays.push(RelayProcess::start_with(path, cli, &args)?);
    }
    let mut name = [0u8; 8];
    getrandom::fill(&mut name).map_err(|e| format!("no randomness: {e}"))?;
    let dir = std::env::temp_dir().join(format!("relay-load-nginx-{}", super::hex(&name)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let addresses: Vec<String> = relays
        .iter()
        .map(|r| r.url.trim_start_matches("http://").to_owned())
        .collect();
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let (proxy, proxy_port) = nginx(&dir, &refs)?;
    let front = format!("http://127.0.0.1:{proxy_port}");
    let mut watch: Vec<(&'static str, u32)> = relays.iter().map(|r| ("relay", r.pid())).collect();
    watch.push(("redis-server", redis.pid()));
    let redis_report = rt.block_on(load(&front, &watch, cli))?;
    let usages: Vec<Usage> = relays.iter().map(RelayProcess::usage).collect();
    let redis_usage = usage(redis.pid());
    let (steps, trips) = relays
        .iter()
        .map(|r| redis_steps(rt, &r.url))
        .fold((0, 0), |(s, t), (rs, rt)| (s + rs, t + rt));
    let commands = command_stats(&url);
    // The master and its workers: CPU summed, peak RSS of the largest process.
    let workers = children(proxy.pid());
    let nginx_usages: Vec<Usage> = std::iter::once(proxy.pid())
        .chain(workers.iter().copied())
        .map(usage)
        .collect();
    let nginx_usage = Usage {
        peak_kb: nginx_usages.iter().filter_map(|u| u.peak_kb).max(),
        rss_kb: nginx_usages.iter().filter_map(|u| u.rss_kb).max(),
        cpu: Some(nginx_usages.iter().filter_map(|u| u.cpu).sum()),
    };
    let mut clean = true;
    for relay in &mut relays {
        clean &= relay.stop();
    }
    let proxy_pid = proxy.pid();
    drop(proxy);
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
    // Printed after they were stopped, so a caller can check none is left.
    let pids: Vec<String> = std::iter::once(proxy_pid)
        .chain(workers)
        .map(|p| p.to_string())
        .collect();
    println!("nginx processes (stopped): {}", pids.join(" "));
    let total = Usage {
        peak_kb: usages.iter().filter_map(|u| u.peak_kb).max(),
        rss_kb: usages.iter().filter_map(|u| u.rss_kb).max(),
        cpu: Some(usages.iter().filter_map(|u| u.cpu).sum()),
    };
    redis_report.print(&total, clean);

    println!("== comparison (CPU s per 1,000 round trips; peak RSS)");
    let mem_cpu = per_k(cpu_s(&mem_usage), &mem_report);
    println!(
        "in-memory relay: {mem_cpu:.3} CPU s, {:.1} MiB",
        mib(&mem_usage)
    );
    let mut relays_cpu = 0.0;
    // The target is per instance of the scaled-out relay; the in-memory relay is one process
    // holding every connection, shown for comparison.
    let mut rss_ok = true;
    for (i, u) in usages.iter().enumerate() {
        let cpu = per_k(cpu_s(u), &redis_report);
        relays_cpu += cpu;
        rss_ok &= mib(u) < RSS_TARGET_MIB;
        println!("redis-mode relay {i}: {cpu:.3} CPU s, {:.1} MiB", mib(u));
    }
    let redis_cpu = per_k(cpu_s(&redis_usage), &redis_report);
    println!(
        "redis-server: {redis_cpu:.3} CPU s, {:.1} MiB",
        mib(&redis_usage)
    );
    let round_trips = redis_report.latencies.len().max(1) as f64;
    let calls: u64 = commands
        .iter()
        .filter(|(name, _)| name.starts_with("eval") || name.starts_with("fcall"))
        .map(|(_, calls)| calls)
        .sum();
    let published: u64 = commands
        .iter()
        .filter(|(name, _)| name == "publish")
        .map(|(_, calls)| calls)
        .sum();
    println!(
        "redis-server commands (INFO commandstats, whole run): {:.2} FCALLs and {:.2} PUBLISH per round trip; the relays' steps (their /metrics): {:.2} per round trip, {:.1} per Redis round trip",
        calls as f64 / round_trips,
        published as f64 / round_trips,
        steps as f64 / round_trips,
        steps as f64 / trips.max(1) as f64
    );
    // Every command a client sent and every command a step ran, per round trip.
    let per_rt: Vec<String> = commands
        .iter()
        .filter(|(_, calls)| *calls as f64 / round_trips >= 0.005)
        .map(|(name, calls)| format!("{name} {:.2}", *calls as f64 / round_trips))
        .collect();
    println!("  all, per round trip: {}", per_rt.join(", "));
    println!(
        "nginx, {NGINX_WORKERS} workers (not counted below): {:.3} CPU s, {:.1} MiB (largest process)",
        per_k(cpu_s(&nginx_usage), &redis_report),
        mib(&nginx_usage)
    );
    let ratio = (relays_cpu + redis_cpu) / mem_cpu;
    let cpu_ok = ratio <= CPU_RATIO_TARGET;
    println!(
        "redis mode / in-memory CPU per round trip: {ratio:.2}x (relays {:.2}x + redis {:.2}x); target <= {CPU_RATIO_TARGET}x: {}",
        relays_cpu / mem_cpu,
        redis_cpu / mem_cpu,
        verdict(cpu_ok)
    );
    // The floor: the in-memory relay plus one no-op Redis step per request.
    let floor_relay = per_k(cpu_s(&floor_usage), &floor_report);
    let floor_redis = per_k(cpu_s(&floor_redis_usage), &floor_report);
    let floor_cpu = floor_relay + floor_redis;
    let floor_calls: u64 = floor_commands
        .iter()
        .filter(|(name, _)| name.starts_with("fcall"))
        .map(|(_, calls)| calls)
        .sum();
    let floor_rts = floor_report.latencies.len().max(1) as f64;
    println!(
        "floor (in-memory relay + one no-op step per request, {:.2} per round trip in {:.2} FCALLs): relay {floor_relay:.3} + redis-server {floor_redis:.3} = {floor_cpu:.3} CPU s, {:.2}x the in-memory relay; its Redis steps alone cost {:.3}",
        floor_steps as f64 / floor_rts,
        floor_calls as f64 / floor_rts,
        floor_cpu / mem_cpu,
        floor_cpu - mem_cpu
    );
    let floor_ratio = (relays_cpu + redis_cpu) / floor_cpu;
    println!(
        "redis mode / floor: {floor_ratio:.2}x (proposed target <= {FLOOR_RATIO_PROPOSED}x: {}); over the floor the real steps add relays {:.3}, redis {:.3} CPU s per 1,000 round trips",
        verdict(floor_ratio <= FLOOR_RATIO_PROPOSED),
        relays_cpu - floor_relay,
        redis_cpu - floor_redis
    );
    println!(
        "peak RSS per redis-mode instance < {RSS_TARGET_MIB} MiB: {} (the in-memory relay, all {} sessions in one process: {:.1} MiB)",
        verdict(rss_ok),
        cli.sessions,
        mib(&mem_usage)
    );
    let passed = mem_report.passed + floor_report.passed + redis_report.passed;
    let failed = mem_report.failed + floor_report.failed + redis_report.failed;
    let errors = mem_report.errors + floor_report.errors + redis_report.errors;
    Ok(Figures {
        memory: mem_cpu,
        floor: floor_cpu,
        relays: relays_cpu,
        redis: redis_cpu,
        peak_mib: usages.iter().map(mib).fold(0.0, f64::max),
        ok: failed == 0 && errors == 0 && mem_clean && floor_clean && clean,
        passed,
        failed,
    })
}
