use super::*;

fn subs() -> Vec<String> {
    crate::serial::FramingConfig::default().gs_substitutes
}

fn scan(text: &str) -> Result<ScannedCode, FrameError> {
    interpret(text, &subs())
}

fn ids(text: &str) -> Vec<(IdentifierKind, String)> {
    scan(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .identifiers()
        .into_iter()
        .map(|i| (i.kind, i.value))
        .collect()
}

#[test]
fn gs1_128_sscc_label() {
    // SSCC 106141412345678908 from the GS1 Digital Link standard's SSCC example.
    let code = scan("]C100106141412345678908").expect("valid");
    assert_eq!((code.symbology, code.aim.as_deref()), (Symbology::Code128, Some("]C1")));
    assert!(matches!(code.content, ScanContent::Gs1(_)));
    assert_eq!(
        ids("]C100106141412345678908"),
        [(IdentifierKind::Sscc, "106141412345678908".into())]
    );
    let read = code.to_read().expect("read");
    assert_eq!((read.seen_count, read.antenna, read.time), (1, None, None));
}

#[test]
fn gs1_datamatrix_through_a_keyboard_wedge() {
    // GTIN 09501101530003 (GS1 General Specifications example), GS sent as Ctrl-] (`^]`).
    let code = scan("]d201095011015300031726123110AB-123^]21XYZ").expect("valid");
    let ScanContent::Gs1(e) = &code.content else {
        panic!("GS1")
    };
    assert_eq!(e.to_hri(), "(01)09501101530003(17)261231(10)AB-123(21)XYZ");
    assert_eq!(code.text, "01095011015300031726123110AB-123\u{1d}21XYZ");
    assert_eq!(
        ids("]Q30109501101530003"),
        [(IdentifierKind::Barcode, "09501101530003".into())]
    );
    assert_eq!(
        ids("]e00109501101530003"),
        [(IdentifierKind::Barcode, "09501101530003".into())]
    );
}

#[test]
fn ean_and_upc_become_gtin_14() {
    // 4006381333931: the textbook EAN-13; 036000291452: the textbook UPC-A; 96385074: EAN-8.
    assert_eq!(
        ids("]E04006381333931"),
        [(IdentifierKind::Barcode, "04006381333931".into())]
    );
    assert_eq!(
        ids("]E0036000291452"),
        [(IdentifierKind::Barcode, "00036000291452".into())]
    );
    assert_eq!(ids("]E496385074"), [(IdentifierKind::Barcode, "00000096385074".into())]);
    assert_eq!(
        ids("]E3400638133393112"),
        [(IdentifierKind::Barcode, "04006381333931".into())]
    );
    // Without an AIM identifier nothing says it is an EAN: the digits stay as scanned.
    assert_eq!(
        ids("4006381333931"),
        [(IdentifierKind::Barcode, "4006381333931".into())]
    );
    assert_eq!(scan("]E212345").map(|c| c.content), Ok(ScanContent::Text));
}

#[test]
fn digital_link_in_a_qr_code() {
    let code = scan("]Q1https://id.gs1.org/01/09506000134352/10/ABC123?17=201231").expect("valid");
    let ScanContent::DigitalLink(dl) = &code.content else {
        panic!("Digital Link")
    };
    assert_eq!(dl.elements.get("17"), Some("201231"));
    assert_eq!(
        ids("]Q1https://id.gs1.org/00/106141412345678908"),
        [(IdentifierKind::Sscc, "106141412345678908".into())]
    );
    assert_eq!(
        scan("https://example.com/track?id=1").map(|c| c.content),
        Ok(ScanContent::Text)
    );
}

#[test]
fn text_without_aim_is_inferred_like_the_generic_format() {
    assert_eq!(
        ids("1Z999AA10123456784"),
        [(IdentifierKind::Barcode, "1Z999AA10123456784".into())]
    );
    assert_eq!(
        ids("106141412345678908"),
        [(IdentifierKind::Sscc, "106141412345678908".into())]
    );
    assert_eq!(
        ids("(00)106141412345678908"),
        [(IdentifierKind::Sscc, "106141412345678908".into())]
    );
    assert_eq!(ids("(not gs1)"), [(IdentifierKind::Barcode, "(not gs1)".into())]);
    assert_eq!(ids("A<GS>B"), [(IdentifierKind::Barcode, "A<GS>B".into())]);
    assert_eq!(
        ids("00106141412345678908\u{1d}400PO-77"),
        [
            (IdentifierKind::Sscc, "106141412345678908".into()),
            (IdentifierKind::OrderNumber, "PO-77".into()),
        ]
    );
    assert_eq!(ids("]C0SO-1001"), [(IdentifierKind::Barcode, "SO-1001".into())]);
    assert_eq!(scan("]X0abc").map(|c| c.symbology), Ok(Symbology::Other));
}

#[test]
fn rejections_carry_a_reason() {
    let long = "A".repeat(MAX_IDENTIFIER_LEN + 1);
    let cases = [
        ("]C100106141412345678907", "invalid_gs1"),
        ("]d2", "invalid_gs1"),
        ("00106141412345678907\u{1d}10A", "invalid_gs1"),
        ("]E04006381333932", "invalid_gtin"),
        ("]E0ABC", "invalid_gtin"),
        ("]Q1https://id.gs1.org/01/09506000134353", "invalid_digital_link"),
        ("]C0AB\u{7}", "control_character"),
        ("]C1420123", "no_identifier"),
        ("]Q1https://id.gs1.org/414/0614141000005", "no_identifier"),
        (long.as_str(), "text_too_long"),
    ];
    for (text, reason) in cases {
        let err = scan(text).expect_err(text);
        assert_eq!(err.reason(), reason, "{text:?}: {err}");
    }
}
