//! One direction of a session (link.md §5.3, §5.4): the frames a sender has stored and the
//! receiver has not yet acknowledged, numbered from `base`.
//!
//! Invariants: the stored frames are exactly `base..next()`, in order; `bytes` is the sum of
//! their lengths; a number below `base` was stored once and has been acknowledged (a GET
//! asked for a later number), so it can never be served again.

use std::collections::VecDeque;

use axum::body::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::RelayError;

/// `up` is phone → PC (Noise initiator → responder), `down` is PC → phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    Up,
    Down,
}

impl Dir {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "up" => Some(Self::Up),
            "down" => Some(Self::Down),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// What the relay lets one direction hold before a sender gets `429`.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub frames: usize,
    pub bytes: usize,
    /// What is left of the relay-wide byte budget.
    pub relay_room: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Stored,
    /// A retry: the same bytes are stored under this number, or the number was already
    /// acknowledged by the receiver (which therefore had it).
    AlreadyStored,
}

#[derive(Debug, Default)]
pub struct FrameQueue {
    base: u64,
    frames: VecDeque<Bytes>,
    bytes: usize,
}

impl FrameQueue {
    /// The number the next new frame must carry.
    pub fn next(&self) -> u64 {
        self.base + self.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn frames(&self) -> usize {
        self.frames.len()
    }

    fn len(&self) -> u64 {
        u64::try_from(self.frames.len()).unwrap_or(u64::MAX)
    }

    fn index(&self, seq: u64) -> Option<usize> {
        seq.checked_sub(self.base)
            .and_then(|offset| usize::try_from(offset).ok())
    }

    /// Stores `frame` as number `seq`, or recognises a retry.
    pub fn append(
        &mut self,
        seq: u64,
        frame: Bytes,
        limits: QueueLimits,
    ) -> Result<Appended, RelayError> {
        if seq < self.base {
            return Ok(Appended::AlreadyStored);
        }
        if let Some(stored) = self.index(seq).and_then(|i| self.frames.get(i)) {
            return if *stored == frame {
                Ok(Appended::AlreadyStored)
            } else {
                Err(RelayError::conflict(
                    "other bytes are already stored under this number",
                ))
            };
        }
        if seq != self.next() {
            return Err(RelayError::conflict("seq is not the next frame number"));
        }
        if self.frames.len() >= limits.frames {
            return Err(RelayError::queue_full("too many unacknowledged frames"));
        }
        if self.bytes + frame.len() > limits.bytes {
            return Err(RelayError::queue_full("too many unacknowledged bytes"));
        }
        if frame.len() > limits.relay_room {
            return Err(RelayError::queue_full("the relay's frame memory is full"));
        }
        self.bytes += frame.len();
        self.frames.push_back(frame);
        Ok(Appended::Stored)
    }

    /// Drops the stored frames numbered below `seq` (a receiver asking for `seq` has the
    /// earlier ones); returns the bytes freed. Numbers not yet stored are not acknowledged
    /// ahead of time, so a sender never finds its next number already "dropped".
    pub fn acknowledge(&mut self, seq: u64) -> usize {
        let mut freed = 0;
        while self.base < seq {
            let Some(frame) = self.frames.pop_front() else {
                break;
            };
            freed += frame.len();
            self.base += 1;
        }
        self.bytes -= freed;
        freed
    }

    /// Frame `seq` if stored; `None` if it has not arrived yet; `410` if it was dropped.
    pub fn get(&self, seq: u64) -> Result<Option<&Bytes>, RelayError> {
        if seq < self.base {
            return Err(RelayError::gone());
        }
        Ok(self.index(seq).and_then(|i| self.frames.get(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    const LIMITS: QueueLimits = QueueLimits {
        frames: 3,
        bytes: 10,
        relay_room: 100,
    };

    fn frame(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn append_in_order_and_retry() {
        let mut q = FrameQueue::default();
        assert_eq!(q.append(0, frame("a"), LIMITS), Ok(Appended::Stored));
        assert_eq!(q.append(0, frame("a"), LIMITS), Ok(Appended::AlreadyStored));
        let differs = q.append(0, frame("b"), LIMITS).unwrap_err();
        assert_eq!(differs.status, StatusCode::CONFLICT);
        let ahead = q.append(2, frame("c"), LIMITS).unwrap_err();
        assert_eq!(ahead.status, StatusCode::CONFLICT);
        assert_eq!(q.append(1, frame("bb"), LIMITS), Ok(Appended::Stored));
        assert_eq!((q.next(), q.frames(), q.bytes()), (2, 2, 3));
    }

    #[test]
    fn limits_give_429() {
        let mut q = FrameQueue::default();
        for seq in 0..3 {
            q.append(seq, frame("x"), LIMITS).unwrap();
        }
        let full = q.append(3, frame("x"), LIMITS).unwrap_err();
        assert_eq!(full.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(q.acknowledge(1), 1);
        q.append(3, frame("x"), LIMITS).unwrap();

        let mut q = FrameQueue::default();
        q.append(0, frame("123456"), LIMITS).unwrap();
        let bytes = q.append(1, frame("12345"), LIMITS).unwrap_err();
        assert_eq!(bytes.status, StatusCode::TOO_MANY_REQUESTS);
        let room = QueueLimits {
            relay_room: 3,
            ..LIMITS
        };
        let relay = q.append(1, frame("1234"), room).unwrap_err();
        assert_eq!(relay.status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn acknowledge_drops_and_gone() {
        let mut q = FrameQueue::default();
        for (seq, text) in ["a", "bb", "ccc"].iter().enumerate() {
            q.append(u64::try_from(seq).unwrap(), frame(text), LIMITS)
                .unwrap();
        }
        assert_eq!(q.acknowledge(2), 3);
        assert_eq!(q.get(1).unwrap_err().status, StatusCode::GONE);
        assert_eq!(q.get(2).unwrap(), Some(&frame("ccc")));
        assert_eq!(q.get(3).unwrap(), None);
        // A retry of an acknowledged frame is accepted: the receiver had it.
        assert_eq!(
            q.append(0, frame("zz"), LIMITS),
            Ok(Appended::AlreadyStored)
        );
        // Asking far ahead acknowledges only what is stored.
        assert_eq!(q.acknowledge(10), 3);
        assert_eq!((q.next(), q.bytes(), q.frames()), (3, 0, 0));
        assert_eq!(q.append(3, frame("d"), LIMITS), Ok(Appended::Stored));
    }
}
