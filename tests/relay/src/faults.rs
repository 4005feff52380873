//! Adversarial test mode (`--test-faults`): the relay misbehaves on delivery of one chosen
//! frame as a malicious relay would, while still labelling every frame with the number the
//! receiver asked for, so the receiver's sequence check (§5.3) passes and only the Noise
//! layer (§4.1) can notice.
//!
//! A fault names a session (or "the next session created"), a direction and a number `seq`:
//! - `drop`: frame `seq + 1` is served as `seq` (as if `seq` had been lost);
//! - `duplicate`, `replay`: frame `seq - 1` is served again as `seq`;
//! - `reorder`: frames `seq` and `seq + 1` are served swapped;
//! - `corrupt`: frame `seq` with one bit flipped;
//! - `inject`: random bytes of frame `seq`'s length.
//!
//! Each fault fires once: a later GET of the same number gets the genuine frame. `drop` and
//! `reorder` hold frame `seq` back until `seq + 1` is stored. The earlier frame a duplicate
//! needs is copied when it is stored, since the GET of `seq` acknowledges and drops it.

use axum::body::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::RelayError;
use crate::ids::Id;
use crate::queue::Dir;

/// At most this many faults wait to fire.
pub const MAX_ARMED: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Drop,
    Duplicate,
    Replay,
    Reorder,
    Corrupt,
    Inject,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Duplicate => "duplicate",
            Self::Replay => "replay",
            Self::Reorder => "reorder",
            Self::Corrupt => "corrupt",
            Self::Inject => "inject",
        }
    }

    fn needs_earlier(self) -> bool {
        matches!(self, Self::Duplicate | Self::Replay)
    }
}

/// The body of `POST /v1/test/faults`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// 32 hex digits, or null (or absent) for the next session created.
    #[serde(default)]
    pub session: Option<String>,
    pub dir: Dir,
    pub seq: u64,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    NextSession,
    Session(Id),
}

struct Fault {
    target: Target,
    dir: Dir,
    seq: u64,
    action: Action,
    /// A copy of frame `seq - 1`, for `duplicate` and `replay`.
    earlier: Option<Bytes>,
    /// `reorder` after its first half: frame `seq`, to be served as `seq + 1`.
    swapped: Option<Bytes>,
}

impl Fault {
    fn is_for(&self, session: Id, dir: Dir) -> bool {
        self.target == Target::Session(session) && self.dir == dir
    }
}

/// What the GET of one frame delivers.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Genuine,
    /// These bytes, labelled with the number asked for.
    Replaced {
        bytes: Bytes,
        action: Action,
    },
    /// Not yet: the fault needs a later frame first.
    Hold,
}

#[derive(Default)]
pub struct Faults {
    armed: Vec<Fault>,
    next_id: u64,
    fired: u64,
}

