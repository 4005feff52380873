//! Strict CTAP2-canonical CBOR: the decoder every request goes through, the encoder every
//! response comes from, and a typed reader for the `{1: .., 2: ..}` maps of CTAP commands.
//!
//! Invariants:
//! - `decode` accepts exactly the bytes `encode` produces: if `decode(b) == Ok(v)` then
//!   `encode(&v) == b`. Clients (python-fido2, browsers) reject anything that is not in the
//!   "CTAP2 canonical CBOR encoding form" (CTAP 2.1 §8, "Message Encoding"), and hashes or
//!   signatures over re-encoded data only match if there is one encoding per value.
//! - Map entries of a decoded `Value` are in canonical order and have no duplicate keys.
//! - Decoding untrusted input is bounded: nothing is allocated beyond a size proportional to the
//!   input, recursion stops at `MAX_DEPTH`, and the work at `MAX_ITEMS` data items.
//!
//! Only what CTAP2 uses is supported: integers, byte and text strings, arrays, maps, booleans
//! and null. Tags, floats, other simple values and indefinite lengths are rejected.

use std::cmp::Ordering;
use std::fmt;

use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

/// Deepest nesting of arrays and maps that `decode` accepts. CTAP 2.1 §8 caps messages at 4
/// levels and requires authenticators to support at least 4; the slack costs nothing and keeps
/// vendor extensions working.
pub const MAX_DEPTH: usize = 8;

/// Most data items (map keys and values count separately) that `decode` accepts in one input.
/// Every item takes at least one byte, so this only bites on inputs larger than any CTAP message
/// this authenticator advertises (`maxMsgSize`).
pub const MAX_ITEMS: usize = 16_384;

// CTAP 2.1 §8.2 "Status codes". `ctap::status` has the engine's copies; these stay private so
// the mapping from codec errors to status bytes lives in this file alone.
const CTAP2_ERR_CBOR_UNEXPECTED_TYPE: u8 = 0x11;
const CTAP2_ERR_INVALID_CBOR: u8 = 0x12;
const CTAP2_ERR_MISSING_PARAMETER: u8 = 0x14;

// RFC 8949 §3.1 major types.
const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_NEGATIVE: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;

// RFC 8949 §3.3: the only major-type-7 items CTAP2 uses, each a single byte.
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;

/// A CBOR data item of the subset CTAP2 uses.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    Unsigned(u64),
    /// The integer `-1 - n`, so the whole CBOR range down to `-2^64` fits.
    Negative(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    /// Entries in any order; `encode` sorts them. Keys must be distinct.
    Map(Vec<(Value, Value)>),
    Bool(bool),
    Null,
}

impl Value {
    pub fn int(n: i64) -> Self {
        if n >= 0 {
            Value::Unsigned(n.unsigned_abs())
        } else {
            // -1 - n for n < 0 is |n| - 1, which cannot underflow because |n| >= 1.
            Value::Negative(n.unsigned_abs() - 1)
        }
    }

    pub fn map(entries: impl IntoIterator<Item = (Value, Value)>) -> Self {
        Value::Map(entries.into_iter().collect())
    }

