//! UPS Track Alert: the examples of UPS-API/api-documentation
//! `UPSTrackAlertEnhanced.yaml` @fe6ace3 (saved as JSON in
//! tests/data/carriers/ups/), plus bodies built from the schema's fields.

use proptest::prelude::*;

use super::aggregators_support::holds_invariants;

use crate::carriers::normalize::{DecodeError, ups::normalize};
use crate::status::{Milestone, Party};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/data/carriers/ups/", $name))
    };
}

const MP: &[u8] = fixture!("1-manifest-mp.json");
const OR: &[u8] = fixture!("2-origin-or.json");
const DP: &[u8] = fixture!("3-departure-dp.json");
const YP: &[u8] = fixture!("4-preparing-yp.json");
const OT: &[u8] = fixture!("6-out-for-delivery-ot.json");
const FS: &[u8] = fixture!("7-delivered-fs.json");

/// Source: UPSTrackAlertEnhanced.yaml @fe6ace3 examples 1-7: milestones,
/// possession and the estimate from `scheduledDeliveryDate`.
#[test]
fn documented_examples_decode_to_their_milestones() {
    let cases: [(&[u8], Milestone, bool); 6] = [
        (MP, Milestone::LabelCreated, false),
        (OR, Milestone::CarrierAccepted, true),
        (DP, Milestone::InTransit, true),
        (YP, Milestone::InTransit, true),
        (OT, Milestone::OutForDelivery, true),
        (FS, Milestone::Delivered, true),
    ];
    for (body, milestone, possession) in cases {
        let events = normalize(body).expect("decodes");
        let ev = &events[0];
        assert_eq!(ev.milestone, Some(milestone), "{}", ev.provider_code);
        assert_eq!(ev.carrier_possession, possession, "{}", ev.provider_code);
        assert_eq!(ev.carrier, "ups");
        assert!(ev.event_time_ms.is_some());
    }
}

/// Source: example 1 "Manifest (label created or billing information
/// received) message": label only, never possession, tracking number trimmed.
#[test]
fn manifest_is_label_created_without_possession() {
    let events = normalize(MP).expect("decodes");
    assert_eq!(events.len(), 1, "no scheduled date, no estimate");
    let ev = &events[0];
    assert_eq!(ev.tracking_number, "1ZABCXYZ0112346789");
    assert_eq!(ev.provider_code, "M/MP");
    assert!(!ev.carrier_possession);
    assert_eq!(ev.location.as_ref().and_then(|l| l.country.as_deref()), Some("US"));
}

/// Source: example 2 "UPS has your package message": GMT time kept as the
/// instant, local minus GMT as the offset (no `gmtOffset` in the example),
/// key without an event id, estimate `20240423` as its own event.
#[test]
fn origin_scan_has_gmt_time_offset_key_and_estimate() {
    let events = normalize(OR).expect("decodes");
    assert_eq!(events.len(), 2);
    let ev = &events[0];
    // gmt 2024-04-23 01:29:01Z
    assert_eq!(ev.event_time_ms, Some(1_713_835_741_000));
    assert_eq!(ev.offset_minutes, Some(-240));
    assert_eq!(ev.event_key, "1ZABCXYZ0112346789|20240423|012901|OR");
    let est = &events[1];
    assert_eq!(est.milestone, None);
    assert_eq!(est.event_key, "1ZABCXYZ0112346789|estimate|2024-04-23");
    let e = est.estimated_delivery.as_ref().expect("present");
    assert_eq!((e.from.as_str(), e.to.as_str()), ("2024-04-23", "2024-04-23"));
}

/// Source: example 7 "Delivery message": proof of delivery from `receivedBy`;
/// the original `scheduledDeliveryDate` of a delivery is not an estimate.
#[test]
fn delivery_keeps_received_by_and_no_estimate() {
    let events = normalize(FS).expect("decodes");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].proof_of_delivery.as_deref(), Some("John"));
    assert_eq!(
        events[0].location.as_ref().and_then(|l| l.postal_code.as_deref()),
        Some("28209")
    );
}

