//! Secrets and identifiers drawn from the OS random source: activation codes (128 bits in
//! Crockford base32, contract "Activation links"), 6-digit client PINs, PIN nonces and ids.
//!
//! Every function fails instead of falling back to anything weaker.

use crate::error::ApiError;

/// Crockford base32, as the contract fixes it.
pub const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 128 bits need 26 base32 characters (the top two bits of the first one are zero).
pub const CODE_LEN: usize = 26;

pub fn bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| ApiError::no_randomness())?;
    Ok(out)
}

pub fn activation_code() -> Result<String, ApiError> {
    let value = u128::from_be_bytes(bytes::<16>()?);
    Ok((0..CODE_LEN)
        .rev()
        .map(|i| {
            let index = (value >> (5 * i)) & 31;
            char::from(CROCKFORD[usize::try_from(index).unwrap_or(0)])
        })
        .collect())
}

/// Six uniformly random decimal digits (leading zeros allowed).
pub fn pin_digits() -> Result<String, ApiError> {
    // The largest multiple of 10^6 below 2^32, so that every PIN is equally likely.
    const LIMIT: u32 = 4_294_000_000;
    loop {
        let n = u32::from_be_bytes(bytes::<4>()?);
        if n < LIMIT {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// `prefix` followed by 80 random bits in lowercase hex.
pub fn id(prefix: &str) -> Result<String, ApiError> {
    let hex: String = bytes::<10>()?.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{prefix}{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_pins_have_the_contract_shape() {
        let code = activation_code().unwrap();
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|c| CROCKFORD.contains(&c)));
        assert!(
            b"01234567".contains(&code.as_bytes()[0]),
            "top two bits are zero"
        );
        let pin = pin_digits().unwrap();
        assert_eq!(pin.len(), 6);
        assert!(pin.bytes().all(|c| c.is_ascii_digit()));
    }
}