    /// The value as an `i64`, if it is an integer in that range.
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Value::Unsigned(n) => i64::try_from(n).ok(),
            // n <= i64::MAX here, so -1 - n >= i64::MIN.
            Value::Negative(n) => i64::try_from(n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    pub fn as_unsigned(&self) -> Option<u64> {
        match *self {
            Value::Unsigned(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Bytes(b.to_vec())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}

/// Why `decode` refused an input. Every variant maps to `CTAP2_ERR_INVALID_CBOR` (0x12): CTAP
/// 2.1 §8.2 reserves it for input that is not valid (canonical) CBOR, while
/// `CTAP2_ERR_CBOR_UNEXPECTED_TYPE` (0x11) is for valid CBOR of the wrong shape, which only the
/// command parser can judge (see `FieldError`). Variants carry no input bytes, so logging them
/// cannot leak request contents.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CborError {
    /// The input ends inside a data item, or declares a length longer than what is left.
    /// CTAP2_ERR_INVALID_CBOR.
    #[error("CBOR input is truncated")]
    Truncated,
    /// Bytes follow the single top-level data item. CTAP2_ERR_INVALID_CBOR.
    #[error("bytes follow the CBOR data item")]
    TrailingBytes,
    /// A non-minimal integer or length, or map keys out of canonical order or duplicated.
    /// CTAP2_ERR_INVALID_CBOR.
    #[error("CBOR is not in CTAP2 canonical form")]
    NonCanonical,
    /// A tag, float, simple value other than false/true/null, indefinite length, or reserved
    /// additional information (28-30). CTAP2_ERR_INVALID_CBOR.
    #[error("CBOR uses a feature CTAP2 does not")]
    Unsupported,
    /// A text string that is not UTF-8. CTAP2_ERR_INVALID_CBOR.
    #[error("CBOR text string is not valid UTF-8")]
    InvalidUtf8,
    /// Arrays and maps nested deeper than `MAX_DEPTH`. CTAP2_ERR_INVALID_CBOR.
    #[error("CBOR nesting is too deep")]
    TooDeep,
    /// More than `MAX_ITEMS` data items. CTAP2_ERR_INVALID_CBOR.
    #[error("CBOR input has too many data items")]
    TooLarge,
}

impl CborError {
    /// The CTAP status byte the engine returns for this error.
    pub fn ctap_status(&self) -> u8 {
        // Exhaustive on purpose: a new variant has to decide its status here.
        match self {
            CborError::Truncated
            | CborError::TrailingBytes
            | CborError::NonCanonical
            | CborError::Unsupported
            | CborError::InvalidUtf8
            | CborError::TooDeep
            | CborError::TooLarge => CTAP2_ERR_INVALID_CBOR,
        }
    }
}

/// `value` in CTAP2 canonical form.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// `value` in CTAP2 canonical form, for values that hold a secret: the buffer is allocated once at
/// its final size (no reallocation leaves a partial copy in freed memory) and zeroized on drop.
/// Pair it with a `Zeroizing<Value>` so the tree's own copy is wiped too.
pub fn encode_secret(value: &Value) -> Zeroizing<Vec<u8>> {
    let len = encoded_len(value);
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    encode_into(value, &mut out);
    debug_assert_eq!(out.len(), len, "encoded_len disagrees with encode_into");
    out
}

/// The exact length of `encode(value)`, without encoding it.
pub fn encoded_len(value: &Value) -> usize {
    fn head(argument: u64) -> usize {
        match argument {
            0..=23 => 1,
            24..=0xff => 2,
            0x100..=0xffff => 3,
            0x1_0000..=0xffff_ffff => 5,
            _ => 9,
        }
    }
    match value {
        Value::Unsigned(n) | Value::Negative(n) => head(*n),
        Value::Bytes(bytes) => head(len_u64(bytes.len())) + bytes.len(),
        Value::Text(text) => head(len_u64(text.len())) + text.len(),
        Value::Array(items) => {
            head(len_u64(items.len())) + items.iter().map(encoded_len).sum::<usize>()
        }
        Value::Map(entries) => {
            head(len_u64(entries.len()))
                + entries
                    .iter()
                    .map(|(k, v)| encoded_len(k) + encoded_len(v))
                    .sum::<usize>()
        }
        Value::Bool(_) | Value::Null => 1,
    }
}

/// Wipes every byte and text string in the tree (a `Zeroizing<Value>` does it on drop). Integers,
/// booleans and the tree's shape are not secret and stay.
impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::Bytes(bytes) => bytes.zeroize(),
            Value::Text(text) => text.zeroize(),
            Value::Array(items) => items.iter_mut().for_each(Zeroize::zeroize),
            Value::Map(entries) => entries.iter_mut().for_each(|(key, value)| {
                key.zeroize();
                value.zeroize();
            }),
            Value::Unsigned(_) | Value::Negative(_) | Value::Bool(_) | Value::Null => {}
        }
    }
}

/// Appends `value` in CTAP2 canonical form to `out`. Map entries are sorted here, whatever their
/// order in the `Value`. A map with duplicate keys is a caller bug: its encoding would be
/// refused by `decode` and by clients.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Unsigned(n) => write_head(out, MAJOR_UNSIGNED, *n),
        Value::Negative(n) => write_head(out, MAJOR_NEGATIVE, *n),
        Value::Bytes(bytes) => {
            write_head(out, MAJOR_BYTES, len_u64(bytes.len()));
            out.extend_from_slice(bytes);
        }
        Value::Text(text) => {
            write_head(out, MAJOR_TEXT, len_u64(text.len()));
            out.extend_from_slice(text.as_bytes());
        }
        Value::Array(items) => {
            write_head(out, MAJOR_ARRAY, len_u64(items.len()));
            for item in items {
                encode_into(item, out);
            }
        }
        Value::Map(entries) => {
            // The order is defined on encoded keys, so encode them first.
            let mut keyed: Vec<(Vec<u8>, &Value)> =
                entries.iter().map(|(k, v)| (encode(k), v)).collect();
            keyed.sort_by(|a, b| canonical_key_order(&a.0, &b.0));
            debug_assert!(
                keyed.windows(2).all(|w| matches!(w, [a, b] if a.0 != b.0)),
                "CBOR map with duplicate keys"
            );
            write_head(out, MAJOR_MAP, len_u64(keyed.len()));
            for (key, value) in keyed {
                out.extend_from_slice(&key);
                encode_into(value, out);
            }
        }
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Null => out.push(NULL),
    }
}

/// The CTAP2 map key order (CTAP 2.1 §8, "CTAP2 canonical CBOR encoding form"): lower major type
/// first, then shorter encoding, then bytewise. For integer and string keys this is plain bytewise
/// order of the encodings; it differs from RFC 7049 §3.9 "length first" when major types differ
/// (24 = `18 18` sorts before -1 = `20` here, after it there).
fn canonical_key_order(a: &[u8], b: &[u8]) -> Ordering {
    let major = |key: &[u8]| key.first().map(|initial| initial >> 5);
    major(a)
        .cmp(&major(b))
        .then(a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

/// Writes a major type and its argument in the shortest form (RFC 8949 §4.2.1, which CTAP 2.1 §8
/// adopts for integers and lengths).
fn write_head(out: &mut Vec<u8>, major: u8, argument: u64) {
    let major = major << 5;
    if let Ok(small) = u8::try_from(argument) {
        if small < 24 {
            out.push(major | small);
        } else {
            out.extend_from_slice(&[major | 24, small]);
        }
    } else if let Ok(short) = u16::try_from(argument) {
        out.push(major | 25);
        out.extend_from_slice(&short.to_be_bytes());
    } else if let Ok(word) = u32::try_from(argument) {
        out.push(major | 26);
        out.extend_from_slice(&word.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&argument.to_be_bytes());
    }
}

fn len_u64(len: usize) -> u64 {
    // usize is at most 64 bits on every target Rust supports, so this never saturates.
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// Decodes exactly one data item that fills `bytes`, refusing anything not in CTAP2 canonical
/// form.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let (value, rest) = decode_prefix(bytes)?;
    if !rest.is_empty() {
        return Err(CborError::TrailingBytes);
    }
    Ok(value)
}

/// Decodes the data item at the start of `bytes` with the same strictness and returns it with
/// the bytes after it (authenticator data holds a COSE key followed by the extensions map).
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, &[u8]), CborError> {
    let mut decoder = Decoder {
        input: bytes,
        pos: 0,
        items: 0,
    };
    let value = decoder.item(0)?;
    Ok((value, bytes.get(decoder.pos..).unwrap_or_default()))
}

struct Decoder<'a> {
    input: &'a [u8],
    /// Always <= `input.len()`.
    pos: usize,
    /// Data items started so far, bounded by `MAX_ITEMS`.
    items: usize,
}

