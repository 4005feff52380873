//! Tests of the post-handshake `Crypter` (`crypter.rs`): known answers from webauthn-rs and
//! from a patched Chromium (both byte-exact, both directions), counters (replay, reorder,
//! exhaustion), truncation, padding and lengths, and 1,000+ generated ciphertexts.
//!
//! The byte arrays below are the same ones `frames_tests.rs` uses to check the padding alone;
//! here the whole `Crypter` must produce and open them.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use proptest::prelude::*;

use super::crypter::{
    Crypter, CrypterError, MAX_CIPHERTEXT_LEN, MAX_COUNTER, MAX_PLAINTEXT_LEN, TAG_LEN,
};
use super::frames::{Frame, PaddingError};

use super::test_vectors::{
    FOX, LEAKED_FRAME, LEAKED_READ_KEY, LEAKED_SEALED, LEAKED_WRITE_KEY, WEBAUTHN_RS_FIRST,
    WEBAUTHN_RS_SECOND,
};

#[test]
fn seals_webauthn_rs_known_answers_byte_for_byte() {
    // Our writer with webauthn-rs's write key produces exactly its two ciphertexts.
    let mut writer = Crypter::new(&[0; 32], &[67; 32]);
    assert_eq!(writer.encrypt(FOX).expect("seal"), WEBAUTHN_RS_FIRST);
    assert_eq!(writer.encrypt(FOX).expect("seal"), WEBAUTHN_RS_SECOND);
    // The peer reads them in order with that key as its read key.
    let mut reader = Crypter::new(&[67; 32], &[0; 32]);
    assert_eq!(reader.decrypt(&WEBAUTHN_RS_FIRST).expect("open").as_slice(), FOX);
    assert_eq!(reader.decrypt(&WEBAUTHN_RS_SECOND).expect("open").as_slice(), FOX);
}

#[test]
fn opens_and_seals_chromium_leaked_frame() {
    // The browser (Chromium) wrote with its write key; the phone reads with it.
    let mut phone = Crypter::new(&LEAKED_WRITE_KEY, &LEAKED_READ_KEY);
    let opened = phone.decrypt(LEAKED_SEALED).expect("opens");
    assert_eq!(opened.as_slice(), LEAKED_FRAME);
    let Frame::Ctap(payload) = Frame::decode(&opened).expect("frame") else {
        panic!("not a CTAP frame");
    };
    assert_eq!(payload[0], 0x01, "authenticatorMakeCredential");
    // And a browser-side Crypter seals the same bytes.
    let mut browser = Crypter::new(&LEAKED_READ_KEY, &LEAKED_WRITE_KEY);
    assert_eq!(browser.encrypt(LEAKED_FRAME).expect("seal"), LEAKED_SEALED);
    // The phone's read key does not open it: the key order matters.
    let mut swapped = Crypter::new(&LEAKED_READ_KEY, &LEAKED_WRITE_KEY);
    assert_eq!(swapped.decrypt(LEAKED_SEALED).err(), Some(CrypterError::Authentication));
}

/// The key the browser of [`pair`] writes with (and the phone reads with).
const BROWSER_WRITE_KEY: [u8; 32] = [1; 32];

/// A phone and a browser Crypter of one session: (phone, browser).
fn pair() -> (Crypter, Crypter) {
    (
        Crypter::new(&BROWSER_WRITE_KEY, &[2; 32]),
        Crypter::new(&[2; 32], &BROWSER_WRITE_KEY),
    )
}

#[test]
fn replayed_reordered_and_truncated_messages_fail_authentication() {
    let (mut phone, mut browser) = pair();
    let first = browser.encrypt(b"one").expect("seal");
    let second = browser.encrypt(b"two").expect("seal");
    // Reordered: the second before the first.
    assert_eq!(phone.decrypt(&second).err(), Some(CrypterError::Authentication));
    // A failure that did not authenticate leaves the counter: the right message still opens.
    assert_eq!(phone.decrypt(&first).expect("open").as_slice(), b"one");
    // Replayed.
    assert_eq!(phone.decrypt(&first).err(), Some(CrypterError::Authentication));
    // Truncated: by one byte, to the tag, below the tag, empty.
    assert_eq!(phone.decrypt(&second[..second.len() - 1]).err(), Some(CrypterError::Authentication));
    assert_eq!(phone.decrypt(&second[..TAG_LEN]).err(), Some(CrypterError::Authentication));
    assert_eq!(phone.decrypt(&second[..5]).err(), Some(CrypterError::Authentication));
    assert_eq!(phone.decrypt(&[]).err(), Some(CrypterError::Authentication));
    // Altered.
    let mut altered = second.clone();
    altered[0] ^= 1;
    assert_eq!(phone.decrypt(&altered).err(), Some(CrypterError::Authentication));
    assert_eq!(phone.decrypt(&second).expect("open").as_slice(), b"two");
}

