//! The structures that several commands share: credential descriptors (allowList,
//! excludeList, credential management) and the options map. They are read with
//! [`MapReader`], so a wrong type is CTAP2_ERR_CBOR_UNEXPECTED_TYPE and a missing member
//! CTAP2_ERR_MISSING_PARAMETER; unknown members are ignored, as CTAP 2.1 §8 asks.

use super::cbor::{MapReader, Value};
use super::status::{CTAP2_ERR_CBOR_UNEXPECTED_TYPE, CtapResult};

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
