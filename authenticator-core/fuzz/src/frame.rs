//! The `link_frame` target: the secure channel's frames (`link::channel`, proto/link.md §4),
//! with fixed keys ([`link_keys`](crate::link_keys)). The first byte's low bit picks the mode.
//!
//! **Raw** (even first byte): the rest is frames, each a 2-byte big-endian length and that many
//! bytes, opened in order by the receiving side B. Checked: nothing panics; a frame that opens
//! is exactly what the sender would seal for its content at that position (re-sealed by a
//! shadow sender, so nothing but the sender's own frames, in order, gets through); the first
//! failure is `Authentication` (the only error a frame from `seal` can give) and every open
//! after it is `Poisoned`.
//!
//! **Structured** (odd first byte): a program of up to 64 steps (`Source`), each an op byte:
//! - low 3 bits 0-2: A seals a message: type = bits 3-5 mod 6, payload = a length byte and that
//!   many input bytes, or (bit 6) a 2-byte length and a pattern, so payloads cross
//!   `MAX_PAYLOAD_LEN` (`PayloadTooLong`, nothing sent, channel still fine);
//! - 3: drop a frame, 4: duplicate one, 5: swap two, 6: flip one bit of one (index, byte and bit
//!   from the input);
//! - 7 with bits 3-5: 0 truncate a frame, 1 extend one, 2 B seals a message that A opens at once
//!   (the other direction, interleaved; `Poisoned` once A is), 3 replace a frame with input bytes, 4 insert a frame
//!   sealed in the B -> A direction (a reflection), 5 `poison` A (every later seal fails).
//!
//! Then B opens the stream as mutated. Checked (authenticity and ordering): with p the first
//! position where the mutated stream differs from what A sent, every frame before p opens to
//! exactly the message sent at that position, the frame at p fails with `Authentication`, and
//! every later one with `Poisoned`; after a failure B's `seal` fails too; without a failure B
//! still opens A's next frame if the stream lost its tail. Frames are a multiple of 32 bytes
//! plus the 16-byte tag and at most 65535 bytes.

use authenticator_core::link::aead::{MAX_MESSAGE_LEN, TAG_LEN};
use authenticator_core::link::channel::{
    ChannelError, MAX_PAYLOAD_LEN, MessageType, PADDING_BLOCK, SecureChannel,
};

use crate::link_keys::{KEY_A_TO_B, KEY_B_TO_A};
use crate::source::Source;

const TYPES: [MessageType; 6] = [
    MessageType::Shutdown,
    MessageType::Ctap,
    MessageType::Keepalive,
    MessageType::Cancel,
    MessageType::ObrGrant,
    MessageType::Receipt,
];
const MAX_STEPS: usize = 64;

/// A's end (sends on A -> B) and B's end.
fn ends() -> (SecureChannel, SecureChannel) {
    (
        SecureChannel::new(&KEY_A_TO_B, &KEY_B_TO_A),
        SecureChannel::new(&KEY_B_TO_A, &KEY_A_TO_B),
    )
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        run_raw(rest);
    } else {
        run_structured(rest);
    }
}

fn frame_len(payload_len: usize) -> usize {
    (payload_len + 2).div_ceil(PADDING_BLOCK) * PADDING_BLOCK + TAG_LEN
}

fn run_raw(data: &[u8]) {
    let (mut shadow, _) = ends();
    let (_, mut b) = ends();
    let mut src = Source::new(data);
    let mut failed = false;
    for _ in 0..MAX_STEPS {
        if src.is_empty() {
            break;
        }
        let len = usize::from(src.u16());
        let frame = src.bytes(len);
        let result = b.open(&frame);
        if failed {
            assert_eq!(
                result,
                Err(ChannelError::Poisoned),
                "an open after a failure"
            );
            continue;
        }
        match result {
            Ok((message_type, payload)) => {
                let expected = shadow
                    .seal(message_type, &payload)
                    .expect("the shadow sender seals");
                assert_eq!(
                    expected, frame,
                    "a frame opened that the sender never sealed"
                );
            }
            Err(e) => {
                assert_eq!(e, ChannelError::Authentication, "first failure");
                assert!(b.is_poisoned());
                failed = true;
            }
        }
    }
}

