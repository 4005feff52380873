//! The hybrid targets (`hybrid_qr`, `hybrid_frames`): what a browser's QR code and a browser
//! (or the tunnel server in between) send the phone in CTAP 2.2 hybrid transport.
//!
//! `hybrid_qr`: the input as text (lossy UTF-8) into `hybrid::qr::QrPayload::parse`, its digit
//! part into `digits_to_bytes`, and the raw bytes through `bytes_to_digits`. Checked: nothing
//! panics; the digit codec accepts exactly what it writes (raw bytes round-trip); a payload
//! that parses re-encodes (`to_cbor`) to CBOR that parses back to the same payload, and its
//! `to_text` parses back to it too; its key 0 is a compressed point and its secret 16 bytes.
//! The first 20 input bytes also go, as a received advert, into `QrKeys::decrypt_advert`
//! under a fixed secret: only an advert made with that secret opens, and one that opens
//! re-encrypts (with its own EID) to exactly the input.
//!
//! `hybrid_frames`: the first byte picks the layer, the rest is the decrypted plaintext:
//! 0 `frames::unpad`, 1 `Frame::decode`, 2 `PostHandshake::from_cbor`, 3
//! `decode_padded_cbor_map`. Checked: nothing panics; what unpads re-pads to the input when the
//! input is what `pad` writes (a multiple of 32, count below 32); `unpad(pad(x)) == x` for the
//! input itself; a decoded frame re-encodes to exactly the input; a post-handshake message
//! that reads re-encodes to CBOR that reads back to it; a padded map that reads is a map.

use authenticator_core::cbor::Value;
use authenticator_core::hybrid::frames::{
    self, Frame, PADDING_GRANULARITY, PostHandshake, decode_padded_cbor_map,
};
use authenticator_core::hybrid::keys::{ADVERT_LEN, QrKeys};
use authenticator_core::hybrid::qr::{self, QrError, QrPayload};

/// The fixed QR secret under which adverts are tried.
const ADVERT_SECRET: [u8; 16] = [0x11; 16];

pub fn run_qr(data: &[u8]) {
    let digits = qr::bytes_to_digits(data);
    match qr::digits_to_bytes(&digits) {
        Ok(back) => assert_eq!(back, data, "digits do not round-trip"),
        Err(e) => {
            assert_eq!(e, QrError::TooLong);
            assert!(digits.len() > qr::MAX_DIGITS, "bytes_to_digits output refused");
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Some(tail) = text.get(qr::PREFIX.len()..) {
        if let Ok(bytes) = qr::digits_to_bytes(tail) {
            assert_eq!(qr::bytes_to_digits(&bytes), tail, "digits have two readings");
        }
    }
    if let Ok(payload) = QrPayload::parse(&text) {
        assert!(matches!(payload.peer_public_key[0], 0x02 | 0x03));
        let cbor = payload.to_cbor();
        assert_eq!(
            QrPayload::from_cbor(&cbor).as_ref(),
            Ok(&payload),
            "re-encoded payload reads differently"
        );
        assert_eq!(
            QrPayload::parse(&payload.to_text()).as_ref(),
            Ok(&payload),
            "to_text does not parse back"
        );
    }
    if let Some(advert) = data.get(..ADVERT_LEN) {
        let keys = QrKeys::new(ADVERT_SECRET);
        if let Ok(eid) = keys.decrypt_advert(advert) {
            assert_eq!(&keys.encrypt_advert(&eid)[..], advert, "advert has two readings");
        }
    }
}

pub fn run_frames(data: &[u8]) {
    let Some((&layer, body)) = data.split_first() else {
        return;
    };
    match layer % 4 {
        0 => {
            if let Ok(message) = frames::unpad(body) {
                let writer_form = body.len() % PADDING_GRANULARITY == 0
                    && body.last().is_some_and(|&c| usize::from(c) < PADDING_GRANULARITY);
                if writer_form {
                    assert_eq!(frames::pad(message), body, "pad/unpad disagree");
                }
            }
            let padded = frames::pad(body);
            assert_eq!(padded.len() % PADDING_GRANULARITY, 0);
            assert_eq!(frames::unpad(&padded), Ok(body), "unpad(pad(x)) != x");
        }
        1 => {
            if let Ok(frame) = Frame::decode(body) {
                assert_eq!(frame.encode(), body, "a frame has two readings");
            }
        }
        2 => {
            if let Ok(message) = PostHandshake::from_cbor(body) {
                let again = PostHandshake::from_cbor(&message.to_cbor());
                let mut sorted = message.clone();
                if let Some(f) = sorted.features.as_mut() {
                    f.sort();
                }
                assert_eq!(again, Ok(sorted), "post-handshake message reads differently");
            }
        }
        _ => {
            if let Ok(map) = decode_padded_cbor_map(body) {
                assert!(matches!(map, Value::Map(_)));
            }
        }
    }
}

pub fn qr_seeds() -> Vec<(String, Vec<u8>)> {
    let payload = QrPayload::parse(CHROME_QR).ok();
    let mut out = vec![
        ("chrome".to_owned(), CHROME_QR.as_bytes().to_vec()),
        ("safari".to_owned(), SAFARI_IOS_QR.as_bytes().to_vec()),
    ];
    if let Some(p) = payload {
        out.push(("reencoded".to_owned(), p.to_text().into_bytes()));
    }
    let keys = QrKeys::new(ADVERT_SECRET);
    let eid = authenticator_core::hybrid::keys::Eid {
        nonce: [7; 10],
        routing_id: [1, 2, 3],
        tunnel_server_id: 0,
    };
    out.push(("advert".to_owned(), keys.encrypt_advert(&eid).to_vec()));
    out
}

pub fn frame_seeds() -> Vec<(String, Vec<u8>)> {
    let with = |layer: u8, bytes: Vec<u8>| {
        let mut v = vec![layer];
        v.extend(bytes);
        v
    };
    vec![
        ("padded".into(), with(0, frames::pad(b"\x01\xa1\x01\x02"))),
        ("shutdown".into(), with(1, Frame::Shutdown.encode())),
        ("ctap".into(), with(1, Frame::Ctap(vec![0x04]).encode())),
        ("update".into(), with(1, vec![2, 0xa1, 0x01, 0xa0])),
        (
            "post_handshake".into(),
            with(2, PostHandshake::ctap(vec![0xa0]).to_cbor()),
        ),
        (
            "padded_map".into(),
            with(
                3,
                frames::encode_padded_cbor_map(&Value::map([(Value::int(1), Value::int(2))])),
            ),
        ),
    ]
}

/// QR texts as Chrome and Safari show them (the known answers of the core's `hybrid/tests.rs`).
const CHROME_QR: &str = "FIDO:/162870791865632382552704231438327900152302540348097243854039966655366469794954476199158014113179232779520163209900691930075274801398564434658077048963842109321447142660";
const SAFARI_IOS_QR: &str = "FIDO:/089962132878132862898875319509818655951233947060166026934941652203853844930597225184066237811614893181300344014421205790072080843938838513707157859599106109321447142404";
