//! `cbor::decode` on arbitrary bytes: it must not panic, and whatever it accepts must be
//! canonical, i.e. `encode` gives back exactly the input (the codec's documented invariant),
//! nested at most `MAX_DEPTH` arrays/maps deep and made of at most `MAX_ITEMS` data items.

#![no_main]

use authenticator_core::cbor::{self, MAX_DEPTH, MAX_ITEMS, Value};
use libfuzzer_sys::fuzz_target;

/// (nesting depth in arrays and maps, number of data items).
fn shape(v: &Value) -> (usize, usize) {
    let children: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        Value::Map(entries) => entries.iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return (0, 1),
    };
    let (depth, items) = children
        .iter()
        .map(|c| shape(c))
        .fold((0, 0), |(d, n), (cd, cn)| (d.max(cd), n + cn));
    (depth + 1, items + 1)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = cbor::decode(data) {
        let encoded = cbor::encode(&value);
        assert_eq!(
            encoded, data,
            "decode accepted a non-canonical encoding of {value:?}"
        );
        let (depth, items) = shape(&value);
        assert!(depth <= MAX_DEPTH, "nesting {depth} deeper than MAX_DEPTH");
        assert!(items <= MAX_ITEMS, "{items} data items, over MAX_ITEMS");
    }
});
