//! `workspace-server serve`: binds (loopback unless told otherwise), builds the state with
//! links pointing at the bound address, prints the one ready line and serves until killed.
//!
//! The ready line `workspace listening on http://HOST:PORT` is the only thing written to
//! stdout; test harnesses wait for it and parse the port from it.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::state::{Shared, State, WorkspaceConfig};
use crate::store::Store;
use crate::{admin_api, phone_api, scim_api};

pub struct ServeOptions {
    pub listen: SocketAddr,
    pub allow_non_loopback: bool,
    pub name: String,
    pub link_ttl_secs: u64,
    pub relay_url: String,
    /// SQLite file for users, groups and the SCIM token; in memory when absent.
    pub db: Option<std::path::PathBuf>,
}

pub fn app(shared: Arc<Shared>) -> Router {
    phone_api::router(shared.clone())
        .merge(admin_api::router(shared.clone()))
        .merge(scim_api::router(shared))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint").into_response()
        })
}

pub async fn serve(options: ServeOptions) -> Result<(), String> {
    if !options.listen.ip().is_loopback() && !options.allow_non_loopback {
        return Err(format!(
            "refusing to listen on {}: the admin API has no authentication; use a loopback \
             address or pass --allow-non-loopback",
            options.listen
        ));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    // Links must name an address a client can connect to, never 0.0.0.0 or [::].
    let host = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local.port())
        }
        _ => local,
    };
    let base_url = format!("http://{host}");
    let store = Store::open(options.db.as_deref()).map_err(|e| e.message)?;
    let state = State::new(
        WorkspaceConfig {
            name: options.name,
            relay_url: options.relay_url,
            base_url: base_url.clone(),
            link_ttl_ms: options.link_ttl_secs.saturating_mul(1000),
        },
        store,
    )
    .map_err(|e| e.message)?;
    let app = app(Arc::new(Shared::new(state)));
    let mut stdout = std::io::stdout();
    writeln!(stdout, "workspace listening on {base_url}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("server stopped: {e}"))
}
