//! The `ble_reassembly` target: BLE fragmentation and reassembly (`link::ble::fragment`,
//! proto/link.md §6.4). The first byte's low bit picks the mode.
//!
//! **Raw** (even first byte): the rest is fragments, each a 2-byte big-endian length (mod 530,
//! so fragments over the 512-byte limit occur) and that many bytes, pushed in order.
//!
//! **Structured** (odd first byte): up to 4 messages, each a 2-byte length (the content is the
//! input's bytes, then a pattern, so messages up to 65535 bytes are cheap), a 2-byte fragment
//! length (mod 600, so lengths outside 20..=512 occur) and, with a flag, a 65536-byte message;
//! then up to 32 mutations of the concatenated fragments (drop, duplicate, swap, flip a bit,
//! truncate, append input bytes, insert an input fragment), then the stream is pushed in order.
//!
//! Checked: nothing panics; `fragment` refuses exactly the lengths §6.3-§6.4 refuse and
//! otherwise cuts as §6.4 says (initial header, every fragment but the last exactly F bytes,
//! the last 1 to F, sequence numbers 0, 1, .. wrapping after 0x7f, the fewest fragments), and
//! its fragments reassemble to the messages; `Reassembler::push` gives exactly what a model
//! written from §6.4's refusal table (in its order) gives, error for error and message for
//! message; after an error it is idle; every message is at most 65535 bytes; an unmutated
//! stream gives back its messages and ends idle.

use authenticator_core::link::ble::fragment::{
    CMD_MSG, FragmentError, MAX_FRAGMENT_LEN, MAX_MESSAGE_LEN, MIN_FRAGMENT_LEN, Reassembler,
    fragment,
};

use crate::source::Source;

const MAX_FRAGMENTS: usize = 256;
const MAX_MESSAGES: usize = 4;
const MAX_MUTATIONS: usize = 32;

/// The receiver of proto/link.md §6.4, written from its refusal table.
#[derive(Default)]
struct Model {
    /// (declared length, data so far, next sequence number) of an incomplete message.
    partial: Option<(usize, Vec<u8>, u8)>,
}

