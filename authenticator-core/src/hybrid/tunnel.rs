//! Tunnel server domains and URLs (CTAP 2.2 §11.5; Chromium `device/fido/cable/
//! v2_handshake.cc` `tunnelserver::DecodeDomain`, `GetNewTunnelURL`, `GetConnectURL`).
//!
//! A 16-bit server id names the domain: 0 and 1 are the assigned names, 2..=255 are reserved
//! (no domain), and 256 and up are hashed: SHA-256 over "caBLEv2 tunnel server domain", its
//! terminating NUL replaced by the id's two little-endian bytes, and a trailing NUL; the first
//! 8 digest bytes as a little-endian u64 give the TLD (low 2 bits) and, 5 bits at a time, a
//! base32 label. The same id thus names the same server on every client.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// The assigned domains, by id (Chromium `kAssignedDomains`).
pub const ASSIGNED_DOMAINS: [&str; 2] = ["cable.ua5v.com", "cable.auth.com"];
const HASH_PREFIX: &[u8] = b"caBLEv2 tunnel server domain";
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const TLDS: [&str; 4] = ["com", "org", "net", "info"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TunnelError {
    #[error("tunnel server id {0} is reserved and names no domain")]
    ReservedId(u16),
}

/// The domain of tunnel server `id`.
pub fn domain(id: u16) -> Result<String, TunnelError> {
    if let Some(name) = ASSIGNED_DOMAINS.get(usize::from(id)) {
        return Ok((*name).to_owned());
    }
    if id < 256 {
        return Err(TunnelError::ReservedId(id));
    }
    let mut input = Vec::with_capacity(HASH_PREFIX.len() + 3);
    input.extend_from_slice(HASH_PREFIX);
    input.extend_from_slice(&id.to_le_bytes());
    input.push(0);
    let digest = Sha256::digest(&input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let mut v = u64::from_le_bytes(first);
    let tld = TLDS[(v & 3) as usize];
    v >>= 2;
    let mut name = String::from("cable.");
    while v != 0 {
        name.push(char::from(BASE32[(v & 31) as usize]));
        v >>= 5;
    }
    name.push('.');
    name.push_str(tld);
    Ok(name)
}

/// Upper-case hex, as Chromium's `base::HexEncode` writes ids in tunnel URLs.
fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Where the phone opens a new tunnel: `wss://DOMAIN/cable/new/TUNNEL_ID`.
pub fn new_tunnel_url(domain: &str, tunnel_id: &[u8; 16]) -> String {
    format!("wss://{domain}/cable/new/{}", hex_upper(tunnel_id))
}

#[cfg(any(test, feature = "testkit"))]
/// Where the browser joins it: `wss://DOMAIN/cable/connect/ROUTING_ID/TUNNEL_ID`.
pub fn connect_url(domain: &str, routing_id: &[u8; 3], tunnel_id: &[u8; 16]) -> String {
    format!(
        "wss://{domain}/cable/connect/{}/{}",
        hex_upper(routing_id),
        hex_upper(tunnel_id)
    )
}

/// base64url without padding, as pxp and Chromium write a contact id in a URL.
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Where the phone waits for a linked browser: `wss://DOMAIN/cable/listen/CONTACT_ID` (our
/// tunnel server's extension, `proto/hybrid.md`; Google's server pushes instead).
pub fn listen_url(domain: &str, contact_id: &[u8]) -> String {
    format!("wss://{domain}/cable/listen/{}", base64url(contact_id))
}

#[cfg(any(test, feature = "testkit"))]
/// Where a linked browser dials the phone: `wss://DOMAIN/cable/contact/CONTACT_ID`.
pub fn contact_url(domain: &str, contact_id: &[u8]) -> String {
    format!("wss://{domain}/cable/contact/{}", base64url(contact_id))
}
