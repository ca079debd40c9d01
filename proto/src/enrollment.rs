//! The enrollment token as an operator hands it to site IT:
//! `wmk_<secret>_<pin>`, both parts 32 lowercase hex digits. The secret is
//! what central checks (it keeps only its SHA-256); the pin is the first 16
//! bytes of the SHA-256 of central's CA certificate, which the gateway checks
//! before it trusts the server it enrolls with.

use crate::hex;

pub const PREFIX: &str = "wmk_";
const PART_HEX: usize = 32;
/// Longest text accepted as a token before parsing.
pub const MAX_TOKEN_LEN: usize = 128;

#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    pub secret: [u8; 16],
    pub ca_pin: [u8; 16],
}

/// Shows the pin only: the secret must not reach a log through `{:?}`.
impl std::fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentToken")
            .field("secret", &"<redacted>")
            .field("ca_pin", &self.ca_pin_hex())
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed enrollment token: expected wmk_ followed by two parts of 32 hex digits joined by `_`")]
pub struct TokenFormatError;

impl EnrollmentToken {
    pub fn parse(text: &str) -> Result<Self, TokenFormatError> {
        let text = text.trim();
        if text.len() > MAX_TOKEN_LEN {
            return Err(TokenFormatError);
        }
        let rest = text.strip_prefix(PREFIX).ok_or(TokenFormatError)?;
        let (secret, pin) = rest.split_once('_').ok_or(TokenFormatError)?;
        Ok(Self {
            secret: unhex16(secret)?,
            ca_pin: unhex16(pin)?,
        })
    }

    pub fn ca_pin_hex(&self) -> String {
        hex(&self.ca_pin)
    }
}

impl std::fmt::Display for EnrollmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}{}_{}", hex(&self.secret), hex(&self.ca_pin))
    }
}

fn unhex16(s: &str) -> Result<[u8; 16], TokenFormatError> {
    if s.len() != PART_HEX || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TokenFormatError);
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| TokenFormatError)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_bad_ones_are_refused() {
        let t = EnrollmentToken {
            secret: [0xab; 16],
            ca_pin: [0x01; 16],
        };
        let text = t.to_string();
        assert_eq!(EnrollmentToken::parse(&format!("  {text}\n")), Ok(t.clone()));
        for bad in [
            "",
            "wmk_",
            "wmk_abc_def",
            &text.replace("wmk_", "xyz_"),
            &text.replacen('a', "g", 1),
            &format!("{text}_00"),
            &"wmk_".repeat(100),
        ] {
            assert_eq!(EnrollmentToken::parse(bad), Err(TokenFormatError), "{bad}");
        }
        assert!(
            !format!("{t:?}").contains(&hex(&t.secret)),
            "Debug must hide the secret"
        );
    }
}