/// Source: notes/carriers.md §6(c): UPS has no event id, so the same message
/// sent twice has the same key, and a different scan a different one.
#[test]
fn dedupe_key_without_event_id_is_stable() {
    let a = normalize(OR).expect("decodes");
    let b = normalize(OR).expect("decodes");
    assert_eq!(a, b);
    let c = normalize(DP).expect("decodes");
    assert_ne!(a[0].event_key, c[0].event_key);
    assert_eq!(a[1].event_key, c[1].event_key, "the same estimate is one event");
}

/// Built from the schema (`gmtOffset` pattern `(-/+)HH.MM`): `+05.30` is
/// 5 h 30 min; MV is kept unmapped; X is a carrier exception; U is an
/// estimate only; an unknown type is unmapped with its code kept.
#[test]
fn offsets_void_exception_update_and_unknown() {
    let body = |kind: &str, code: &str, extra: &str| {
        format!(
            r#"{{"trackingNumber":"1Z0000000000000001","gmtActivityDate":"20240501","gmtActivityTime":"043000",
            "localActivityDate":"20240501","localActivityTime":"100000","gmtOffset":"+05.30",
            "activityStatus":{{"type":"{kind}","code":"{code}","description":"x"}}{extra}}}"#
        )
    };
    let mv = normalize(body("MV", "MV", "").as_bytes()).expect("decodes");
    assert_eq!(mv.len(), 1);
    assert_eq!((mv[0].milestone, mv[0].exception.as_ref()), (None, None));
    assert_eq!(mv[0].provider_code, "MV/MV");
    assert_eq!(mv[0].offset_minutes, Some(330));
    assert!(mv[0].is_unmapped());

    let x = normalize(body("X", "RS", "").as_bytes()).expect("decodes");
    let exc = x[0].exception.as_ref().expect("present");
    assert_eq!((exc.reason.as_str(), exc.party), ("ups_exception:RS", Party::Carrier));
    assert_eq!(x[0].milestone, None);

    let u = normalize(body("U", "SD", r#","scheduledDeliveryDate":"20240503""#).as_bytes()).expect("decodes");
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].estimated_delivery.as_ref().expect("present").from, "2024-05-03");
    assert_eq!(u[0].milestone, None);

    let q = normalize(body("Q", "ZZ", "").as_bytes()).expect("decodes");
    assert!(q[0].is_unmapped());
    assert_eq!(q[0].provider_code, "Q/ZZ");

    let d = normalize(body("D", "ZZ", "").as_bytes()).expect("decodes");
    assert_eq!(
        d[0].milestone, None,
        "D without FS or an actual delivery date is not read as delivered"
    );
    let d = normalize(body("D", "ZZ", r#","actualDeliveryDate":"20240501""#).as_bytes()).expect("decodes");
    assert_eq!(d[0].milestone, Some(Milestone::Delivered));
}

#[test]
fn bad_bodies_are_errors() {
    assert!(matches!(normalize(b"not json"), Err(DecodeError::NotJson(_))));
    assert!(matches!(normalize(b"[]"), Err(DecodeError::Shape { .. })));
    assert!(matches!(
        normalize(br#"{"activityStatus":{"type":"I"}}"#),
        Err(DecodeError::Shape { path, .. }) if path == "trackingNumber"
    ));
}

proptest! {
    /// Arbitrary bytes and field values never panic, and what decodes keeps
    /// the rules (unique keys, possession only with a carrier milestone).
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..512),
                    date in ".{0,10}", t in ".{0,8}", off in ".{0,8}", kind in ".{0,3}") {
        holds_invariants(normalize(&body))?;
        let j = serde_json::json!({"trackingNumber": "1Z", "gmtActivityDate": date, "gmtActivityTime": t,
            "localActivityDate": date, "localActivityTime": t, "gmtOffset": off, "scheduledDeliveryDate": date,
            "activityStatus": {"type": kind, "code": off}});
        holds_invariants(normalize(j.to_string().as_bytes()))?;
    }
}
