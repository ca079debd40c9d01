//! Token secrets: 256 random bits from the OS (through ring), shown once, kept
//! only as a SHA-256 digest. A high-entropy secret needs no slow hash.

use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use waymark_proto::hex;

/// Every token starts with this, so secret scanners can recognise a leaked one.
pub const PREFIX: &str = "wm_";
/// Longer bearer values are refused before hashing.
pub const MAX_SECRET_LEN: usize = 256;

pub type TokenHash = [u8; 32];

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct RandomUnavailable;

/// A new secret: `wm_` and 64 hex digits.
pub fn generate() -> Result<String, RandomUnavailable> {
    Ok(format!("{PREFIX}{}", hex(&random_bytes::<32>()?)))
}

/// A random token id, safe to log and to put in a URL.
pub fn new_id() -> Result<String, RandomUnavailable> {
    Ok(format!("tok_{}", hex(&random_bytes::<8>()?)))
}

/// Bytes from the operating system's secure random source (through ring).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    let mut buf = [0u8; N];
    SystemRandom::new().fill(&mut buf).map_err(|_| RandomUnavailable)?;
    Ok(buf)
}

pub fn hash(secret: &str) -> TokenHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// 64 hex digits (either case) to a digest.
pub fn parse_hash_hex(text: &str) -> Option<TokenHash> {
    // Checked digit by digit: from_str_radix alone would accept a leading '+'.
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hash_round_trips() {
        let a = generate().expect("random");
        let b = generate().expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64, "{a}");
        let h = hash(&a);
        assert_eq!(parse_hash_hex(&hex(&h)), Some(h));
        assert_eq!(parse_hash_hex(&hex(&h).to_uppercase()), Some(h));
        // sha256("abc"), from FIPS 180-2.
        assert_eq!(
            hex(&hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_hash_hex("zz"), None);
        assert_eq!(parse_hash_hex(&"g".repeat(64)), None);
        assert_eq!(parse_hash_hex(&"é".repeat(32)), None);
        assert_eq!(parse_hash_hex(&"+0".repeat(32)), None);
    }
}
