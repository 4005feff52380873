//! The phone's side of pairing with a PC (proto/link.md §2, §3.3, §5.5): scan the code, run
//! the first handshake over the relay, keep the pairing in the vault; list and remove paired
//! PCs.
//!
//! Invariants: nothing is stored unless the handshake succeeded; each pairing has its own
//! phone static key, kept with the pairing secret in the record's sealed secrets; pairing
//! again with the same PC (same static key) replaces the older record. Errors tell the user
//! what to do and never carry the code, a key or a secret.

use super::noise::KeyPair;
use super::qr::{QrError, QrPairing};
use super::relay::{RelayClient, RelayConfig, Routing, SessionEnd, new_id};
use super::session::{SessionError, phone_first_pairing, truncate};
use super::transport::LinkError;
use crate::secret::SecretBytes;
use crate::vault::{PairingRecord, PairingSecrets, Vault, VaultError};

/// Name stored when the PC sent none.
const UNNAMED_PC: &str = "Computer";

/// A paired PC as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedPc {
    /// Random id of the pairing (hex in the CLI); says nothing about the PC.
    pub pairing_id: Vec<u8>,
    pub name: String,
    /// The relay used to reach the PC.
    pub relay_url: String,
    pub created_at: u64,
    pub last_used_at: u64,
}

/// Why pairing failed.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("this is not a usable pairing code: {0}")]
    Code(#[from] QrError),
    #[error("the pairing code's relay is not usable: {0}")]
    Routing(LinkError),
    #[error("cannot reach the relay: {0}")]
    Relay(LinkError),
    #[error(
        "the computer refused the pairing code: it was already used or has expired; show a new code"
    )]
    CodeSpent,
    #[error("the computer did not answer; check that it still shows this pairing code")]
    NoAnswer,
    #[error("the pairing code does not match the computer (wrong or altered code)")]
    WrongCode,
    #[error("the pairing failed: {0}")]
    Session(SessionError),
    #[error("the vault failed: {0}")]
    Vault(#[from] VaultError),
}

impl From<SessionError> for PairError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Link(LinkError::Closed(_)) => Self::CodeSpent,
            SessionError::HandshakeTimeout(_) => Self::NoAnswer,
            SessionError::Handshake(_) => Self::WrongCode,
            SessionError::Link(e @ (LinkError::Transport(_) | LinkError::Timeout(_))) => {
                Self::Relay(e)
            }
            other => Self::Session(other),
        }
    }
}

fn paired(record: &PairingRecord, config: &RelayConfig) -> PairedPc {
    let relay_url = Routing::parse(
        &record.routing_id,
        &RelayConfig {
            allow_insecure_loopback: true,
            ..*config
        },
    )
    .map(|r| r.relay_url)
    .unwrap_or_default();
    PairedPc {
        pairing_id: record.pairing_id.clone(),
        name: record.name.clone(),
        relay_url,
        created_at: record.created_at,
        last_used_at: record.last_used_at,
    }
}

/// Pairs with the PC showing `code`: the first handshake over the code's relay, then the
/// pairing is stored. `now` is the phone's clock (unix seconds).
pub async fn pair(
    vault: &Vault,
    code: &str,
    now: u64,
    config: &RelayConfig,
    phone_name: &str,
) -> Result<PairedPc, PairError> {
    let qr = QrPairing::parse(code.trim(), now)?;
    let routing = Routing::parse(qr.routing(), config).map_err(PairError::Routing)?;
    let client = RelayClient::new(&routing.relay_url, *config).map_err(PairError::Routing)?;
    let session = client.create_session().await.map_err(PairError::Relay)?;
    client
        .knock(&routing.pc_door, &session)
        .await
        .map_err(PairError::Relay)?;
    let phone_static = KeyPair::generate().map_err(SessionError::from)?;
    let own_scalar = phone_static.scalar_bytes();
    let link = Box::new(client.link(session, SessionEnd::Phone));
    let result = phone_first_pairing(
        link,
        phone_static,
        &qr.pc_static_uncompressed(),
        &qr.psk(),
        Some(&truncate(phone_name)),
    )
    .await;
    let (channel, hello) = match result {
        Ok(ok) => ok,
        Err(e) => {
            let _ = client.delete_session(&session).await;
            return Err(e.into());
        }
    };
    let record = PairingRecord {
        pairing_id: new_id().map_err(PairError::Relay)?.to_vec(),
        name: hello
            .pc_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| UNNAMED_PC.to_owned()),
        peer_public_key: qr.pc_static_uncompressed().to_vec(),
        routing_id: qr.routing().to_vec(),
        created_at: now,
        last_used_at: now,
    };
    let secrets = PairingSecrets {
        own_static_private_key: SecretBytes::new(own_scalar.to_vec()),
        pairing_secret: SecretBytes::new(hello.pairing_secret.to_vec()),
    };
    let pairings = vault.pairings();
    let older: Vec<Vec<u8>> = pairings
        .list()?
        .into_iter()
        .filter(|r| r.peer_public_key == record.peer_public_key)
        .map(|r| r.pairing_id)
        .collect();
    pairings.insert(&record, &secrets)?;
    pairings.touch(&record.pairing_id, now)?;
    for id in older {
        pairings.remove(&id)?;
    }
    // A pairing session carries no CTAP (§5.5).
    channel.close().await;
    Ok(paired(&record, config))
}

/// The paired PCs, most recently used first.
pub fn list(vault: &Vault) -> Result<Vec<PairedPc>, VaultError> {
    let config = RelayConfig::default();
    Ok(vault
        .pairings()
        .list()?
        .iter()
        .map(|r| paired(r, &config))
        .collect())
}

/// Forgets a paired PC; its knocks are ignored from then on. False if there was none.
pub fn remove(vault: &Vault, pairing_id: &[u8]) -> Result<bool, VaultError> {
    vault.pairings().remove(pairing_id)
}
