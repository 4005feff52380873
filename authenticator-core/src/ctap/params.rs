//! The structures that several commands share: credential descriptors (allowList,
//! excludeList, credential management) and the options map. They are read with
//! [`MapReader`], so a wrong type is CTAP2_ERR_CBOR_UNEXPECTED_TYPE and a missing member
//! CTAP2_ERR_MISSING_PARAMETER; unknown members are ignored, as CTAP 2.1 §8 asks.

use super::status::{CTAP2_ERR_CBOR_UNEXPECTED_TYPE, CtapResult};
use crate::cbor::{MapReader, Value};

/// Names (rp name, user name, display name) are stored at most this long: CTAP 2.1 §6.1.2
/// lets the authenticator truncate them to 64 bytes, and it keeps every response that carries
/// them (credential management, UV'd assertions) within maxMsgSize.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest rp id accepted: DNS names have at most 253 characters.
pub const MAX_RP_ID_BYTES: usize = 256;

/// `name` cut to at most `MAX_NAME_BYTES` bytes on a character boundary.
pub fn truncate_name(name: Option<String>) -> Option<String> {
    name.map(|mut n| {
        if n.len() > MAX_NAME_BYTES {
            let mut end = MAX_NAME_BYTES;
            while !n.is_char_boundary(end) {
                end -= 1;
            }
            n.truncate(end);
        }
        n
    })
}

/// A PublicKeyCredentialDescriptor: {"type": "public-key", "id": bytes, ...}.
pub struct Descriptor {
    pub id: Vec<u8>,
    /// Only "public-key" descriptors name credentials; others are ignored.
    pub is_public_key: bool,
}

impl Descriptor {
    pub fn parse(value: &Value) -> CtapResult<Self> {
        let mut m = MapReader::new(value.clone())?;
        let kind = m.required_text("type")?;
        let id = m.required_bytes("id")?;
        Ok(Self {
            id,
            is_public_key: kind == "public-key",
        })
    }

    pub fn to_value(id: &[u8]) -> Value {
        Value::map([
            (Value::from("id"), Value::from(id.to_vec())),
            (Value::from("type"), Value::from("public-key")),
        ])
    }
}

/// Parses an allowList/excludeList: every entry must be a well-formed descriptor.
pub fn descriptor_list(value: Option<Value>) -> CtapResult<Vec<Descriptor>> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Descriptor::parse).collect(),
        Some(_) => Err(CTAP2_ERR_CBOR_UNEXPECTED_TYPE),
    }
}

/// The options map: `up`, `uv`, `rk` (each a bool when present).
pub struct Options {
    pub rk: Option<bool>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
}

impl Options {
    pub fn parse(value: Option<&Value>) -> CtapResult<Self> {
        let Some(value) = value else {
            return Ok(Self {
                rk: None,
                up: None,
                uv: None,
            });
        };
        let mut m = MapReader::new(value.clone())?;
        Ok(Self {
            rk: m.bool("rk")?,
            up: m.bool("up")?,
            uv: m.bool("uv")?,
        })
    }
}

/// The members of a command whose subcommand a pinUvAuthToken authenticates: credential
/// management (§6.8) and authenticatorConfig (§6.11) use the same four keys. The subcommand's
/// own parameters are read only after the token has authenticated them.
pub struct SubCommandRequest {
    pub sub_command: u64,
    pub sub_command_params: Option<Value>,
    pub pin_uv_auth_protocol: Option<u64>,
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl SubCommandRequest {
    pub fn parse(params: &[u8]) -> CtapResult<Self> {
        let mut p = super::decode_params(params)?;
        Ok(Self {
            sub_command: p.required_unsigned(0x01)?,
            sub_command_params: p.take(0x02),
            pin_uv_auth_protocol: p.unsigned(0x03)?,
            pin_uv_auth_param: p.bytes(0x04)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_to_64_bytes_on_a_character_boundary() {
        assert_eq!(
            truncate_name(Some("alice".into())).as_deref(),
            Some("alice")
        );
        let long = "é".repeat(40); // 80 bytes
        let cut = truncate_name(Some(long)).unwrap();
        assert_eq!(cut.len(), 64);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate_name(Some("x".repeat(65))).unwrap().len(), 64);
        assert_eq!(truncate_name(None), None);
    }
}
