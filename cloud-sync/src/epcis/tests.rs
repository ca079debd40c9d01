//! The export against GS1's own JSON schema (vendored in `tests/data/epcis/`),
//! checked by a JSON-schema validator with format checks on.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::Value;
use waymark_proto::v1::{Event, EventKind, Identifier, IdentifierKind};

use super::query::{EventQuery, PageToken, epc_matches};
use super::*;

const SCHEMA: &str = include_str!("../../tests/data/epcis/EPCIS-JSON-Schema.json");
/// 2026-12-03T00:00:00Z.
const DAY: i64 = 1_796_256_000_000;
const SSCC: &str = "106141412345678908";

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles")
    })
}

/// Every schema violation in `doc`, as `message at /path`.
pub(crate) fn violations(doc: &Value) -> Vec<String> {
    validator()
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn id(kind: IdentifierKind, value: &str) -> Identifier {
    Identifier {
        kind: kind as i32,
        value: value.into(),
    }
}

fn base(seq: u64, minutes: i64, offset: i32) -> Event {
    Event {
        site_id: "dc-1".into(),
        sequence: seq,
        event_id: format!("evt-{seq}"),
        event_time_ms: DAY + minutes * 60_000,
        event_time_offset_minutes: offset,
        record_time_ms: DAY + minutes * 60_000 + 350,
        kind: EventKind::Observation as i32,
        read_point: "dock-door-3".into(),
        device_id: "fx9600-1".into(),
        business_step: "loading".into(),
        disposition: "in_transit".into(),
        ..Event::default()
    }
}

/// A warehouse day: scans, milestones and exceptions, every identifier kind,
/// zone offsets from -08:00 to +14:00 (and one out of range).
pub(crate) fn day_of_events() -> Vec<Event> {
    let sgtin = "urn:epc:id:sgtin:0614141.812345.6789";
    vec![
        Event {
            identifiers: vec![
                id(IdentifierKind::Sscc, SSCC),
                id(IdentifierKind::TrackingNumber, "1Z999AA10123456784"),
            ],
            order_number: "SO-1001".into(),
            antenna: 2,
            direction: "outbound".into(),
            ..base(1, 9 * 60 + 15, 60)
        },
        Event {
            kind: EventKind::Milestone as i32,
            identifiers: vec![
                id(IdentifierKind::Sscc, SSCC),
                id(IdentifierKind::Epc, sgtin),
                id(IdentifierKind::Epc, "3074257BF7194E4000001A86"),
            ],
            read_point: "pack-station-2".into(),
            business_step: "packing".into(),
            disposition: "in_progress".into(),
            milestone: "packed".into(),
            parcel_id: "P1".into(),
            order_number: "SO-1001".into(),
            ..base(2, 8 * 60, 60)
        },
        Event {
            kind: EventKind::Exception as i32,
            identifiers: vec![id(IdentifierKind::Sscc, SSCC), id(IdentifierKind::Epc, sgtin)],
            milestone: "loaded".into(),
            exception: "missing_prerequisite".into(),
            missing_milestone: "packed".into(),
            ..base(3, 10 * 60, -300)
        },
        Event {
            identifiers: vec![id(IdentifierKind::Epc, "urn:epc:raw:96.xE28011606000020A2B3C4D5E")],
            read_point: "urn:epc:id:sgln:0614141.07346.1234".into(),
            business_step: "urn:epcglobal:cbv:bizstep:receiving".into(),
            disposition: "urn:epcglobal:cbv:disp:in_progress".into(),
            ..base(4, 11 * 60, 330)
        },
        Event {
            kind: EventKind::Milestone as i32,
            identifiers: vec![id(IdentifierKind::TrackingNumber, "9400111899223197428490")],
            business_step: "returns_receiving".into(),
            disposition: "returned".into(),
            milestone: "return_received".into(),
            late: true,
            rematched: true,
            resolves_event_ids: vec!["evt-3".into()],
            ..base(5, 12 * 60, -480)
        },
        Event {
            identifiers: vec![id(IdentifierKind::Barcode, "LOT 42/ü")],
            read_point: "aisle 7 scanner".into(),
            business_step: "teleporting".into(),
            disposition: String::new(),
            ..base(6, 13 * 60, 840)
        },
        Event {
            identifiers: vec![id(IdentifierKind::OrderNumber, "SO-1002")],
            kind: EventKind::Unspecified as i32,
            business_step: String::new(),
            read_point: String::new(),
            ..base(7, 14 * 60, 900)
        },
        Event {
            identifiers: vec![id(IdentifierKind::Epc, "3174257BF4499602D2000000")],
            record_time_ms: 0,
            ..base(8, 23 * 60 + 59, -59)
        },
    ]
}

fn convert(events: &[Event]) -> Vec<EpcisEvent> {
    events.iter().map(EpcisEvent::from_event).collect()
}

#[test]
fn a_day_of_site_events_validates_against_the_official_schema() {
    let events = convert(&day_of_events());
    for doc in [
        query_document(&events, DAY + 86_400_000),
        capture_document(&events, DAY + 86_400_000),
    ] {
        assert_eq!(violations(&doc), Vec::<String>::new(), "{doc:#}");
    }
}

#[test]
fn the_validator_is_not_vacuous() {
    let events = convert(&day_of_events());
    let broken = |path: &str, change: &dyn Fn(&mut Value)| {
        let mut doc = query_document(&events, DAY);
        change(&mut doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]);
        assert!(!violations(&doc).is_empty(), "{path} broken, yet valid");
    };
    broken("bizStep", &|e| e["bizStep"] = "urn:epcglobal:cbv:bizstep:bogus".into());
    broken("eventTime format", &|e| e["eventTime"] = "yesterday".into());
    broken("epcList uri format", &|e| e["epcList"][0] = "not a uri".into());
    broken("offset", &|e| e["eventTimeZoneOffset"] = "+15:00".into());
    broken("extension name", &|e| e["no space allowed"] = 1.into());
    broken("required offset", &|e| {
        e.as_object_mut().map(|o| o.remove("eventTimeZoneOffset"));
    });
}

