//! Each provider's own webhook authentication, checked on the raw body bytes
//! before anything parses them (a body re-serialized by a JSON library, a
//! `136.0` turned into `136`, no longer verifies), in constant time. Pure: the
//! headers, the body, the secret and the clock are given.
//!
//! | provider | header | scheme | source |
//! |---|---|---|---|
//! | easypost | `X-Hmac-Signature` | `hmac-sha256-hex=` + hex HMAC-SHA256(NFKD(secret), body) | EasyPost/easypost-python `util.py` `validate_webhook`; test vector in EasyPost/examples `client-library-fixtures.json` |
//! | aftership | `aftership-hmac-sha256` | base64 HMAC-SHA256(secret, body) | aftership.com/docs/tracking/webhook/webhook-signature |
//! | shippo | `Shippo-Auth-Signature` | `t=<unix s>,v1=<hex HMAC-SHA256(secret, "t.body")>`, 5 min tolerance; or the URL's own `?token=` | docs.goshippo.com/docs/tracking/webhooksecurity |
//! | 17track | `sign` | hex SHA-256(body + "/" + secret) | 17TRACK API v2.2 "Webhook" (push verification) |
//! | ups | `credential` | the opaque credential given when subscribing, echoed verbatim | UPS-API/api-documentation `UPSTrackAlert.yaml` |
//! | fedex | `fdx-signature` | base64 HMAC-SHA256(security token, body) | developer.fedex.com AIV webhook validation process |
//! | karrio | `X-Event-Id` | the webhook's secret, verbatim | karrioapi/karrio `events/.../webhook.py` |
//! | waymark | `webhook-id`, `webhook-timestamp`, `webhook-signature` | Standard Webhooks: `v1,` + base64 HMAC-SHA256(secret, "id.timestamp.body"), 5 min tolerance | standardwebhooks.com spec |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::hmac;
use unicode_normalization::UnicodeNormalization;

use super::Provider;

/// How far a signed timestamp may be from central's clock (Shippo, Standard
/// Webhooks): the replay window.
pub const TOLERANCE_S: i64 = 300;

/// Why a webhook was refused; counted by provider and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature header")]
    Missing,
    #[error("the signature header is not in the provider's format")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signed timestamp is outside the {TOLERANCE_S} s window")]
    Stale,
}

impl SignatureError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing_signature",
            Self::Malformed => "malformed_signature",
            Self::Mismatch => "bad_signature",
            Self::Stale => "stale_timestamp",
        }
    }
}

/// What a receiver hands over besides the body: a header by its
/// (case-insensitive) name, the `token` query parameter, the time.
pub trait Request {
    fn header(&self, name: &str) -> Option<&str>;
    fn query_token(&self) -> Option<&str> {
        None
    }
}

/// Checks `body` against `provider`'s scheme with `secret`.
pub fn verify(
    provider: Provider,
    secret: &str,
    req: &dyn Request,
    body: &[u8],
    now_s: i64,
) -> Result<(), SignatureError> {
    let header = |name| req.header(name).map(str::trim);
    match provider {
        Provider::EasyPost => {
            let value = header("x-hmac-signature").ok_or(SignatureError::Missing)?;
            let hex = value
                .strip_prefix("hmac-sha256-hex=")
                .ok_or(SignatureError::Malformed)?;
            let tag = from_hex(hex).ok_or(SignatureError::Malformed)?;
            check_hmac(&easypost_key(secret), body, &tag)
        }
        Provider::AfterShip => {
            let tag = b64(header("aftership-hmac-sha256").ok_or(SignatureError::Missing)?)?;
            check_hmac(secret.as_bytes(), body, &tag)
        }
        Provider::FedEx => {
            let tag = b64(header("fdx-signature").ok_or(SignatureError::Missing)?)?;
            check_hmac(secret.as_bytes(), body, &tag)
        }
        Provider::Shippo => match header("shippo-auth-signature") {
            Some(value) => {
                let (t, raw_t, v1) = timestamped(value)?;
                fresh(t, now_s)?;
                let tag = from_hex(v1).ok_or(SignatureError::Malformed)?;
                // The timestamp as sent is what was signed.
                check_hmac(secret.as_bytes(), &dotted(&[raw_t.as_bytes(), body]), &tag)
            }
            None => equal_secret(req.query_token().ok_or(SignatureError::Missing)?, secret),
        },
        Provider::SeventeenTrack => {
            let tag = from_hex(header("sign").ok_or(SignatureError::Missing)?).ok_or(SignatureError::Malformed)?;
            let digest = seventeen_track_digest(secret, body);
            equal_bytes(&tag, digest.as_ref())
        }
        Provider::Ups => equal_secret(header("credential").ok_or(SignatureError::Missing)?, secret),
        Provider::Karrio => equal_secret(header("x-event-id").ok_or(SignatureError::Missing)?, secret),
        Provider::Waymark => {
            let id = header("webhook-id").ok_or(SignatureError::Missing)?;
            let ts = header("webhook-timestamp").ok_or(SignatureError::Missing)?;
            let sigs = header("webhook-signature").ok_or(SignatureError::Missing)?;
            let t: i64 = ts.parse().map_err(|_| SignatureError::Malformed)?;
            fresh(t, now_s)?;
            let key = standard_webhooks_key(secret);
            let message = dotted(&[id.as_bytes(), ts.as_bytes(), body]);
            // Space-delimited `v1,<sig>` entries (several during a key rotation).
            let mut any = false;
            for entry in sigs.split_ascii_whitespace() {
                let Some(sig) = entry.strip_prefix("v1,") else { continue };
                any = true;
                if let Ok(tag) = b64(sig)
                    && check_hmac(&key, &message, &tag).is_ok()
                {
                    return Ok(());
                }
            }
            Err(if any {
                SignatureError::Mismatch
            } else {
                SignatureError::Malformed
            })
        }
    }
}

