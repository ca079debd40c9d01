//! Signed tracking links: `base64url(payload) "." base64url(HMAC-SHA256)`.
//! The payload names the key that signed it, the expiry (unix seconds), the
//! order number and optionally the page language, so a link opens one order
//! until it expires or its key is removed from the config (rotation). Pure:
//! the keys and the clock are given. Verification is constant time (`ring`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::hmac;

use super::config::MAX_LINK_TTL_DAYS;
use super::lang::Lang;

/// The payload's format version; a payload of another version is refused.
const VERSION: &str = "v1";
/// Longest token accepted before any decoding (an order number is at most
/// 128 bytes): a long path costs nothing.
pub const MAX_TOKEN_LEN: usize = 512;
/// Latest expiry accepted, from now: the longest a link is minted for plus
/// a day of clock skew between replicas. A later one was not minted here.
pub const MAX_EXPIRY_AHEAD_S: i64 = (MAX_LINK_TTL_DAYS as i64 + 1) * 86_400;

/// One HMAC key of `[[tracking.link_keys]]`.
#[derive(Clone)]
pub struct LinkKey {
    /// Short, public: written in each link so the right key verifies it.
    pub id: String,
    key: hmac::Key,
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl LinkKey {
    pub fn new(id: &str, secret: &[u8]) -> Self {
        Self {
            id: id.to_string(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }
}

/// What a verified link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub order_number: String,
    pub expires_at_s: i64,
    pub lang: Option<Lang>,
}

/// Why a link was refused; the `reason` label of the rejection counter. The
/// customer sees the same not-found page for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("the link is not in the token format")]
    Malformed,
    #[error("the link's key is not configured (rotated out)")]
    UnknownKey,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
    #[error("the link expires later than any link is minted for")]
    TooFarAhead,
}

impl LinkRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "link_malformed",
            Self::UnknownKey => "link_unknown_key",
            Self::BadSignature => "link_bad_signature",
            Self::Expired => "link_expired",
            Self::TooFarAhead => "link_too_far_ahead",
        }
    }
}

/// A valid key id: it is written into links and config.
pub fn valid_key_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A link token for `order_number`, signed by `key`, valid until
/// `expires_at_s` (unix seconds), opening in `lang` when given. Notifications
/// and benchmarks mint links with this, without HTTP.
pub fn mint(key: &LinkKey, order_number: &str, expires_at_s: i64, lang: Option<Lang>) -> String {
    let lang = lang.map_or("", Lang::as_str);
    let payload = format!("{VERSION}\n{}\n{expires_at_s}\n{lang}\n{order_number}", key.id);
    let tag = hmac::sign(&key.key, payload.as_bytes());
    format!("{}.{}", B64URL.encode(payload), B64URL.encode(tag.as_ref()))
}

