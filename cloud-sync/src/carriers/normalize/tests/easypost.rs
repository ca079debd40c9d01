//! EasyPost normalizer against EasyPost's published payloads
//! (EasyPost/examples @112a6d1, MIT; see tests/data/carriers/README.md).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::aggregators_support::{bytes, holds_invariants, json_ish, json_value, keys, milestones, splice, value};
use crate::carriers::normalize::DecodeError;
use crate::carriers::normalize::easypost::normalize;
use crate::carriers::{CarrierEvent, Estimate, Provider};
use crate::status::{Milestone as M, Party};

/// EasyPost/examples `official/fixtures/event-body.json` @112a6d1.
const EVENT_BODY: &[u8] = include_bytes!("../../../../tests/data/carriers/easypost/event-body.json");
/// EasyPost/examples `official/docs/responses/trackers/trackers-create.json` @112a6d1 (a bare Tracker).
const TRACKER_CREATE: &[u8] = include_bytes!("../../../../tests/data/carriers/easypost/trackers-create.json");
/// EasyPost/examples `official/guides/webhooks-guide/event/post_json_example.json` @112a6d1.
const BATCH_CREATED: &[u8] = include_bytes!("../../../../tests/data/carriers/easypost/batch-created.json");
/// EasyPost/examples `official/guides/webhooks-guide/event/event_example.json` @112a6d1.
const EVENT_NO_RESULT: &[u8] = include_bytes!("../../../../tests/data/carriers/easypost/event-example-no-result.json");

