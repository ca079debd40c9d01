//! Shippo normalizer against Shippo's documented `track_updated` body
//! (see tests/data/carriers/README.md for each fixture's source).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::aggregators_support::{bytes, holds_invariants, json_ish, json_value, keys, milestones, splice, value};
use crate::carriers::normalize::DecodeError;
use crate::carriers::normalize::shippo::normalize;
use crate::carriers::{CarrierEvent, Estimate, Provider};
use crate::status::{Milestone as M, Party};

/// goshippo/shippo-javascript-sdk `docs/models/components/webhookpayloadtrack.md`
/// @51b9793: the WebhookPayloadTrack example, in wire (snake_case) names.
const SDK_EXAMPLE: &[u8] = include_bytes!("../../../../tests/data/carriers/shippo/track-updated-sdk-docs-example.json");
/// Built from the Track/TrackingStatus fields of the same SDK docs @51b9793
/// and docs.goshippo.com "Event definitions"; no public full body exists.
const DOCUMENTED: &[u8] = include_bytes!("../../../../tests/data/carriers/shippo/track-updated-documented-fields.json");

fn ok(body: &[u8]) -> Vec<CarrierEvent> {
    match normalize(body) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Source: goshippo/shippo-javascript-sdk webhookpayloadtrack.md @51b9793. The
/// generated example says DELIVERED with substatus `information_received`:
/// the status wins; `original_eta` is the only estimate (no `eta`).
#[test]
fn sdk_example_is_delivered_with_its_original_eta() {
    let evs = ok(SDK_EXAMPLE);
    assert_eq!(milestones(&evs), vec![Some(M::Delivered), None]);
    let d = &evs[0];
    assert_eq!(d.provider, Provider::Shippo);
    assert_eq!(
        (d.carrier.as_str(), d.tracking_number.as_str()),
        ("usps", "9205590164917312751089")
    );
    assert!(d.carrier_possession);
    assert_eq!(d.provider_code, "DELIVERED/information_received");
    assert_eq!(d.event_time_ms, Some(1_469_232_000_000));
    assert_eq!(d.location.as_ref().and_then(|l| l.city.as_deref()), Some("Las Vegas"));
    assert_eq!(evs[1].estimated_delivery, Some(Estimate::day("2021-07-23")));
    assert_eq!(evs[1].provider_code, "original_eta");
}

/// Source: fixture built from the Shippo SDK docs' Track fields (README):
/// PRE_TRANSIT, accepted, departed, out for delivery, delivered; the latest
/// `tracking_status` repeats the last history entry; `eta` beats `original_eta`.
#[test]
fn documented_fields_fixture_gives_the_whole_journey() {
    let evs = ok(DOCUMENTED);
    assert_eq!(
        milestones(&evs),
        vec![
            Some(M::LabelCreated),
            Some(M::CarrierAccepted),
            Some(M::InTransit),
            Some(M::OutForDelivery),
            Some(M::Delivered),
            None
        ]
    );
    let possession: Vec<bool> = evs.iter().map(|e| e.carrier_possession).collect();
    assert_eq!(possession, vec![false, true, true, true, true, false]);
    assert_eq!(evs[1].provider_code, "TRANSIT/package_accepted");
    assert_eq!(
        evs[1].event_key,
        "usps|9205590164917312751089|2024-05-01T19:11:00Z|TRANSIT|package_accepted|USPS in possession of item"
    );
    assert_eq!(evs[5].estimated_delivery, Some(Estimate::day("2024-05-04")));
    assert_eq!(
        evs[5].event_key,
        "usps|9205590164917312751089|estimate|2024-05-04|2024-05-04"
    );
    assert!(evs.iter().all(|e| e.exception.is_none()));
}

/// Source: Shippo event definitions (PRE_TRANSIT "label is created but before
/// the package is dropped off or picked up"): label only is never possession;
/// a null `eta`/`original_eta` (regional carriers, goshippo/ai SKILL.md) gives no estimate.
#[test]
fn label_only_is_never_possession_and_null_eta_gives_no_estimate() {
    let mut v = value(DOCUMENTED);
    if let Some(h) = v["data"]["tracking_history"].as_array_mut() {
        h.truncate(1);
    }
    v["data"]["tracking_status"] = v["data"]["tracking_history"][0].clone();
    v["data"]["eta"] = Value::Null;
    v["data"]["original_eta"] = Value::Null;
    let evs = ok(&bytes(&v));
    assert_eq!(milestones(&evs), vec![Some(M::LabelCreated)]);
    assert!(!evs[0].carrier_possession);
}

/// Source: documented-fields fixture twice, then with one more history entry
/// and a new `eta`: stable keys, exactly the new entry and estimate are new.
#[test]
fn snapshots_have_stable_keys() {
    let a = keys(&ok(DOCUMENTED));
    assert_eq!(a, keys(&ok(DOCUMENTED)));
    let mut v = value(DOCUMENTED);
    let extra = json!({"object_id":"x6","status":"RETURNED","substatus":{"code":"return_to_sender","text":"","action_required":false},
        "status_details":"Return to Sender Processed","status_date":"2024-05-06T10:00:00Z","location":null});
    if let Some(h) = v["data"]["tracking_history"].as_array_mut() {
        h.push(extra.clone());
    }
    v["data"]["tracking_status"] = extra;
    let b = ok(&bytes(&v));
    let new: Vec<_> = b.iter().filter(|e| !a.contains(&e.event_key)).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].milestone, Some(M::ReturnedToSender));
    v["data"]["eta"] = json!("2024-05-07T00:00:00Z");
    let c = keys(&ok(&bytes(&v)));
    let fresh: Vec<_> = c.iter().filter(|k| !keys(&b).contains(k)).collect();
    assert_eq!(
        fresh,
        vec!["usps|9205590164917312751089|estimate|2024-05-07|2024-05-07"]
    );
}

