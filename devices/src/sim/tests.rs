use chrono::{DateTime, FixedOffset, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::element_string::ElementString;
use crate::read::{Identifier, IdentifierKind};
use crate::scan::ScanContent;
use crate::serial::{Framer, FramingConfig, Terminator};
use crate::zebra::ZebraMode;
use crate::{epc, generic, gs1, impinj, zebra};

#[test]
fn generic_round_trip() {
    let t = DateTime::parse_from_rfc3339("2026-11-21T06:02:11.250-05:00").expect("time");
    let reads = vec![
        Read {
            identifier: Identifier {
                kind: IdentifierKind::Sscc,
                value: "106141412345678908".into(),
            },
            antenna: Some(2),
            rssi_dbm: Some(-61.5),
            seen_count: 7,
            time: Some(t),
        },
        Read {
            identifier: Identifier {
                kind: IdentifierKind::TrackingNumber,
                value: "1Z999AA10123456784".into(),
            },
            antenna: None,
            rssi_dbm: None,
            seen_count: 1,
            time: None,
        },
    ];
    assert_eq!(generic::decode(&generic_payload(&reads)).expect("decodes"), reads);
}

#[test]
fn epc_encoders_reproduce_the_tds_examples() {
    assert_eq!(
        sgtin96_hex(3, "0614141", "812345", 6789),
        Ok("3074257BF7194E4000001A85".into())
    );
    assert_eq!(
        sscc96_hex(0, "0614141", "1234567890"),
        Ok("3114257BF4499602D2000000".into())
    );
    assert_eq!(
        sscc96_hex_for_sscc(0, "106141412345678908", 7),
        Ok("3114257BF4499602D2000000".into())
    );
    assert!(sscc96_hex_for_sscc(0, "106141412345678907", 7).is_err());
    assert!(sscc96_hex_for_sscc(0, "106141412345678908", 13).is_err());
    let not_epc = Read {
        identifier: Identifier {
            kind: IdentifierKind::Barcode,
            value: "SO-1".into(),
        },
        antenna: None,
        rssi_dbm: None,
        seen_count: 1,
        time: None,
    };
    assert!(matches!(
        zebra_payload(&[not_epc], ZebraMode::Simple),
        Err(SimError::NotAnEpc { index: 0, .. })
    ));
}

fn epc_identifier() -> impl Strategy<Value = Identifier> {
    let gs1_like = (0x30u8..=0x34, proptest::collection::vec(any::<u8>(), 11..=11));
    let any_len = (any::<u8>(), proptest::collection::vec(any::<u8>(), 1..40));
    prop_oneof![gs1_like, any_len].prop_filter_map("hex has an identifier", |(header, rest)| {
        let hex: String = std::iter::once(header)
            .chain(rest)
            .map(|b| format!("{b:02X}"))
            .collect();
        epc::identifier_for_hex(&hex).ok().map(|(id, _)| id)
    })
}

fn time() -> impl Strategy<Value = Option<DateTime<FixedOffset>>> {
    proptest::option::of((0i64..4_000_000_000_000, -840i32..=840)).prop_map(|t| {
        t.and_then(|(millis, minutes)| {
            FixedOffset::east_opt(minutes * 60).and_then(|tz| tz.timestamp_millis_opt(millis).single())
        })
    })
}

fn read(max_count: u32) -> impl Strategy<Value = Read> {
    (
        epc_identifier(),
        proptest::option::of(1u16..),
        proptest::option::of(-15_000i32..=2_000),
        1..=max_count,
        time(),
    )
        .prop_map(|(identifier, antenna, cdbm, seen_count, time)| Read {
            identifier,
            antenna,
            rssi_dbm: cdbm.map(|c| c as f32 / 100.0),
            seen_count,
            time,
        })
}

fn check_digited(body: String) -> String {
    let check = gs1::compute_check_digit(body.as_bytes());
    format!("{body}{check}")
}

fn line_config() -> impl Strategy<Value = FramingConfig> {
    prop_oneof![
        Just(Terminator::Line),
        Just(Terminator::Cr),
        Just(Terminator::Lf),
        Just(Terminator::CrLf),
        any::<bool>().prop_map(|require_stx| Terminator::Etx { require_stx }),
    ]
    .prop_map(|terminator| FramingConfig {
        terminator,
        prefix: b"@".to_vec(),
        ..FramingConfig::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn zebra_payloads_decode_to_the_same_reads(
        reads in proptest::collection::vec(read(100_000), 1..20),
        mode in proptest::sample::select(vec![ZebraMode::Simple, ZebraMode::Inventory, ZebraMode::Portal, ZebraMode::Custom]),
    ) {
        let payload = zebra_payload(&reads, mode).expect("EPC reads encode");
        prop_assert_eq!(zebra::decode(&payload), Ok(reads));
    }

    #[test]
    fn impinj_streams_decode_to_the_same_reads(reads in proptest::collection::vec(read(1), 1..20)) {
        let payload = impinj_stream(&reads, "r700-sim").expect("EPC reads encode");
        prop_assert_eq!(impinj::decode_reads(&payload), Ok(reads));
    }

    #[test]
    fn scanner_frames_scan_back(
        config in line_config(),
        sscc in "[0-9]{17}".prop_map(check_digited),
        gtin13 in "[1-9][0-9]{11}".prop_map(check_digited),
        lot in "[A-Z0-9-]{1,20}",
    ) {
        let gtin14 = format!("0{gtin13}");
        let elements = ElementString::from_pairs([("01", gtin14.as_str()), ("10", lot.as_str())]).expect("valid");
        let texts = [
            gs1_128_sscc(&sscc),
            ean13(&gtin13),
            qr_digital_link_sscc(&sscc),
            gs1_qr_digital_link(&elements).expect("GTIN is a primary key"),
        ];
        let bytes: Vec<u8> = texts.iter().flat_map(|t| frame(t, &config)).collect();
        let codes = Framer::new(config).push(&bytes);
        let first_ids: Vec<_> = codes
            .iter()
            .map(|c| c.as_ref().map(|c| c.identifiers()[0].clone()).map_err(|e| e.reason()))
            .collect();
        let sscc_id = Identifier { kind: IdentifierKind::Sscc, value: sscc.clone() };
        let gtin_id = Identifier { kind: IdentifierKind::Barcode, value: gtin14.clone() };
        prop_assert_eq!(first_ids, vec![Ok(sscc_id.clone()), Ok(gtin_id.clone()), Ok(sscc_id), Ok(gtin_id)]);
        let expected = ScanContent::DigitalLink(crate::digital_link::DigitalLink {
            domain: "id.gs1.org".into(),
            elements,
        });
        let is_link = matches!(&codes[3], Ok(c) if c.content == expected);
        prop_assert!(is_link);
    }
}

#[test]
fn simulated_ssccs_are_valid_and_distinct() {
    let a = super::sscc("0614141", 0);
    assert_eq!(a, "006141410000000005");
    assert!(crate::gs1::is_valid_sscc(&a));
    assert!(crate::gs1::is_valid_sscc(&super::sscc("0614141", 123_456_789)));
    assert_ne!(super::sscc("0614141", 1), super::sscc("0614141", 2));
}
