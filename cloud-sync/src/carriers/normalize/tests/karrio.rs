//! Karrio: trackers as karrio's FedEx connector parses them
//! (karrioapi/karrio `modules/connectors/fedex/tests/fedex/test_tracking.py`
//! @deea10f) in the webhook envelope of `task_definitions/base/webhook.py`,
//! and bodies built from karrio's documented fields (tests/data/carriers/README.md).

use proptest::prelude::*;

use super::aggregators_support::holds_invariants;

use crate::carriers::normalize::{DecodeError, karrio::normalize};
use crate::status::{Milestone, Party};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/data/carriers/karrio/", $name))
    };
}

const DELIVERED: &[u8] = fixture!("tracker-updated-fedex-delivered.json");
const PICKED_UP: &[u8] = fixture!("tracker-updated-fedex-picked-up.json");
const LABEL: &[u8] = fixture!("tracker-created-label-only.json");
const FAILED: &[u8] = fixture!("tracker-updated-built-failed-attempt.json");
const ORDER: &[u8] = fixture!("order-created.json");

/// Source: `ParsedDuplicateTrackingResponse`: karrio's statuses become
/// milestones, AO (no karrio status) stays unmapped with its code, the
/// delivered event carries `info.signed_by`.
#[test]
fn fedex_tracker_history() {
    let events = normalize(DELIVERED).expect("decodes");
    assert_eq!(events.len(), 8);
    let m: Vec<_> = events.iter().map(|e| e.milestone).collect();
    assert_eq!(
        m,
        [
            Some(Milestone::Delivered),
            Some(Milestone::OutForDelivery),
            None,
            Some(Milestone::CarrierAccepted),
            Some(Milestone::InTransit),
            Some(Milestone::DeliveryAttempted),
            Some(Milestone::DeliveryAttempted),
            Some(Milestone::OutForDelivery),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.carrier == "fedex" && e.tracking_number == "776094337676")
    );
    assert_eq!(events[0].proof_of_delivery.as_deref(), Some("D.HERRERA"));
    assert!(events[0].carrier_possession);
    assert_eq!(events[2].provider_code, "AO");
    assert!(events[2].is_unmapped());
    assert_eq!(events[0].event_key, "776094337676|2024-04-26|09:26 AM|DL");
    assert_eq!(events[0].event_time_ms, Some(1_714_123_560_000));
}

/// Source: `ParsedTrackingResponse`: picked_up is first possession; the
/// estimate `2021-10-01` is its own event.
#[test]
fn fedex_tracker_pickup_and_estimate() {
    let events = normalize(PICKED_UP).expect("decodes");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].milestone, Some(Milestone::CarrierAccepted));
    assert!(events[0].carrier_possession);
    let est = &events[1];
    assert_eq!(est.milestone, None);
    assert_eq!(
        est.estimated_delivery.as_ref().map(|e| e.from.as_str()),
        Some("2021-10-01")
    );
    assert_eq!(est.event_key, "123456789012|estimate|2021-10-01");
}

/// Built (karrio `compute_tracking_status`: a single `CREATED` event is
/// pending): label only, never possession; `info.expected_delivery` is the
/// estimate.
#[test]
fn single_created_event_is_label_only() {
    let events = normalize(LABEL).expect("decodes");
    assert_eq!(events[0].milestone, Some(Milestone::LabelCreated));
    assert!(!events[0].carrier_possession);
    assert_eq!(events[0].carrier, "ups");
    assert_eq!(events[0].event_time_ms, Some(1_777_630_500_000));
    assert_eq!(
        events[1].estimated_delivery.as_ref().map(|e| e.to.as_str()),
        Some("2026-05-06")
    );
}

/// Built from `TrackingIncidentReason`: consignee_* names the customer,
/// weather_delay the weather; an event without status is unmapped and kept.
#[test]
fn reasons_name_the_party() {
    let events = normalize(FAILED).expect("decodes");
    let failed = &events[0];
    assert_eq!(failed.milestone, Some(Milestone::DeliveryAttempted));
    let x = failed.exception.as_ref().expect("present");
    assert_eq!((x.reason.as_str(), x.party), ("consignee_not_home", Party::Customer));
    assert_eq!(failed.provider_code, "delivery_failed/consignee_not_home/ZN");
    let delayed = &events[1];
    assert_eq!(delayed.milestone, None);
    assert_eq!(delayed.exception.as_ref().expect("present").party, Party::Weather);
    assert!(events[2].is_unmapped());
    assert_eq!(events[2].provider_code, "QQ");
    assert_eq!(events[3].milestone, Some(Milestone::CarrierAccepted));
}

/// Source: the delivered tracker above sent twice: identical keys.
#[test]
fn same_snapshot_twice_same_keys() {
    let keys = |b| {
        normalize(b)
            .expect("decodes")
            .into_iter()
            .map(|e| e.event_key)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(DELIVERED), keys(DELIVERED));
}

/// Built: `order_created` is not about tracking: no events, no error.
#[test]
fn other_events_give_nothing() {
    assert_eq!(normalize(ORDER).expect("decodes"), vec![]);
    assert!(matches!(normalize(b"nope"), Err(DecodeError::NotJson(_))));
    assert!(matches!(
        normalize(br#"{"event":"tracker_updated","data":{"events":[]}}"#),
        Err(DecodeError::Shape { path, .. }) if path == "data.tracking_number"
    ));
}

proptest! {
    /// Arbitrary bytes and field values never panic, and what decodes keeps
    /// the rules (unique keys, possession only with a carrier milestone).
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..512), s in ".{0,20}", t in ".{0,10}") {
        holds_invariants(normalize(&body))?;
        let j = serde_json::json!({"event": "tracker_updated", "data": {"tracking_number": "1", "carrier_name": s,
            "estimated_delivery": s, "info": {"expected_delivery": t},
            "events": [{"date": s, "time": t, "timestamp": s, "code": t, "status": s, "reason": s}]}});
        holds_invariants(normalize(j.to_string().as_bytes()))?;
    }
}