/// Source: Shippo status enum (trackingstatusenum.md @51b9793): a status outside
/// it, and UNKNOWN, stay unmapped with their code.
#[test]
fn unknown_status_is_unmapped_with_its_code() {
    let mut v = value(DOCUMENTED);
    v["data"]["tracking_history"] = json!([
        {"status":"TELEPORTED","substatus":{"code":"beamed","text":"","action_required":false},"status_details":"?","status_date":"2024-05-01T00:00:00Z"},
        {"status":"UNKNOWN","substatus":null,"status_details":"Not found","status_date":"2024-05-02T00:00:00Z"},
    ]);
    v["data"]["tracking_status"] = Value::Null;
    let evs = ok(&bytes(&v));
    assert_eq!(evs[0].provider_code, "TELEPORTED/beamed");
    assert!(evs[0].is_unmapped() && !evs[0].carrier_possession);
    assert_eq!(evs[1].provider_code, "UNKNOWN");
    assert!(evs[1].is_unmapped());
}

/// Source: Shippo event definitions (FAILURE "an issue with the delivery";
/// substatus codes): failures carry an exception with its party, attempts and
/// returns keep their milestone.
#[test]
fn failures_map_to_exceptions_with_parties() {
    let mut v = value(DOCUMENTED);
    let s = |status: &str, code: &str, details: &str, at: &str| json!({"status":status,"substatus":{"code":code,"text":"","action_required":true},"status_details":details,"status_date":at});
    v["data"]["tracking_history"] = json!([
        s("FAILURE", "address_issue", "Addressee unknown", "2024-05-01T00:00:00Z"),
        s(
            "FAILURE",
            "delivery_attempted",
            "Notice left (no authorized recipient)",
            "2024-05-02T00:00:00Z"
        ),
        s("TRANSIT", "package_held", "Held in customs", "2024-05-03T00:00:00Z"),
        s("FAILURE", "other", "Weather delay", "2024-05-04T00:00:00Z"),
        s("FAILURE", "package_lost", "Lost", "2024-05-05T00:00:00Z"),
        s(
            "TRANSIT",
            "pickup_available",
            "Available for pickup",
            "2024-05-06T00:00:00Z"
        ),
    ]);
    v["data"]["tracking_status"] = Value::Null;
    let got: Vec<_> = ok(&bytes(&v))
        .iter()
        .filter(|e| e.estimated_delivery.is_none())
        .map(|e| (e.milestone, e.exception.as_ref().map(|x| (x.reason.clone(), x.party))))
        .collect();
    assert_eq!(
        got,
        vec![
            (None, Some(("address_problem".to_string(), Party::Customer))),
            (Some(M::DeliveryAttempted), None),
            (Some(M::InTransit), Some(("held".to_string(), Party::Customs))),
            (None, Some(("other".to_string(), Party::Weather))),
            (None, Some(("lost".to_string(), Party::Carrier))),
            (Some(M::AvailableForPickup), None),
        ]
    );
}

/// Source: Shippo webhook event types (webhookeventtypeenum.md @51b9793):
/// `transaction_created` is not tracking; malformed and wrong-shape bodies are
/// typed errors.
#[test]
fn other_events_and_bad_bodies() {
    let tx =
        json!({"event":"transaction_created","test":true,"data":{"status":"SUCCESS","tracking_status":"DELIVERED"}});
    assert_eq!(ok(&bytes(&tx)), vec![]);
    assert!(matches!(normalize(b"{\"data\":"), Err(DecodeError::NotJson(_))));
    assert!(matches!(normalize(b"42"), Err(DecodeError::Shape { .. })));
    let wrong = json!({"event":"track_updated","data":{"tracking_number":"1","tracking_status":"DELIVERED"}});
    assert!(matches!(normalize(&bytes(&wrong)), Err(DecodeError::Shape { .. })));
    let no_data = json!({"event":"track_updated"});
    assert!(matches!(normalize(&bytes(&no_data)), Err(DecodeError::Shape { .. })));
}

proptest! {
    /// Arbitrary bytes, JSON-ish text, arbitrary JSON as `data`, and the
    /// documented-fields fixture with a random splice: never a panic.
    #[test]
    fn never_panics(
        raw in proptest::collection::vec(any::<u8>(), 0..512),
        ish in json_ish(),
        data in json_value(),
        at in any::<usize>(), len in 0usize..16, with in json_ish(),
    ) {
        holds_invariants(normalize(&raw))?;
        holds_invariants(normalize(ish.as_bytes()))?;
        holds_invariants(normalize(&bytes(&json!({"event":"track_updated","data":data}))))?;
        holds_invariants(normalize(&splice(DOCUMENTED, at, len, with.as_bytes())))?;
    }
}
