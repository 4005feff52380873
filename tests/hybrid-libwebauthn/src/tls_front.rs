//! A TLS front for the ws:// tunnel server: libwebauthn's tunnel client (pxp 0.1.0,
//! `tunnel::connect`) only builds `wss://{domain}/cable/connect/...` URLs, so port 443 with a
//! certificate for the tunnel domain is the only way in. This terminates TLS with a leaf
//! certificate issued at run time by a test CA (run.sh makes both with openssl; libwebauthn
//! trusts the CA through `SSL_CERT_FILE`, which rustls-native-certs reads) and copies bytes
//! both ways to the tunnel server, unchanged: the WebSocket upgrade, its `fido.cable`
//! subprotocol and every frame pass through as the tunnel server sees them.
//!
//! Binds only the address it is given (127.0.0.1:443 inside run.sh's private network
//! namespace); each connection is independent and ends when either side closes.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Starts the front; the returned task runs until aborted.
pub async fn start(
    listen: SocketAddr,
    backend: SocketAddr,
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<JoinHandle<()>, String> {
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("reading {}: {e}", cert_pem.display()))?;
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|e| format!("reading {}: {e}", key_pem.display()))?;
    // ring, the provider pxp's client installs; rustls 0.23.48 deprecates this constructor
    // only because ring has no post-quantum key exchange, which a loopback test needs not.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate: {e}"))?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("binding the TLS front on {listen}: {e}"))?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(client).await else {
                    eprintln!("tls front: a TLS handshake failed");
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(backend).await else {
                    eprintln!("tls front: the tunnel server at {backend} refused");
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    }))
}