impl Model {
    fn push(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, FragmentError> {
        let result = self.push_inner(fragment);
        if result.is_err() {
            self.partial = None;
        }
        result
    }

    fn push_inner(&mut self, f: &[u8]) -> Result<Option<Vec<u8>>, FragmentError> {
        if f.is_empty() {
            return Err(FragmentError::Empty);
        }
        if f.len() > 512 {
            return Err(FragmentError::FragmentTooLong(f.len()));
        }
        let first = f[0];
        if first >= 0x80 {
            if first != 0x83 {
                return Err(FragmentError::UnknownCommand(first));
            }
            if self.partial.is_some() {
                return Err(FragmentError::UnexpectedInit);
            }
            if f.len() < 3 {
                return Err(FragmentError::ShortInit);
            }
            let length = usize::from(f[1]) << 8 | usize::from(f[2]);
            let data = &f[3..];
            if data.len() > length {
                return Err(FragmentError::Overlong);
            }
            if data.len() == length {
                return Ok(Some(data.to_vec()));
            }
            self.partial = Some((length, data.to_vec(), 0));
            return Ok(None);
        }
        let Some((length, mut data, seq)) = self.partial.take() else {
            return Err(FragmentError::UnexpectedContinuation);
        };
        if first != seq {
            return Err(FragmentError::WrongSequence {
                expected: seq,
                got: first,
            });
        }
        let body = &f[1..];
        if body.is_empty() {
            return Err(FragmentError::Empty);
        }
        if data.len() + body.len() > length {
            return Err(FragmentError::Overlong);
        }
        data.extend_from_slice(body);
        if data.len() == length {
            return Ok(Some(data));
        }
        self.partial = Some((length, data, (seq + 1) % 0x80));
        Ok(None)
    }
}

/// Pushes `fragments` through the reassembler and the model; returns the messages.
fn push_all(fragments: &[Vec<u8>]) -> (Vec<Vec<u8>>, bool) {
    let mut reassembler = Reassembler::new();
    let mut model = Model::default();
    let mut messages = Vec::new();
    let mut failed = false;
    for (i, f) in fragments.iter().enumerate() {
        let got = reassembler.push(f);
        let want = model.push(f);
        assert_eq!(got, want, "fragment {i} of {}", fragments.len());
        match got {
            Ok(Some(m)) => {
                assert!(m.len() <= MAX_MESSAGE_LEN);
                assert!(reassembler.is_idle());
                messages.push(m);
            }
            Ok(None) => assert!(!reassembler.is_idle()),
            Err(_) => {
                assert!(reassembler.is_idle(), "not idle after an error");
                failed = true;
            }
        }
    }
    assert_eq!(reassembler.is_idle(), model.partial.is_none());
    (messages, failed)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut src = Source::new(rest);
    if mode & 1 == 0 {
        let mut fragments = Vec::new();
        while !src.is_empty() && fragments.len() < MAX_FRAGMENTS {
            let len = usize::from(src.u16()) % 530;
            fragments.push(src.bytes(len));
        }
        push_all(&fragments);
    } else {
        run_structured(&mut src, mode);
    }
}

fn run_structured(src: &mut Source, mode: u8) {
    let mut messages = Vec::new();
    let mut stream: Vec<Vec<u8>> = Vec::new();
    for m in 0..MAX_MESSAGES {
        if m > 0 && src.is_empty() {
            break;
        }
        let len = usize::from(src.u16());
        let fragment_len = usize::from(src.u16()) % 600;
        let message: Vec<u8> = if mode & 2 != 0 && m == 0 {
            vec![0xEE; MAX_MESSAGE_LEN + 1]
        } else {
            let head = src.bytes(len.min(64));
            let mut message = head;
            let start = message.len();
            message.extend((start..len).map(|i| (i * 7) as u8));
            message
        };
        let result = fragment(&message, fragment_len);
        if !(MIN_FRAGMENT_LEN..=MAX_FRAGMENT_LEN).contains(&fragment_len) {
            assert_eq!(result, Err(FragmentError::BadFragmentLength(fragment_len)));
            continue;
        }
        if message.len() > MAX_MESSAGE_LEN {
            assert_eq!(result, Err(FragmentError::MessageTooLong(message.len())));
            continue;
        }
        let fragments = result.expect("fragment refused a valid message");
        check_shape(&message, fragment_len, &fragments);
        let (back, failed) = push_all(&fragments);
        assert!(
            !failed && back == [message.clone()],
            "a message does not round-trip"
        );
        messages.push(message);
        stream.extend(fragments);
    }

    let intact = stream.clone();
    let mut mutated = false;
    for _ in 0..MAX_MUTATIONS {
        if src.is_empty() {
            break;
        }
        let op = src.u8();
        let n = stream.len();
        match op % 7 {
            0 if n > 0 => {
                stream.remove(at(src, n));
            }
            1 if n > 0 => {
                let i = at(src, n);
                stream.insert(i, stream[i].clone());
            }
            2 if n > 0 => {
                let (i, j) = (at(src, n), at(src, n));
                stream.swap(i, j);
            }
            3 if n > 0 => {
                let i = at(src, n);
                let byte = at(src, stream[i].len());
                let bit = at(src, 8);
                if let Some(b) = stream[i].get_mut(byte) {
                    *b ^= 1 << bit;
                }
            }
            4 if n > 0 => {
                let i = at(src, n);
                let len = at(src, stream[i].len() + 1);
                stream[i].truncate(len);
            }
            5 if n > 0 => {
                let i = at(src, n);
                let extra = usize::from(src.u8());
                let bytes = src.bytes(extra);
                stream[i].extend_from_slice(&bytes);
            }
            6 => {
                let i = at(src, n + 1);
                let len = usize::from(src.u8());
                stream.insert(i, src.bytes(len));
            }
            _ => {}
        }
        mutated = true;
    }
    let (back, failed) = push_all(&stream);
    if !mutated || stream == intact {
        assert!(
            !failed && back == messages,
            "the messages do not round-trip"
        );
    }
}

/// An index below `len` (0 if `len` is 0).
fn at(src: &mut Source, len: usize) -> usize {
    usize::from(src.u16()) % len.max(1)
}

/// §6.4's cutting rules for one message.
fn check_shape(message: &[u8], f: usize, fragments: &[Vec<u8>]) {
    let first_data = message.len().min(f - 3);
    let continuations = (message.len() - first_data).div_ceil(f - 1);
    assert_eq!(fragments.len(), 1 + continuations, "fragment count");
    let init = &fragments[0];
    assert_eq!(init[0], CMD_MSG);
    assert_eq!(
        usize::from(u16::from_be_bytes([init[1], init[2]])),
        message.len()
    );
    assert_eq!(&init[3..], &message[..first_data]);
    let (last, full) = fragments.split_last().expect("at least one fragment");
    assert!(
        full.iter().all(|x| x.len() == f),
        "a fragment but the last is not F bytes"
    );
    assert!(!last.is_empty() && last.len() <= f);
    for (i, cont) in fragments[1..].iter().enumerate() {
        assert_eq!(usize::from(cont[0]), i % 0x80, "sequence number");
        assert!(cont.len() > 1, "a continuation without data");
    }
}

/// Seeds: raw fragment runs (valid, with a wrapped sequence, and broken) and structured
/// programs.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let raw = |fragments: &[Vec<u8>]| {
        let mut out = vec![0u8];
        for f in fragments {
            out.extend_from_slice(&(f.len() as u16).to_be_bytes());
            out.extend_from_slice(f);
        }
        out
    };
    let message: Vec<u8> = (0..17 + 19 * 130).map(|i| (i % 251) as u8).collect();
    let wrapped = fragment(&message, 20).expect("fragments");
    let small = fragment(&[9; 50], 20).expect("fragments");
    let mut out = vec![
        ("raw_empty_message".to_owned(), raw(&[vec![CMD_MSG, 0, 0]])),
        ("raw_three".to_owned(), raw(&small)),
        ("raw_wrapped_sequence".to_owned(), raw(&wrapped)),
        (
            "raw_two_messages".to_owned(),
            raw(&[fragment(&[1; 600], 185).expect("fragments"), small.clone()].concat()),
        ),
        (
            "raw_wrong_sequence".to_owned(),
            raw(&[small[0].clone(), small[2].clone()]),
        ),
        (
            "raw_too_long".to_owned(),
            raw(&[[&[CMD_MSG, 0xFF, 0xFF][..], &[0; 510]].concat()]),
        ),
    ];
    // Structured: mode 1, then per message (len, fragment length), then mutations.
    let structured = |parts: &[(u16, u16)], mutations: &[u8]| {
        let mut out = vec![1u8];
        for (len, f) in parts {
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&f.to_be_bytes());
            out.extend((0..(*len).min(64)).map(|i| i as u8));
        }
        out.extend_from_slice(mutations);
        out
    };
    out.push(("one_message".to_owned(), structured(&[(300, 20)], &[])));
    out.push((
        "three_messages".to_owned(),
        structured(&[(0, 20), (1000, 244), (65_535, 512)], &[]),
    ));
    out.push(("largest_at_20".to_owned(), structured(&[(65_535, 20)], &[])));
    out.push((
        "bad_fragment_len".to_owned(),
        structured(&[(10, 19), (10, 513)], &[]),
    ));
    out.push((
        "mutations".to_owned(),
        structured(
            &[(300, 20), (40, 20)],
            &[0, 0, 1, 2, 0, 3, 0, 4, 0, 7, 6, 0, 2, 3, 0x83],
        ),
    ));
    let mut too_long = structured(&[(0, 512)], &[]);
    too_long[0] = 3;
    out.push(("too_long_message".to_owned(), too_long));
    out
}