/// A payload of `len` bytes: a pattern, cheap for long payloads.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

fn index(src: &mut Source, len: usize) -> usize {
    usize::from(src.u16()) % len.max(1)
}

fn run_structured(data: &[u8]) {
    let (mut a, mut b) = ends();
    // Seals in the B -> A direction for reflections, without moving B's own counter.
    let (_, mut reflector) = ends();
    let mut src = Source::new(data);
    let mut sent: Vec<(MessageType, Vec<u8>)> = Vec::new();
    let mut original: Vec<Vec<u8>> = Vec::new();
    let mut stream: Vec<Vec<u8>> = Vec::new();
    let mut a_poisoned = false;
    for _ in 0..MAX_STEPS {
        if src.is_empty() {
            break;
        }
        let op = src.u8();
        let sub = usize::from((op >> 3) & 7);
        match op & 7 {
            0..=2 => {
                let message_type = TYPES[sub % TYPES.len()];
                let payload = if op & 0x40 != 0 {
                    pattern(usize::from(src.u16()), op)
                } else {
                    let len = usize::from(src.u8());
                    src.bytes_exact(len)
                };
                match a.seal(message_type, &payload) {
                    Ok(frame) => {
                        assert!(!a_poisoned, "a poisoned channel sealed");
                        assert!(payload.len() <= MAX_PAYLOAD_LEN);
                        assert_eq!(frame.len(), frame_len(payload.len()));
                        assert!(frame.len() <= MAX_MESSAGE_LEN);
                        sent.push((message_type, payload));
                        original.push(frame.clone());
                        stream.push(frame);
                    }
                    Err(ChannelError::Poisoned) => assert!(a_poisoned),
                    Err(ChannelError::PayloadTooLong) => {
                        assert!(payload.len() > MAX_PAYLOAD_LEN);
                        assert_eq!(a.is_poisoned(), a_poisoned);
                    }
                    Err(e) => panic!("seal failed: {e}"),
                }
            }
            3 if !stream.is_empty() => {
                let i = index(&mut src, stream.len());
                stream.remove(i);
            }
            4 if !stream.is_empty() => {
                let i = index(&mut src, stream.len());
                stream.insert(i, stream[i].clone());
            }
            5 if !stream.is_empty() => {
                let i = index(&mut src, stream.len());
                let j = index(&mut src, stream.len());
                stream.swap(i, j);
            }
            6 if !stream.is_empty() => {
                let i = index(&mut src, stream.len());
                let at = index(&mut src, stream[i].len());
                let bit = src.u8() & 7;
                // A frame truncated to nothing has no bit to flip.
                if let Some(byte) = stream[i].get_mut(at) {
                    *byte ^= 1 << bit;
                }
            }
            7 => match sub {
                0 if !stream.is_empty() => {
                    let i = index(&mut src, stream.len());
                    let len = index(&mut src, stream[i].len() + 1);
                    stream[i].truncate(len);
                }
                1 if !stream.is_empty() => {
                    let i = index(&mut src, stream.len());
                    let len = usize::from(src.u8());
                    let extra = src.bytes_exact(len);
                    stream[i].extend_from_slice(&extra);
                }
                2 => {
                    let message_type = TYPES[usize::from(src.u8()) % TYPES.len()];
                    let len = usize::from(src.u8());
                    let payload = src.bytes_exact(len);
                    let frame = b.seal(message_type, &payload).expect("B seals");
                    let expected = if a_poisoned {
                        Err(ChannelError::Poisoned)
                    } else {
                        Ok((message_type, payload))
                    };
                    assert_eq!(a.open(&frame), expected, "the other direction");
                }
                3 if !stream.is_empty() => {
                    let i = index(&mut src, stream.len());
                    let len = usize::from(src.u8());
                    stream[i] = src.bytes_exact(len);
                }
                4 => {
                    let i = index(&mut src, stream.len() + 1);
                    let frame = reflector
                        .seal(TYPES[sub % TYPES.len()], &src.bytes_exact(4))
                        .expect("the reflector seals");
                    stream.insert(i, frame);
                }
                5 => {
                    a.poison();
                    a_poisoned = true;
                    assert!(a.is_poisoned());
                }
                _ => {}
            },
            _ => {}
        }
    }

    // B reads the stream as it arrives.
    let p = stream
        .iter()
        .zip(&original)
        .position(|(got, sent)| got != sent)
        .unwrap_or(stream.len().min(original.len()));
    // A stream longer than what was sent (a duplicate at the end) differs at `original.len()`.
    for (k, frame) in stream.iter().enumerate() {
        let result = b.open(frame);
        if k < p {
            match result {
                Ok(message) => assert_eq!(message, sent[k], "frame {k} of an intact prefix"),
                Err(e) => panic!("frame {k} of an intact prefix of {p} failed: {e}"),
            }
        } else if k == p {
            assert_eq!(
                result,
                Err(ChannelError::Authentication),
                "frame {k}, the first that differs from what was sent, opened"
            );
        } else {
            assert_eq!(
                result,
                Err(ChannelError::Poisoned),
                "frame {k} after a failure"
            );
        }
    }
    if p < stream.len() {
        assert!(b.is_poisoned());
        assert_eq!(b.seal(MessageType::Ctap, b"x"), Err(ChannelError::Poisoned));
        if let Some(next) = original.get(p) {
            assert_eq!(b.open(next), Err(ChannelError::Poisoned));
        }
    } else {
        assert!(!b.is_poisoned());
        if let Some(next) = original.get(stream.len()) {
            assert_eq!(
                b.open(next).as_ref().ok(),
                Some(&sent[stream.len()]),
                "the next frame after a lost tail"
            );
        }
    }
}

