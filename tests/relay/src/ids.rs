//! Door and session identifiers (link.md §5.2): 16 bytes, written in URLs as exactly 32
//! lower-case hex digits. Anything else is refused, so one id has exactly one spelling.
//!
//! Ids are capabilities (whoever knows a session id can read and write its frames), so the
//! relay's log names them by their first 4 bytes only (`Id::short`).

use std::fmt;

pub const ID_LEN: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; ID_LEN]);

impl Id {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// Parses exactly 32 lower-case hex digits.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let digits = text.as_bytes();
        if digits.len() != 2 * ID_LEN {
            return None;
        }
        let mut out = [0u8; ID_LEN];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Self(out))
    }

    /// The first 8 hex digits: enough to follow one session through the log, too few to
    /// hijack it.
    pub fn short(&self) -> String {
        hex(&self.0[..4])
    }
}

/// Only the short form, so an id printed by accident leaks nothing usable.
impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({}…)", self.short())
    }
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = "00112233445566778899aabbccddeeff";
        let id = Id::parse_hex(text).unwrap();
        assert_eq!(hex(id.as_bytes()), text);
        assert_eq!(id.short(), "00112233");
        assert_eq!(Id::from_bytes(id.as_bytes()), Some(id));
    }

    #[test]
    fn only_one_spelling() {
        for bad in [
            "",
            "00112233445566778899aabbccddeef",
            "00112233445566778899aabbccddeeff0",
            "00112233445566778899AABBCCDDEEFF",
            "00112233445566778899aabbccddeefg",
            "+0112233445566778899aabbccddeeff",
            "0011223344556677 899aabbccddeeff",
            "é0112233445566778899aabbccddeef",
        ] {
            assert_eq!(Id::parse_hex(bad), None, "{bad:?}");
        }
        assert_eq!(Id::from_bytes(&[0; 15]), None);
        assert_eq!(Id::from_bytes(&[0; 17]), None);
    }
}
