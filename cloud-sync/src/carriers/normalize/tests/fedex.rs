//! FedEx AIV: Track API response bodies from karrioapi/karrio
//! `modules/connectors/fedex/tests/fedex/test_tracking.py` @deea10f (saved in
//! tests/data/carriers/fedex/).

use proptest::prelude::*;

use super::aggregators_support::holds_invariants;

use crate::carriers::normalize::{DecodeError, fedex::normalize};
use crate::status::{Milestone, Party};

const ONE: &[u8] = include_bytes!("../../../../tests/data/carriers/fedex/karrio-tracking-response.json");
const DUP: &[u8] = include_bytes!("../../../../tests/data/carriers/fedex/karrio-duplicate-tracking-response.json");

fn by_code<'a>(events: &'a [crate::carriers::CarrierEvent], code: &str) -> Vec<&'a crate::carriers::CarrierEvent> {
    events
        .iter()
        .filter(|e| e.provider_code.split('/').nth(1) == Some(code))
        .collect()
}

/// Source: `TrackingResponse`: one PU scan → carrier_accepted with possession
/// and its offset; the estimate window `2021-10-01`..`2021-10-15`; the
/// second result (tracking number not found) gives nothing.
#[test]
fn tracking_response_pickup_and_estimate_window() {
    let events = normalize(ONE).expect("decodes");
    assert_eq!(events.len(), 2);
    let pu = &events[0];
    assert_eq!(pu.tracking_number, "123456789012");
    assert_eq!(pu.carrier, "fedex");
    assert_eq!(pu.milestone, Some(Milestone::CarrierAccepted));
    assert!(pu.carrier_possession);
    assert_eq!(pu.offset_minutes, Some(-420));
    assert_eq!(pu.event_time_ms, Some(1_517_598_060_000));
    assert_eq!(pu.location.as_ref().and_then(|l| l.city.as_deref()), Some("SEATTLE"));
    assert_eq!(
        pu.event_key,
        "123456789012|2018-02-02T12:01:00-07:00|PU|SEATTLE,WA,98101,US"
    );
    let est = events[1].estimated_delivery.as_ref().expect("present");
    assert_eq!((est.from.as_str(), est.to.as_str()), ("2021-10-01", "2021-10-15"));
    assert_eq!(events[1].milestone, None);
}

/// Source: `DuplicateTrackingResponse` (two track results of one number, a
/// whole journey): OC label only, PU accepted, AR/DP in transit, HP ready for
/// pickup, DE attempt with the customer named for code 08, OD, DL with the
/// receiver's name; AO unmapped and kept.
#[test]
fn duplicate_response_gives_each_scan_its_milestone() {
    let events = normalize(DUP).expect("decodes");
    let oc = by_code(&events, "OC");
    assert_eq!(oc.len(), 1);
    assert_eq!(oc[0].milestone, Some(Milestone::LabelCreated));
    assert!(!oc[0].carrier_possession, "label only is never possession");
    assert_eq!(by_code(&events, "PU")[0].milestone, Some(Milestone::CarrierAccepted));
    assert!(
        by_code(&events, "AR")
            .iter()
            .all(|e| e.milestone == Some(Milestone::InTransit))
    );
    assert_eq!(by_code(&events, "HP")[0].milestone, Some(Milestone::AvailableForPickup));
    let de = by_code(&events, "DE");
    assert_eq!(de.len(), 2);
    assert!(
        de.iter()
            .all(|e| e.milestone == Some(Milestone::DeliveryAttempted) && e.carrier_possession)
    );
    let parties: Vec<_> = de
        .iter()
        .map(|e| e.exception.as_ref().expect("present").party)
        .collect();
    assert!(parties.contains(&Party::Customer) && parties.contains(&Party::Carrier));
    let dl = by_code(&events, "DL");
    assert_eq!(dl[0].milestone, Some(Milestone::Delivered));
    assert_eq!(dl[0].proof_of_delivery.as_deref(), Some("D.HERRERA"));
    let ao = by_code(&events, "AO");
    assert!(!ao.is_empty() && ao.iter().all(|e| e.is_unmapped()));
    let dy = by_code(&events, "DY");
    assert_eq!(dy[0].exception.as_ref().expect("present").reason, "delay");
    // no estimate: the windows are empty
    assert!(events.iter().all(|e| e.estimated_delivery.is_none()));
}

/// Source: `DuplicateTrackingResponse`: the same payload twice gives the same
/// keys, and keys are unique inside one payload.
#[test]
fn same_payload_twice_same_keys() {
    let a = normalize(DUP).expect("decodes");
    let b = normalize(DUP).expect("decodes");
    assert_eq!(a, b);
    let mut keys: Vec<_> = a.iter().map(|e| e.event_key.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), a.len());
}

/// Built from the Track API fields: CD is a customs exception, HA (hold at
/// location requested) and an unknown code are unmapped with the code kept.
#[test]
fn customs_hold_and_unknown_codes() {
    let body = |code: &str| {
        format!(
            r#"{{"output":{{"completeTrackResults":[{{"trackingNumber":"7946","trackResults":[{{"scanEvents":[
            {{"date":"2024-04-25T11:28:00-07:00","eventType":"{code}","eventDescription":"x"}}]}}]}}]}}}}"#
        )
    };
    let cd = normalize(body("CD").as_bytes()).expect("decodes");
    assert_eq!(cd[0].exception.as_ref().expect("present").party, Party::Customs);
    assert_eq!(cd[0].milestone, None);
    for code in ["HA", "Q9"] {
        let ev = normalize(body(code).as_bytes()).expect("decodes");
        assert!(ev[0].is_unmapped(), "{code}");
        assert_eq!(ev[0].provider_code, code);
    }
}

#[test]
fn bad_bodies_are_errors() {
    assert!(matches!(normalize(b"{"), Err(DecodeError::NotJson(_))));
    assert!(matches!(
        normalize(br#"{"transactionId":"x"}"#),
        Err(DecodeError::Shape { path, .. }) if path == "output.completeTrackResults"
    ));
}

proptest! {
    /// Arbitrary bytes and field values never panic, and what decodes keeps
    /// the rules (unique keys, possession only with a carrier milestone).
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..512), s in ".{0,30}", c in ".{0,3}") {
        holds_invariants(normalize(&body))?;
        let j = serde_json::json!({"output": {"completeTrackResults": [{"trackingNumber": s, "trackResults": [{
            "scanEvents": [{"date": s, "eventType": c, "derivedStatusCode": c, "exceptionCode": c}],
            "estimatedDeliveryTimeWindow": {"window": {"begins": s, "ends": c}},
            "dateAndTimes": [{"type": "ESTIMATED_DELIVERY", "dateTime": s}]}]}]}});
        holds_invariants(normalize(j.to_string().as_bytes()))?;
    }
}