impl<'a> Decoder<'a> {
    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self.pos.checked_add(n).ok_or(CborError::Truncated)?;
        let bytes = self.input.get(self.pos..end).ok_or(CborError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        self.take(N)?.try_into().map_err(|_| CborError::Truncated)
    }

    /// The argument of a head (RFC 8949 §3), which must use the shortest form.
    fn argument(&mut self, info: u8) -> Result<u64, CborError> {
        let (value, smallest_allowed) = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => (u64::from(self.take_array::<1>()?[0]), 24),
            25 => (u64::from(u16::from_be_bytes(self.take_array()?)), 0x100),
            26 => (u64::from(u32::from_be_bytes(self.take_array()?)), 0x1_0000),
            27 => (u64::from_be_bytes(self.take_array()?), 0x1_0000_0000),
            // 28-30 are reserved; 31 is an indefinite length (or a break), banned by CTAP2.
            _ => return Err(CborError::Unsupported),
        };
        if value < smallest_allowed {
            return Err(CborError::NonCanonical);
        }
        Ok(value)
    }

    /// A count of things each taking at least `min_bytes` of the remaining input. Checked before
    /// anything is allocated, so a short input claiming a huge length fails at once.
    fn count(&mut self, info: u8, min_bytes: usize) -> Result<usize, CborError> {
        let declared = self.argument(info)?;
        // A count beyond usize cannot fit in the input either.
        let count = usize::try_from(declared).map_err(|_| CborError::Truncated)?;
        let needed = count.checked_mul(min_bytes).ok_or(CborError::Truncated)?;
        if needed > self.remaining() {
            return Err(CborError::Truncated);
        }
        Ok(count)
    }

    /// Fails early when `count` more items cannot fit the item budget, instead of after decoding
    /// up to `MAX_ITEMS` of them.
    fn reserve_items(&self, count: usize) -> Result<(), CborError> {
        if count > MAX_ITEMS.saturating_sub(self.items) {
            return Err(CborError::TooLarge);
        }
        Ok(())
    }

    /// One data item; `depth` is the number of arrays and maps around it.
    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(CborError::TooLarge);
        }
        let [initial] = self.take_array::<1>()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        match major {
            MAJOR_UNSIGNED => Ok(Value::Unsigned(self.argument(info)?)),
            MAJOR_NEGATIVE => Ok(Value::Negative(self.argument(info)?)),
            MAJOR_BYTES => {
                let len = self.count(info, 1)?;
                Ok(Value::Bytes(self.take(len)?.to_vec()))
            }
            MAJOR_TEXT => {
                let len = self.count(info, 1)?;
                let text =
                    std::str::from_utf8(self.take(len)?).map_err(|_| CborError::InvalidUtf8)?;
                Ok(Value::Text(text.to_owned()))
            }
            MAJOR_ARRAY => {
                let depth = nested(depth)?;
                let len = self.count(info, 1)?;
                self.reserve_items(len)?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.item(depth)?);
                }
                Ok(Value::Array(items))
            }
            MAJOR_MAP => {
                let depth = nested(depth)?;
                let len = self.count(info, 2)?;
                self.reserve_items(len.saturating_mul(2))?;
                let mut entries = Vec::with_capacity(len);
                let mut previous_key: Option<&[u8]> = None;
                for _ in 0..len {
                    let start = self.pos;
                    let key = self.item(depth)?;
                    // The key was itself decoded strictly, so its input bytes are its canonical
                    // encoding and can be compared directly.
                    let key_bytes = self.input.get(start..self.pos).unwrap_or_default();
                    if let Some(previous) = previous_key
                        && canonical_key_order(previous, key_bytes) != Ordering::Less
                    {
                        return Err(CborError::NonCanonical);
                    }
                    previous_key = Some(key_bytes);
                    let value = self.item(depth)?;
                    entries.push((key, value));
                }
                Ok(Value::Map(entries))
            }
            MAJOR_TAG => Err(CborError::Unsupported),
            // Major type 7: floats, simple values, break. Only the three CTAP2 uses pass.
            _ => match initial {
                FALSE => Ok(Value::Bool(false)),
                TRUE => Ok(Value::Bool(true)),
                NULL => Ok(Value::Null),
                _ => Err(CborError::Unsupported),
            },
        }
    }
}

fn nested(depth: usize) -> Result<usize, CborError> {
    let depth = depth + 1;
    if depth > MAX_DEPTH {
        return Err(CborError::TooDeep);
    }
    Ok(depth)
}

