//! State that a request leaves for follow-up commands, kept per request [`Origin`]:
//! getNextAssertion after a getAssertion without an allowList (CTAP 2.1 §6.3), and
//! enumerateRPsGetNextRP / enumerateCredentialsGetNextCredential after their "begin"
//! subcommand (§6.8.3, §6.8.4).
//!
//! The follow-up commands carry no token: whoever may send them reads what the sequence holds
//! (user names, user handles, public keys, further signed assertions). The phone is shared by
//! every CTAPHID channel, every paired PC's link session and the app itself, so the state
//! belongs to the origin that began it.
//!
//! Invariants:
//! - A follow-up is served only from the origin that began the sequence; from any other
//!   origin it is CTAP2_ERR_NOT_ALLOWED, as when no sequence exists, and the owner's
//!   sequence is left as it was.
//! - CTAP's rule "any other command ends the sequence" (§6.3, §6.8) is applied per origin: a
//!   command ends only its own origin's sequence. A command from another origin (a second PC,
//!   another channel) neither ends nor disturbs it; it may begin a sequence of its own.
//! - authenticatorReset ends every origin's sequence (the passkeys they list are gone), and
//!   an origin that ends (a closed connection or link session) loses its sequence at once.
//! - At most [`MAX_ORIGINS`] sequences are kept; beginning one more forgets the least
//!   recently used. A peer must run that many sequences of its own to push out another's, and
//!   even then the owner only has to begin again: nothing of its sequence is served to anyone
//!   else.

use super::credential_management::Enumeration;
use super::get_assertion::PendingAssertions;
use crate::request::Origin;

/// Sequences kept at once: more than the clients that plausibly enumerate concurrently.
pub const MAX_ORIGINS: usize = 8;

/// One origin's sequence in progress. The two kinds exclude each other: beginning one is a
/// command that ends the other.
pub enum FollowUp {
    Assertions(PendingAssertions),
    Enumeration(Enumeration),
}

/// The sequences in progress, least recently used first, at most one per origin.
#[derive(Default)]
pub struct FollowUps {
    entries: Vec<(Origin, FollowUp)>,
}

impl FollowUps {
    /// Applies "any other command ends the sequence" for a command from `origin`:
    /// `continues_assertions` for getNextAssertion, `continues_enumeration` for
    /// credentialManagement (whose "begin" subcommands replace the enumeration themselves).
    pub fn before_command(
        &mut self,
        origin: &Origin,
        continues_assertions: bool,
        continues_enumeration: bool,
    ) {
        let keep = match self.get(origin) {
            None => return,
            Some(FollowUp::Assertions(_)) => continues_assertions,
            Some(FollowUp::Enumeration(_)) => continues_enumeration,
        };
        if !keep {
            self.end(origin);
        }
    }

    /// Begins `origin`'s sequence, replacing any it had.
    pub fn begin(&mut self, origin: &Origin, follow_up: FollowUp) {
        self.end(origin);
        if self.entries.len() >= MAX_ORIGINS {
            self.entries.remove(0);
        }
        self.entries.push((origin.clone(), follow_up));
    }

    /// Takes `origin`'s pending assertions out (put them back with [`begin`](Self::begin) if
    /// some remain). Another origin's are never returned.
    pub fn take_assertions(&mut self, origin: &Origin) -> Option<PendingAssertions> {
        let i = self
            .entries
            .iter()
            .position(|(o, f)| o == origin && matches!(f, FollowUp::Assertions(_)))?;
        match self.entries.remove(i).1 {
            FollowUp::Assertions(pending) => Some(pending),
            FollowUp::Enumeration(_) => None,
        }
    }

    /// `origin`'s enumeration in progress, marked as just used.
    pub fn enumeration(&mut self, origin: &Origin) -> Option<&mut Enumeration> {
        let i = self.entries.iter().position(|(o, _)| o == origin)?;
        let entry = self.entries.remove(i);
        self.entries.push(entry);
        match self.entries.last_mut() {
            Some((_, FollowUp::Enumeration(e))) => Some(e),
            _ => None,
        }
    }

    /// Ends `origin`'s sequence, if any.
    pub fn end(&mut self, origin: &Origin) {
        self.entries.retain(|(o, _)| o != origin);
    }

    /// Ends every sequence (authenticatorReset).
    pub fn end_all(&mut self) {
        self.entries.clear();
    }

    fn get(&self, origin: &Origin) -> Option<&FollowUp> {
        self.entries
            .iter()
            .find(|(o, _)| o == origin)
            .map(|(_, f)| f)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rps(names: &[&str]) -> FollowUp {
        FollowUp::Enumeration(Enumeration::Rps(
            names.iter().map(|n| ((*n).to_owned(), None)).collect(),
        ))
    }

    fn rp_count(f: &mut FollowUps, origin: &Origin) -> Option<usize> {
        match f.enumeration(origin)? {
            Enumeration::Rps(rest) => Some(rest.len()),
            Enumeration::Credentials(_) => None,
        }
    }

    #[test]
    fn another_origin_neither_reads_nor_ends_the_sequence() {
        let (a, b) = (Origin::ctaphid_channel(), Origin::ctaphid_channel());
        let mut f = FollowUps::default();
        f.begin(&a, rps(&["x.example", "y.example"]));
        assert!(f.enumeration(&b).is_none());
        assert!(f.take_assertions(&b).is_none());
        // b's own unrelated commands do not end a's enumeration.
        f.before_command(&b, false, false);
        assert_eq!(rp_count(&mut f, &a), Some(2));
        // a's own other command does.
        f.before_command(&a, true, false);
        assert!(f.enumeration(&a).is_none());
    }

    #[test]
    fn a_full_table_forgets_the_least_recently_used() {
        let origins: Vec<Origin> = (0..=MAX_ORIGINS).map(|_| Origin::app()).collect();
        let mut f = FollowUps::default();
        for o in &origins[..MAX_ORIGINS] {
            f.begin(o, rps(&["x.example"]));
        }
        // Using the first makes the second the least recently used.
        assert_eq!(rp_count(&mut f, &origins[0]), Some(1));
        f.begin(&origins[MAX_ORIGINS], rps(&["y.example"]));
        assert_eq!(f.len(), MAX_ORIGINS);
        assert!(f.enumeration(&origins[1]).is_none());
        assert_eq!(rp_count(&mut f, &origins[0]), Some(1));
        f.end_all();
        assert_eq!(f.len(), 0);
    }
}
