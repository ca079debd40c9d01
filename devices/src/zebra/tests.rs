use proptest::prelude::*;

use super::*;
use crate::read::IdentifierKind;

/// The event shape of reelyActive's barnowl-zebra test listener (lib/testlistener.js), which
/// mirrors what an FX9600 publishes in SIMPLE mode: colon-less offset, MAC, eventNum, format.
const SIMPLE_EVENT: &str = r#"{"type":"SIMPLE","timestamp":"2023-02-24T10:14:42.851+0000",
  "data":{"MAC":"C4:7D:CC:FF:FF:FF","antenna":1,"eventNum":1,"format":"epc",
          "idHex":"7EDA9038051002710002C0AE","peakRssi":-70,"reads":1}}"#;

/// Constructed: an INVENTORY batch (array) of GS1 tags, using the TDS example EPCs.
const INVENTORY_BATCH: &str = r#"[
  {"type":"INVENTORY","timestamp":"2026-11-21T06:02:11.250+01:00",
   "data":{"idHex":"3074257bf7194e4000001a85","antenna":2,"peakRssi":-52.5,"reads":14,"eventNum":7,"format":"epc"}},
  {"type":"INVENTORY","timestamp":"2026-11-21T06:02:11.300+0100",
   "data":{"idHex":"3114257BF4499602D2000000","antenna":3,"peakRssi":-61,"reads":3,"eventNum":8}}
]"#;

/// Constructed from the tag metadata the IoT Connector documents for CUSTOM mode
/// (PC, XPC, CRC, ANTENNA, RSSI, PHASE, CHANNEL, SEEN_COUNT, EPC, TID, USER).
const CUSTOM_EVENT: &str = r#"{"type":"CUSTOM","timestamp":"2026-08-13T09:14:28.651+0000",
  "data":{"idHex":"3074257BF7194E4000001A85","antenna":4,"peakRssi":-34,"reads":1,"eventNum":28,
          "channel":922.75,"phase":-99.14,"PC":"3000","XPC":"2000","CRC":"b2a1",
          "TID":"e28011606000020528f904fa","USER":"00ff","hostName":"FX9600F05EC9"}}"#;

#[test]
fn simple_event_keeps_a_non_gs1_epc_as_raw_urn() {
    let reads = decode_events(SIMPLE_EVENT.as_bytes()).expect("valid event");
    let [z] = reads.as_slice() else { panic!("one read") };
    assert_eq!(z.read.identifier.kind, IdentifierKind::Epc);
    assert_eq!(z.read.identifier.value, "urn:epc:raw:96.x7EDA9038051002710002C0AE");
    assert_eq!(
        (z.read.antenna, z.read.rssi_dbm, z.read.seen_count),
        (Some(1), Some(-70.0), 1)
    );
    let t = z.read.time.expect("time");
    assert_eq!(
        (t.offset().local_minus_utc(), t.timestamp_millis()),
        (0, 1_677_233_682_851)
    );
    assert_eq!(z.extras.mode, Some(ZebraMode::Simple));
    assert_eq!(z.extras.mac.as_deref(), Some("C4:7D:CC:FF:FF:FF"));
    assert_eq!(z.extras.gs1_key(), None);
}

#[test]
fn inventory_batch_decodes_gs1_tags_with_both_offset_forms() {
    let reads = decode_events(INVENTORY_BATCH.as_bytes()).expect("valid batch");
    let ids: Vec<_> = reads.iter().map(|z| z.read.identifier.value.as_str()).collect();
    assert_eq!(
        ids,
        [
            "urn:epc:id:sgtin:0614141.812345.6789",
            "urn:epc:id:sscc:0614141.1234567890"
        ]
    );
    assert_eq!(reads[0].read.seen_count, 14);
    assert_eq!(
        reads[1].extras.gs1_key().as_ref().map(|k| (k.ai, k.value.as_str())),
        Some(("00", "106141412345678908"))
    );
    let offsets: Vec<_> = reads
        .iter()
        .filter_map(|z| z.read.time)
        .map(|t| t.offset().local_minus_utc())
        .collect();
    assert_eq!(offsets, [3600, 3600]);
    assert_eq!(decode(INVENTORY_BATCH.as_bytes()).expect("reads").len(), 2);
}

