use proptest::prelude::*;

use super::*;
use crate::read::IdentifierKind;

/// Constructed NDJSON stream. Field names are those of Impinj's generated IoT device
/// interface client (Impinj.Atlas: timestamp, hostname, eventType, tagInventoryEvent with
/// epc, epcHex, tidHex, antennaPort, antennaName, peakRssiCdbm, frequency,
/// transmitPowerCdbm, lastSeenTime) and public R700 emulator output; the EPCs are the TDS
/// SGTIN-96 and SSCC-96 examples, the second one as URL-safe base64 only.
const STREAM: &str = concat!(
    r#"{"timestamp":"2026-11-21T05:02:11.251Z","hostname":"impinj-14-46-36","eventType":"tagInventory","tagInventoryEvent":{"epc":"MHQle/cZTkAAABqF","epcHex":"3074257BF7194E4000001A85","tidHex":"e28011606000020528f904fa","antennaPort":1,"antennaName":"Dock 3 left","peakRssiCdbm":-5325,"frequency":920250,"transmitPowerCdbm":3000,"lastSeenTime":"2026-11-21T05:02:11.250000Z"}}"#,
    "\n",
    r#"{"timestamp":"2026-11-21T05:02:12Z","eventType":"tagInventory","tagInventoryEvent":{"epc":"MRQle_RJlgLSAAAA","antennaPort":2}}"#,
    "\n"
);

/// Constructed webhook batch (a JSON array) with the alarm events; member and field
/// names as in Impinj.Atlas (antennaPort/antennaName, status, eventsPurged,
/// firstEventTimestamp, lastEventTimestamp).
const WEBHOOK_BATCH: &str = r#"[
  {"timestamp":"2026-11-21T05:00:00Z","hostname":"r700","eventType":"antennaDisconnected","antennaDisconnectedEvent":{"antennaPort":3,"antennaName":"Dock 3 right"}},
  {"timestamp":"2026-11-21T05:00:05Z","eventType":"antennaConnected","antennaConnectedEvent":{"antennaPort":3}},
  {"timestamp":"2026-11-21T05:00:06Z","eventType":"inventoryStatus","inventoryStatusEvent":{"status":"running"}},
  {"timestamp":"2026-11-21T05:01:00Z","eventType":"overflow","overflowEvent":{"eventsPurged":1250,"firstEventTimestamp":"2026-11-21T04:59:00Z","lastEventTimestamp":"2026-11-21T05:00:59Z"}},
  {"timestamp":"2026-11-21T05:01:01Z","eventType":"diagnostic","diagnosticEvent":{"data":[]}}
]"#;

#[test]
fn stream_of_tag_reads() {
    let items = decode(STREAM.as_bytes()).expect("valid stream");
    let [ImpinjItem::Tag(first), ImpinjItem::Tag(second)] = items.as_slice() else {
        panic!("two tag reads")
    };
    assert_eq!(first.read.identifier.value, "urn:epc:id:sgtin:0614141.812345.6789");
    assert_eq!(
        (first.read.antenna, first.read.rssi_dbm, first.read.seen_count),
        (Some(1), Some(-53.25), 1)
    );
    // lastSeenTime wins over the envelope timestamp.
    assert_eq!(first.read.time.map(|t| t.timestamp_millis()), Some(1_795_237_331_250));
    assert_eq!(first.antenna_name.as_deref(), Some("Dock 3 left"));
    assert_eq!(
        (first.frequency_khz, first.transmit_power_cdbm),
        (Some(920_250), Some(3000))
    );
    assert_eq!(first.tid.as_deref(), Some("E28011606000020528F904FA"));
    assert_eq!(first.hostname.as_deref(), Some("impinj-14-46-36"));
    assert_eq!(second.read.identifier.value, "urn:epc:id:sscc:0614141.1234567890");
    assert_eq!(
        second.gs1_key().as_ref().map(|k| k.value.as_str()),
        Some("106141412345678908")
    );
    assert_eq!(second.read.time.map(|t| t.timestamp()), Some(1_795_237_332));
    assert_eq!(decode_reads(STREAM.as_bytes()).expect("reads").len(), 2);
}

