//! Fragmentation of link messages into GATT values (proto/link.md §6.4), after the framing of
//! FIDO over BLE (CTAP 2.1 §11.4): an initial fragment `CMD ‖ length (2 bytes, big-endian) ‖
//! data`, then continuation fragments `SEQ ‖ data` with SEQ = 0, 1, .., 0x7f, 0, 1, ...
//!
//! Invariants: `fragment` cuts every fragment to exactly the given length except the last, and
//! never emits a fragment without message data (the one exception: the initial fragment of
//! an empty message). The `Reassembler` accepts a message only as a complete, in-order run of
//! fragments: any fragment that cannot continue the current state is an error, and after an
//! error it is back to idle (the link treats the error as fatal anyway). Pure code, no I/O.

/// The command byte of a link message (FIDO BLE's MSG, CTAP 2.1 §11.4.1). Other values with
/// the top bit set are reserved and refused.
pub const CMD_MSG: u8 = 0x83;
/// The smallest fragment: ATT_MTU 23 - 3 (the default MTU; CTAP 2.1 §11.4 allows no less).
pub const MIN_FRAGMENT_LEN: usize = 20;
/// The largest fragment: the longest attribute value (Bluetooth Core 5.4 Vol 3 Part F §3.2.9).
pub const MAX_FRAGMENT_LEN: usize = 512;
/// Largest message: the link's limit, which the 2-byte length field also sets.
pub const MAX_MESSAGE_LEN: usize = crate::link::transport::MAX_LINK_MESSAGE;
/// The ATT header of a write request or notification: opcode and handle.
const ATT_HEADER_LEN: usize = 3;
const INIT_HEADER_LEN: usize = 3;
const CONT_HEADER_LEN: usize = 1;
const SEQ_MASK: u8 = 0x7f;
const COMMAND_BIT: u8 = 0x80;

/// Why a message could not be cut, or fragments could not be put back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("message of {0} bytes exceeds 65535")]
    MessageTooLong(usize),
    #[error("fragment length {0} is outside 20..=512")]
    BadFragmentLength(usize),
    #[error("fragment carries no message data")]
    Empty,
    #[error("fragment of {0} bytes exceeds 512")]
    FragmentTooLong(usize),
    #[error("initial fragment is shorter than its 3-byte header")]
    ShortInit,
    #[error("unknown command byte {0:#04x}")]
    UnknownCommand(u8),
    #[error("continuation fragment without an initial fragment")]
    UnexpectedContinuation,
    #[error("initial fragment before the previous message was complete")]
    UnexpectedInit,
    #[error("continuation fragment {got} where {expected} was due")]
    WrongSequence { expected: u8, got: u8 },
    #[error("fragments carry more data than the declared length")]
    Overlong,
}

/// The fragment length for an ATT MTU: MTU - 3, at least 20, at most 512.
pub fn fragment_len_for_mtu(att_mtu: u16) -> usize {
    usize::from(att_mtu)
        .saturating_sub(ATT_HEADER_LEN)
        .clamp(MIN_FRAGMENT_LEN, MAX_FRAGMENT_LEN)
}

/// Cuts `message` into fragments of `fragment_len` bytes (the last may be shorter).
pub fn fragment(message: &[u8], fragment_len: usize) -> Result<Vec<Vec<u8>>, FragmentError> {
    if !(MIN_FRAGMENT_LEN..=MAX_FRAGMENT_LEN).contains(&fragment_len) {
        return Err(FragmentError::BadFragmentLength(fragment_len));
    }
    let length =
        u16::try_from(message.len()).map_err(|_| FragmentError::MessageTooLong(message.len()))?;
    let (first, mut rest) = message.split_at(message.len().min(fragment_len - INIT_HEADER_LEN));
    let continuations = rest.len().div_ceil(fragment_len - CONT_HEADER_LEN);
    let mut fragments = Vec::with_capacity(1 + continuations);
    let mut init = Vec::with_capacity(INIT_HEADER_LEN + first.len());
    init.push(CMD_MSG);
    init.extend_from_slice(&length.to_be_bytes());
    init.extend_from_slice(first);
    fragments.push(init);
    let mut seq = 0u8;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(fragment_len - CONT_HEADER_LEN));
        let mut cont = Vec::with_capacity(CONT_HEADER_LEN + chunk.len());
        cont.push(seq);
        cont.extend_from_slice(chunk);
        fragments.push(cont);
        seq = seq.wrapping_add(1) & SEQ_MASK;
        rest = tail;
    }
    Ok(fragments)
}

/// A message being put back together.
struct Partial {
    expected_len: usize,
    data: Vec<u8>,
    next_seq: u8,
}

