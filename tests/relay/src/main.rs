//! `relay`: the reference cloud relay of proto/link.md §5. It forwards opaque frames
//! between the phone and the pairing tool and sees only ids, sizes and timing.
//!
//! Module map:
//! - `server`: binding, the ready line, signals, the sweeper; `api`: the HTTP endpoints.
//! - `state`: sessions, doors, limits and counters behind one mutex.
//! - `queue`: one direction's numbered frames; `door`: one door's knocks and waiters.
//! - `faults`: the adversarial test mode (`--test-faults`).
//! - `ids`: 16-byte ids and their one hex spelling; `error`: the non-success answers.
//! - `store`: the interface of the two stores; `redis_store` and `redis_lua`: the Redis one.
//! - `floor`: the hidden `--floor-redis` mode, the floor of a Redis-backed relay.

/// One line on stderr. Callers pass ids, numbers and sizes only, never frame bytes.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::write_log(format_args!($($arg)*))
    };
}

mod api;
mod door;
mod error;
mod faults;
mod floor;
mod ids;
mod metrics;
mod queue;
mod redis_batch;
mod redis_lua;
mod redis_store;
mod server;
mod state;
mod store;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use state::Limits;

/// jemalloc (see Cargo.toml): per-thread caches, measured cheaper than glibc's malloc here.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The reference cloud relay of proto/link.md §5 (tests and development).
#[derive(Parser)]
#[command(name = "relay", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay until SIGTERM or ctrl-c; prints `relay listening on http://HOST:PORT`.
    Serve {
        /// Address to bind; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Sessions open at once; past it PUT answers 503.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
        max_sessions: u32,
        /// A session is removed this long after its last request.
        #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        session_idle_secs: u64,
        /// A knock not consumed within this time is dropped.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        knock_ttl_secs: u64,
        /// Longest long-poll; a larger `wait_ms` is clamped to it.
        #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(0..=300_000))]
        max_wait_ms: u64,
        /// Unacknowledged frames per direction; past it POST answers 429.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
        queue_frames: u32,
        /// Unacknowledged bytes per direction; past it POST answers 429.
        #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(1..))]
        queue_bytes: u32,
        /// Pending knocks per door; past it a knock answers 429.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
        door_knocks: u32,
        /// Long-polls (frame and door GETs) waiting at once, relay-wide; past it a GET
        /// answers at once instead of waiting. Default: 4 per session plus 1,024.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        max_waiters: Option<u32>,
        /// Frame bytes held by all sessions together; past it POST answers 429.
        #[arg(long, default_value_t = 512 << 20, value_parser = clap::value_parser!(u64).range(1..))]
        total_bytes: u64,
        /// Enable `POST /v1/test/faults` and `GET /v1/test/stats` (never in production).
        #[arg(long)]
        test_faults: bool,
        /// Keep the state in Redis (`redis://HOST:PORT/DB`), shared with every instance
        /// started with the same URL and prefix; without it, in this process's memory.
        #[arg(long)]
        redis: Option<String>,
        /// The prefix of every Redis key and channel (several relays may share one Redis).
        #[arg(long, default_value = "relay")]
        redis_prefix: String,
        /// Measurement only (`relay-load --compare-redis`): the in-memory store, plus one
        /// no-op Redis step per request on this Redis (floor.rs).
        #[arg(long, hide = true, conflicts_with = "redis")]
        floor_redis: Option<String>,
        /// `json`: one JSON object per log line (time, pid, message), for log collectors.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Worker threads serving requests (default: one per CPU the process may use); set it
        /// to the instance's share of the host when several instances share one. With one,
        /// the relay runs tokio's single-threaded scheduler.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
    },
}

fn main() -> ExitCode {
    let Command::Serve {
        listen,
        max_sessions,
        session_idle_secs,
        knock_ttl_secs,
        max_wait_ms,
        queue_frames,
        queue_bytes,
        door_knocks,
        max_waiters,
        total_bytes,
        test_faults,
        redis,
        redis_prefix,
        floor_redis,
        log_format,
        threads,
    } = Cli::parse().command;
    let _ = LOG_FORMAT.set(log_format);
    let max_sessions = to_usize(max_sessions);
    let door_knocks = to_usize(door_knocks);
    let limits = Limits {
        max_sessions,
        session_idle: Duration::from_secs(session_idle_secs),
        knock_ttl: Duration::from_secs(knock_ttl_secs),
        max_wait: Duration::from_millis(max_wait_ms),
        queue_frames: to_usize(queue_frames),
        queue_bytes: to_usize(queue_bytes),
        door_knocks,
        // Room for every session to knock on one full door.
        max_knocks: max_sessions.saturating_mul(door_knocks),
        total_bytes: usize::try_from(total_bytes).unwrap_or(usize::MAX),
        // Each session has at most a few long-polls going (its two ends, a retry).
        max_waiters: max_waiters.map_or_else(
            || max_sessions.saturating_mul(4).saturating_add(1024),
            to_usize,
        ),
    };
    let options = server::ServeOptions {
        listen,
        limits,
        test_faults,
        redis: redis.map(|url| redis_store::RedisOptions {
            url,
            prefix: redis_prefix.clone(),
        }),
        floor_redis: floor_redis.map(|url| redis_store::RedisOptions {
            url,
            prefix: redis_prefix,
        }),
    };
    // One thread (`--threads 1`, or a host with one CPU): the single-threaded scheduler, which
    // hands no task between threads; else one worker per thread asked for or per CPU.
    let workers = threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let mut runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        runtime.worker_threads(workers);
        runtime
    };
    let result = runtime
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|runtime| runtime.block_on(server::serve(options)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Writes one log line to stderr; a closed stderr is no reason to fail a request. The
/// message holds ids shortened, numbers and sizes only (see `log!`), in either format.
/// The line is formatted first and written whole: stderr is unbuffered, so `writeln!` on it
/// made one `write` per piece of the format (about a dozen per line).
pub fn write_log(line: std::fmt::Arguments<'_>) {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(128);
    if LOG_FORMAT.get() == Some(&LogFormat::Json) {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let record = serde_json::json!({
            "ts_ms": u64::try_from(ms).unwrap_or(u64::MAX),
            "pid": std::process::id(),
            "component": "relay",
            "msg": line.to_string(),
        });
        let _ = writeln!(text, "{record}");
    } else {
        let _ = writeln!(text, "relay: {line}");
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
