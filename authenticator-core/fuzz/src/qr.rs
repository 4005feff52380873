//! The `qr_parse` target: scanned pairing codes (`link::qr`, proto/link.md §2).
//!
//! Input layout: one byte `t`, then the code as text (invalid UTF-8 is replaced by U+FFFD, so
//! every input is a string). The code is parsed twice: at `now = issued_at` (the issued-at the
//! code itself carries, found with `digits_decode` and `cbor::decode`, so the fuzzer does not
//! have to guess the clock) and at `now = issued_at + (t as i8)`, which crosses both ends of the
//! validity window (−30 s and +90 s).
//!
//! Checked: nothing panics; `digits_decode` accepts exactly what `digits_encode` produces (on
//! the input's digits and on the raw input bytes); the two parses agree except for the time
//! check, which follows proto/link.md §2.4 to the second; a code that parses re-encodes
//! (`to_cbor`) to exactly the CBOR it was scanned from and `to_uri` to exactly its text (up to
//! the scheme's case), `to_uri` parses back to the same CBOR, its key is a valid point and its
//! routing info is 1 to 256 bytes.

use authenticator_core::cbor::{self, Value};
use authenticator_core::link::noise::parse_public_key;
use authenticator_core::link::qr::{
    self, MAX_CLOCK_SKEW_SECS, MAX_ROUTING_LEN, QR_SCHEME, QR_SECRET_LEN, QR_VALIDITY_SECS,
    QrError, QrPairing,
};
use authenticator_core::link::relay::Routing;

use crate::link_keys;

/// The spec's digit limit (proto/link.md §2.2).
const MAX_DIGITS: usize = 2048;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&t, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);

    // The digit codec on its own, both ways.
    check_digits(&text);
    let digits = qr::digits_encode(rest);
    match qr::digits_decode(&digits) {
        Ok(bytes) => assert_eq!(bytes, rest, "digits do not round-trip"),
        Err(e) => {
            assert_eq!(e, QrError::BadDigits);
            assert!(digits.len() > MAX_DIGITS, "digits_encode output refused");
        }
    }

    let digit_part = text.split_once(":/").map(|(_, d)| d);
    if let Some(d) = digit_part {
        check_digits(d);
    }
    // The code's own issued-at, if it has one where a valid code keeps it.
    let issued_at = digit_part
        .and_then(|d| qr::digits_decode(d).ok())
        .and_then(|b| cbor::decode(&b).ok())
        .and_then(|v| {
            v.as_map()?
                .iter()
                .find(|(k, _)| k.as_int() == Some(4))
                .and_then(|(_, v)| v.as_unsigned())
        });
    let Some(issued_at) = issued_at else {
        // No issued-at: whatever the clock, the code is refused.
        let result = QrPairing::parse(&text, u64::from(t) << 24);
        assert!(result.is_err(), "a code without issued-at parsed");
        return;
    };

    let at_issue = QrPairing::parse(&text, issued_at);
    let now = issued_at.saturating_add_signed(i64::from(t as i8));
    let at_now = QrPairing::parse(&text, now);
    let pairing = match at_issue {
        Err(e) => {
            assert!(
                !matches!(e, QrError::Expired | QrError::NotYetValid),
                "a code is not valid at its own issued-at"
            );
            assert!(
                at_now.is_err_and(|e2| e2 == e),
                "the clock changed a content error"
            );
            return;
        }
        Ok(p) => p,
    };
    let expected = time_model(issued_at, now);
    match (&at_now, expected) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(x)) if *e == x => {}
        (r, x) => panic!(
            "issued at {issued_at}, now {now}: parse gave {:?}, §2.4 says {x:?}",
            r.as_ref().err()
        ),
    }
    assert_eq!(pairing.check_time(now), expected);

    // Canonical: the code is exactly what `to_cbor`/`to_uri` give.
    let digits = digit_part.expect("a parsed code has digits");
    let scanned = qr::digits_decode(digits).expect("a parsed code's digits decode");
    let cbor = pairing.to_cbor();
    assert_eq!(cbor, scanned, "to_cbor differs from the scanned CBOR");
    let uri = pairing.to_uri();
    assert_eq!(
        uri,
        format!("{QR_SCHEME}:/{digits}"),
        "to_uri differs from the scanned code"
    );
    assert!(text.len() == uri.len() && text.eq_ignore_ascii_case(&uri));
    let again = QrPairing::parse(&uri, issued_at).expect("to_uri does not parse back");
    assert_eq!(again.to_cbor(), cbor);
    assert_eq!(*again.psk(), *pairing.psk());

    // The parts.
    assert_eq!(pairing.issued_at(), issued_at);
    let routing = pairing.routing();
    assert!(!routing.is_empty() && routing.len() <= MAX_ROUTING_LEN);
    let compressed = pairing.pc_static_compressed();
    assert!(matches!(compressed[0], 2 | 3));
    let uncompressed = pairing.pc_static_uncompressed();
    assert!(parse_public_key(&uncompressed).is_ok());
    let rebuilt =
        QrPairing::from_parts(&compressed, [0; QR_SECRET_LEN], routing.to_vec(), issued_at)
            .expect("from_parts refuses the parts of a parsed code");
    assert_eq!(rebuilt.pc_static_uncompressed(), uncompressed);
}