#[test]
fn custom_event_carries_tag_metadata() {
    let reads = decode_events(CUSTOM_EVENT.as_bytes()).expect("valid event");
    let e = &reads[0].extras;
    assert_eq!(e.mode, Some(ZebraMode::Custom));
    assert_eq!(
        (e.event_num, e.channel_mhz, e.phase_deg),
        (Some(28), Some(922.75), Some(-99.14))
    );
    assert_eq!(e.crc.as_deref(), Some("B2A1"));
    assert_eq!(e.tid.as_deref(), Some("E28011606000020528F904FA"));
    assert_eq!(
        (e.pc.as_deref(), e.xpc.as_deref(), e.user.as_deref()),
        (Some("3000"), Some("2000"), Some("00FF"))
    );
    assert_eq!(e.hostname.as_deref(), Some("FX9600F05EC9"));
}

#[test]
fn every_documented_mode_is_accepted_and_type_may_be_absent() {
    for mode in ["SIMPLE", "INVENTORY", "PORTAL", "CONVEYOR", "DIRECTIONALITY", "CUSTOM"] {
        let payload = format!(r#"{{"type":"{mode}","data":{{"idHex":"3074257BF7194E4000001A85"}}}}"#);
        let reads = decode_events(payload.as_bytes()).expect(mode);
        assert_eq!(reads[0].extras.mode.map(ZebraMode::as_str), Some(mode));
        assert_eq!(reads[0].read.time, None);
    }
    let untyped = decode_events(br#"{"data":{"idHex":"3074257BF7194E4000001A85","seenCount":2}}"#).expect("untyped");
    assert_eq!((untyped[0].extras.mode, untyped[0].read.seen_count), (None, 2));
}

#[test]
fn rejections_carry_a_reason() {
    let many = format!(
        "[{}]",
        vec![r#"{"data":{"idHex":"00"}}"#; MAX_EVENTS_PER_PAYLOAD + 1].join(",")
    );
    let cases: &[(&[u8], &str)] = &[
        (b"{not json", "malformed_json"),
        (b"42", "invalid_shape"),
        (b"[1]", "invalid_shape"),
        (br#"{"data":{"idHex":"3074","antenna":"1"}}"#, "invalid_shape"),
        (b"[]", "empty_batch"),
        (many.as_bytes(), "too_many_reads"),
        (br#"{"type":"HEARTBEAT","data":{}}"#, "unsupported_event"),
        (br#"{"type":"SIMPLE"}"#, "invalid_field"),
        (br#"{"type":"SIMPLE","data":{}}"#, "invalid_field"),
        (br#"{"data":{"idHex":"30Z4"}}"#, "invalid_field"),
        (br#"{"data":{"idHex":""}}"#, "invalid_field"),
        (br#"{"data":{"idHex":"3074","format":"tid"}}"#, "invalid_field"),
        (br#"{"data":{"idHex":"3074","antenna":0}}"#, "invalid_field"),
        (br#"{"data":{"idHex":"3074","peakRssi":99}}"#, "invalid_field"),
        (br#"{"data":{"idHex":"3074","reads":0}}"#, "invalid_field"),
        (br#"{"data":{"idHex":"3074","TID":"xyz"}}"#, "invalid_field"),
        (
            br#"{"timestamp":"2023-02-24T10:14:42.851","data":{"idHex":"3074"}}"#,
            "invalid_field",
        ),
    ];
    for (payload, reason) in cases {
        let err = decode(payload).expect_err(&String::from_utf8_lossy(payload));
        assert_eq!(err.reason(), *reason, "{}: {err}", String::from_utf8_lossy(payload));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(reads) = decode(&bytes) {
            prop_assert!(!reads.is_empty());
        }
    }

    #[test]
    fn json_like_text_never_panics(s in r#"[\[\]{}",:. 0-9a-fA-FdtypeSIMPLEidHexantenna+-]{0,200}"#) {
        if let Ok(reads) = decode(s.as_bytes()) {
            prop_assert!(!reads.is_empty());
        }
    }

    #[test]
    fn mutated_payloads_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = [SIMPLE_EVENT, INVENTORY_BATCH, CUSTOM_EVENT][which].as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(reads) = decode_events(&bytes) {
            prop_assert!(reads.iter().all(|z| z.read.seen_count >= 1 && z.read.antenna != Some(0)));
        }
    }

    /// The fast path may only take a payload the full parse takes, and must
    /// read it the same: every edit to a real payload gets the same answer
    /// from `decode_events` as from the parse-everything-first path.
    #[test]
    fn fast_and_full_parse_agree(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let escaped = r#"{"type":"SIMPLE","data":{"idHex":"3074257bf7194e4000001a85","hostName":"dock\u0031"}}"#;
        let mut bytes = [SIMPLE_EVENT, INVENTORY_BATCH, CUSTOM_EVENT, escaped][which].as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        prop_assert_eq!(decode_events(&bytes), decode_via_value(&bytes));
    }
}