/// The headers (and, for Shippo's token option, nothing: it signs) a provider
/// would send with `body`: what `waymark-devsim carrier` and tests use to sign
/// like the real thing. `event_id` is used where the scheme signs one.
pub fn sign(provider: Provider, secret: &str, body: &[u8], now_s: i64, event_id: &str) -> Vec<(&'static str, String)> {
    match provider {
        Provider::EasyPost => vec![(
            "X-Hmac-Signature",
            format!(
                "hmac-sha256-hex={}",
                to_hex(hmac_tag(&easypost_key(secret), body).as_ref())
            ),
        )],
        Provider::AfterShip => vec![("aftership-hmac-sha256", B64.encode(hmac_tag(secret.as_bytes(), body)))],
        Provider::FedEx => vec![("fdx-signature", B64.encode(hmac_tag(secret.as_bytes(), body)))],
        Provider::Shippo => {
            let tag = hmac_tag(secret.as_bytes(), &dotted(&[now_s.to_string().as_bytes(), body]));
            vec![(
                "Shippo-Auth-Signature",
                format!("t={now_s},v1={}", to_hex(tag.as_ref())),
            )]
        }
        Provider::SeventeenTrack => vec![("sign", to_hex(seventeen_track_digest(secret, body).as_ref()))],
        Provider::Ups => vec![("credential", secret.to_string())],
        Provider::Karrio => vec![("X-Event-Id", secret.to_string())],
        Provider::Waymark => {
            let ts = now_s.to_string();
            let tag = hmac_tag(
                &standard_webhooks_key(secret),
                &dotted(&[event_id.as_bytes(), ts.as_bytes(), body]),
            );
            vec![
                ("webhook-id", event_id.to_string()),
                ("webhook-timestamp", ts),
                ("webhook-signature", format!("v1,{}", B64.encode(tag))),
            ]
        }
    }
}

/// EasyPost keys its HMAC with the NFKD form of the secret (easypost-python#213:
/// a non-ASCII secret fails without it).
fn easypost_key(secret: &str) -> Vec<u8> {
    secret.nfkd().collect::<String>().into_bytes()
}

/// Standard Webhooks secrets are `whsec_` + base64 of the key; a secret without
/// the prefix (or not base64) is used as it is.
fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|k| B64.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

fn seventeen_track_digest(secret: &str, body: &[u8]) -> ring::digest::Digest {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(body);
    ctx.update(b"/");
    ctx.update(secret.as_bytes());
    ctx.finish()
}

fn hmac_tag(key: &[u8], message: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message)
}

fn check_hmac(key: &[u8], message: &[u8], tag: &[u8]) -> Result<(), SignatureError> {
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), message, tag).map_err(|_| SignatureError::Mismatch)
}

/// A secret sent verbatim (UPS, Karrio, Shippo's URL token): compared as
/// HMACs under a fixed key, so the time taken says nothing about how much of
/// it matched, not even its length.
fn equal_secret(given: &str, secret: &str) -> Result<(), SignatureError> {
    equal_bytes(given.as_bytes(), secret.as_bytes())
}

fn equal_bytes(given: &[u8], expected: &[u8]) -> Result<(), SignatureError> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"waymark constant-time comparison");
    let tag = hmac::sign(&key, expected);
    hmac::verify(&key, given, tag.as_ref()).map_err(|_| SignatureError::Mismatch)
}

fn fresh(t: i64, now_s: i64) -> Result<(), SignatureError> {
    if t.abs_diff(now_s) > TOLERANCE_S.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// `t=<unix s>,v1=<hex>` (Shippo): the time, its text as sent, the tag.
fn timestamped(value: &str) -> Result<(i64, &str, &str), SignatureError> {
    let (mut t, mut v1) = (None, None);
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok().map(|n| (n, v)),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (t, raw_t) = t.ok_or(SignatureError::Malformed)?;
    Ok((t, raw_t, v1.ok_or(SignatureError::Malformed)?))
}

fn dotted(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(p);
    }
    out
}

fn b64(s: &str) -> Result<Vec<u8>, SignatureError> {
    B64.decode(s).map_err(|_| SignatureError::Malformed)
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "signature/tests.rs"]
mod tests;
