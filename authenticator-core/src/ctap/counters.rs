//! Sign counters that never go backwards, without a disk flush on every assertion.
//!
//! The vault's `sign_count` column holds, per passkey, the highest counter value *reserved*.
//! The engine reserves blocks of `BLOCK` values with one durable, atomic update and hands them
//! out from memory. A crash loses at most the unused rest of a block: the next value after a
//! restart comes from a fresh block above the old reservation, so counters only move forward,
//! and at most one flush happens per `BLOCK` assertions of a passkey.
//!
//! Two processes on one vault (app and extension) each hold their own blocks. Before using an
//! in-memory block the engine checks that the stored reservation still ends where its block
//! ends (the row was just read for the assertion anyway); if the other process reserved a
//! block meanwhile, this block is abandoned and a new one, above theirs, is reserved.

use std::collections::HashMap;

use super::status::{CTAP2_ERR_NO_CREDENTIALS, CtapResult};
use crate::vault::Vault;

/// Counter values reserved per flush.
pub const BLOCK: u32 = 128;

#[derive(Default)]
pub struct CounterBlocks {
    /// credential id -> (last value handed out, end of the reserved block)
    blocks: HashMap<Vec<u8>, (u32, u32)>,
}

impl CounterBlocks {
    /// The next counter value for a passkey whose stored reservation is `stored`.
    pub fn next(&mut self, vault: &Vault, credential_id: &[u8], stored: u32) -> CtapResult<u32> {
        if let Some((last, end)) = self.blocks.get_mut(credential_id)
            && *end == stored
            && *last < *end
        {
            *last += 1;
            return Ok(*last);
        }
        let end = vault
            .credentials()
            .advance_sign_count_by(credential_id, BLOCK)?
            .ok_or(CTAP2_ERR_NO_CREDENTIALS)?;
        let first = end
            .saturating_sub(BLOCK - 1)
            .max(stored.saturating_add(1))
            .min(end);
        self.blocks.insert(credential_id.to_vec(), (first, end));
        Ok(first)
    }

    /// Forgets everything (reset, deleted passkeys).
    pub fn clear(&mut self) {
        self.blocks.clear();
    }
}