/// proto/link.md §2.4, in u128 so nothing saturates: refused if `now > issued_at + 60 + 30`
/// or `now < issued_at - 30`.
fn time_model(issued_at: u64, now: u64) -> Result<(), QrError> {
    let (issued_at, now) = (u128::from(issued_at), u128::from(now));
    let skew = u128::from(MAX_CLOCK_SKEW_SECS);
    if now + skew < issued_at {
        Err(QrError::NotYetValid)
    } else if now > issued_at + u128::from(QR_VALIDITY_SECS) + skew {
        Err(QrError::Expired)
    } else {
        Ok(())
    }
}

/// `digits_decode` accepts exactly the strings proto/link.md §2.2 allows, and those are
/// exactly `digits_encode`'s outputs.
fn check_digits(digits: &str) {
    let result = qr::digits_decode(digits);
    let allowed = spec_allows(digits);
    match result {
        Ok(bytes) => {
            assert!(
                allowed,
                "digits_decode accepted {digits:?}, which §2.2 refuses"
            );
            assert_eq!(
                qr::digits_encode(&bytes),
                digits,
                "digits are not canonical"
            );
        }
        Err(e) => {
            assert_eq!(e, QrError::BadDigits);
            assert!(
                !allowed,
                "digits_decode refused {digits:?}, which §2.2 allows"
            );
        }
    }
}

fn spec_allows(digits: &str) -> bool {
    const PARTIAL: [usize; 7] = [0, 3, 5, 8, 10, 13, 15];
    let b = digits.as_bytes();
    if b.len() > MAX_DIGITS || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    b.chunks(17).all(|chunk| {
        let Some(n) = (if chunk.len() == 17 {
            Some(7)
        } else {
            PARTIAL
                .iter()
                .position(|&d| d == chunk.len())
                .filter(|&n| n > 0)
        }) else {
            return false;
        };
        let value: u128 = chunk
            .iter()
            .fold(0, |acc, &d| acc * 10 + u128::from(d - b'0'));
        value < 1u128 << (8 * n)
    })
}

/// Seeds: valid codes (time byte 0, or at the edges of the window).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let routing = Routing {
        relay_url: "https://relay.example.com".into(),
        pc_door: [0x5A; 16],
    }
    .to_cbor();
    let code = |key: &[u8], routing: Vec<u8>, issued_at: u64| {
        QrPairing::from_parts(key, [0x42; QR_SECRET_LEN], routing, issued_at)
            .expect("seed parts are valid")
            .to_uri()
    };
    let pc = link_keys::pc_public();
    let other = link_keys::phone_public();
    let mut out = Vec::new();
    let mut add = |name: &str, t: i8, uri: String| {
        let mut bytes = vec![t as u8];
        bytes.extend_from_slice(uri.as_bytes());
        out.push((name.to_owned(), bytes));
    };
    add("code", 0, code(&pc, routing.clone(), 1_700_000_000));
    add(
        "code_other_key",
        0,
        code(&other, routing.clone(), 1_700_000_000),
    );
    add(
        "code_expired",
        91,
        code(&pc, routing.clone(), 1_700_000_000),
    );
    add(
        "code_last_second",
        90,
        code(&pc, routing.clone(), 1_700_000_000),
    );
    add(
        "code_future",
        -31,
        code(&pc, routing.clone(), 1_700_000_000),
    );
    add("code_issued_0", -1, code(&pc, vec![0], 0));
    add("code_issued_max", 1, code(&pc, routing.clone(), u64::MAX));
    add(
        "code_routing_256",
        0,
        code(&pc, vec![0xEE; MAX_ROUTING_LEN], 1_700_000_000),
    );
    add(
        "code_lower_scheme",
        0,
        code(&pc, routing.clone(), 1_700_000_000).replacen(QR_SCHEME, "passkeyphone", 1),
    );
    // Valid CBOR with one key too many.
    let extra = cbor::encode(&Value::map([
        (
            Value::int(1),
            Value::Bytes(link_keys::pc_compressed().to_vec()),
        ),
        (Value::int(2), Value::Bytes(vec![1; QR_SECRET_LEN])),
        (Value::int(3), Value::Bytes(routing)),
        (Value::int(4), Value::Unsigned(1_700_000_000)),
        (Value::int(5), Value::Null),
    ]));
    add(
        "extra_key",
        0,
        format!("{QR_SCHEME}:/{}", qr::digits_encode(&extra)),
    );
    add("digits_only", 0, qr::digits_encode(&[0xFF; 7]));
    out
}
