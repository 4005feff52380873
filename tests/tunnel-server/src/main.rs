//! `tunnel-server`: the reference hybrid tunnel server (see the library's header). Binds a
//! loopback address only (it speaks plain `ws://`, for tests), prints one line
//! `tunnel-server listening on ADDR` on stdout, and stops cleanly on SIGTERM or ctrl-c,
//! closing every tunnel.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tunnel_server::Limits;

/// The reference hybrid (caBLE v2) tunnel server, for tests.
#[derive(Parser)]
#[command(name = "tunnel-server", version)]
struct Cli {
    /// Loopback address to bind; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// A tunnel's lifetime from the phone's connection, in milliseconds.
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..))]
    lifetime_ms: u64,
    /// How long a phone waits for its browser, in milliseconds.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    browser_wait_ms: u64,
    /// Messages per tunnel, both directions together.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    max_messages: u32,
    /// The largest message in bytes.
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(1..))]
    max_message_bytes: u32,
    /// Tunnels at once.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    max_tunnels: u32,
    /// This server's number among several behind one load balancer: the first byte of every
    /// routing id, by which the balancer sends a browser to its phone's instance.
    #[arg(long, value_parser = clap::value_parser!(u8))]
    instance: Option<u8>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.listen.ip().is_loopback() {
        eprintln!(
            "tunnel-server: refusing to bind {}: loopback only (plain ws, tests)",
            cli.listen
        );
        return ExitCode::from(2);
    }
    let limits = Limits {
        lifetime: Duration::from_millis(cli.lifetime_ms),
        browser_wait: Duration::from_millis(cli.browser_wait_ms),
        max_messages: cli.max_messages,
        max_message: cli.max_message_bytes as usize,
        max_tunnels: cli.max_tunnels as usize,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tunnel-server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // Installed before the ready line: a SIGTERM right after it is not lost.
        let stop = harness::stop_signal();
        let listener = tokio::net::TcpListener::bind(cli.listen).await?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout();
        writeln!(out, "tunnel-server listening on {addr}")?;
        out.flush()?;
        tunnel_server::serve_instance(listener, limits, cli.instance, stop).await
    });
    match result {
        Ok(()) => {
            eprintln!("tunnel-server: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tunnel-server: {e}");
            ExitCode::FAILURE
        }
    }
}