/// Puts fragments back into messages, refusing anything out of order.
#[derive(Default)]
pub struct Reassembler {
    partial: Option<Partial>,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// True between messages (no fragment of an unfinished message is held).
    pub fn is_idle(&self) -> bool {
        self.partial.is_none()
    }

    /// Takes the next fragment; returns the message it completes, if any.
    pub fn push(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, FragmentError> {
        let result = self.push_inner(fragment);
        if result.is_err() {
            self.partial = None;
        }
        result
    }

    fn push_inner(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, FragmentError> {
        let (&header, body) = fragment.split_first().ok_or(FragmentError::Empty)?;
        if fragment.len() > MAX_FRAGMENT_LEN {
            return Err(FragmentError::FragmentTooLong(fragment.len()));
        }
        if header & COMMAND_BIT != 0 {
            if header != CMD_MSG {
                return Err(FragmentError::UnknownCommand(header));
            }
            if self.partial.is_some() {
                return Err(FragmentError::UnexpectedInit);
            }
            let [hi, lo, data @ ..] = body else {
                return Err(FragmentError::ShortInit);
            };
            let expected_len = usize::from(u16::from_be_bytes([*hi, *lo]));
            if data.len() > expected_len {
                return Err(FragmentError::Overlong);
            }
            let mut partial = Partial {
                expected_len,
                data: Vec::with_capacity(expected_len),
                next_seq: 0,
            };
            partial.data.extend_from_slice(data);
            return Ok(self.complete_or_keep(partial));
        }
        let mut partial = self
            .partial
            .take()
            .ok_or(FragmentError::UnexpectedContinuation)?;
        if header != partial.next_seq {
            return Err(FragmentError::WrongSequence {
                expected: partial.next_seq,
                got: header,
            });
        }
        if body.is_empty() {
            return Err(FragmentError::Empty);
        }
        if body.len() > partial.expected_len - partial.data.len() {
            return Err(FragmentError::Overlong);
        }
        partial.data.extend_from_slice(body);
        partial.next_seq = (partial.next_seq + 1) & SEQ_MASK;
        Ok(self.complete_or_keep(partial))
    }

    fn complete_or_keep(&mut self, partial: Partial) -> Option<Vec<u8>> {
        if partial.data.len() == partial.expected_len {
            Some(partial.data)
        } else {
            self.partial = Some(partial);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reassemble(fragments: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, FragmentError> {
        let mut reassembler = Reassembler::new();
        let mut out = Vec::new();
        for fragment in fragments {
            if let Some(message) = reassembler.push(fragment)? {
                out.push(message);
            }
        }
        assert!(reassembler.is_idle(), "left over a partial message");
        Ok(out)
    }

    #[test]
    fn fragment_len_follows_the_mtu_within_bounds() {
        assert_eq!(fragment_len_for_mtu(0), 20);
        assert_eq!(fragment_len_for_mtu(23), 20);
        assert_eq!(fragment_len_for_mtu(24), 21);
        assert_eq!(fragment_len_for_mtu(185), 182);
        assert_eq!(fragment_len_for_mtu(515), 512);
        assert_eq!(fragment_len_for_mtu(517), 512);
        assert_eq!(fragment_len_for_mtu(u16::MAX), 512);
    }

    #[test]
    fn small_messages_fit_one_fragment() {
        assert_eq!(fragment(b"", 20).unwrap(), vec![vec![0x83, 0, 0]]);
        assert_eq!(
            fragment(&[7; 17], 20).unwrap(),
            vec![[&[0x83, 0, 17][..], &[7; 17]].concat()]
        );
        let two = fragment(&[7; 18], 20).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[1], vec![0, 7]);
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert_eq!(
            fragment(b"x", 19),
            Err(FragmentError::BadFragmentLength(19))
        );
        assert_eq!(
            fragment(b"x", 513),
            Err(FragmentError::BadFragmentLength(513))
        );
        assert_eq!(
            fragment(&vec![0; 65_536], 512),
            Err(FragmentError::MessageTooLong(65_536))
        );
        assert_eq!(fragment(&vec![0; 65_535], 20).unwrap().len(), 3450);
    }

    #[test]
    fn sequence_numbers_wrap_after_0x7f() {
        let message: Vec<u8> = (0..17 + 19 * 130).map(|i| (i % 251) as u8).collect();
        let fragments = fragment(&message, 20).unwrap();
        assert_eq!(fragments.len(), 131);
        let seqs: Vec<u8> = fragments[1..].iter().map(|f| f[0]).collect();
        assert_eq!(seqs[0x7f], 0x7f);
        assert_eq!(seqs[0x80], 0);
        assert_eq!(seqs[0x81], 1);
        assert_eq!(reassemble(&fragments).unwrap(), vec![message]);
    }

    #[test]
    fn strict_reassembly_refuses_malformed_runs() {
        let message = vec![9u8; 50];
        let f = fragment(&message, 20).unwrap(); // init 17 + 19 + 14
        assert_eq!(f.len(), 3);
        let cases: Vec<(Vec<Vec<u8>>, FragmentError)> = vec![
            (vec![vec![]], FragmentError::Empty),
            (vec![f[0].clone(), vec![0]], FragmentError::Empty),
            (vec![vec![0x83, 0]], FragmentError::ShortInit),
            (vec![vec![0x81, 0, 0]], FragmentError::UnknownCommand(0x81)),
            (vec![f[1].clone()], FragmentError::UnexpectedContinuation),
            (
                vec![f[0].clone(), f[0].clone()],
                FragmentError::UnexpectedInit,
            ),
            (
                vec![f[0].clone(), f[2].clone()],
                FragmentError::WrongSequence {
                    expected: 0,
                    got: 1,
                },
            ),
            (vec![vec![0x83, 0, 1, 1, 2]], FragmentError::Overlong),
            (
                vec![f[0].clone(), f[1].clone(), [&f[2][..], &[0]].concat()],
                FragmentError::Overlong,
            ),
            (
                vec![[&[0x83, 0xff, 0xff][..], &[0; 510]].concat()],
                FragmentError::FragmentTooLong(513),
            ),
        ];
        for (fragments, error) in cases {
            assert_eq!(reassemble(&fragments), Err(error), "{fragments:?}");
        }
    }

    #[test]
    fn an_error_resets_to_idle() {
        let f = fragment(&[1; 40], 20).unwrap();
        let mut reassembler = Reassembler::new();
        assert_eq!(reassembler.push(&f[0]), Ok(None));
        assert!(!reassembler.is_idle());
        assert!(reassembler.push(&f[0]).is_err());
        assert!(reassembler.is_idle());
        assert_eq!(reassembler.push(&f[0]), Ok(None));
        assert_eq!(reassembler.push(&f[1]), Ok(None));
        assert_eq!(reassembler.push(&f[2]), Ok(Some(vec![1; 40])));
    }

    proptest! {
        #[test]
        fn fragments_round_trip(
            message in proptest::collection::vec(any::<u8>(), 0..4000),
            len in MIN_FRAGMENT_LEN..=MAX_FRAGMENT_LEN,
        ) {
            let fragments = fragment(&message, len).unwrap();
            let data = message.len().saturating_sub(len - 3);
            prop_assert_eq!(fragments.len(), 1 + data.div_ceil(len - 1));
            let (last, full) = fragments.split_last().unwrap();
            prop_assert!(full.iter().all(|f| f.len() == len));
            prop_assert!(!last.is_empty() && last.len() <= len);
            prop_assert_eq!(reassemble(&fragments).unwrap(), vec![message]);
        }

        #[test]
        fn messages_in_a_row_round_trip(
            messages in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..300), 1..6),
            len in MIN_FRAGMENT_LEN..=64usize,
        ) {
            let fragments: Vec<Vec<u8>> = messages
                .iter()
                .flat_map(|m| fragment(m, len).unwrap())
                .collect();
            prop_assert_eq!(reassemble(&fragments).unwrap(), messages);
        }

        #[test]
        fn a_lost_or_moved_fragment_never_yields_the_message(
            message in proptest::collection::vec(any::<u8>(), 18..2000),
            len in MIN_FRAGMENT_LEN..=40usize,
            pick in any::<prop::sample::Index>(),
            swap in any::<bool>(),
        ) {
            let mut fragments = fragment(&message, len).unwrap();
            prop_assume!(fragments.len() >= 2);
            let i = pick.index(fragments.len() - 1);
            if swap {
                fragments.swap(i, i + 1);
            } else {
                fragments.remove(i);
            }
            let mut reassembler = Reassembler::new();
            let mut delivered = Vec::new();
            let mut failed = false;
            for f in &fragments {
                match reassembler.push(f) {
                    Ok(Some(m)) => delivered.push(m),
                    Ok(None) => {}
                    Err(_) => { failed = true; break; }
                }
            }
            // Either an error, or the message is still incomplete; never a wrong message.
            prop_assert!(delivered.is_empty());
            prop_assert!(failed || !reassembler.is_idle());
        }

        #[test]
        fn arbitrary_fragments_never_panic(
            fragments in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..40), 0..20),
        ) {
            let mut reassembler = Reassembler::new();
            for f in &fragments {
                if let Ok(Some(m)) = reassembler.push(f) {
                    prop_assert!(m.len() <= MAX_MESSAGE_LEN);
                }
            }
        }
    }
}