/// The claims of `token` if one of `keys` signed it and it has not expired at
/// `now_s`.
pub fn verify(keys: &[LinkKey], token: &str, now_s: i64) -> Result<LinkClaims, LinkRefusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(LinkRefusal::Malformed);
    }
    let (payload_b64, tag_b64) = token.split_once('.').ok_or(LinkRefusal::Malformed)?;
    let payload = B64URL.decode(payload_b64).map_err(|_| LinkRefusal::Malformed)?;
    let tag = B64URL.decode(tag_b64).map_err(|_| LinkRefusal::Malformed)?;
    // The base64 must be canonical, so one link has one spelling.
    if B64URL.encode(&payload) != payload_b64 || B64URL.encode(&tag) != tag_b64 {
        return Err(LinkRefusal::Malformed);
    }
    let text = std::str::from_utf8(&payload).map_err(|_| LinkRefusal::Malformed)?;
    let mut fields = text.splitn(5, '\n');
    let (Some(VERSION), Some(key_id), Some(expiry), Some(lang), Some(order_number)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(LinkRefusal::Malformed);
    };
    let key = keys.iter().find(|k| k.id == key_id).ok_or(LinkRefusal::UnknownKey)?;
    hmac::verify(&key.key, &payload, &tag).map_err(|_| LinkRefusal::BadSignature)?;
    let expires_at_s: i64 = expiry.parse().map_err(|_| LinkRefusal::Malformed)?;
    let lang = match lang {
        "" => None,
        l => Some(Lang::parse(l).ok_or(LinkRefusal::Malformed)?),
    };
    if order_number.is_empty() {
        return Err(LinkRefusal::Malformed);
    }
    if now_s >= expires_at_s {
        return Err(LinkRefusal::Expired);
    }
    if expires_at_s > now_s.saturating_add(MAX_EXPIRY_AHEAD_S) {
        return Err(LinkRefusal::TooFarAhead);
    }
    Ok(LinkClaims {
        order_number: order_number.to_string(),
        expires_at_s,
        lang,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn keys() -> Vec<LinkKey> {
        vec![
            LinkKey::new("k2", b"second secret"),
            LinkKey::new("k1", b"first secret"),
        ]
    }

    #[test]
    fn a_link_opens_its_order_until_it_expires() {
        let keys = keys();
        let token = mint(&keys[0], "SO-1", 1_000, Some(Lang::De));
        let claims = verify(&keys, &token, 999).expect("valid");
        assert_eq!(claims.order_number, "SO-1");
        assert_eq!(claims.lang, Some(Lang::De));
        assert_eq!(verify(&keys, &token, 1_000), Err(LinkRefusal::Expired));
        assert!(!token.contains("SO-1"), "the order number is not readable at a glance");
    }

    #[test]
    fn any_listed_key_verifies_and_a_removed_key_no_longer_does() {
        let keys = keys();
        let old = mint(&keys[1], "SO-1", 1_000, None);
        assert!(verify(&keys, &old, 0).is_ok());
        assert_eq!(verify(&keys[..1], &old, 0), Err(LinkRefusal::UnknownKey));
        let impostor = LinkKey::new("k1", b"guessed");
        let forged = mint(&impostor, "SO-1", 1_000, None);
        assert_eq!(verify(&keys, &forged, 0), Err(LinkRefusal::BadSignature));
    }

    #[test]
    fn an_expiry_beyond_the_longest_ttl_is_refused() {
        let keys = keys();
        let now = 1_800_000_000;
        let last = now + MAX_EXPIRY_AHEAD_S;
        assert!(verify(&keys, &mint(&keys[0], "SO-1", last, None), now).is_ok());
        let forever = mint(&keys[0], "SO-1", last + 1, None);
        assert_eq!(verify(&keys, &forever, now), Err(LinkRefusal::TooFarAhead));
        let max = mint(&keys[0], "SO-1", i64::MAX, None);
        assert_eq!(verify(&keys, &max, now), Err(LinkRefusal::TooFarAhead));
    }

    #[test]
    fn garbage_is_malformed() {
        let keys = keys();
        for t in ["", ".", "abc", "a.b", "!!.!!", &"a".repeat(600)] {
            assert_eq!(verify(&keys, t, 0), Err(LinkRefusal::Malformed), "{t}");
        }
    }

    proptest! {
        #[test]
        fn minted_links_round_trip(number in "[A-Za-z0-9_-]{1,128}", exp in 1i64..4_000_000_000, lang in 0usize..5) {
            let keys = keys();
            let lang = Lang::ALL.get(lang).copied();
            let token = mint(&keys[0], &number, exp, lang);
            let claims = verify(&keys, &token, exp - 1).expect("valid");
            prop_assert_eq!(claims, LinkClaims { order_number: number, expires_at_s: exp, lang });
        }

        #[test]
        fn any_tampered_byte_is_refused(number in "[A-Za-z0-9_-]{1,40}", at in 0usize..1000, with in any::<u8>()) {
            let keys = keys();
            let token = mint(&keys[0], &number, 4_000_000_000, None);
            let mut bytes = token.clone().into_bytes();
            let at = at % bytes.len();
            prop_assume!(bytes[at] != with);
            bytes[at] = with;
            let tampered = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(verify(&keys, &tampered, 0).is_err(), "{} accepted", tampered);
        }

        #[test]
        fn arbitrary_input_never_panics(s in ".{0,600}") {
            let _refused = verify(&keys(), &s, 0);
        }
    }
}
