//! Extensions (CTAP 2.1 §12): credProtect, hmac-secret, credBlob, minPinLength.
//!
//! Inputs are parsed strictly (a wrong type is CBOR_UNEXPECTED_TYPE); unknown extensions are
//! ignored. Outputs are CBOR maps keyed by extension name, encoded canonically with the rest
//! of the authenticator data.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::cose::parse_key_agreement;
use super::get_info::MAX_CRED_BLOB_LENGTH;
use super::pin_protocol::{KeyAgreementKey, PinUvAuthProtocol, SharedSecret};
use super::status::*;
use crate::cbor::{MapReader, Value};
use crate::secret::SecretBytes;
use crate::vault::CredentialSecrets;

/// credProtect levels (§12.1).
pub const CRED_PROTECT_UV_OPTIONAL: u8 = 1;
pub const CRED_PROTECT_UV_OPTIONAL_WITH_LIST: u8 = 2;
pub const CRED_PROTECT_UV_REQUIRED: u8 = 3;

/// makeCredential extension inputs.
#[derive(Default)]
pub struct RegistrationExtensions {
    pub cred_protect: Option<u8>,
    pub hmac_secret: bool,
    pub cred_blob: Option<Vec<u8>>,
    pub min_pin_length: bool,
}

impl RegistrationExtensions {
    pub fn parse(value: Option<&Value>) -> CtapResult<Self> {
        let Some(value) = value else {
            return Ok(Self::default());
        };
        let mut m = MapReader::new(value.clone())?;
        let cred_protect = match m.take("credProtect") {
            None => None,
            Some(v) => {
                let level = v.as_unsigned().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE)?;
                Some(
                    u8::try_from(level)
                        .ok()
                        .filter(|l| (1..=3).contains(l))
                        .ok_or(CTAP1_ERR_INVALID_PARAMETER)?,
                )
            }
        };
        Ok(Self {
            cred_protect,
            hmac_secret: m.bool("hmac-secret")?.unwrap_or(false),
            cred_blob: m.bytes("credBlob")?,
            min_pin_length: m.bool("minPinLength")?.unwrap_or(false),
        })
    }

    /// The CredRandom pair for hmac-secret, when asked for.
    pub fn hmac_secret_keys(&self) -> CtapResult<(Option<SecretBytes>, Option<SecretBytes>)> {
        if !self.hmac_secret {
            return Ok((None, None));
        }
        let with_uv = SecretBytes::random(32).map_err(|_| CTAP1_ERR_OTHER)?;
        let without_uv = SecretBytes::random(32).map_err(|_| CTAP1_ERR_OTHER)?;
        Ok((Some(with_uv), Some(without_uv)))
    }

    /// The credBlob to store: only one that fits.
    pub fn cred_blob_to_store(&self) -> Option<Vec<u8>> {
        self.cred_blob
            .clone()
            .filter(|b| b.len() <= MAX_CRED_BLOB_LENGTH)
    }

    /// Extension outputs for the attested authenticator data.
    pub fn outputs(&self, stored_protect: u8, min_pin_length: Option<u8>) -> Value {
        let mut out = Vec::new();
        if let Some(blob) = &self.cred_blob {
            out.push((
                Value::from("credBlob"),
                Value::Bool(blob.len() <= MAX_CRED_BLOB_LENGTH),
            ));
        }
        if self.cred_protect.is_some() {
            out.push((
                Value::from("credProtect"),
                Value::Unsigned(u64::from(stored_protect)),
            ));
        }
        if self.hmac_secret {
            out.push((Value::from("hmac-secret"), Value::Bool(true)));
        }
        if let (true, Some(len)) = (self.min_pin_length, min_pin_length) {
            out.push((Value::from("minPinLength"), Value::Unsigned(u64::from(len))));
        }
        Value::map(out)
    }
}

/// The hmac-secret input of getAssertion, decrypted (§12.5).
pub struct HmacSecretInput {
    shared: SharedSecret,
    salts: SecretBytes,
}

/// getAssertion extension inputs.
#[derive(Default)]
pub struct AssertionExtensions {
    pub hmac_secret: Option<HmacSecretInput>,
    pub cred_blob: bool,
}

impl AssertionExtensions {
    pub fn parse(value: Option<&Value>, key_agreement: &KeyAgreementKey) -> CtapResult<Self> {
        let Some(value) = value else {
            return Ok(Self::default());
        };
        let mut m = MapReader::new(value.clone())?;
        let hmac_secret = match m.take("hmac-secret") {
            None => None,
            Some(v) => Some(HmacSecretInput::parse(v, key_agreement)?),
        };
        Ok(Self {
            hmac_secret,
            cred_blob: m.bool("credBlob")?.unwrap_or(false),
        })
    }

    /// Outputs for one credential; `uv` selects the CredRandom (§12.5).
    pub fn outputs(
        &self,
        cred_blob: Option<&[u8]>,
        secrets: &CredentialSecrets,
        uv: bool,
    ) -> CtapResult<Value> {
        let mut out = Vec::new();
        if self.cred_blob {
            out.push((
                Value::from("credBlob"),
                Value::from(cred_blob.unwrap_or_default().to_vec()),
            ));
        }
        if let Some(input) = &self.hmac_secret {
            let cred_random = if uv {
                secrets.cred_random_with_uv.as_ref()
            } else {
                secrets.cred_random_without_uv.as_ref()
            };
            if let Some(cred_random) = cred_random {
                out.push((
                    Value::from("hmac-secret"),
                    Value::from(input.output(cred_random)?),
                ));
            }
        }
        Ok(Value::map(out))
    }
}

impl HmacSecretInput {
    fn parse(value: Value, key_agreement: &KeyAgreementKey) -> CtapResult<Self> {
        let mut m = MapReader::new(value).map_err(|_| CTAP2_ERR_CBOR_UNEXPECTED_TYPE)?;
        let peer = m.take(1).ok_or(CTAP2_ERR_MISSING_PARAMETER)?;
        let salt_enc = m.required_bytes(2)?;
        let salt_auth = m.required_bytes(3)?;
        let protocol = PinUvAuthProtocol::from_u64(m.unsigned(4)?.unwrap_or(1))
            .ok_or(CTAP1_ERR_INVALID_PARAMETER)?;
        let (x, y) = parse_key_agreement(peer)?;
        let shared = key_agreement
            .shared_secret(protocol, &x, &y)
            .map_err(|_| CTAP1_ERR_INVALID_PARAMETER)?;
        if !shared.verify(&salt_enc, &salt_auth) {
            return Err(CTAP2_ERR_PIN_AUTH_INVALID);
        }
        let salts = shared
            .decrypt(&salt_enc)
            .map_err(|_| CTAP1_ERR_INVALID_LENGTH)?;
        if salts.len() != 32 && salts.len() != 64 {
            return Err(CTAP1_ERR_INVALID_LENGTH);
        }
        Ok(Self { shared, salts })
    }

    fn output(&self, cred_random: &SecretBytes) -> CtapResult<Vec<u8>> {
        let mut outputs = zeroize::Zeroizing::new(Vec::with_capacity(64));
        for salt in self.salts.expose().chunks(32) {
            let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(cred_random.expose())
                .map_err(|_| CTAP1_ERR_OTHER)?;
            mac.update(salt);
            outputs.extend_from_slice(&mac.finalize().into_bytes());
        }
        self.shared.encrypt(&outputs).map_err(|_| CTAP1_ERR_OTHER)
    }
}