/// A map key as named in a `FieldError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKey {
    Int(i64),
    Text(String),
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldKey::Int(n) => write!(f, "{n}"),
            FieldKey::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// Why a command's parameter map could not be read. Messages name the key only, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldError {
    /// A required key is absent. CTAP2_ERR_MISSING_PARAMETER (0x14).
    #[error("required parameter {0} is missing")]
    Missing(FieldKey),
    /// The key is present with a value of another type (or an integer out of `i64` range).
    /// CTAP2_ERR_CBOR_UNEXPECTED_TYPE (0x11).
    #[error("parameter {0} has the wrong type")]
    WrongType(FieldKey),
    /// The value given to `MapReader::new` is not a map. CTAP2_ERR_CBOR_UNEXPECTED_TYPE (0x11).
    #[error("expected a CBOR map")]
    NotAMap,
}

impl FieldError {
    /// The CTAP status byte the engine returns for this error.
    pub fn ctap_status(&self) -> u8 {
        match self {
            FieldError::Missing(_) => CTAP2_ERR_MISSING_PARAMETER,
            FieldError::WrongType(_) | FieldError::NotAMap => CTAP2_ERR_CBOR_UNEXPECTED_TYPE,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i64 {}
    impl Sealed for &str {}
}

/// A key `MapReader` can look up: `i64` for command parameter maps, `&str` for maps such as
/// `options` and `extensions`. Sealed, and with one integer impl only, so a literal like `1`
/// keeps inferring to `i64`.
pub trait MapKey: Copy + sealed::Sealed {
    fn matches(self, key: &Value) -> bool;
    fn field_key(self) -> FieldKey;
}

impl MapKey for i64 {
    fn matches(self, key: &Value) -> bool {
        key.as_int() == Some(self)
    }

    fn field_key(self) -> FieldKey {
        FieldKey::Int(self)
    }
}

impl MapKey for &str {
    fn matches(self, key: &Value) -> bool {
        key.as_text() == Some(self)
    }

    fn field_key(self) -> FieldKey {
        FieldKey::Text(self.to_owned())
    }
}

/// Typed access to a CBOR map, taking entries out as they are read. Keys never asked for are
/// ignored: CTAP 2.1 has authenticators ignore unknown parameters, and the command decides what
/// else to do with the rest (`into_entries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapReader {
    entries: Vec<(Value, Value)>,
}

impl MapReader {
    pub fn new(value: Value) -> Result<Self, FieldError> {
        match value {
            Value::Map(entries) => Ok(Self { entries }),
            _ => Err(FieldError::NotAMap),
        }
    }

    /// Removes and returns the value under `key`.
    pub fn take<K: MapKey>(&mut self, key: K) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| key.matches(k))?;
        Some(self.entries.swap_remove(index).1)
    }

    /// The entries not taken yet.
    pub fn into_entries(self) -> Vec<(Value, Value)> {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn typed<K: MapKey, T>(
        &mut self,
        key: K,
        convert: impl FnOnce(Value) -> Option<T>,
    ) -> Result<Option<T>, FieldError> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => convert(value)
                .map(Some)
                .ok_or_else(|| FieldError::WrongType(key.field_key())),
        }
    }

    pub fn bytes<K: MapKey>(&mut self, key: K) -> Result<Option<Vec<u8>>, FieldError> {
        self.typed(key, |v| match v {
            Value::Bytes(b) => Some(b),
            _ => None,
        })
    }

    pub fn text<K: MapKey>(&mut self, key: K) -> Result<Option<String>, FieldError> {
        self.typed(key, |v| match v {
            Value::Text(s) => Some(s),
            _ => None,
        })
    }

    pub fn unsigned<K: MapKey>(&mut self, key: K) -> Result<Option<u64>, FieldError> {
        self.typed(key, |v| v.as_unsigned())
    }

    pub fn int<K: MapKey>(&mut self, key: K) -> Result<Option<i64>, FieldError> {
        self.typed(key, |v| v.as_int())
    }

    pub fn bool<K: MapKey>(&mut self, key: K) -> Result<Option<bool>, FieldError> {
        self.typed(key, |v| v.as_bool())
    }

    pub fn map<K: MapKey>(&mut self, key: K) -> Result<Option<MapReader>, FieldError> {
        self.typed(key, |v| MapReader::new(v).ok())
    }

    pub fn array<K: MapKey>(&mut self, key: K) -> Result<Option<Vec<Value>>, FieldError> {
        self.typed(key, |v| match v {
            Value::Array(items) => Some(items),
            _ => None,
        })
    }

    pub fn required_bytes<K: MapKey>(&mut self, key: K) -> Result<Vec<u8>, FieldError> {
        required(key, self.bytes(key))
    }

    pub fn required_text<K: MapKey>(&mut self, key: K) -> Result<String, FieldError> {
        required(key, self.text(key))
    }

    pub fn required_unsigned<K: MapKey>(&mut self, key: K) -> Result<u64, FieldError> {
        required(key, self.unsigned(key))
    }

    pub fn required_int<K: MapKey>(&mut self, key: K) -> Result<i64, FieldError> {
        required(key, self.int(key))
    }

    pub fn required_bool<K: MapKey>(&mut self, key: K) -> Result<bool, FieldError> {
        required(key, self.bool(key))
    }

    pub fn required_map<K: MapKey>(&mut self, key: K) -> Result<MapReader, FieldError> {
        required(key, self.map(key))
    }

    pub fn required_array<K: MapKey>(&mut self, key: K) -> Result<Vec<Value>, FieldError> {
        required(key, self.array(key))
    }
}