impl Faults {
    pub fn armed(&self) -> usize {
        self.armed.len()
    }

    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// Arms a fault; `earlier` is frame `seq - 1` if the session holds it now.
    pub fn arm(
        &mut self,
        target: Target,
        dir: Dir,
        seq: u64,
        action: Action,
        earlier: Option<Bytes>,
    ) -> Result<u64, RelayError> {
        if action.needs_earlier() && seq == 0 {
            return Err(RelayError::bad_request(
                "duplicate and replay need seq >= 1 (they serve frame seq - 1)",
            ));
        }
        if self.armed.len() >= MAX_ARMED {
            return Err(RelayError::queue_full("too many armed faults"));
        }
        self.next_id += 1;
        self.armed.push(Fault {
            target,
            dir,
            seq,
            action,
            earlier,
            swapped: None,
        });
        Ok(self.next_id)
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    /// A session was created: faults for "the next session" now name it.
    pub fn bind_next(&mut self, session: Id) {
        for fault in &mut self.armed {
            if fault.target == Target::NextSession {
                fault.target = Target::Session(session);
            }
        }
    }

    /// The session is gone; its faults can never fire.
    pub fn forget(&mut self, session: Id) {
        self.armed.retain(|f| f.target != Target::Session(session));
    }

    /// A frame was stored: keep a copy if a duplicate will need it.
    pub fn on_stored(&mut self, session: Id, dir: Dir, seq: u64, frame: &Bytes) {
        for fault in &mut self.armed {
            if fault.is_for(session, dir)
                && fault.action.needs_earlier()
                && fault.seq == seq + 1
                && fault.earlier.is_none()
            {
                fault.earlier = Some(frame.clone());
            }
        }
    }

    /// Frame `seq` (stored as `frame`; `following` is `seq + 1` if stored) is about to be
    /// served: what to deliver instead, if anything.
    pub fn on_deliver(
        &mut self,
        session: Id,
        dir: Dir,
        seq: u64,
        frame: &Bytes,
        following: Option<&Bytes>,
    ) -> Result<Delivery, RelayError> {
        // The second half of a reorder: frame seq - 1, served as seq.
        if let Some(index) = self.armed.iter().position(|f| {
            f.is_for(session, dir) && f.swapped.is_some() && f.seq.checked_add(1) == Some(seq)
        }) {
            let fault = self.armed.remove(index);
            return Ok(match fault.swapped {
                Some(bytes) => Delivery::Replaced {
                    bytes,
                    action: fault.action,
                },
                None => Delivery::Genuine,
            });
        }
        let Some(index) = self
            .armed
            .iter()
            .position(|f| f.is_for(session, dir) && f.swapped.is_none() && f.seq == seq)
        else {
            return Ok(Delivery::Genuine);
        };
        let action = self.armed[index].action;
        let bytes = match action {
            Action::Drop => match following {
                Some(next) => next.clone(),
                None => return Ok(Delivery::Hold),
            },
            Action::Reorder => match following {
                Some(next) => {
                    // Fires its first half; the fault stays armed for `seq + 1`.
                    self.armed[index].swapped = Some(frame.clone());
                    self.fired += 1;
                    return Ok(Delivery::Replaced {
                        bytes: next.clone(),
                        action,
                    });
                }
                None => return Ok(Delivery::Hold),
            },
            Action::Duplicate | Action::Replay => match self.armed[index].earlier.take() {
                Some(earlier) => earlier,
                // Cannot happen: frame seq - 1 is stored before seq, and arming refuses a
                // fault whose earlier frame is already gone. Deliver honestly.
                None => {
                    self.armed.remove(index);
                    return Ok(Delivery::Genuine);
                }
            },
            Action::Corrupt => flip_one_bit(frame)?,
            Action::Inject => random_bytes(frame.len())?,
        };
        self.armed.remove(index);
        self.fired += 1;
        Ok(Delivery::Replaced { bytes, action })
    }
}

fn flip_one_bit(frame: &Bytes) -> Result<Bytes, RelayError> {
    let mut bytes = frame.to_vec();
    let mut pick = [0u8; 8];
    getrandom::fill(&mut pick).map_err(|_| RelayError::no_randomness())?;
    let pick = u64::from_le_bytes(pick);
    let bits = u64::try_from(bytes.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(8);
    if bits == 0 {
        return Ok(frame.clone());
    }
    let bit = pick % bits;
    let index = usize::try_from(bit / 8).unwrap_or(0);
    if let Some(byte) = bytes.get_mut(index) {
        *byte ^= 1 << (bit % 8);
    }
    Ok(Bytes::from(bytes))
}

fn random_bytes(len: usize) -> Result<Bytes, RelayError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|_| RelayError::no_randomness())?;
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Id {
        Id::from_bytes(&[1; 16]).unwrap()
    }

    fn frame(n: u8) -> Bytes {
        Bytes::from(vec![n; 40])
    }

    fn replaced(delivery: Delivery) -> Bytes {
        match delivery {
            Delivery::Replaced { bytes, .. } => bytes,
            other => panic!("expected a replaced frame, got {other:?}"),
        }
    }

