//! The channel ids handed out by CTAPHID_INIT on the broadcast channel (§11.2.9.1.3).
//!
//! Ids are random, so a client cannot guess another client's channel, and never 0 (reserved)
//! or 0xFFFFFFFF (broadcast). CTAPHID has no "close channel", and every client opening the
//! device allocates one, so the table is bounded: when it is full, the least recently used
//! channel is forgotten (its client gets ERR_INVALID_CHANNEL and re-INITs), except the one
//! whose request is running.
//!
//! Each channel is its own request [`Origin`], made when the channel is allocated: the CTAP
//! engine's follow-up state (getNextAssertion, enumerations) belongs to one channel.

use std::collections::VecDeque;

use super::{BROADCAST_CID, RESERVED_CID};
use crate::request::Origin;
use crate::secret::random_array;

/// More than the clients that plausibly talk to one authenticator at once.
pub(super) const MAX_CHANNELS: usize = 32;
/// Draws before giving up on finding a free id; with at most 32 of 2^32 taken, a second draw
/// is already a 1-in-100-million event, so failing here means the random source is broken.
const ALLOCATION_ATTEMPTS: usize = 8;

/// Where fresh channel ids come from; `None` when the random source fails.
pub(super) type CidSource = fn() -> Option<u32>;

pub(super) fn random_cid() -> Option<u32> {
    random_array::<4>().ok().map(u32::from_be_bytes)
}

pub(super) struct Channels {
    /// Least recently used first, with each channel's origin.
    allocated: VecDeque<(u32, Origin)>,
    capacity: usize,
    source: CidSource,
}

impl Channels {
    pub fn new(capacity: usize, source: CidSource) -> Self {
        Self {
            allocated: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            source,
        }
    }

    pub fn contains(&self, cid: u32) -> bool {
        self.allocated.iter().any(|(c, _)| *c == cid)
    }

    /// The origin of the allocated channel `cid`.
    pub fn origin(&self, cid: u32) -> Option<&Origin> {
        self.allocated
            .iter()
            .find(|(c, _)| *c == cid)
            .map(|(_, o)| o)
    }

    /// The origins of all allocated channels.
    pub fn origins(&self) -> impl Iterator<Item = &Origin> {
        self.allocated.iter().map(|(_, o)| o)
    }

    /// Marks `cid` as just used, if allocated.
    pub fn touch(&mut self, cid: u32) {
        if let Some(i) = self.allocated.iter().position(|(c, _)| *c == cid)
            && let Some(entry) = self.allocated.remove(i)
        {
            self.allocated.push_back(entry);
        }
    }

    /// A fresh channel id, evicting the least recently used channel other than `keep` when the
    /// table is full. `None` if no free id could be drawn.
    pub fn allocate(&mut self, keep: Option<u32>) -> Option<u32> {
        let cid = (0..ALLOCATION_ATTEMPTS)
            .filter_map(|_| (self.source)())
            .find(|c| *c != RESERVED_CID && *c != BROADCAST_CID && !self.contains(*c))?;
        if self.allocated.len() >= self.capacity {
            let victim = self.allocated.iter().position(|(c, _)| Some(*c) != keep);
            if let Some(i) = victim {
                self.allocated.remove(i);
            }
        }
        self.allocated.push_back((cid, Origin::ctaphid_channel()));
        Some(cid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn allocates_distinct_valid_random_ids() {
        let mut channels = Channels::new(MAX_CHANNELS, random_cid);
        let mut seen = Vec::new();
        for _ in 0..MAX_CHANNELS {
            let cid = channels.allocate(None).unwrap();
            assert!(cid != RESERVED_CID && cid != BROADCAST_CID);
            assert!(!seen.contains(&cid));
            seen.push(cid);
        }
        assert!(seen.iter().all(|c| channels.contains(*c)));
        // Every channel is its own origin.
        let origins: Vec<_> = seen.iter().map(|c| channels.origin(*c).unwrap()).collect();
        assert!(
            origins
                .iter()
                .enumerate()
                .all(|(i, a)| origins[i + 1..].iter().all(|b| a != b))
        );
        assert!(!channels.contains(RESERVED_CID) && !channels.contains(BROADCAST_CID));
    }

    #[test]
    fn never_hands_out_reserved_broadcast_or_taken_ids() {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        // 0, 0xFFFFFFFF, 5, 5, 6: the reserved, broadcast and taken ids are skipped.
        fn scripted() -> Option<u32> {
            const IDS: [u32; 5] = [0, BROADCAST_CID, 5, 5, 6];
            let i = NEXT.fetch_add(1, Ordering::SeqCst) as usize;
            IDS.get(i).copied()
        }
        let mut channels = Channels::new(4, scripted);
        assert_eq!(channels.allocate(None), Some(5));
        assert_eq!(channels.allocate(None), Some(6));
        // The script is exhausted: no id, nothing evicted.
        assert_eq!(channels.allocate(None), None);
        assert!(channels.contains(5) && channels.contains(6));
    }

    #[test]
    fn a_full_table_forgets_the_least_recently_used_but_kept_channel() {
        let mut channels = Channels::new(3, random_cid);
        let a = channels.allocate(None).unwrap();
        let b = channels.allocate(None).unwrap();
        let c = channels.allocate(None).unwrap();
        channels.touch(a); // order now b, c, a
        let d = channels.allocate(Some(b)).unwrap(); // b is busy: c goes
        assert!(channels.contains(a) && channels.contains(b) && channels.contains(d));
        assert!(!channels.contains(c));
        let e = channels.allocate(None).unwrap(); // b is least recent now
        assert!(!channels.contains(b) && channels.contains(e));
    }

    #[test]
    fn a_failing_random_source_allocates_nothing() {
        let mut channels = Channels::new(4, || None);
        assert_eq!(channels.allocate(None), None);
    }
}