fn ok(body: &[u8]) -> Vec<CarrierEvent> {
    match normalize(body) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// The tracker of trackers-create.json as the `result` of a `tracker.created` Event.
fn tracker_created_event() -> Value {
    json!({"description": "tracker.created", "id": "evt_1", "object": "Event", "result": value(TRACKER_CREATE)})
}

/// Source: EasyPost/examples `official/fixtures/event-body.json` @112a6d1 (FedEx
/// Ground, label then pickup then scans). The `PU` scan EasyPost tags
/// `arrived_at_facility` is the first possession (notes/carriers.md §1(d)).
#[test]
fn event_body_fixture_gives_label_then_acceptance_then_transit() {
    let evs = ok(EVENT_BODY);
    assert_eq!(evs.len(), 8, "7 details and an estimate");
    let ms = milestones(&evs);
    assert_eq!(
        ms,
        vec![
            Some(M::LabelCreated),
            Some(M::CarrierAccepted),
            Some(M::InTransit),
            Some(M::InTransit),
            Some(M::InTransit),
            Some(M::InTransit),
            Some(M::InTransit),
            None,
        ]
    );
    let possession: Vec<bool> = evs.iter().map(|e| e.carrier_possession).collect();
    assert_eq!(possession, vec![false, true, true, true, true, true, true, false]);
    let first = &evs[0];
    assert_eq!(first.provider, Provider::EasyPost);
    assert_eq!(first.tracking_number, "1");
    assert_eq!(first.carrier, "fedex");
    assert_eq!(first.provider_code, "pre_transit/label_created/OC");
    assert_eq!(
        first.event_key,
        "trk_1|2024-07-31T15:00:00Z|pre_transit|label_created|OC"
    );
    assert_eq!(first.description, "Shipment information sent to FedEx");
    let pickup = &evs[1];
    assert_eq!(pickup.provider_code, "in_transit/arrived_at_facility/PU");
    assert_eq!(pickup.event_time_ms, Some(1_722_454_020_000));
    assert_eq!(pickup.offset_minutes, Some(0));
    let loc = pickup
        .location
        .as_ref()
        .map(|l| (l.city.as_deref(), l.state.as_deref(), l.postal_code.as_deref()));
    assert_eq!(loc, Some((Some("ORLANDO"), Some("FL"), Some("32809"))));
    // Estimate from carrier_detail.est_delivery_date_local, keyed by its value.
    let est = &evs[7];
    assert_eq!(est.estimated_delivery, Some(Estimate::day("2024-08-05")));
    assert_eq!(est.event_key, "trk_1|estimate|2024-08-05|2024-08-05");
    assert_eq!(est.event_time_ms, None);
    assert!(evs.iter().all(|e| e.exception.is_none()));
}

/// Source: EasyPost/examples `official/docs/responses/trackers/trackers-create.json`
/// @112a6d1: a USPS tracker with only "Pre-Shipment Info Sent" and "Shipping
/// Label Created", whose `est_delivery_date` equals `created_at` (placeholder).
#[test]
fn label_only_tracker_is_never_possession_and_its_placeholder_estimate_is_dropped() {
    let evs = ok(&bytes(&tracker_created_event()));
    assert_eq!(evs.len(), 2);
    assert!(
        evs.iter()
            .all(|e| e.milestone == Some(M::LabelCreated) && !e.carrier_possession)
    );
    assert!(evs.iter().all(|e| e.estimated_delivery.is_none()));
    assert_eq!(evs[0].carrier, "usps");
    assert_eq!(evs[0].provider_code, "pre_transit/status_update");
}

/// Source: event-body.json (EasyPost/examples @112a6d1) with `est_delivery_date_local`
/// removed: `est_delivery_date` (not the placeholder) is then read as a date.
#[test]
fn utc_estimate_is_used_when_no_local_date() {
    let mut v = value(EVENT_BODY);
    v["result"]["carrier_detail"]["est_delivery_date_local"] = Value::Null;
    let evs = ok(&bytes(&v));
    let est: Vec<_> = evs.iter().filter_map(|e| e.estimated_delivery.clone()).collect();
    assert_eq!(est, vec![Estimate::day("2024-08-05")]);
    // And set to the tracker's created_at, it is the placeholder: dropped.
    v["result"]["est_delivery_date"] = v["result"]["created_at"].clone();
    assert!(ok(&bytes(&v)).iter().all(|e| e.estimated_delivery.is_none()));
}

/// Source: event-body.json (EasyPost/examples @112a6d1) sent twice, then again with
/// one more detail and a new estimate: exactly the new detail and the new
/// estimate get new keys.
#[test]
fn snapshots_have_stable_keys() {
    let a = keys(&ok(EVENT_BODY));
    assert_eq!(a, keys(&ok(EVENT_BODY)));
    let mut v = value(EVENT_BODY);
    let more = json!({"object":"TrackingDetail","message":"On FedEx vehicle for delivery","description":"On FedEx vehicle for delivery",
        "status":"out_for_delivery","status_detail":"out_for_delivery","datetime":"2024-08-05T09:01:00Z","source":"FedEx",
        "carrier_code":"OD","tracking_location":{"object":"TrackingLocation","city":"BROOKLYN","state":"NY","country":"US","zip":"11201"}});
    if let Some(details) = v["result"]["tracking_details"].as_array_mut() {
        details.push(more);
    }
    let b = ok(&bytes(&v));
    let new: Vec<_> = b.iter().filter(|e| !a.contains(&e.event_key)).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].milestone, Some(M::OutForDelivery));
    v["result"]["carrier_detail"]["est_delivery_date_local"] = json!("2024-08-06");
    let c = keys(&ok(&bytes(&v)));
    let fresh: Vec<_> = c.iter().filter(|k| !keys(&b).contains(k)).collect();
    assert_eq!(fresh, vec!["trk_1|estimate|2024-08-06|2024-08-06"]);
}

/// Source: event-body.json (EasyPost/examples @112a6d1) with a detail whose status is
/// not in EasyPost's documented enum: unmapped, code kept.
#[test]
fn unknown_status_is_unmapped_with_its_code() {
    let mut v = value(EVENT_BODY);
    v["result"]["tracking_details"][2]["status"] = json!("teleported");
    let evs = ok(&bytes(&v));
    assert_eq!(evs[2].milestone, None);
    assert!(!evs[2].carrier_possession);
    assert_eq!(evs[2].provider_code, "teleported/arrived_at_facility/AR");
    assert!(evs[2].is_unmapped());
}

