//! Sealed tracking links: `{key id} "." base64url(nonce || ciphertext+tag)`,
//! the plaintext `{expiry, unix s}\n{language or empty}\n{order number}`
//! sealed with ChaCha20-Poly1305 under a key derived from the link key's
//! secret, a random 96-bit nonce, and the key id (in the clear, so the right
//! key opens it) as associated data. So a link opens one order until it
//! expires or its key is removed from the config (rotation), and says
//! nothing readable about the order: no order number in any URL. Pure but
//! for the nonce: the keys and the clock are given. Tampering anywhere
//! fails authentication (`ring`, constant time).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::config::MAX_LINK_TTL_DAYS;
use super::lang::Lang;

/// What the AEAD key is derived with: HMAC-SHA256(secret, this). A new
/// format takes a new label, so its keys differ from every earlier one's.
const KEY_LABEL: &[u8] = b"waymark tracking link v2";
/// Longest token accepted before any decoding (an order number is at most
/// 128 bytes): a long path costs nothing.
pub const MAX_TOKEN_LEN: usize = 512;
/// Latest expiry accepted, from now: the longest a link is minted for plus
/// a day of clock skew between replicas. A later one was not minted here.
pub const MAX_EXPIRY_AHEAD_S: i64 = (MAX_LINK_TTL_DAYS as i64 + 1) * 86_400;

/// One key of `[[tracking.link_keys]]`.
#[derive(Clone)]
pub struct LinkKey {
    /// Short, public: written in each link so the right key opens it.
    pub id: String,
    /// The ChaCha20-Poly1305 key derived from the secret.
    sealing: [u8; 32],
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
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), KEY_LABEL);
        let mut sealing = [0u8; 32];
        sealing.copy_from_slice(derived.as_ref());
        Self {
            id: id.to_string(),
            sealing,
        }
    }

    fn aead(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.sealing)
            .ok()
            .map(LessSafeKey::new)
    }

    /// A fresh nonce; should the OS give no randomness, one derived from the
    /// plaintext (unique per distinct plaintext, so still never reused for
    /// two different messages).
    fn nonce(&self, plaintext: &[u8]) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        if SystemRandom::new().fill(&mut nonce).is_err() {
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.sealing), plaintext);
            nonce.copy_from_slice(&tag.as_ref()[..NONCE_LEN]);
        }
        nonce
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
    #[error("the link does not authenticate under its key (tampered or forged)")]
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

/// A link token for `order_number`, sealed by `key`, valid until
/// `expires_at_s` (unix seconds), opening in `lang` when given. Notifications
/// and benchmarks mint links with this, without HTTP.
pub fn mint(key: &LinkKey, order_number: &str, expires_at_s: i64, lang: Option<Lang>) -> String {
    let lang = lang.map_or("", Lang::as_str);
    let plaintext = format!("{expires_at_s}\n{lang}\n{order_number}");
    let nonce = key.nonce(plaintext.as_bytes());
    let mut sealed = plaintext.into_bytes();
    let Some(aead) = key.aead() else {
        // Not reached: the key is always 32 bytes. A token that opens nothing.
        return format!("{}.", key.id);
    };
    if aead
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(key.id.as_bytes()),
            &mut sealed,
        )
        .is_err()
    {
        return format!("{}.", key.id);
    }
    let mut body = nonce.to_vec();
    body.extend_from_slice(&sealed);
    format!("{}.{}", key.id, B64URL.encode(body))
}

/// The claims of `token` if one of `keys` sealed it and it has not expired
/// at `now_s` (nor expires later than any link is minted for).
pub fn verify(keys: &[LinkKey], token: &str, now_s: i64) -> Result<LinkClaims, LinkRefusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(LinkRefusal::Malformed);
    }
    // Base64url has no '.', a key id may.
    let (key_id, body_b64) = token.rsplit_once('.').ok_or(LinkRefusal::Malformed)?;
    if !valid_key_id(key_id) {
        return Err(LinkRefusal::Malformed);
    }
    let body = B64URL.decode(body_b64).map_err(|_| LinkRefusal::Malformed)?;
    // The base64 must be canonical, so one link has one spelling.
    if B64URL.encode(&body) != body_b64 || body.len() < NONCE_LEN + aead::MAX_TAG_LEN {
        return Err(LinkRefusal::Malformed);
    }
    let key = keys.iter().find(|k| k.id == key_id).ok_or(LinkRefusal::UnknownKey)?;
    let (nonce, sealed) = body.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| LinkRefusal::Malformed)?;
    let mut sealed = sealed.to_vec();
    let aead = key.aead().ok_or(LinkRefusal::BadSignature)?;
    let plaintext = aead
        .open_in_place(nonce, Aad::from(key_id.as_bytes()), &mut sealed)
        .map_err(|_| LinkRefusal::BadSignature)?;
    let text = std::str::from_utf8(plaintext).map_err(|_| LinkRefusal::Malformed)?;
    let mut fields = text.splitn(3, '\n');
    let (Some(expiry), Some(lang), Some(order_number)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(LinkRefusal::Malformed);
    };
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
        let (kid, body) = token.rsplit_once('.').expect("kid.body");
        assert_eq!(kid, "k2");
        let bytes = B64URL.decode(body).expect("base64url");
        assert!(
            !bytes.windows(4).any(|w| w == b"SO-1"),
            "the order number is sealed, not encoded"
        );
        let again = mint(&keys[0], "SO-1", 1_000, Some(Lang::De));
        assert_ne!(token, again, "a fresh nonce each time");
        assert_eq!(verify(&keys, &again, 999).map(|c| c.order_number), Ok("SO-1".into()));
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
        for t in ["", ".", "abc", "a.b", "!!.!!", "k2.", "k 2.AAAA", &"a".repeat(600)] {
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
