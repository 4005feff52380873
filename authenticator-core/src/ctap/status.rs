//! CTAP status codes (CTAP 2.1 §8.2 "Status codes"), each a named constant, and the engine's
//! error type, which is nothing but a status code: every failure a client can see is one of
//! these bytes, so no message can leak secrets or personal data.
//!
//! The table is the spec's whole list (the PC's side uses some this authenticator never sends).
#![allow(dead_code)]

/// A CTAP status byte other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtapError(pub u8);

pub type CtapResult<T> = Result<T, CtapError>;

pub const CTAP2_OK: u8 = 0x00;
pub const CTAP1_ERR_INVALID_COMMAND: CtapError = CtapError(0x01);
pub const CTAP1_ERR_INVALID_PARAMETER: CtapError = CtapError(0x02);
pub const CTAP1_ERR_INVALID_LENGTH: CtapError = CtapError(0x03);
pub const CTAP1_ERR_INVALID_SEQ: CtapError = CtapError(0x04);
pub const CTAP1_ERR_TIMEOUT: CtapError = CtapError(0x05);
pub const CTAP1_ERR_CHANNEL_BUSY: CtapError = CtapError(0x06);
pub const CTAP2_ERR_CBOR_UNEXPECTED_TYPE: CtapError = CtapError(0x11);
pub const CTAP2_ERR_INVALID_CBOR: CtapError = CtapError(0x12);
pub const CTAP2_ERR_MISSING_PARAMETER: CtapError = CtapError(0x14);
pub const CTAP2_ERR_LIMIT_EXCEEDED: CtapError = CtapError(0x15);
pub const CTAP2_ERR_FP_DATABASE_FULL: CtapError = CtapError(0x17);
pub const CTAP2_ERR_LARGE_BLOB_STORAGE_FULL: CtapError = CtapError(0x18);
pub const CTAP2_ERR_CREDENTIAL_EXCLUDED: CtapError = CtapError(0x19);
pub const CTAP2_ERR_PROCESSING: CtapError = CtapError(0x21);
pub const CTAP2_ERR_INVALID_CREDENTIAL: CtapError = CtapError(0x22);
pub const CTAP2_ERR_USER_ACTION_PENDING: CtapError = CtapError(0x23);
pub const CTAP2_ERR_OPERATION_PENDING: CtapError = CtapError(0x24);
pub const CTAP2_ERR_NO_OPERATIONS: CtapError = CtapError(0x25);
pub const CTAP2_ERR_UNSUPPORTED_ALGORITHM: CtapError = CtapError(0x26);
pub const CTAP2_ERR_OPERATION_DENIED: CtapError = CtapError(0x27);
pub const CTAP2_ERR_KEY_STORE_FULL: CtapError = CtapError(0x28);
pub const CTAP2_ERR_UNSUPPORTED_OPTION: CtapError = CtapError(0x2B);
pub const CTAP2_ERR_INVALID_OPTION: CtapError = CtapError(0x2C);
pub const CTAP2_ERR_KEEPALIVE_CANCEL: CtapError = CtapError(0x2D);
pub const CTAP2_ERR_NO_CREDENTIALS: CtapError = CtapError(0x2E);
pub const CTAP2_ERR_USER_ACTION_TIMEOUT: CtapError = CtapError(0x2F);
pub const CTAP2_ERR_NOT_ALLOWED: CtapError = CtapError(0x30);
pub const CTAP2_ERR_PIN_INVALID: CtapError = CtapError(0x31);
pub const CTAP2_ERR_PIN_BLOCKED: CtapError = CtapError(0x32);
pub const CTAP2_ERR_PIN_AUTH_INVALID: CtapError = CtapError(0x33);
pub const CTAP2_ERR_PIN_AUTH_BLOCKED: CtapError = CtapError(0x34);
pub const CTAP2_ERR_PIN_NOT_SET: CtapError = CtapError(0x35);
pub const CTAP2_ERR_PUAT_REQUIRED: CtapError = CtapError(0x36);
pub const CTAP2_ERR_PIN_POLICY_VIOLATION: CtapError = CtapError(0x37);
pub const CTAP2_ERR_REQUEST_TOO_LARGE: CtapError = CtapError(0x39);
pub const CTAP2_ERR_ACTION_TIMEOUT: CtapError = CtapError(0x3A);
pub const CTAP2_ERR_UP_REQUIRED: CtapError = CtapError(0x3B);
pub const CTAP2_ERR_UV_BLOCKED: CtapError = CtapError(0x3C);
pub const CTAP2_ERR_INTEGRITY_FAILURE: CtapError = CtapError(0x3D);
pub const CTAP2_ERR_INVALID_SUBCOMMAND: CtapError = CtapError(0x3E);
pub const CTAP2_ERR_UV_INVALID: CtapError = CtapError(0x3F);
pub const CTAP2_ERR_UNAUTHORIZED_PERMISSION: CtapError = CtapError(0x40);
pub const CTAP1_ERR_OTHER: CtapError = CtapError(0x7F);

impl From<crate::cbor::CborError> for CtapError {
    fn from(e: crate::cbor::CborError) -> Self {
        CtapError(e.ctap_status())
    }
}

impl From<crate::cbor::FieldError> for CtapError {
    fn from(e: crate::cbor::FieldError) -> Self {
        CtapError(e.ctap_status())
    }
}

/// Storage failures are reported to the client as "other"; the detail goes to the app's log
/// (without personal data: `VaultError` messages carry none).
impl From<crate::vault::VaultError> for CtapError {
    fn from(error: crate::vault::VaultError) -> Self {
        tracing::error!(%error, "vault failure while serving a CTAP request");
        CTAP1_ERR_OTHER
    }
}
