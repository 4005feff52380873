//! Reading the text-keyed maps inside CTAP requests (rp, user, options, credential
//! descriptors, extensions), with the spec's errors: a wrong type is
//! CTAP2_ERR_CBOR_UNEXPECTED_TYPE, a missing required member CTAP2_ERR_MISSING_PARAMETER.
//! Unknown members are ignored, as CTAP 2.1 §8 asks.

use super::cbor::Value;
use super::status::{CTAP2_ERR_CBOR_UNEXPECTED_TYPE, CTAP2_ERR_MISSING_PARAMETER, CtapResult};

/// A text-keyed CBOR map.
pub struct Members<'a>(&'a [(Value, Value)]);

impl<'a> Members<'a> {
    pub fn of(value: &'a Value) -> CtapResult<Self> {
        value
            .as_map()
            .map(Members)
            .ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE)
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
    }

    pub fn text(&self, name: &str) -> CtapResult<Option<&'a str>> {
        self.get(name)
            .map(|v| v.as_text().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE))
            .transpose()
    }

    pub fn required_text(&self, name: &str) -> CtapResult<&'a str> {
        self.text(name)?.ok_or(CTAP2_ERR_MISSING_PARAMETER)
    }

    pub fn bytes(&self, name: &str) -> CtapResult<Option<&'a [u8]>> {
        self.get(name)
            .map(|v| v.as_bytes().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE))
            .transpose()
    }

    pub fn required_bytes(&self, name: &str) -> CtapResult<&'a [u8]> {
        self.bytes(name)?.ok_or(CTAP2_ERR_MISSING_PARAMETER)
    }

    pub fn bool(&self, name: &str) -> CtapResult<Option<bool>> {
        self.get(name)
            .map(|v| v.as_bool().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE))
            .transpose()
    }

    pub fn int(&self, name: &str) -> CtapResult<Option<i64>> {
        self.get(name)
            .map(|v| v.as_int().ok_or(CTAP2_ERR_CBOR_UNEXPECTED_TYPE))
            .transpose()
    }
}

/// A PublicKeyCredentialDescriptor: {"type": "public-key", "id": bytes, ...}.
pub struct Descriptor {
    pub id: Vec<u8>,
    /// Only "public-key" descriptors name credentials; others are ignored.
    pub is_public_key: bool,
}

impl Descriptor {
    pub fn parse(value: &Value) -> CtapResult<Self> {
        let m = Members::of(value)?;
        let kind = m.required_text("type")?;
        let id = m.required_bytes("id")?;
        Ok(Self {
            id: id.to_vec(),
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
        let m = Members::of(value)?;
        Ok(Self {
            rk: m.bool("rk")?,
            up: m.bool("up")?,
            uv: m.bool("uv")?,
        })
    }
}