#[test]
fn single_mqtt_event_with_a_short_non_gs1_epc() {
    // EPC "ikUCJA==" (4 bytes) as published in a public R700 MQTT integration example.
    let payload = br#"{"timestamp":"2026-01-01T10:00:00Z","eventType":"tagInventory","tagInventoryEvent":{"epc":"ikUCJA==","antennaPort":1,"peakRssiCdbm":-3200}}"#;
    let reads = decode_reads(payload).expect("valid event");
    assert_eq!(reads[0].identifier.kind, IdentifierKind::Epc);
    assert_eq!(reads[0].identifier.value, "urn:epc:raw:32.x8A450224");
    assert_eq!(reads[0].rssi_dbm, Some(-32.0));
}

#[test]
fn webhook_batch_of_alarms() {
    let items = decode(WEBHOOK_BATCH.as_bytes()).expect("valid batch");
    let kinds: Vec<_> = items
        .iter()
        .map(|i| match i {
            ImpinjItem::Alarm(a) => a.kind.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .take(4)
        .collect();
    assert_eq!(
        kinds[0],
        AlarmKind::AntennaDisconnected {
            antenna_port: Some(3),
            antenna_name: Some("Dock 3 right".into())
        }
    );
    assert_eq!(
        kinds[1],
        AlarmKind::AntennaConnected {
            antenna_port: Some(3),
            antenna_name: None
        }
    );
    assert_eq!(
        kinds[2],
        AlarmKind::InventoryStatus {
            status: "running".into()
        }
    );
    let AlarmKind::Overflow {
        events_purged,
        first_event,
        last_event,
    } = &kinds[3]
    else {
        panic!("overflow")
    };
    assert_eq!(*events_purged, Some(1250));
    assert!(first_event.is_some() && last_event > first_event);
    assert!(matches!(&items[4], ImpinjItem::Other { event_type, .. } if event_type == "diagnosticEvent"));
    assert!(decode_reads(WEBHOOK_BATCH.as_bytes()).expect("no reads").is_empty());
}

#[test]
fn rejections_carry_a_reason() {
    let tag = |body: &str| format!(r#"{{"eventType":"tagInventory","tagInventoryEvent":{body}}}"#);
    let many = r#"{"diagnosticEvent":{}}"#.repeat(MAX_EVENTS_PER_PAYLOAD + 1);
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "malformed_json"),
        ("[1,".into(), "malformed_json"),
        ("42".into(), "invalid_shape"),
        ("[]".into(), "empty_batch"),
        ("".into(), "empty_batch"),
        (many, "too_many_reads"),
        (r#"{"timestamp":"2026-01-01T00:00:00Z"}"#.into(), "invalid_shape"),
        (r#"{"diagnosticEvent":{},"overflowEvent":{}}"#.into(), "invalid_shape"),
        (r#"{"eventType":"somethingNew"}"#.into(), "unsupported_event"),
        (r#"{"somethingNewEvent":{}}"#.into(), "unsupported_event"),
        (tag(r#"{"antennaPort":1}"#), "invalid_field"),
        (tag(r#"{"epc":"not base64!"}"#), "invalid_field"),
        (tag(r#"{"epcHex":"30Z4"}"#), "invalid_field"),
        (
            tag(r#"{"epc":"MHQle/cZTkAAABqF","epcHex":"3074257BF7194E4000001A86"}"#),
            "invalid_field",
        ),
        (tag(r#"{"epcHex":"3074","peakRssiCdbm":5000}"#), "invalid_field"),
        (tag(r#"{"epcHex":"3074","antennaPort":0}"#), "invalid_field"),
        (
            tag(r#"{"epcHex":"3074","lastSeenTime":"2026-01-01T00:00:00"}"#),
            "invalid_field",
        ),
        (tag(r#"{"epcHex":"3074","antennaPort":"one"}"#), "invalid_shape"),
        (r#"{"inventoryStatusEvent":{}}"#.into(), "invalid_field"),
    ];
    for (payload, reason) in cases {
        let err = decode(payload.as_bytes()).expect_err(&payload);
        assert_eq!(err.reason(), reason, "{payload}: {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _decoded = decode(&bytes);
    }

    #[test]
    fn json_like_text_never_panics(s in r#"[\[\]{}",:\n 0-9a-zA-Z=+/_-]{0,200}"#) {
        if let Ok(items) = decode(s.as_bytes()) {
            prop_assert!(!items.is_empty());
        }
    }

    #[test]
    fn mutated_payloads_never_panic(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = [STREAM, WEBHOOK_BATCH][which].as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(items) = decode(&bytes) {
            prop_assert!(items.iter().all(|i| !matches!(i, ImpinjItem::Tag(t) if t.read.antenna == Some(0))));
        }
    }
}