#[test]
fn events_map_as_documented() {
    let events = day_of_events();
    let json: Vec<Value> = convert(&events).iter().map(EpcisEvent::to_json).collect();

    let loading = &json[0];
    assert_eq!(loading["type"], "ObjectEvent");
    assert_eq!(loading["action"], "OBSERVE");
    assert_eq!(loading["eventTime"], "2026-12-03T10:15:00.000+01:00");
    assert_eq!(loading["eventTimeZoneOffset"], "+01:00");
    assert_eq!(loading["recordTime"], "2026-12-03T09:15:00.350+00:00");
    assert_eq!(
        loading["epcList"],
        serde_json::json!([format!("https://id.gs1.org/00/{SSCC}")])
    );
    assert_eq!(loading["bizStep"], "loading");
    assert_eq!(loading["disposition"], "in_transit");
    assert_eq!(loading["readPoint"]["id"], "urn:waymark:epcis:site:dc-1:rp:dock-door-3");
    assert_eq!(loading["bizLocation"]["id"], "urn:waymark:epcis:site:dc-1");
    assert_eq!(
        loading["bizTransactionList"],
        serde_json::json!([
            { "type": "po", "bizTransaction": "urn:waymark:epcis:order:SO-1001" },
            { "type": "urn:waymark:epcis:btt:tracking_number", "bizTransaction": "urn:waymark:epcis:tracking:1Z999AA10123456784" },
        ])
    );
    assert!(loading["eventID"].as_str().is_some_and(|s| s.starts_with("urn:uuid:")));

    let packing = &json[1];
    assert_eq!(packing["type"], "AggregationEvent");
    assert_eq!(packing["action"], "ADD");
    assert_eq!(packing["parentID"], format!("https://id.gs1.org/00/{SSCC}"));
    assert_eq!(
        packing["childEPCs"],
        serde_json::json!([
            "urn:epc:id:sgtin:0614141.812345.6789",
            "urn:epc:id:sgtin:0614141.812345.6790"
        ])
    );
    assert_eq!(packing["waymark:milestone"], "packed");

    let exception = &json[2];
    assert_eq!(exception["type"], "ObjectEvent", "exceptions never aggregate");
    assert_eq!(exception["waymark:exception"], "missing_prerequisite");
    assert_eq!(exception["eventTime"], "2026-12-03T05:00:00.000-05:00");
    assert!(exception.get("errorDeclaration").is_none());

    assert_eq!(json[3]["bizStep"], "receiving");
    assert_eq!(json[3]["readPoint"]["id"], "urn:epc:id:sgln:0614141.07346.1234");
    assert_eq!(json[4]["bizStep"], "receiving");
    assert_eq!(json[4]["waymark:resolves"][0], json[2]["eventID"]);
    assert_eq!(json[5]["bizStep"], "urn:waymark:epcis:bizstep:teleporting");
    assert_eq!(json[5]["epcList"][0], "urn:waymark:epcis:barcode:LOT%2042%2F%C3%BC");
    assert_eq!(json[5]["eventTimeZoneOffset"], "+14:00");
    assert_eq!(json[6]["eventTimeZoneOffset"], "+00:00", "out of range: written in UTC");
    assert_eq!(json[6]["epcList"], serde_json::json!([]));
    assert!(json[7].get("recordTime").is_none());
    assert_eq!(json[7]["epcList"][0], "urn:epc:id:sscc:0614141.1234567890");
    assert_eq!(json[7]["eventTimeZoneOffset"], "-00:59");
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn query_parameters_filter_as_the_bindings_say() {
    let events = convert(&day_of_events());
    let select = |pairs: &[(&str, &str)]| -> Vec<usize> {
        let q = EventQuery::parse(&params(pairs)).expect("valid query");
        (0..events.len()).filter(|i| q.matches(&events[*i])).collect()
    };
    assert_eq!(select(&[]), (0..events.len()).collect::<Vec<_>>());
    assert_eq!(select(&[("eventType", "AggregationEvent")]), [1]);
    assert_eq!(select(&[("EQ_bizStep", "receiving|packing")]), [1, 3, 4]);
    assert_eq!(
        select(&[("EQ_bizStep", "urn:epcglobal:cbv:bizstep:loading")]),
        [0, 2, 7]
    );
    assert_eq!(select(&[("EQ_disposition", "returned")]), [4]);
    assert_eq!(select(&[("EQ_action", "ADD")]), [1]);
    assert_eq!(
        select(&[("EQ_readPoint", "urn:waymark:epcis:site:dc-1:rp:dock-door-3")]),
        [0, 2, 4, 7]
    );
    assert_eq!(
        select(&[("EQ_bizLocation", "urn:waymark:epcis:site:dc-2")]),
        Vec::<usize>::new()
    );
    let sscc = format!("https://id.gs1.org/00/{SSCC}");
    // Event 7 names the same SSCC as an EPC URN (read from its RFID tag).
    assert_eq!(select(&[("MATCH_epc", &sscc)]), [0, 2, 7]);
    assert_eq!(select(&[("MATCH_anyEPC", &sscc)]), [0, 1, 2, 7]);
    assert_eq!(select(&[("MATCH_epc", "urn:epc:idpat:sgtin:0614141.812345.*")]), [1, 2]);
    assert_eq!(
        select(&[
            ("GE_recordTime", "2026-12-03T12:00:00Z"),
            ("LT_recordTime", "2026-12-03T13:00:00 00:00")
        ]),
        [4]
    );
    let q = EventQuery::parse(&params(&[("EQ_bizLocation", "urn:waymark:epcis:site:dc-1|urn:x:y")])).expect("valid");
    assert_eq!(q.sites(), Some(vec!["dc-1".to_string()]));
}

#[test]
fn bad_parameters_are_refused_with_every_problem_named() {
    let err = EventQuery::parse(&params(&[
        ("GE_eventTime", "yesterday"),
        ("perPage", "0"),
        ("EQ_action", "OBSERVE|SHOUT"),
        ("colour", "red"),
        ("WD_readPoint", "urn:x:y"),
        ("MATCH_epc", "not a uri"),
        ("nextPageToken", "zz"),
        ("EQ_bizStep", "a||b"),
    ]))
    .expect_err("refused");
    for needle in [
        "GE_eventTime",
        "perPage",
        "SHOUT",
        "unknown query parameter `colour`",
        "`WD_readPoint` is not supported",
        "MATCH_epc",
        "nextPageToken",
        "EQ_bizStep",
    ] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
    assert!(EventQuery::parse(&params(&[("perPage", "5"), ("perPage", "6")])).is_err());
    let q = EventQuery::parse(&params(&[("perPage", "1000000")])).expect("capped, not refused");
    assert_eq!(q.per_page, query::MAX_PER_PAGE);
}

#[test]
fn page_tokens_round_trip_and_reject_garbage() {
    let t = PageToken {
        site_id: "dc-1".into(),
        event_time_ms: -5,
        event_id: "a\x1fb".into(),
    };
    assert_eq!(PageToken::decode(&t.encode()), Some(t));
    for bad in ["", "0", "zz", "7631", &"00".repeat(300)] {
        assert_eq!(PageToken::decode(bad), None, "{bad}");
    }
}

#[test]
fn ssccs_match_in_either_form() {
    assert!(epc_matches(
        "urn:epc:id:sscc:0614141.1234567890",
        "https://id.gs1.org/00/106141412345678908"
    ));
    assert!(!epc_matches(
        "urn:epc:idpat:sgtin:0614141.*",
        "urn:epc:id:sgtin:0614141.812345.6789"
    ));
    assert!(epc_matches(
        "urn:epc:idpat:sgtin:*.*.*",
        "urn:epc:id:sgtin:0614141.812345.6789"
    ));
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
        prop::sample::select(vec![
            "loading",
            "in_transit",
            "urn:epcglobal:cbv:bizstep:x",
            "https://ref.gs1.org/cbv/Disp-returned",
            "urn:epc:id:sgln:0614141.07346.1234",
            "a:b",
            "https://[::1]/",
            "x:%zz",
        ])
        .prop_map(String::from),
    ]
}

