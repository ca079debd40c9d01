use proptest::prelude::*;

use super::*;
use crate::gs1;

#[test]
fn gtin_with_lot_and_expiry() {
    // GTIN 09506000134352 is the example GTIN of the GS1 Digital Link standard.
    let dl = parse("https://id.gs1.org/01/09506000134352/10/ABC123?17=201231").expect("valid");
    assert_eq!(dl.domain, "id.gs1.org");
    assert_eq!(dl.elements.to_hri(), "(01)09506000134352(10)ABC123(17)201231");
}

#[test]
fn sscc_on_the_gs1_resolver() {
    // GS1 Digital Link standard example: https://id.gs1.org/00/106141412345678908
    let dl = parse("https://id.gs1.org/00/106141412345678908").expect("valid");
    assert_eq!(dl.elements.sscc(), Some("106141412345678908"));
    assert_eq!(
        to_uri("id.gs1.org", &dl.elements),
        Ok("https://id.gs1.org/00/106141412345678908".into())
    );
}

#[test]
fn brand_domain_prefix_path_and_other_query_parameters() {
    let dl = parse("HTTPS://brand.example.com:8443/shop/01/09506000134352/22/2A/10/LOT%2F7/21/X?3103=000195&17=271231&linkType=gs1:pip#top")
        .expect("valid");
    assert_eq!(dl.domain, "brand.example.com:8443");
    assert_eq!(
        dl.elements.to_hri(),
        "(01)09506000134352(22)2A(10)LOT/7(21)X(3103)000195(17)271231"
    );
    assert_eq!(
        to_uri("id.gs1.org", &dl.elements),
        Ok("https://id.gs1.org/01/09506000134352/22/2A/10/LOT%2F7/21/X?3103=000195&17=271231".into())
    );
}

#[test]
fn short_gtins_are_padded_to_fourteen_digits() {
    let dl = parse("https://example.com/01/9506000134352/").expect("GTIN-13");
    assert_eq!(dl.elements.gtin(), Some("09506000134352"));
}

#[test]
fn rejections_are_typed() {
    let not_dl = [
        "https://example.com/about",
        "ftp://id.gs1.org/00/106141412345678908",
        "https:///00/1",
        "nonsense",
    ];
    for uri in not_dl {
        assert_eq!(parse(uri), Err(DigitalLinkError::NotDigitalLink), "{uri}");
    }
    // Qualifiers out of order do not form a Digital Link path.
    assert_eq!(
        parse("https://id.gs1.org/01/09506000134352/21/X/10/Y"),
        Err(DigitalLinkError::NotDigitalLink)
    );
    assert!(matches!(
        parse("https://id.gs1.org/01/09506000134353"),
        Err(DigitalLinkError::Gs1(Gs1Error::InvalidValue { .. }))
    ));
    assert_eq!(
        parse("https://id.gs1.org/01/09506000134352?21=X"),
        Err(DigitalLinkError::KeyInQuery("21".into()))
    );
    assert_eq!(
        parse("https://id.gs1.org/00/10614141234567890%Z"),
        Err(DigitalLinkError::BadEscape)
    );
    assert!(matches!(
        parse("https://id.gs1.org/00/106141412345678908?99999=1"),
        Err(DigitalLinkError::Gs1(Gs1Error::UnknownAi(_)))
    ));
    let long = format!("https://id.gs1.org/00/106141412345678908?x={}", "a".repeat(MAX_URI_LEN));
    assert!(matches!(parse(&long), Err(DigitalLinkError::TooLong { .. })));
}

fn gtin() -> impl Strategy<Value = String> {
    "[0-9]{13}".prop_map(|b| {
        let check = gs1::compute_check_digit(b.as_bytes());
        format!("{b}{check}")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn built_links_parse_back(
        gtin in gtin(),
        cpv in proptest::option::of("[A-Z0-9]{1,20}"),
        lot in proptest::option::of("[A-Za-z0-9/%&?=+-]{1,20}"),
        serial in proptest::option::of("[A-Za-z0-9/.:_-]{1,20}"),
        expiry in proptest::option::of((0u8..100, 1u8..13, 1u8..29)),
    ) {
        let expiry = expiry.map(|(y, m, d)| format!("{y:02}{m:02}{d:02}"));
        let mut pairs = vec![("01", gtin.as_str())];
        for (ai, v) in [("22", &cpv), ("10", &lot), ("21", &serial), ("17", &expiry)] {
            if let Some(v) = v {
                pairs.push((ai, v.as_str()));
            }
        }
        let elements = ElementString::from_pairs(pairs).expect("valid pairs");
        let uri = to_uri("id.gs1.org", &elements).expect("GTIN is a primary key");
        prop_assert_eq!(parse(&uri).map(|dl| dl.elements), Ok(elements));
    }

    #[test]
    fn arbitrary_uris_never_panic(s in "(https?://[a-z.]{0,12}/)?[0-9a-zA-Z/%?&=#.-]{0,80}") {
        let _parsed = parse(&s);
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,120}") {
        let _parsed = parse(&s);
    }
}
