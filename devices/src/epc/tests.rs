use proptest::prelude::*;

use super::*;

/// (hex, pure-identity URN, filter, GS1 key AI, key value) — each vector's source is named.
const VECTORS: &[(&str, &str, u8, &str, &str)] = &[
    // GS1 EPC Tag Data Standard, SGTIN-96 worked example (Annex E): filter 3, 7-digit prefix.
    (
        "3074257BF7194E4000001A85",
        "urn:epc:id:sgtin:0614141.812345.6789",
        3,
        "01",
        "80614141123458",
    ),
    // TDS SSCC example identity urn:epc:id:sscc:0614141.1234567890 (SSCC 106141412345678908),
    // encoded with filter 0; the hex matches independent implementations of the TDS.
    (
        "3114257BF4499602D2000000",
        "urn:epc:id:sscc:0614141.1234567890",
        0,
        "00",
        "106141412345678908",
    ),
    // GS1 Tag Data Translation test vector: urn:epc:tag:sgln-96:3.9521141.12345.5678.
    (
        "3276451FD46072000000162E",
        "urn:epc:id:sgln:9521141.12345.5678",
        3,
        "414",
        "9521141123454",
    ),
    // TDS GRAI example identity urn:epc:id:grai:0614141.12345.400, filter 5.
    (
        "33B4257BF40C0E4000000190",
        "urn:epc:id:grai:0614141.12345.400",
        5,
        "8003",
        "00614141123452400",
    ),
    // TDS GIAI example identity urn:epc:id:giai:0614141.12345400, filter 0.
    (
        "3414257BF400000000BC6038",
        "urn:epc:id:giai:0614141.12345400",
        0,
        "8004",
        "061414112345400",
    ),
];

#[test]
fn published_vectors_decode_and_encode() {
    for &(hex, urn, filter, ai, key) in VECTORS {
        let epc = decode_hex(hex).unwrap_or_else(|e| panic!("{hex}: {e}"));
        assert_eq!(epc.urn(), urn, "{hex}");
        assert_eq!(epc.filter(), filter, "{hex}");
        assert_eq!(epc.gs1_key(), Gs1Key { ai, value: key.into() }, "{hex}");
        if matches!(ai, "00" | "01" | "414") {
            assert!(gs1::check_digit_valid(key), "{key}");
        }
        assert_eq!(epc.to_hex(), hex, "{hex}");
        assert_eq!(parse_urn(urn, filter).expect("urn parses"), epc, "{urn}");
        assert_eq!(decode_hex(&hex.to_ascii_lowercase()).expect("lower case"), epc);
    }
}

#[test]
fn sgtin_tag_uri_and_key_match_the_standard() {
    let epc = decode_hex("3074257BF7194E4000001A85").expect("TDS example");
    assert_eq!(epc.tag_uri(), "urn:epc:tag:sgtin-96:3.0614141.812345.6789");
    assert_eq!(epc.scheme(), EpcScheme::Sgtin96);
    assert_eq!(
        (epc.company_prefix(), epc.reference(), epc.serial()),
        ("0614141", "812345", 6789)
    );
}

#[test]
fn unsupported_encodings_are_named_not_guessed() {
    // A factory-programmed Impinj tag EPC (header 0xE2 is not a GS1 scheme).
    assert_eq!(
        decode_hex("E28011606000020528F904FA"),
        Err(EpcError::UnknownHeader(0xE2))
    );
    // SGTIN-198 is a real TDS scheme but not a 96-bit one.
    assert_eq!(
        decode_hex("3674257BF6B7A659B2C2BF1000000000000000000000000000"),
        Err(EpcError::UnknownHeader(0x36))
    );
    assert_eq!(
        decode_hex("3074257BF7194E4000001A"),
        Err(EpcError::WrongLength { header: 0x30, bits: 88 })
    );
    // Header 0x30, filter 0, partition 7.
    assert_eq!(
        decode_hex("301C257BF7194E4000001A85"),
        Err(EpcError::ReservedPartition(7))
    );
    // SSCC-96 with a reserved bit set.
    assert_eq!(decode_hex("3114257BF4499602D2000001"), Err(EpcError::ReservedBitsSet));
    assert_eq!(decode_hex(""), Err(EpcError::Empty));
    assert_eq!(decode_hex("3G"), Err(EpcError::NotHex));
    assert_eq!(decode_hex("307"), Err(EpcError::NotHex));
}

#[test]
fn company_prefix_overflow_is_rejected() {
    // SGTIN-96, partition 0 (12-digit prefix in 40 bits) with the prefix bits all ones.
    let bits: u128 = (0x30u128 << 88) | (0xFF_FFFF_FFFFu128 << 42);
    let hex = format!("{bits:024X}");
    assert_eq!(
        decode_hex(&hex),
        Err(EpcError::FieldOverflow {
            field: "company prefix",
            digits: 12
        })
    );
}

