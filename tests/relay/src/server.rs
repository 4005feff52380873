//! `relay serve`: binds, prints the one ready line, serves until SIGTERM or ctrl-c, and runs
//! the sweeper that expires idle sessions and old knocks.
//!
//! The ready line `relay listening on http://HOST:PORT` is the only thing written to stdout;
//! harnesses wait for it and parse the port from it. The log goes to stderr.
//!
//! Connections are HTTP/1.1 (all link.md §5 needs), served by hyper with the router built
//! once and shared: axum's own `serve` rebuilds every route for each new connection (its
//! `Router::with_state` in `into_make_service`), ~4.8 KiB per connection that a relay
//! holding thousands of long-polls keeps for each (measured with heaptrack).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
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
    /// `--floor-redis URL`: in memory, plus one no-op Redis step per request (floor.rs).
    pub floor_redis: Option<RedisOptions>,
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
    let mut app = api::router(relay.clone());
    if let Some(floor) = options.floor_redis {
        let store = RedisStore::connect(floor, Limits::default(), false).await?;
        app = crate::floor::layer(app, Arc::new(store));
    }

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

    let server = serve_http(listener, app, graceful);
    let result = tokio::select! {
        () = server => Ok(()),
        () = give_up => {
            log!("requests still open after {} s; stopping anyway", GRACE.as_secs());
            Ok(())
        }
    };
    sweeper.abort();
    log!("stopped");
    result
}

/// Accepts connections until `stop` completes, then waits for the open ones to finish their
/// requests (idle keep-alive connections are closed at once).
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stop: impl std::future::Future<Output = ()>,
) {
    let connections = GracefulShutdown::new();
    let builder = http1::Builder::new();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener stays; a short pause keeps an exhausted limit from spinning.
                    log!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            // A connection's end (the peer gone, a malformed request) is not the relay's.
            let _ = connection.await;
        });
    }
    drop(listener);
    connections.shutdown().await;
}