/// Source: EasyPost status enum (docs.easypost.com/docs/trackers) on the
/// event-body.json tracker: delivered with `signed_by`, failure with an attempt,
/// failure refused, return to sender, error.
#[test]
fn last_mile_and_failures_map_with_parties() {
    let mut v = value(EVENT_BODY);
    v["result"]["signed_by"] = json!("J DOE");
    let d = |status: &str, detail: &str, msg: &str, at: &str| json!({"object":"TrackingDetail","message":msg,"status":status,"status_detail":detail,"datetime":at,"carrier_code":"","tracking_location":null});
    v["result"]["tracking_details"] = json!([
        d(
            "failure",
            "delivery_exception",
            "Delivery attempted - customer not available",
            "2024-08-05T10:00:00Z"
        ),
        d(
            "failure",
            "refused",
            "Delivery refused by recipient",
            "2024-08-05T11:00:00Z"
        ),
        d("failure", "delayed", "Delay due to weather", "2024-08-05T12:00:00Z"),
        d(
            "return_to_sender",
            "return",
            "Returning package to shipper",
            "2024-08-06T10:00:00Z"
        ),
        d(
            "delivered",
            "arrived_at_destination",
            "Delivered",
            "2024-08-07T10:00:00Z"
        ),
        d("error", "", "Carrier error", "2024-08-07T11:00:00Z"),
        d(
            "available_for_pickup",
            "arrived_at_pickup_location",
            "Ready for pickup",
            "2024-08-07T12:00:00-04:00"
        ),
    ]);
    let evs = ok(&bytes(&v));
    assert_eq!(
        milestones(&evs)[..7],
        [
            Some(M::DeliveryAttempted),
            None,
            None,
            Some(M::ReturnedToSender),
            Some(M::Delivered),
            None,
            Some(M::AvailableForPickup)
        ]
    );
    let parties: Vec<_> = evs
        .iter()
        .take(7)
        .map(|e| e.exception.as_ref().map(|x| (x.reason.as_str(), x.party)))
        .collect();
    assert_eq!(
        parties,
        vec![
            Some(("delivery_exception", Party::Carrier)),
            Some(("refused", Party::Customer)),
            Some(("delayed", Party::Weather)),
            None,
            None,
            Some(("error", Party::Carrier)),
            None
        ]
    );
    assert_eq!(evs[4].proof_of_delivery.as_deref(), Some("J DOE"));
    assert!(evs[1].proof_of_delivery.is_none());
    assert_eq!(evs[6].offset_minutes, Some(-240));
}

/// Sources: EasyPost/examples `official/guides/webhooks-guide/event/post_json_example.json`
/// (batch.created) and `event_example.json` (tracker.updated without `result`) @112a6d1.
#[test]
fn non_tracker_events_give_nothing() {
    assert_eq!(ok(BATCH_CREATED), vec![]);
    assert_eq!(ok(EVENT_NO_RESULT), vec![]);
}

/// Malformed and wrong-shape bodies (no source: edge cases).
#[test]
fn bad_bodies_are_typed_errors() {
    assert!(matches!(normalize(b"{\"description\":"), Err(DecodeError::NotJson(_))));
    assert!(matches!(normalize(b"[1,2]"), Err(DecodeError::Shape { .. })));
    let wrong = json!({"description":"tracker.updated","result":{"tracking_code":"1","tracking_details":"nope"}});
    assert!(matches!(normalize(&bytes(&wrong)), Err(DecodeError::Shape { .. })));
    let no_code = json!({"description":"tracker.updated","result":{"tracking_details":[]}});
    assert!(matches!(normalize(&bytes(&no_code)), Err(DecodeError::Shape { .. })));
}

proptest! {
    /// Arbitrary bytes, JSON-ish text, arbitrary JSON as the tracker, and the
    /// event-body.json fixture with a random splice: never a panic.
    #[test]
    fn never_panics(
        raw in proptest::collection::vec(any::<u8>(), 0..512),
        ish in json_ish(),
        tracker in json_value(),
        at in any::<usize>(), len in 0usize..16, with in json_ish(),
    ) {
        holds_invariants(normalize(&raw))?;
        holds_invariants(normalize(ish.as_bytes()))?;
        holds_invariants(normalize(&bytes(&json!({"description":"tracker.updated","result":tracker}))))?;
        holds_invariants(normalize(&splice(EVENT_BODY, at, len, with.as_bytes())))?;
    }
}