#[test]
fn identifier_falls_back_to_the_raw_urn() {
    let (id, epc) = identifier_for_hex("3074257bf7194e4000001a85").expect("hex");
    assert_eq!(id.value, "urn:epc:id:sgtin:0614141.812345.6789");
    assert!(epc.is_some());
    let (id, epc) = identifier_for_hex("E28011606000020528F904FA").expect("hex");
    assert_eq!(id.kind, IdentifierKind::Epc);
    assert_eq!(id.value, "urn:epc:raw:96.xE28011606000020528F904FA");
    assert!(epc.is_none());
    assert_eq!(identifier_for_hex("zz"), Err(EpcError::NotHex));
    assert!(matches!(
        identifier_for_hex(&"A".repeat(124)),
        Err(EpcError::TooLong { .. })
    ));
}

#[test]
fn builder_rejects_bad_parts() {
    let cases = [
        (EpcScheme::Sgtin96, 8, "0614141", "812345", 1),
        (EpcScheme::Sgtin96, 3, "06141", "8123456", 1),
        (EpcScheme::Sgtin96, 3, "0614141", "81234", 1),
        (EpcScheme::Sgtin96, 3, "0614141", "812345", 1 << 38),
        (EpcScheme::Sscc96, 0, "0614141", "1234567890", 1),
        (EpcScheme::Giai96, 0, "0614141", "012", 0),
        (EpcScheme::Giai96, 0, "0614141", &"9".repeat(40), 0),
        (EpcScheme::Sgtin96, 3, "06141a1", "812345", 1),
    ];
    for (scheme, filter, cp, r, serial) in cases {
        assert!(
            Epc::new(scheme, filter, cp, r, serial).is_err(),
            "{scheme:?} {cp} {r} {serial}"
        );
    }
    for bad in [
        "urn:epc:id:sgtin:0614141.812345.06789",
        "urn:epc:id:sgtin:0614141.812345",
        "urn:epc:id:xyz:1.2",
    ] {
        assert!(parse_urn(bad, 0).is_err(), "{bad}");
    }
}

fn any_epc() -> impl Strategy<Value = Epc> {
    let schemes = prop_oneof![
        Just(EpcScheme::Sgtin96),
        Just(EpcScheme::Sscc96),
        Just(EpcScheme::Sgln96),
        Just(EpcScheme::Grai96),
        Just(EpcScheme::Giai96),
    ];
    (schemes, 0u8..8, 0usize..7, any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
        |(scheme, filter, partition, cp, r, serial)| {
            let (prefix_bits, prefix_digits) = PREFIX_PARTITIONS[partition];
            let layout = scheme.layout();
            let cp = format!(
                "{:0w$}",
                u128::from(cp) % 10u128.pow(prefix_digits),
                w = prefix_digits as usize
            );
            let ref_bits = layout.body_bits - prefix_bits;
            let reference = match layout.body_digits {
                Some(total) => {
                    let digits = total - prefix_digits;
                    let value = u128::from(r) % 10u128.pow(digits);
                    if digits == 0 {
                        String::new()
                    } else {
                        format!("{value:0w$}", w = digits as usize)
                    }
                }
                None => (u128::from(r) % (1u128 << ref_bits)).to_string(),
            };
            let serial = match scheme {
                EpcScheme::Sscc96 | EpcScheme::Giai96 => 0,
                _ => serial % (1u64 << layout.tail_bits),
            };
            Epc::new(scheme, filter, &cp, &reference, serial).expect("generated parts are valid")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_96_bits_decode_to_an_exact_inverse_or_an_error(
        header in prop_oneof![0x30u8..=0x34, any::<u8>()],
        rest in proptest::array::uniform11(any::<u8>()),
    ) {
        let hex: String = std::iter::once(header).chain(rest).map(|b| format!("{b:02X}")).collect();
        if let Ok(epc) = decode_hex(&hex) {
            prop_assert_eq!(epc.to_hex(), hex.clone());
            prop_assert_eq!(parse_urn(&epc.urn(), epc.filter()), Ok(epc.clone()));
        }
        let (id, _) = identifier_for_hex(&hex).expect("24 hex digits always identify");
        prop_assert!(id.value.len() <= MAX_IDENTIFIER_LEN);
    }

    #[test]
    fn built_epcs_round_trip(epc in any_epc()) {
        let hex = epc.to_hex();
        prop_assert_eq!(hex.len(), 24);
        prop_assert_eq!(decode_hex(&hex), Ok(epc.clone()));
        prop_assert_eq!(parse_urn(&epc.urn(), epc.filter()), Ok(epc.clone()));
        let key = epc.gs1_key();
        if matches!(epc.scheme(), EpcScheme::Sgtin96 | EpcScheme::Sscc96 | EpcScheme::Sgln96) {
            prop_assert!(gs1::check_digit_valid(&key.value));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,140}", filter in any::<u8>()) {
        let _decoded = decode_hex(&s);
        let _parsed = parse_urn(&s, filter);
        let _identified = identifier_for_hex(&s);
        let _raw = raw_urn(&s);
    }
}
