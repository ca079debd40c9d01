use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

struct Req(HashMap<String, String>, Option<String>);

impl Req {
    fn of(headers: &[(&str, String)]) -> Self {
        Req(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            None,
        )
    }
}

impl Request for Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
    fn query_token(&self) -> Option<&str> {
        self.1.as_deref()
    }
}

const NOW: i64 = 1_733_300_000;
const EVENT_BODY: &[u8] = include_bytes!("../../../tests/data/carriers/easypost/event-body.json");

/// EasyPost's published test vector (EasyPost/examples
/// `official/fixtures/client-library-fixtures.json`, `webhooks`): secret
/// "sécret" (NFKD-normalized before keying), body `event-body.json`.
#[test]
fn easypost_published_test_vector_verifies() {
    let req = Req::of(&[(
        "X-Hmac-Signature",
        "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db".into(),
    )]);
    assert_eq!(verify(Provider::EasyPost, "sécret", &req, EVENT_BODY, NOW), Ok(()));
    // The same secret in its composed form is what an operator types; NFKD
    // makes both the same key.
    assert_eq!(
        verify(Provider::EasyPost, "se\u{301}cret", &req, EVENT_BODY, NOW),
        Ok(())
    );
    assert_eq!(
        verify(Provider::EasyPost, "secret", &req, EVENT_BODY, NOW),
        Err(SignatureError::Mismatch)
    );
}

/// The pitfall of easypost-node#467: the body re-serialized by a JSON library
/// (`614.4` survives, but `136.0` becomes `136`, as JavaScript's
/// `JSON.stringify(JSON.parse(body))` writes it) no longer verifies.
#[test]
fn a_reserialized_body_fails() {
    let body = br#"{"id":"evt_1","result":{"weight":136.0}}"#;
    let headers = sign(Provider::EasyPost, "s3cret", body, NOW, "");
    let reserialized = br#"{"id":"evt_1","result":{"weight":136}}"#.to_vec();
    let req = Req::of(&headers);
    assert_eq!(verify(Provider::EasyPost, "s3cret", &req, body, NOW), Ok(()));
    assert_eq!(
        verify(Provider::EasyPost, "s3cret", &req, &reserialized, NOW),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn every_provider_verifies_what_it_signs_and_refuses_a_changed_body() {
    for p in Provider::ALL {
        let body = br#"{"tracking":"1Z999"}"#;
        let headers = sign(p, "whsec_c2VjcmV0LWtleQ==", body, NOW, "msg_1");
        let req = Req::of(&headers);
        assert_eq!(verify(p, "whsec_c2VjcmV0LWtleQ==", &req, body, NOW), Ok(()), "{p}");
        let changed = br#"{"tracking":"1Z998"}"#;
        let outcome = verify(p, "whsec_c2VjcmV0LWtleQ==", &req, changed, NOW);
        if matches!(p, Provider::Ups | Provider::Karrio) {
            // A credential echoed verbatim signs nothing: the body is not covered.
            assert_eq!(outcome, Ok(()), "{p}");
        } else {
            assert_eq!(outcome, Err(SignatureError::Mismatch), "{p}");
        }
        assert_eq!(
            verify(p, "another secret", &req, body, NOW),
            Err(SignatureError::Mismatch),
            "{p}"
        );
        assert_eq!(
            verify(p, "whsec_c2VjcmV0LWtleQ==", &Req::of(&[]), body, NOW),
            Err(SignatureError::Missing),
            "{p}"
        );
    }
}

#[test]
fn timestamped_schemes_refuse_replays_outside_the_window() {
    for p in [Provider::Shippo, Provider::Waymark] {
        let body = b"{}";
        let req = Req::of(&sign(p, "k", body, NOW, "msg_1"));
        assert_eq!(verify(p, "k", &req, body, NOW + TOLERANCE_S), Ok(()));
        assert_eq!(
            verify(p, "k", &req, body, NOW + TOLERANCE_S + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(p, "k", &req, body, NOW - TOLERANCE_S - 1),
            Err(SignatureError::Stale)
        );
    }
}

#[test]
fn shippo_accepts_its_url_token_option() {
    let mut req = Req::of(&[]);
    req.1 = Some("tok-123".into());
    assert_eq!(verify(Provider::Shippo, "tok-123", &req, b"{}", NOW), Ok(()));
    req.1 = Some("tok-124".into());
    assert_eq!(
        verify(Provider::Shippo, "tok-123", &req, b"{}", NOW),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn standard_webhooks_accepts_any_of_several_signatures() {
    let body = b"{}";
    let mut headers = sign(Provider::Waymark, "whsec_bmV3", body, NOW, "msg_9");
    let good = headers[2].1.clone();
    headers[2].1 = format!("v1,AAAA {good}");
    assert_eq!(
        verify(Provider::Waymark, "whsec_bmV3", &Req::of(&headers), body, NOW),
        Ok(())
    );
    headers[2].1 = "v2,abc".into();
    assert_eq!(
        verify(Provider::Waymark, "whsec_bmV3", &Req::of(&headers), body, NOW),
        Err(SignatureError::Malformed)
    );
}

#[test]
fn malformed_headers_are_told_apart_from_wrong_ones() {
    let cases = [
        (Provider::EasyPost, "X-Hmac-Signature", "sha1=abc"),
        (Provider::EasyPost, "X-Hmac-Signature", "hmac-sha256-hex=zz"),
        (Provider::AfterShip, "aftership-hmac-sha256", "%%%"),
        (Provider::SeventeenTrack, "sign", "xyz"),
        (Provider::Shippo, "Shippo-Auth-Signature", "v1=abcd"),
    ];
    for (p, name, value) in cases {
        let req = Req::of(&[(name, value.to_string())]);
        assert_eq!(
            verify(p, "k", &req, b"{}", NOW),
            Err(SignatureError::Malformed),
            "{p} {value}"
        );
    }
}

proptest! {
    /// Arbitrary headers and bodies: never a panic, never accepted without the secret.
    #[test]
    fn arbitrary_input_is_refused_without_panicking(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        value in ".{0,120}",
        p in proptest::sample::select(Provider::ALL.to_vec()),
    ) {
        let names = ["x-hmac-signature", "aftership-hmac-sha256", "fdx-signature", "shippo-auth-signature",
            "sign", "credential", "x-event-id", "webhook-id", "webhook-timestamp", "webhook-signature"];
        let req = Req::of(&names.map(|n| (n, value.clone())));
        prop_assert!(verify(p, "a secret nobody sent", &req, &body, NOW).is_err());
    }
}

/// Shippo signs the timestamp as it writes it in the header.
#[test]
fn shippo_verifies_the_timestamp_text_it_signed() {
    let body = b"{}";
    let raw_t = format!("0{NOW}");
    let tag = hmac_tag(b"k", &dotted(&[raw_t.as_bytes(), body]));
    let req = Req::of(&[(
        "Shippo-Auth-Signature",
        format!("t={raw_t},v1={}", to_hex(tag.as_ref())),
    )]);
    assert_eq!(verify(Provider::Shippo, "k", &req, body, NOW), Ok(()));
}