fn any_identifier() -> impl Strategy<Value = Identifier> {
    let value = prop_oneof![
        any_text(),
        Just(SSCC.to_string()),
        Just("urn:epc:id:sscc:0614141.1234567890".to_string()),
        Just("urn:epc:id:sgtin:0614141.812345.6789".to_string()),
        "[0-9A-F]{24}",
        "urn:epc:raw:96\\.x[0-9A-F]{24}",
    ];
    (0..8i32, value).prop_map(|(kind, value)| Identifier { kind, value })
}

fn any_event() -> impl Strategy<Value = Event> {
    (
        (
            any::<u64>(),
            any_text(),
            any::<i64>(),
            any::<i32>(),
            any::<i64>(),
            0..5i32,
        ),
        prop::collection::vec(any_identifier(), 0..6),
        (any_text(), any_text(), any_text(), any_text(), any_text()),
        (
            any_text(),
            any_text(),
            any::<bool>(),
            prop::collection::vec(any_text(), 0..3),
        ),
    )
        .prop_map(
            |(
                (sequence, event_id, event_time_ms, offset, record_time_ms, kind),
                identifiers,
                (site_id, read_point, business_step, disposition, order_number),
                (milestone, exception, late, resolves_event_ids),
            )| Event {
                site_id,
                sequence,
                event_id,
                event_time_ms,
                event_time_offset_minutes: offset % 1000,
                record_time_ms,
                identifiers,
                kind,
                read_point,
                business_step,
                disposition,
                order_number,
                milestone,
                exception,
                late,
                resolves_event_ids,
                ..Event::default()
            },
        )
}

proptest! {
    #[test]
    fn any_event_converts_to_a_schema_valid_document(events in prop::collection::vec(any_event(), 0..8)) {
        let doc = query_document(&convert(&events), DAY);
        let v = violations(&doc);
        prop_assert!(v.is_empty(), "{v:?}\n{doc:#}");
    }

    #[test]
    fn any_query_string_parses_or_is_refused_briefly(
        pairs in prop::collection::vec((
            prop_oneof![
                prop::sample::select(vec![
                    "eventType", "GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime", "EQ_action",
                    "EQ_bizStep", "EQ_disposition", "EQ_readPoint", "EQ_bizLocation", "MATCH_epc",
                    "MATCH_anyEPC", "EQ_eventID", "perPage", "nextPageToken", "orderBy",
                ]).prop_map(String::from),
                "\\PC{0,30}",
            ],
            any_text(),
        ), 0..6)
    ) {
        match EventQuery::parse(&pairs) {
            Ok(q) => prop_assert!((1..=query::MAX_PER_PAGE).contains(&q.per_page)),
            Err(problems) => prop_assert!(!problems.is_empty() && problems.len() < 6 * 300, "{problems}"),
        }
    }
}
