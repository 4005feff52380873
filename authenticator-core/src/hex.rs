//! Lower-case hex for the ids people and logs see (pairing ids, grant ids, credential ids in
//! the audit trail), and its strict inverse.

/// `bytes` as lower-case hex.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of non-empty hex text of even length (either case); `None` for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    // Checked first: `from_str_radix` alone would take "+1" as a byte.
    if text.is_empty()
        || !text.len().is_multiple_of(2)
        || !text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        assert_eq!(encode(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(decode("00AB7f"), Some(vec![0x00, 0xab, 0x7f]));
        for bad in ["", "a", "zz", "0g", "+1", "é0"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
