//! The rotating service UUID of the pairing tool (proto/link.md §6.5): derived from a secret
//! only the phone and the PC hold, and changing every `UUID_WINDOW_SECS`, so a listener cannot
//! recognise the same PC from one window to the next.
//!
//! ```text
//! uuid = HKDF-SHA-256(salt = empty, IKM = secret, info = label ‖ window (8 bytes BE), L = 16)
//!        with the RFC 4122 version (4) and variant (10) bits set
//! window = floor(unix_seconds / 600)
//! ```
//!
//! Invariants: pure functions of (secret, time); the phone scans the windows around its own
//! clock so skew of up to one window either way still finds the PC. The UUID is public (it is
//! advertised), so nothing here needs wiping except the copy of a QR secret.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::gatt::GattUuid;
use crate::cbor::{self, MapReader};
use crate::link::qr::{QR_SECRET_LEN, QrPairing};

/// Length of a rotation window (proto/link.md §6.5).
pub const UUID_WINDOW_SECS: u64 = 600;
/// HKDF info label for reconnects; IKM is the pairing secret.
pub const PAIRING_UUID_INFO: &[u8] = b"passkeyphone/link ble uuid";
/// HKDF info label for the first pairing; IKM is the pairing code's one-time secret.
pub const QR_UUID_INFO: &[u8] = b"passkeyphone/link ble qr uuid";
/// Key 2 of the pairing code's CBOR map (proto/link.md §2.1).
const QR_KEY_SECRET: i64 = 2;

/// The window that contains `unix_secs`.
pub fn uuid_window(unix_secs: u64) -> u64 {
    unix_secs / UUID_WINDOW_SECS
}

/// The windows a scanner looks for at `unix_secs`: its own, the one before and the one after.
pub fn scan_windows(unix_secs: u64) -> Vec<u64> {
    let window = uuid_window(unix_secs);
    let mut windows = vec![window.saturating_sub(1), window, window.saturating_add(1)];
    windows.dedup();
    windows
}

/// The service UUID of a pairing in `window`.
pub fn pairing_service_uuid(pairing_secret: &[u8; 32], window: u64) -> GattUuid {
    derive(pairing_secret, PAIRING_UUID_INFO, window)
}

/// The service UUID of a pairing code in `window` (first pairing over BLE).
pub fn qr_service_uuid(qr_secret: &[u8; QR_SECRET_LEN], window: u64) -> GattUuid {
    derive(qr_secret, QR_UUID_INFO, window)
}

/// What the phone scans for to reach a paired PC at `unix_secs`.
pub fn pairing_scan_uuids(pairing_secret: &[u8; 32], unix_secs: u64) -> Vec<GattUuid> {
    scan_windows(unix_secs)
        .into_iter()
        .map(|window| pairing_service_uuid(pairing_secret, window))
        .collect()
}

/// What the phone scans for after scanning `pairing`'s code, at `unix_secs`.
pub fn qr_scan_uuids(pairing: &QrPairing, unix_secs: u64) -> Vec<GattUuid> {
    let Some(secret) = qr_secret_of(pairing) else {
        return Vec::new();
    };
    scan_windows(unix_secs)
        .into_iter()
        .map(|window| qr_service_uuid(&secret, window))
        .collect()
}

/// `QrPairing` keeps its secret private; its canonical CBOR is the public way to read it.
fn qr_secret_of(pairing: &QrPairing) -> Option<Zeroizing<[u8; QR_SECRET_LEN]>> {
    let encoded = Zeroizing::new(pairing.to_cbor());
    let value = cbor::decode(&encoded).ok()?;
    let mut map = MapReader::new(value).ok()?;
    let bytes = Zeroizing::new(map.required_bytes(QR_KEY_SECRET).ok()?);
    // A `QrPairing` always holds exactly QR_SECRET_LEN bytes.
    if bytes.len() != QR_SECRET_LEN {
        return None;
    }
    let mut secret = Zeroizing::new([0u8; QR_SECRET_LEN]);
    secret.copy_from_slice(&bytes);
    Some(secret)
}

fn derive(ikm: &[u8], label: &[u8], window: u64) -> GattUuid {
    let mut info = Vec::with_capacity(label.len() + 8);
    info.extend_from_slice(label);
    info.extend_from_slice(&window.to_be_bytes());
    let mut out = [0u8; 16];
    // 16 bytes is far below HKDF-SHA-256's limit of 255 * 32, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, ikm).expand(&info, &mut out);
    // RFC 4122 §4.4: version 4 in the top nibble of byte 6, variant 10 in the top of byte 8.
    out[6] = (out[6] & 0x0f) | 0x40;
    out[8] = (out[8] & 0x3f) | 0x80;
    GattUuid::from_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_ten_minutes_and_the_scan_covers_neighbours() {
        assert_eq!(uuid_window(599), 0);
        assert_eq!(uuid_window(600), 1);
        assert_eq!(scan_windows(0), vec![0, 1]);
        assert_eq!(
            scan_windows(1_795_000_000),
            vec![2_991_665, 2_991_666, 2_991_667]
        );
    }

    #[test]
    fn uuids_differ_by_window_secret_and_label_and_are_version_4() {
        let a = pairing_service_uuid(&[1; 32], 5);
        assert_ne!(a, pairing_service_uuid(&[1; 32], 6));
        assert_ne!(a, pairing_service_uuid(&[2; 32], 5));
        assert_ne!(
            qr_service_uuid(&[1; 16], 5),
            derive(&[1; 16], PAIRING_UUID_INFO, 5)
        );
        assert_eq!(a.as_bytes()[6] >> 4, 4);
        assert_eq!(a.as_bytes()[8] >> 6, 0b10);
    }

    #[test]
    fn qr_scan_uuids_use_the_codes_secret() {
        let pc = crate::link::KeyPair::from_scalar_bytes(&[7; 32]).unwrap();
        let pairing = QrPairing::from_parts(pc.public_key(), [9; 16], vec![1], 100).unwrap();
        assert_eq!(
            qr_scan_uuids(&pairing, 1200),
            vec![
                qr_service_uuid(&[9; 16], 1),
                qr_service_uuid(&[9; 16], 2),
                qr_service_uuid(&[9; 16], 3)
            ]
        );
    }
}