/// Seeds: raw streams of valid frames, and structured programs.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let (mut a, _) = ends();
    let mut raw = vec![0u8];
    for (t, payload) in [
        (MessageType::Ctap, &b"\x04"[..]),
        (MessageType::Keepalive, &[0x02][..]),
        (MessageType::Ctap, &[0xA5; 100][..]),
        (MessageType::Shutdown, &[][..]),
    ] {
        let frame = a.seal(t, payload).expect("seals");
        raw.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        raw.extend_from_slice(&frame);
    }
    out.push(("raw_four_frames".to_owned(), raw));
    out.push((
        "raw_junk".to_owned(),
        [&[0u8, 0, 48][..], &[7; 48]].concat(),
    ));

    // Structured: op bytes as documented above.
    let ctap = 1 << 3; // type 1 (Ctap), A seals with a length byte
    let programs: Vec<(&str, Vec<u8>)> = vec![
        (
            "send_three",
            vec![ctap, 3, 1, 2, 3, ctap, 0, 2 << 3, 1, 0x02],
        ),
        ("drop", vec![ctap, 1, 9, ctap, 1, 8, 3, 0, 0]),
        ("duplicate", vec![ctap, 1, 9, ctap, 1, 8, 4, 0, 1]),
        ("swap", vec![ctap, 1, 9, ctap, 1, 8, 5, 0, 0, 0, 1]),
        ("flip", vec![ctap, 1, 9, ctap, 1, 8, 6, 0, 1, 0, 0, 7]),
        ("truncate", vec![ctap, 1, 9, 7, 0, 0, 0, 0x20]),
        ("extend", vec![ctap, 1, 9, 7 | (1 << 3), 0, 0, 32]),
        (
            "both_directions",
            vec![ctap, 1, 9, 7 | (2 << 3), 1, 2, 0, 0, ctap, 0],
        ),
        ("replace", vec![ctap, 1, 9, 7 | (3 << 3), 0, 0, 48]),
        ("reflect", vec![ctap, 1, 9, 7 | (4 << 3), 0, 0, 1, 2, 3, 4]),
        ("poison", vec![ctap, 0, 7 | (5 << 3), ctap, 0]),
        // A payload of MAX_PAYLOAD_LEN, then one byte more.
        (
            "long_payloads",
            [
                vec![0x40 | ctap],
                (MAX_PAYLOAD_LEN as u16).to_be_bytes().to_vec(),
                vec![0x40 | ctap],
                (MAX_PAYLOAD_LEN as u16 + 1).to_be_bytes().to_vec(),
                vec![ctap, 0],
            ]
            .concat(),
        ),
    ];
    for (name, program) in programs {
        out.push((name.to_owned(), [&[1u8][..], &program].concat()));
    }
    out
}
