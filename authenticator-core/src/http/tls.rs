//! TLS for every connection the core opens (the workspace API, relays, hybrid tunnel servers):
//! rustls with the ring provider, certificates checked by the platform's verifier.
//!
//! Invariants: one client configuration per process, built on first use (the platform verifier
//! loads the system's certificate store, which costs milliseconds); no bundled roots, no way to
//! turn verification off.

use std::sync::{Arc, OnceLock};

/// The process's TLS client configuration.
pub fn config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// The rustls error inside an I/O error, looking through nested `io::Error` wrappers.
pub fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    let mut inner = e.get_ref()?;
    loop {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        inner = inner.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}
