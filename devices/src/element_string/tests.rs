use proptest::prelude::*;

use super::*;
use crate::gs1;

#[test]
fn bracketed_and_raw_forms_agree() {
    // GTIN 09501101530003 is the example GTIN of the GS1 General Specifications.
    let hri = parse("(01)09501101530003(17)261200(10)AB-123(21)XYZ").expect("valid HRI");
    let raw = parse(&format!("01095011015300031726120010AB-123{GS}21XYZ")).expect("valid raw");
    assert_eq!(hri, raw);
    assert_eq!(hri.gtin(), Some("09501101530003"));
    assert_eq!(hri.get("10"), Some("AB-123"));
    assert_eq!(
        hri.elements()[1].date(),
        Some(Gs1Date {
            yy: 26,
            month: 12,
            day: 0
        })
    );
    assert_eq!(hri.to_raw(), format!("01095011015300031726120010AB-123{GS}21XYZ"));
    assert_eq!(hri.to_hri(), "(01)09501101530003(17)261200(10)AB-123(21)XYZ");
}

#[test]
fn sscc_label_with_logistics_fields() {
    // SSCC from the GS1 Digital Link standard's example (https://id.gs1.org/00/106141412345678908);
    // gross weight 12.5 kg (AI 3301), ship-to GLN and postal code, and the 4300-series fields.
    let s = parse(&format!(
        "{GS}00106141412345678908330100012541006141410000054218401234{GS}4307US{GS}4300ACME%20Corp{GS}4321140012345"
    ))
    .expect("valid label");
    assert_eq!(s.sscc(), Some("106141412345678908"));
    let weight = s.elements().iter().find(|e| e.ai == "3301").expect("weight");
    assert_eq!(weight.decimal(), Some((125, 1)));
    assert_eq!(weight.title(), "GROSS WEIGHT (kg)");
    assert_eq!(s.get("410"), Some("0614141000005"));
    assert_eq!(s.get("421"), Some("8401234"));
    assert_eq!(s.get("4307"), Some("US"));
    assert_eq!(s.get("4300"), Some("ACME%20Corp"));
    assert_eq!(s.get("4321"), Some("1"));
    assert_eq!(s.get("400"), Some("12345"));
    let kinds: Vec<_> = s.identifiers().into_iter().map(|i| i.kind).collect();
    assert_eq!(kinds, [IdentifierKind::Sscc, IdentifierKind::OrderNumber]);
}

#[test]
fn parentheses_inside_values_are_data() {
    let s = parse("(10)AB(C(21)X").expect("valid");
    assert_eq!(s.get("10"), Some("AB(C"));
    assert_eq!(s.get("21"), Some("X"));
}

#[test]
fn repeated_ai_must_repeat_its_value() {
    assert_eq!(parse("(10)A(10)A").expect("same value").elements().len(), 1);
    assert_eq!(parse("(10)A(10)B"), Err(Gs1Error::Conflict("10".into())));
}

#[test]
fn rejections_are_typed() {
    let too_long = "9".repeat(MAX_ELEMENT_STRING_LEN + 1);
    let many: String = (0..=MAX_ELEMENTS).map(|i| format!("(91){i}")).collect();
    let many_distinct: String = (3100..3700)
        .map(|ai| ai.to_string())
        .filter(|ai| gs1_ai::lookup(ai).is_some())
        .take(MAX_ELEMENTS + 1)
        .map(|ai| format!("{ai}000001"))
        .collect();
    assert_eq!(parse(""), Err(Gs1Error::Empty));
    assert!(matches!(parse(&too_long), Err(Gs1Error::TooLong { .. })));
    assert!(matches!(parse(&many), Err(Gs1Error::Conflict(_))));
    assert_eq!(parse(&many_distinct), Err(Gs1Error::TooManyElements));
    assert_eq!(parse("05123"), Err(Gs1Error::UnknownAi("05123".into())));
    assert!(matches!(parse("(05)123"), Err(Gs1Error::Syntax(_))));
    assert!(matches!(
        parse("0010614141234567890"),
        Err(Gs1Error::InvalidValue { .. })
    ));
    assert!(matches!(
        parse("00106141412345678907"),
        Err(Gs1Error::InvalidValue { .. })
    ));
    assert!(matches!(parse("17261332"), Err(Gs1Error::InvalidValue { .. })));
    assert!(matches!(
        parse(&format!("10{GS}21A")),
        Err(Gs1Error::InvalidValue { .. })
    ));
    assert!(matches!(parse("(01)"), Err(Gs1Error::InvalidValue { .. })));
}

fn with_check(body: String) -> String {
    let check = gs1::compute_check_digit(body.as_bytes());
    format!("{body}{check}")
}

fn text(max: usize) -> impl Strategy<Value = String> {
    // Set 82 without parentheses and quotes, so the bracketed form is unambiguous.
    proptest::string::string_regex(&format!("[A-Za-z0-9!%&*+,./:;<=>?_-]{{1,{max}}}")).expect("regex")
}

fn element() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        "[0-9]{17}".prop_map(|b| ("00".to_string(), with_check(b))),
        "[0-9]{13}".prop_map(|b| ("01".to_string(), with_check(b))),
        "[0-9]{12}".prop_map(|b| ("410".to_string(), with_check(b))),
        text(20).prop_map(|t| ("10".to_string(), t)),
        text(20).prop_map(|t| ("21".to_string(), t)),
        text(30).prop_map(|t| ("400".to_string(), t)),
        text(70).prop_map(|t| ("4302".to_string(), t)),
        (0u8..100, 1u8..13, 0u8..29).prop_map(|(y, m, d)| ("17".to_string(), format!("{y:02}{m:02}{d:02}"))),
        (0u8..6, "[0-9]{6}").prop_map(|(n, v)| (format!("330{n}"), v)),
        "[0-9]{1,8}".prop_map(|v| ("37".to_string(), v)),
        "[A-Z]{2}".prop_map(|v| ("4307".to_string(), v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_element_strings_round_trip(pairs in proptest::collection::vec(element(), 1..8)) {
        let Ok(s) = ElementString::from_pairs(pairs.iter().map(|(a, v)| (a.as_str(), v.as_str()))) else {
            // Only a repeated AI with a different value may fail.
            return Ok(());
        };
        prop_assert_eq!(parse_raw(&s.to_raw()), Ok(s.clone()));
        prop_assert_eq!(parse_hri(&s.to_hri()), Ok(s.clone()));
        prop_assert_eq!(parse(&format!("{GS}{}", s.to_raw())), Ok(s));
    }

    #[test]
    fn arbitrary_input_never_panics(s in "[0-9()\u{1d}A-Za-z%é-]{0,120}") {
        if let Ok(parsed) = parse(&s) {
            prop_assert!(!parsed.elements().is_empty());
            prop_assert_eq!(parse_raw(&parsed.to_raw()), Ok(parsed));
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(s in ".{0,200}") {
        let _parsed = parse(&s);
        let _hri = parse_hri(&s);
    }
}