    #[test]
    fn drop_waits_for_the_following_frame_and_fires_once() {
        let mut faults = Faults::default();
        faults
            .arm(Target::Session(id()), Dir::Up, 2, Action::Drop, None)
            .unwrap();
        let hold = faults.on_deliver(id(), Dir::Up, 2, &frame(2), None);
        assert_eq!(hold.unwrap(), Delivery::Hold);
        let served = faults.on_deliver(id(), Dir::Up, 2, &frame(2), Some(&frame(3)));
        assert_eq!(replaced(served.unwrap()), frame(3));
        let again = faults.on_deliver(id(), Dir::Up, 2, &frame(2), Some(&frame(3)));
        assert_eq!(again.unwrap(), Delivery::Genuine);
        assert_eq!((faults.armed(), faults.fired()), (0, 1));
    }

    #[test]
    fn other_direction_and_session_untouched() {
        let mut faults = Faults::default();
        faults
            .arm(Target::Session(id()), Dir::Down, 0, Action::Inject, None)
            .unwrap();
        let other = Id::from_bytes(&[2; 16]).unwrap();
        for (session, dir) in [(id(), Dir::Up), (other, Dir::Down)] {
            let delivery = faults.on_deliver(session, dir, 0, &frame(0), None);
            assert_eq!(delivery.unwrap(), Delivery::Genuine);
        }
        let injected = replaced(
            faults
                .on_deliver(id(), Dir::Down, 0, &frame(0), None)
                .unwrap(),
        );
        assert_eq!(injected.len(), 40);
    }

    #[test]
    fn duplicate_serves_the_copy_of_the_earlier_frame() {
        let mut faults = Faults::default();
        assert!(
            faults
                .arm(Target::NextSession, Dir::Up, 0, Action::Duplicate, None)
                .is_err()
        );
        faults
            .arm(Target::NextSession, Dir::Up, 1, Action::Replay, None)
            .unwrap();
        faults.bind_next(id());
        faults.on_stored(id(), Dir::Up, 0, &frame(0));
        faults.on_stored(id(), Dir::Up, 1, &frame(1));
        let served = faults
            .on_deliver(id(), Dir::Up, 1, &frame(1), None)
            .unwrap();
        assert_eq!(replaced(served), frame(0));
    }

    #[test]
    fn reorder_swaps_two_frames() {
        let mut faults = Faults::default();
        faults
            .arm(Target::Session(id()), Dir::Up, 0, Action::Reorder, None)
            .unwrap();
        let first = faults.on_deliver(id(), Dir::Up, 0, &frame(0), Some(&frame(1)));
        assert_eq!(replaced(first.unwrap()), frame(1));
        let second = faults.on_deliver(id(), Dir::Up, 1, &frame(1), None);
        assert_eq!(replaced(second.unwrap()), frame(0));
        assert_eq!((faults.armed(), faults.fired()), (0, 1));
    }

    #[test]
    fn corrupt_flips_exactly_one_bit() {
        let mut faults = Faults::default();
        faults
            .arm(Target::Session(id()), Dir::Up, 5, Action::Corrupt, None)
            .unwrap();
        let served = replaced(
            faults
                .on_deliver(id(), Dir::Up, 5, &frame(5), None)
                .unwrap(),
        );
        let flipped: u32 = served
            .iter()
            .zip(frame(5).iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1);
    }

    #[test]
    fn forget_and_bounded() {
        let mut faults = Faults::default();
        for _ in 0..MAX_ARMED {
            faults
                .arm(Target::Session(id()), Dir::Up, 1, Action::Corrupt, None)
                .unwrap();
        }
        assert!(
            faults
                .arm(Target::Session(id()), Dir::Up, 1, Action::Corrupt, None)
                .is_err()
        );
        faults.forget(id());
        assert_eq!(faults.armed(), 0);
    }
}