#[test]
fn nonce_is_the_v2_1_construction() {
    // Counter 1: 8 zero bytes then 00 00 00 01, no associated data, padded plaintext.
    let (_, mut browser) = pair();
    browser.encrypt(b"zero").expect("seal");
    let sealed = browser.encrypt(b"one").expect("seal");
    let mut nonce = [0u8; 12];
    nonce[11] = 1;
    let padded = Aes256Gcm::new(&BROWSER_WRITE_KEY.into())
        .decrypt(&nonce.into(), sealed.as_slice())
        .expect("opens under the v2.1 nonce");
    assert_eq!(padded, super::frames::pad(b"one"));
    assert_eq!(sealed.len(), 32 + TAG_LEN, "padded to 32");
}

/// Seals `plaintext` as-is (no padding) under `key` with counter 0, as a browser that pads
/// wrongly would.
fn seal_raw(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(&(*key).into())
        .encrypt(&[0u8; 12].into(), plaintext)
        .expect("seal")
}

#[test]
fn bad_padding_is_named_and_moves_the_counter() {
    let (mut phone, mut browser) = pair();
    let mut nonzero = vec![7u8; 31];
    nonzero.push(3); // claims 3 zeros, but they are 7s
    assert_eq!(
        phone.decrypt(&seal_raw(&BROWSER_WRITE_KEY, &nonzero)).err(),
        Some(CrypterError::Padding(PaddingError::NonZeroPadding))
    );
    // It authenticated, so it was message 0: the browser's message 1 opens next.
    browser.encrypt(b"lost").expect("seal");
    let next = browser.encrypt(b"next").expect("seal");
    assert_eq!(phone.decrypt(&next).expect("open").as_slice(), b"next");

    let (mut phone, _) = pair();
    assert_eq!(
        phone.decrypt(&seal_raw(&BROWSER_WRITE_KEY, &[])).err(),
        Some(CrypterError::Padding(PaddingError::Empty))
    );
    let (mut phone, _) = pair();
    assert_eq!(
        phone.decrypt(&seal_raw(&BROWSER_WRITE_KEY, &[0, 0, 9])).err(),
        Some(CrypterError::Padding(PaddingError::CountTooLarge))
    );
}

#[test]
fn counters_refuse_to_wrap() {
    let (mut phone, mut browser) = pair();
    browser.set_counters_for_test(0, MAX_COUNTER);
    phone.set_counters_for_test(MAX_COUNTER, 0);
    let last = browser.encrypt(b"last").expect("the last counter is usable");
    assert_eq!(browser.encrypt(b"wrap").err(), Some(CrypterError::CounterExhausted));
    assert_eq!(phone.decrypt(&last).expect("open").as_slice(), b"last");
    assert_eq!(phone.decrypt(&last).err(), Some(CrypterError::CounterExhausted));
    // The exhausted direction stays exhausted; the other still works.
    assert_eq!(browser.encrypt(b"again").err(), Some(CrypterError::CounterExhausted));
    let reply = phone.encrypt(b"reply").expect("seal");
    assert_eq!(browser.decrypt(&reply).expect("open").as_slice(), b"reply");
}

#[test]
fn lengths_are_bounded() {
    let (mut phone, mut browser) = pair();
    assert_eq!(browser.encrypt(&vec![0; MAX_PLAINTEXT_LEN + 1]).err(), Some(CrypterError::TooLong));
    let largest = browser.encrypt(&vec![0; MAX_PLAINTEXT_LEN]).expect("largest seals");
    assert_eq!(largest.len(), MAX_CIPHERTEXT_LEN);
    assert_eq!(phone.decrypt(&largest).expect("largest opens").len(), MAX_PLAINTEXT_LEN);
    assert_eq!(phone.decrypt(&vec![0; MAX_CIPHERTEXT_LEN + 1]).err(), Some(CrypterError::TooLong));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1200, ..ProptestConfig::default() })]

    /// Random ciphertexts and single-byte changes of a real one get an error, no panic, and
    /// leave the counter so the genuine message still opens.
    #[test]
    fn malformed_ciphertexts_get_errors(
        junk in proptest::collection::vec(any::<u8>(), 0..300),
        index in 0..64usize,
        flip in 1..=255u8,
        message in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let (mut phone, mut browser) = pair();
        let sealed = browser.encrypt(&message).expect("seal");
        prop_assert_eq!(phone.decrypt(&junk).err(), Some(CrypterError::Authentication));
        let mut flipped = sealed.clone();
        let at = index % flipped.len();
        flipped[at] ^= flip;
        prop_assert_eq!(phone.decrypt(&flipped).err(), Some(CrypterError::Authentication));
        let opened = phone.decrypt(&sealed).expect("open");
        prop_assert_eq!(opened.as_slice(), message.as_slice());
    }
}
