//! `relay serve`: binds, prints the one ready line, serves until SIGTERM or ctrl-c, and runs
//! the sweeper that expires idle sessions and old knocks.
//!
//! The ready line `relay listening on http://HOST:PORT` is the only thing written to stdout;
//! harnesses wait for it and parse the port from it. The log goes to stderr.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::api;
use crate::redis_store::{RedisOptions, RedisStore};
use crate::state::{self, Limits, Relay};
use crate::store::Store;

/// After a stop signal, how long open requests get to finish before the process exits.
const GRACE: Duration = Duration::from_secs(3);

pub struct ServeOptions {
    pub listen: SocketAddr,
    pub limits: Limits,
    pub test_faults: bool,
    /// `--redis URL`: share the state with other instances through Redis.
    pub redis: Option<RedisOptions>,
}

/// Often enough that a session or knock outlives its limit by at most a quarter of it
/// (and at most a second).
fn sweep_period(limits: &Limits) -> Duration {
    (limits.session_idle.min(limits.knock_ttl) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1))
}

pub async fn serve(options: ServeOptions) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    // The URL must name an address a client can connect to, never 0.0.0.0 or [::].
    let host = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local.port())
        }
        _ => local,
    };
    let period = sweep_period(&options.limits);
    let relay: Arc<dyn Store> = match options.redis {
        None => Arc::new(Relay::new(options.limits, options.test_faults)),
        Some(redis) => {
            Arc::new(RedisStore::connect(redis, options.limits, options.test_faults).await?)
        }
    };
    let app = api::router(relay.clone());

    let sweeper = tokio::spawn({
        let relay = relay.clone();
        async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match relay.sweep().await {
                    Ok(swept) => state::log_swept(&swept),
                    Err(e) => log!("sweep failed: {}", e.message),
                }
            }
        }
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = harness::stop_signal();
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    let graceful = {
        let mut stop = stop_rx.clone();
        let relay = relay.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
            log!("stopping");
            relay.shut_down();
        }
    };
    let give_up = {
        let mut stop = stop_rx;
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
            tokio::time::sleep(GRACE).await;
        }
    };

    let mut stdout = std::io::stdout();
    writeln!(stdout, "relay listening on http://{host}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    log!(
        "listening on {host} with the {} store{}",
        relay.kind(),
        if options.test_faults {
            " with test faults enabled"
        } else {
            ""
        }
    );

    let server = axum::serve(listener, app).with_graceful_shutdown(graceful);
    let result = tokio::select! {
        result = server => result.map_err(|e| format!("server stopped: {e}")),
        () = give_up => {
            log!("requests still open after {} s; stopping anyway", GRACE.as_secs());
            Ok(())
        }
    };
    sweeper.abort();
    log!("stopped");
    result
}
