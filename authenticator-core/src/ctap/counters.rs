//! Sign counters that never go backwards, without a disk flush on every assertion.
//!
//! Counters come from one global reservation kept in the vault's sealed state head
//! (`vault/head.rs`): the engine reserves blocks of `BLOCK` values with one durable update and
//! hands them out from memory. A crash loses at most the unused rest of a block; a credential
//! row put back from an older copy of the file cannot yield a counter at or below one already
//! issued, since values come from the head, not the row. At most one flush per `BLOCK`
//! assertions, plus one per passkey per block to raise its row's mark.
//!
//! Privacy cost of a global counter (CTAP 2.1 §6.1.1 allows one): a site sees how many
//! assertions the phone made for any site between two of its own sign-ins, and two sites that
//! compare counters could guess that they see the same phone. Passkeys are bound to one
//! workspace user's phone already, so this adds little; it is the price of rollback safety
//! without per-passkey state in the head (which would grow with the vault).
//!
//! Two processes on one vault (app and extension) each hold their own block. Whether the block
//! may still be used (no process reserved after it) is checked in the same IMMEDIATE
//! transaction that takes the value, so the other process cannot reserve and sign in between.

use super::status::{CTAP2_ERR_NO_CREDENTIALS, CtapResult};
use crate::vault::{CredentialSecrets, SignCountBlock, Vault};

/// Counter values reserved per flush.
pub const BLOCK: u32 = 128;

#[derive(Default)]
pub struct CounterBlocks {
    block: SignCountBlock,
}

impl CounterBlocks {
    /// A passkey's secrets and its next counter value, read at the moment of use.
    pub fn next(
        &mut self,
        vault: &Vault,
        credential_id: &[u8],
    ) -> CtapResult<(CredentialSecrets, u32)> {
        vault
            .credentials()
            .signing_material(credential_id, &mut self.block, BLOCK)?
            .ok_or(CTAP2_ERR_NO_CREDENTIALS)
    }

    /// Forgets the block (reset): the next value comes from a fresh one.
    pub fn clear(&mut self) {
        self.block = SignCountBlock::default();
    }
}
