//! `virtual-phone serve --ctaphid HOST:PORT`: the phone's authenticator on a TCP socket that
//! carries raw 64-byte CTAPHID reports both ways, one connection per client
//! (`proto/ctaphid-socket.md`). Prints exactly one line `ctaphid listening on HOST:PORT` on
//! stdout once ready, then serves until killed.

use std::io::Write;
use std::sync::Arc;

use authenticator_core::ctap::CtapEngine;
use authenticator_core::ctaphid;
use tokio::net::TcpListener;

pub async fn run(engine: Arc<CtapEngine>, address: &str) -> Result<(), String> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ctaphid listening on {local}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    loop {
        let (stream, peer) = listener
            .accept()
            .await
            .map_err(|e| format!("accept failed: {e}"))?;
        let _ = stream.set_nodelay(true);
        let engine = engine.clone();
        tokio::spawn(async move {
            if let Err(e) = ctaphid::serve(stream, engine).await {
                eprintln!("ctaphid connection from {peer} ended: {e}");
            }
        });
    }
}
