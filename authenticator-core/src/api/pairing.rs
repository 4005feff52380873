//! Pairing with computers: from the QR text the pairing tool shows, the list of paired
//! computers, and removing one (its open session and later knocks are refused at once).

use super::{Authenticator, AuthenticatorError, guard, parse_hex};
use crate::hex::encode as hex;
use crate::link::pairing::{self, PairedPc};

/// The longest QR text accepted, in bytes (a pairing code is far shorter).
const MAX_QR_TEXT: usize = 4096;

/// A computer paired with this phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PairedComputer {
    /// The pairing's random id (hex).
    pub id: String,
    /// The name the computer gave itself.
    pub name: String,
    /// The relay used to reach it.
    pub relay_url: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub last_used_at: u64,
}

impl From<PairedPc> for PairedComputer {
    fn from(pc: PairedPc) -> Self {
        Self {
            id: hex(&pc.pairing_id),
            name: pc.name,
            relay_url: pc.relay_url,
            created_at: pc.created_at,
            last_used_at: pc.last_used_at,
        }
    }
}

#[uniffi::export]
impl Authenticator {
    /// Pairs with the computer showing `qr_text` (the text of its QR code, `PASSKEYPHONE:/...`;
    /// surrounding whitespace is ignored). The
    /// computer learns this phone's device name. Errors: `InvalidInput` for a malformed or
    /// altered code, `Refused` for a used or expired one, `Network` when the relay or the
    /// computer cannot be reached.
    pub async fn pair(&self, qr_text: String) -> Result<PairedComputer, AuthenticatorError> {
        if qr_text.len() > MAX_QR_TEXT {
            return Err(AuthenticatorError::invalid(
                "this is not a usable pairing code: it is far too long",
            ));
        }
        let (vault, config, name, now) = (
            self.vault.clone(),
            self.relay_config(),
            self.options.device_name.clone(),
            self.now(),
        );
        self.run(async move {
            let pc = pairing::pair(&vault, &qr_text, now, &config, &name).await?;
            tracing::info!("paired with a computer");
            Ok(PairedComputer::from(pc))
        })
        .await
    }

    /// The paired computers.
    pub fn paired_computers(&self) -> Result<Vec<PairedComputer>, AuthenticatorError> {
        guard(|| {
            Ok(pairing::list(&self.vault)?
                .into_iter()
                .map(PairedComputer::from)
                .collect())
        })
    }

    /// Forgets a paired computer; it cannot reach the phone any more.
    pub fn remove_paired_computer(&self, pairing_id: String) -> Result<(), AuthenticatorError> {
        guard(|| {
            let id = parse_hex(&pairing_id, "a paired computer's id")?;
            if pairing::remove(&self.vault, &id)? {
                Ok(())
            } else {
                Err(AuthenticatorError::not_found(
                    "no paired computer has this id",
                ))
            }
        })
    }
}
