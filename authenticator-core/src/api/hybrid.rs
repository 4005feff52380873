//! Hybrid transport (CTAP 2.2 §11.5, "caBLE v2"): what the app gives the core so that the phone
//! can serve a browser that shows a `FIDO:/` QR code. The app scans the code and calls
//! `Authenticator::serve_hybrid` with its text; the core connects to a tunnel server and asks
//! the app's [`HybridAdvertiser`] to broadcast a 20-byte BLE advert, which the browser's PC
//! must receive to prove that the phone is nearby.
//!
//! Invariants: the advert bytes are the only thing the core hands the advertiser; they are
//! encrypted under a key from the QR code, so the app never sees a secret. The core always calls
//! `stop_advertising` once the browser has connected or the session ended, whatever the outcome.

/// Why the app could not advertise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AdvertiserError {
    /// Bluetooth is off, or the phone has no BLE advertising (the browser cannot be reached).
    #[error("Bluetooth advertising is not available: {reason}")]
    Unavailable { reason: String },
    /// The user has not granted the permission to advertise (Android `BLUETOOTH_ADVERTISE`).
    #[error("the app may not advertise over Bluetooth (permission not granted)")]
    PermissionDenied,
    /// Anything else, including an exception thrown by the app's implementation.
    #[error("Bluetooth advertising failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for AdvertiserError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed {
            reason: error.reason,
        }
    }
}

/// The app's BLE advertiser (Android: `BluetoothLeAdvertiser`). One advert at a time: a call to
/// `start_advertising` replaces any advert this object started before.
#[uniffi::export(with_foreign)]
pub trait HybridAdvertiser: Send + Sync {
    /// Starts broadcasting `service_data` as the service data of the 16-bit service UUID
    /// `service_uuid16` (0xFFF9 for hybrid), repeated until `stop_advertising`. Returns once the
    /// radio has accepted the advert, or with the reason it could not.
    fn start_advertising(
        &self,
        service_uuid16: u16,
        service_data: Vec<u8>,
    ) -> Result<(), AdvertiserError>;
    /// Stops the advert started last; does nothing if none runs.
    fn stop_advertising(&self);
}