fn required<K: MapKey, T>(key: K, field: Result<Option<T>, FieldError>) -> Result<T, FieldError> {
    field?.ok_or_else(|| FieldError::Missing(key.field_key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn text(s: &str) -> Value {
        Value::from(s)
    }

    fn array(items: Vec<Value>) -> Value {
        Value::Array(items)
    }

    fn assert_round_trip(value: Value, encoded: &str) {
        let bytes = hex(encoded);
        assert_eq!(encode(&value), bytes, "encoding {value:?}");
        assert_eq!(decode(&bytes), Ok(value), "decoding {encoded}");
    }

    fn assert_rejected(encoded: &str, error: CborError) {
        assert_eq!(decode(&hex(encoded)), Err(error), "decoding {encoded}");
    }

    #[test]
    fn rfc8949_appendix_a_integers() {
        assert_round_trip(Value::Unsigned(0), "00");
        assert_round_trip(Value::Unsigned(1), "01");
        assert_round_trip(Value::Unsigned(10), "0a");
        assert_round_trip(Value::Unsigned(23), "17");
        assert_round_trip(Value::Unsigned(24), "1818");
        assert_round_trip(Value::Unsigned(25), "1819");
        assert_round_trip(Value::Unsigned(100), "1864");
        assert_round_trip(Value::Unsigned(1000), "1903e8");
        assert_round_trip(Value::Unsigned(1_000_000), "1a000f4240");
        assert_round_trip(Value::Unsigned(1_000_000_000_000), "1b000000e8d4a51000");
        assert_round_trip(Value::Unsigned(u64::MAX), "1bffffffffffffffff");
        assert_round_trip(Value::Negative(u64::MAX), "3bffffffffffffffff");
        assert_round_trip(Value::int(-1), "20");
        assert_round_trip(Value::int(-10), "29");
        assert_round_trip(Value::int(-100), "3863");
        assert_round_trip(Value::int(-1000), "3903e7");
    }

    #[test]
    fn rfc8949_appendix_a_simple_and_strings() {
        assert_round_trip(Value::Bool(false), "f4");
        assert_round_trip(Value::Bool(true), "f5");
        assert_round_trip(Value::Null, "f6");
        assert_round_trip(Value::Bytes(Vec::new()), "40");
        assert_round_trip(Value::from(vec![1, 2, 3, 4]), "4401020304");
        assert_round_trip(text(""), "60");
        assert_round_trip(text("a"), "6161");
        assert_round_trip(text("IETF"), "6449455446");
        assert_round_trip(text("\"\\"), "62225c");
        assert_round_trip(text("\u{00fc}"), "62c3bc");
        assert_round_trip(text("\u{6c34}"), "63e6b0b4");
        assert_round_trip(text("\u{10151}"), "64f0908591");
    }

    #[test]
    fn rfc8949_appendix_a_containers() {
        let n = |i: u64| Value::Unsigned(i);
        assert_round_trip(array(vec![]), "80");
        assert_round_trip(array(vec![n(1), n(2), n(3)]), "83010203");
        assert_round_trip(
            array(vec![n(1), array(vec![n(2), n(3)]), array(vec![n(4), n(5)])]),
            "8301820203820405",
        );
        assert_round_trip(
            array((1..=25).map(n).collect()),
            "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
        );
        assert_round_trip(Value::map([]), "a0");
        assert_round_trip(Value::map([(n(1), n(2)), (n(3), n(4))]), "a201020304");
        assert_round_trip(
            Value::map([(text("a"), n(1)), (text("b"), array(vec![n(2), n(3)]))]),
            "a26161016162820203",
        );
        assert_round_trip(
            array(vec![text("a"), Value::map([(text("b"), text("c"))])]),
            "826161a161626163",
        );
        assert_round_trip(
            Value::map(["a", "b", "c", "d", "e"].map(|k| (text(k), text(&k.to_uppercase())))),
            "a56161614161626142616361436164614461656145",
        );
    }

    #[test]
    fn int_constructor_and_accessor_cover_i64() {
        for n in [0, 1, 23, 24, -1, -24, -25, i64::MAX, i64::MIN] {
            assert_eq!(Value::int(n).as_int(), Some(n));
        }
        assert_eq!(
            Value::int(i64::MIN),
            Value::Negative(i64::MAX.unsigned_abs())
        );
        assert_eq!(Value::Unsigned(u64::MAX).as_int(), None);
        assert_eq!(Value::Negative(u64::MAX).as_int(), None);
        assert_eq!(Value::int(-1).as_unsigned(), None);
        assert_eq!(text("x").as_int(), None);
    }

    #[test]
    fn rejects_non_minimal_integers_and_lengths() {
        for encoded in [
            "1817",
            "190017",
            "1900ff",
            "1a00000017",
            "1a0000ffff",
            "1b0000000000000017",
            "1b00000000ffffffff",
            "3817",
            "39000f",
            "580100",
            "59000100",
            "780161",
            "9800",
            "b800",
            "8298000000", // nested: [[], 0] with a non-minimal inner length
        ] {
            assert_rejected(encoded, CborError::NonCanonical);
        }
    }

    #[test]
    fn rejects_map_keys_out_of_order_or_duplicated() {
        // {2: 0, 1: 0}
        assert_rejected("a2020001 00", CborError::NonCanonical);
        // {"bb": 0, "a": 0}: the shorter key first.
        assert_rejected("a2626262006161 00", CborError::NonCanonical);
        // {"a": 0, 10: 0}: integers before text (major type 0 < 3).
        assert_rejected("a261610 00a00", CborError::NonCanonical);
        // {-1: 0, 24: 0}: major type first, although `20` is shorter than `18 18`.
        assert_rejected("a22000181800", CborError::NonCanonical);
        // {1: 0, 1: 0}
        assert_rejected("a201000100", CborError::NonCanonical);
        // {"a": 0, "a": 1}
        assert_rejected("a2616100616101", CborError::NonCanonical);
        // Out of order inside a nested map.
        assert_rejected("a101a2020001 00", CborError::NonCanonical);
    }

    #[test]
    fn accepts_keys_in_ctap_order() {
        let decoded = decode(&hex("a4 0a00 1818 00 2000 616100")).unwrap();
        assert_eq!(
            decoded,
            Value::map([
                (Value::int(10), Value::int(0)),
                (Value::int(24), Value::int(0)),
                (Value::int(-1), Value::int(0)),
                (text("a"), Value::int(0)),
            ])
        );
    }

    #[test]
    fn encode_sorts_map_keys() {
        let value = Value::map([
            (text("bb"), Value::int(0)),
            (Value::int(-1), Value::int(0)),
            (text("a"), Value::int(0)),
            (Value::int(24), Value::int(0)),
            (Value::int(2), Value::int(0)),
            (Value::int(1), Value::int(0)),
        ]);
        assert_eq!(
            encode(&value),
            hex("a6 0100 0200 181800 2000 616100 62626200")
        );
    }

    #[test]
    fn encodes_a_cose_key_in_the_order_clients_expect() {
        // COSE_Key for ES256 (CTAP 2.1 §6.5.6, RFC 9053): kty, alg, crv, x, y.
        let value = Value::map([
            (Value::int(-3), Value::from(vec![0xbb; 32])),
            (Value::int(-2), Value::from(vec![0xaa; 32])),
            (Value::int(-1), Value::int(1)),
            (Value::int(3), Value::int(-7)),
            (Value::int(1), Value::int(2)),
        ]);
        let expected = format!(
            "a5 0102 0326 2001 215820{} 225820{}",
            "aa".repeat(32),
            "bb".repeat(32)
        );
        assert_eq!(encode(&value), hex(&expected));
    }

    #[test]
    fn rejects_indefinite_lengths_and_reserved_info() {
        for encoded in [
            "5f42010243030405ff",
            "7f657374726561646d696e67ff",
            "9fff",
            "9f018202039f0405ffff",
            "bf61610161629f0203ffff",
            "1c",
            "1d",
            "1e",
            "1f",
            "3c",
            "5c",
            "ff",
        ] {
            assert_rejected(encoded, CborError::Unsupported);
        }
    }

    #[test]
    fn rejects_tags_floats_and_other_simple_values() {
        for encoded in [
            "c074323031332d30332d32315432303a30343a30305a",
            "c11a514b67b0",
            "c249010000000000000000",
            "d74401020304",
            "f93c00",
            "fa47c35000",
            "fb3ff199999999999a",
            "f0",
            "f7",
            "f8ff",
            "f814",
            "81c000",
        ] {
            assert_rejected(encoded, CborError::Unsupported);
        }
    }

    #[test]
    fn rejects_invalid_utf8() {
        for encoded in ["62c328", "61ff", "63eda080", "a161ff00"] {
            assert_rejected(encoded, CborError::InvalidUtf8);
        }
    }

    #[test]
    fn rejects_trailing_bytes() {
        assert_rejected("0000", CborError::TrailingBytes);
        assert_rejected("f500", CborError::TrailingBytes);
        assert_rejected("a0a0", CborError::TrailingBytes);
    }

    #[test]
    fn every_prefix_of_a_valid_encoding_is_truncated() {
        let value = Value::map([
            (Value::int(1), Value::from(vec![7; 40])),
            (
                Value::int(2),
                Value::map([(text("id"), text("example.com"))]),
            ),
            (
                Value::int(4),
                array(vec![Value::map([
                    (text("alg"), Value::int(-7)),
                    (text("type"), text("public-key")),
                ])]),
            ),
            (Value::int(5), Value::Unsigned(1_000_000_000_000)),
            (Value::int(6), Value::int(-1000)),
            (Value::int(7), Value::map([(text("rk"), Value::Bool(true))])),
            (text("text"), text(&"long text ".repeat(30))),
        ]);
        let bytes = encode(&value);
        assert_eq!(decode(&bytes), Ok(value));
        for len in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..len]),
                Err(CborError::Truncated),
                "prefix {len}"
            );
        }
    }

    #[test]
    fn depth_limit() {
        let nested = |levels: usize| {
            let mut bytes = vec![0x81; levels - 1];
            bytes.push(0x80);
            bytes
        };
        assert!(decode(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(decode(&nested(MAX_DEPTH + 1)), Err(CborError::TooDeep));

        // Maps count too, including in mixed nesting: {1: [{1: ...}]}.
        let mut mixed = Vec::new();
        for level in 0..MAX_DEPTH {
            mixed.extend_from_slice(if level % 2 == 0 {
                &[0xa1, 0x01]
            } else {
                &[0x81]
            });
        }
        mixed.push(0x00);
        assert!(decode(&mixed).is_ok());
        let mut too_deep = mixed.clone();
        too_deep.insert(0, 0x81);
        assert_eq!(decode(&too_deep), Err(CborError::TooDeep));
    }

    #[test]
    fn huge_declared_lengths_fail_fast() {
        for encoded in [
            "5affffffff",
            "5b1000000000000000",
            "7b1000000000000000",
            "9b1000000000000000",
            "bb1000000000000000",
            "bb7fffffffffffffff",
            "bbffffffffffffffff",
            "9bffffffffffffffff00",
            "8198ff",
        ] {
            assert_rejected(encoded, CborError::Truncated);
        }
    }

    #[test]
    fn item_limit() {
        // One array plus MAX_ITEMS - 1 zeros: exactly at the limit.
        let at_limit = array(vec![Value::Unsigned(0); MAX_ITEMS - 1]);
        let bytes = encode(&at_limit);
        assert_eq!(decode(&bytes), Ok(at_limit));

        let over = encode(&array(vec![Value::Unsigned(0); MAX_ITEMS]));
        assert_eq!(decode(&over), Err(CborError::TooLarge));

        // The budget is shared across nesting levels.
        let half = array(vec![Value::Unsigned(0); MAX_ITEMS / 2]);
        let nested = encode(&array(vec![half.clone(), half]));
        assert_eq!(decode(&nested), Err(CborError::TooLarge));
    }

    #[test]
    fn all_decode_errors_are_invalid_cbor() {
        for error in [
            CborError::Truncated,
            CborError::TrailingBytes,
            CborError::NonCanonical,
            CborError::Unsupported,
            CborError::InvalidUtf8,
            CborError::TooDeep,
            CborError::TooLarge,
        ] {
            assert_eq!(error.ctap_status(), 0x12);
        }
    }

    /// A deterministic xorshift generator, so failures reproduce without extra dependencies.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }

        fn len(&mut self, max: u64) -> usize {
            usize::try_from(self.below(max + 1)).unwrap()
        }

        /// Integers near the encoding boundaries are the interesting ones.
        fn integer(&mut self) -> u64 {
            const EDGES: [u64; 12] = [
                0,
                23,
                24,
                255,
                256,
                65_535,
                65_536,
                4_294_967_295,
                4_294_967_296,
                u64::MAX,
                u64::MAX - 1,
                1,
            ];
            match self.below(3) {
                0 => EDGES[self.len(11)],
                1 => self.below(1000),
                _ => self.next_u64() >> self.below(64),
            }
        }

        fn value(&mut self, depth: usize) -> Value {
            let kinds = if depth < MAX_DEPTH { 9 } else { 7 };
            match self.below(kinds) {
                0 => Value::Unsigned(self.integer()),
                1 => Value::Negative(self.integer()),
                2 => Value::Bytes(
                    (0..self.len(30))
                        .map(|_| self.next_u64().to_le_bytes()[0])
                        .collect(),
                ),
                3 => {
                    const CHARS: [char; 6] = ['a', 'z', '0', 'é', '水', '🎉'];
                    Value::Text((0..self.len(30)).map(|_| CHARS[self.len(5)]).collect())
                }
                4 => Value::Bool(self.below(2) == 0),
                5 => Value::Null,
                6 => Value::int(i64::from_le_bytes(self.next_u64().to_le_bytes())),
                7 => Value::Array((0..self.len(5)).map(|_| self.value(depth + 1)).collect()),
                _ => {
                    let mut entries: Vec<(Value, Value)> = Vec::new();
                    for _ in 0..self.len(5) {
                        let key = self.value(depth + 1);
                        // Distinct as encoded: two maps differing only in entry order are one key.
                        if !entries.iter().any(|(k, _)| encode(k) == encode(&key)) {
                            entries.push((key, self.value(depth + 1)));
                        }
                    }
                    Value::Map(entries)
                }
            }
        }
    }

    /// Equality that ignores the order of map entries (decoding returns them sorted).
    fn same_value(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
            }
            (Value::Map(x), Value::Map(y)) => {
                x.len() == y.len()
                    && x.iter().all(|(kx, vx)| {
                        y.iter()
                            .any(|(ky, vy)| same_value(kx, ky) && same_value(vx, vy))
                    })
            }
            _ => a == b,
        }
    }

    #[test]
    fn random_values_round_trip() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..2000 {
            let value = rng.value(0);
            let bytes = encode(&value);
            let decoded = decode(&bytes)
                .unwrap_or_else(|e| panic!("round {round}: {e:?} decoding {value:?}"));
            assert!(
                same_value(&value, &decoded),
                "round {round}: {value:?} vs {decoded:?}"
            );
            assert_eq!(
                encode(&decoded),
                bytes,
                "round {round}: re-encoding differs"
            );
            assert_eq!(
                decode(&bytes),
                Ok(decoded),
                "round {round}: decoding not stable"
            );
        }
    }

    #[test]
    fn random_bytes_never_panic_and_accepted_ones_are_canonical() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let len = rng.len(12);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64().to_le_bytes()[0]).collect();
            if let Ok(value) = decode(&bytes) {
                assert_eq!(encode(&value), bytes);
            }
        }
    }

    fn request() -> MapReader {
        // {1: h'0102', 2: {"id": "example.com"}, 3: "name", 4: [1, 2], 5: 300, 6: -7,
        //  7: {"rk": true, "up": 1}, 9: true, 0x42: "unknown"}
        let value = Value::map([
            (Value::int(1), Value::from(vec![1, 2])),
            (
                Value::int(2),
                Value::map([(text("id"), text("example.com"))]),
            ),
            (Value::int(3), text("name")),
            (Value::int(4), array(vec![Value::int(1), Value::int(2)])),
            (Value::int(5), Value::int(300)),
            (Value::int(6), Value::int(-7)),
            (
                Value::int(7),
                Value::map([(text("rk"), Value::Bool(true)), (text("up"), Value::int(1))]),
            ),
            (Value::int(9), Value::Bool(true)),
            (Value::int(0x42), text("unknown")),
        ]);
        MapReader::new(decode(&encode(&value)).unwrap()).unwrap()
    }

    #[test]
    fn map_reader_reads_typed_fields() {
        let mut r = request();
        assert_eq!(r.required_bytes(1), Ok(vec![1, 2]));
        let mut rp = r.required_map(2).unwrap();
        assert_eq!(rp.required_text("id"), Ok("example.com".to_owned()));
        assert_eq!(rp.text("name"), Ok(None));
        assert_eq!(r.text(3), Ok(Some("name".to_owned())));
        assert_eq!(r.required_array(4), Ok(vec![Value::int(1), Value::int(2)]));
        assert_eq!(r.unsigned(5), Ok(Some(300)));
        assert_eq!(r.required_int(6), Ok(-7));
        let mut options = r.map(7).unwrap().unwrap();
        assert_eq!(options.bool("rk"), Ok(Some(true)));
        assert_eq!(options.bool("uv"), Ok(None));
        assert_eq!(r.required_bool(9), Ok(true));
        // Unknown keys stay behind for the command to inspect or ignore.
        assert_eq!(r.into_entries(), vec![(Value::int(0x42), text("unknown"))]);
    }

    #[test]
    fn map_reader_reports_missing_fields() {
        let mut r = request();
        assert_eq!(r.bytes(8), Ok(None));
        let missing = r.required_bytes(8).unwrap_err();
        assert_eq!(missing, FieldError::Missing(FieldKey::Int(8)));
        assert_eq!(missing.ctap_status(), 0x14);
        let mut options = r.required_map(7).unwrap();
        assert_eq!(
            options.required_bool("uv"),
            Err(FieldError::Missing(FieldKey::Text("uv".to_owned())))
        );
        // A field can be read once.
        assert_eq!(r.required_bytes(1), Ok(vec![1, 2]));
        assert_eq!(
            r.required_bytes(1),
            Err(FieldError::Missing(FieldKey::Int(1)))
        );
    }

    #[test]
    fn map_reader_reports_wrong_types() {
        let mut r = request();
        let wrong = r.text(1).unwrap_err();
        assert_eq!(wrong, FieldError::WrongType(FieldKey::Int(1)));
        assert_eq!(wrong.ctap_status(), 0x11);
        assert_eq!(
            r.required_map(3),
            Err(FieldError::WrongType(FieldKey::Int(3)))
        );
        assert_eq!(r.bytes(4), Err(FieldError::WrongType(FieldKey::Int(4))));
        assert_eq!(r.unsigned(6), Err(FieldError::WrongType(FieldKey::Int(6))));
        let mut options = r.required_map(7).unwrap();
        assert_eq!(
            options.bool("up"),
            Err(FieldError::WrongType(FieldKey::Text("up".to_owned())))
        );
        assert_eq!(MapReader::new(Value::int(1)), Err(FieldError::NotAMap));
        assert_eq!(FieldError::NotAMap.ctap_status(), 0x11);
    }

    #[test]
    fn map_reader_int_rejects_values_outside_i64() {
        let mut r = MapReader::new(Value::map([
            (Value::int(1), Value::Unsigned(u64::MAX)),
            (Value::int(2), Value::Negative(u64::MAX)),
        ]))
        .unwrap();
        assert_eq!(r.int(1), Err(FieldError::WrongType(FieldKey::Int(1))));
        assert_eq!(r.int(2), Err(FieldError::WrongType(FieldKey::Int(2))));
    }

    #[test]
    fn integer_keys_do_not_match_text_keys() {
        let mut r = MapReader::new(Value::map([(text("1"), Value::int(5))])).unwrap();
        assert_eq!(r.take(1), None);
        assert_eq!(r.take("1"), Some(Value::int(5)));
        assert!(r.is_empty());
    }

    #[test]
    fn encode_secret_matches_encode_in_one_allocation_of_the_exact_size() {
        // Every head width (1, 2, 3, 5 and 9 bytes), nested arrays and maps, text and bytes.
        let values = [
            Value::int(0),
            Value::int(23),
            Value::int(24),
            Value::int(255),
            Value::int(256),
            Value::int(65_535),
            Value::int(65_536),
            Value::Unsigned(u64::from(u32::MAX)),
            Value::Unsigned(u64::from(u32::MAX) + 1),
            Value::Negative(u64::MAX),
            Value::Bytes(vec![7; 300]),
            text("caf\u{e9}"),
            Value::Array(vec![
                Value::Null,
                Value::Bool(true),
                Value::Bytes(vec![1; 24]),
            ]),
            Value::map([
                (Value::int(3), Value::Bytes(vec![9; 32])),
                (
                    Value::int(1),
                    Value::map([(text("k"), Value::Array(vec![Value::int(-500)]))]),
                ),
            ]),
        ];
        for value in &values {
            let secret = encode_secret(value);
            assert_eq!(*secret, encode(value), "{value:?}");
            assert_eq!(encoded_len(value), secret.len(), "{value:?}");
            assert_eq!(
                secret.capacity(),
                secret.len(),
                "grew while encoding {value:?}"
            );
        }
    }

    #[test]
    fn zeroize_wipes_every_string_in_the_tree() {
        let mut value = Value::map([
            (Value::int(1), Value::Bytes(vec![0xaa; 32])),
            (
                text("name"),
                Value::Array(vec![text("secret"), Value::int(7)]),
            ),
        ]);
        value.zeroize();
        assert_eq!(
            value,
            Value::map([
                (Value::int(1), Value::Bytes(Vec::new())),
                (text(""), Value::Array(vec![text(""), Value::int(7)])),
            ])
        );
    }
}
