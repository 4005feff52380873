//! Secret byte strings and the system random source.
//!
//! Invariants: a secret lives in a `Zeroizing` buffer from the moment it exists in Rust until it
//! is dropped; `SecretBytes` has no `Debug` or `Display`, so it cannot end up in a log line or an
//! error message, and each clone is wiped on drop like the original.

use zeroize::Zeroizing;

/// Bytes that must never be logged and are wiped from memory when dropped (clones too).
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes` without copying them.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh secret of `len` bytes from the operating system's CSPRNG.
    pub fn random(len: usize) -> Result<Self, RandomUnavailable> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The secret's bytes, for the crypto that needs them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[cfg_attr(not(feature = "testkit"), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for SecretBytes {
    /// Constant-time: comparing secrets must not leak where they first differ.
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.expose(), other.expose())
    }
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0
}

impl serde::Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.expose())
    }
}

impl<'de> serde::Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: serde_bytes::ByteBuf = serde::Deserialize::deserialize(deserializer)?;
        Ok(Self::new(bytes.into_vec()))
    }
}

/// The operating system refused to give random bytes (never expected on a phone or desktop).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system random number generator is unavailable")]
pub struct RandomUnavailable;

/// Fills `buf` from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomUnavailable> {
    getrandom::fill(buf).map_err(|_| RandomUnavailable)
}

/// A fresh random array (nonces, ids).
pub fn random_array<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    let mut out = [0u8; N];
    fill_random(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_differ_and_have_the_asked_length() {
        let a = SecretBytes::random(32).unwrap();
        let b = SecretBytes::random(32).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a != b);
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
