//! AfterShip normalizer against AfterShip's documented webhook body
//! (see tests/data/carriers/README.md for each fixture's source).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::aggregators_support::{bytes, holds_invariants, json_ish, json_value, keys, milestones, splice, value};
use crate::carriers::normalize::DecodeError;
use crate::carriers::normalize::aftership::normalize;
use crate::carriers::{CarrierEvent, Estimate, Provider};
use crate::status::{Milestone as M, Party};

/// AfterShip's webhook-specifications example body (trimmed), as quoted in
/// hookdeck/webhook-skills `skills/aftership-webhooks/references/overview.md` @441d4a1.
const DOCS_EXAMPLE: &[u8] =
    include_bytes!("../../../../tests/data/carriers/aftership/tracking-update-docs-example.json");
/// Built from AfterShip's documented Tracking/Checkpoint fields (webhook
/// specifications 2025-01, changelog 2026-07 `hash`, delivery statuses); no
/// public full body exists.
const DOCUMENTED: &[u8] =
    include_bytes!("../../../../tests/data/carriers/aftership/tracking-update-documented-fields.json");

fn ok(body: &[u8]) -> Vec<CarrierEvent> {
    match normalize(body) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Source: AfterShip webhook-specifications example (via hookdeck/webhook-skills
/// overview.md @441d4a1). Its only checkpoint is tagged InTransit but says
/// "USPS Awaiting Item": USPS does not hold it, so it is not possession
/// (notes/carriers.md §2(d)).
#[test]
fn docs_example_awaiting_item_is_not_possession() {
    let evs = ok(DOCS_EXAMPLE);
    assert_eq!(evs.len(), 1, "no estimate in the example");
    let e = &evs[0];
    assert_eq!(e.provider, Provider::AfterShip);
    assert_eq!(
        (e.tracking_number.as_str(), e.carrier.as_str()),
        ("0000000000000000", "usps")
    );
    assert_eq!(e.milestone, Some(M::LabelCreated));
    assert!(!e.carrier_possession);
    assert_eq!(e.provider_code, "InTransit/InTransit_001");
    assert_eq!(
        e.event_key,
        "00000000000000000000000000000000|2021-01-14T00:52:00|InTransit|InTransit_001|Departed Shipping Partner Facility, USPS Awaiting Item"
    );
    assert_eq!(e.event_time_ms, Some(1_610_585_520_000));
    assert_eq!(e.offset_minutes, None, "AfterShip's checkpoint_time has no offset");
}

/// Source: fixture built from AfterShip's documented fields (README):
/// InfoReceived, a "Picked up" InTransit, a departure scan, out for delivery,
/// delivered with `signed_by`, and an `aftership_estimated_delivery_date` range.
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
    assert_eq!(evs[0].carrier, "ups");
    assert_eq!(evs[1].event_key, "6f1c9b0e2d8a4f7e9b3c1d2e4f5a6b7c|hash:a2");
    assert_eq!(evs[1].offset_minutes, Some(-240));
    assert_eq!(
        evs[1].location.as_ref().and_then(|l| l.postal_code.as_deref()),
        Some("07094")
    );
    assert_eq!(evs[1].location.as_ref().and_then(|l| l.country.as_deref()), Some("USA"));
    assert_eq!(evs[4].proof_of_delivery.as_deref(), Some("J SMITH"));
    assert!(evs[3].proof_of_delivery.is_none());
    let est = &evs[5];
    assert_eq!(
        est.estimated_delivery,
        Some(Estimate {
            from: "2024-05-02".into(),
            to: "2024-05-04".into()
        })
    );
    assert_eq!(
        est.event_key,
        "6f1c9b0e2d8a4f7e9b3c1d2e4f5a6b7c|estimate|2024-05-02|2024-05-04"
    );
    assert_eq!(est.provider_code, "aftership_estimated_delivery_date");
}

/// Source: AfterShip delivery statuses (InfoReceived = "about to pick up") on the
/// documented-fields fixture cut to its first checkpoint: label only.
#[test]
fn info_received_only_is_never_possession() {
    let mut v = value(DOCUMENTED);
    if let Some(cps) = v["msg"]["checkpoints"].as_array_mut() {
        cps.truncate(1);
    }
    let evs = ok(&bytes(&v));
    let labels: Vec<_> = evs.iter().filter(|e| e.milestone.is_some()).collect();
    assert_eq!(labels.len(), 1);
    assert!(evs.iter().all(|e| !e.carrier_possession));
}

/// Source: documented-fields fixture with empty/placeholder estimate fields
/// (`null`, an object without dates, a non-date text): no estimate event.
#[test]
fn empty_estimates_are_ignored() {
    let mut v = value(DOCUMENTED);
    v["msg"]["aftership_estimated_delivery_date"] = json!({"estimated_delivery_date": null, "confidence_code": null});
    v["msg"]["latest_estimated_delivery"] = Value::Null;
    v["msg"]["expected_delivery"] = json!("soon");
    assert!(ok(&bytes(&v)).iter().all(|e| e.estimated_delivery.is_none()));
    // An `edd_revise` (webhook specifications: "All EDD updates") with a new date.
    v["event"] = json!("edd_revise");
    v["msg"]["latest_estimated_delivery"] =
        json!({"type": "specific", "source": "carrier", "datetime": "2024-05-06T00:00:00Z"});
    let est: Vec<_> = ok(&bytes(&v))
        .into_iter()
        .filter_map(|e| e.estimated_delivery)
        .collect();
    assert_eq!(est, vec![Estimate::day("2024-05-06")]);
}

/// Source: documented-fields fixture twice; then once with a sixth checkpoint and
/// once without `hash` (older webhook versions): keys stable, one new key.
#[test]
fn snapshots_have_stable_keys() {
    let a = keys(&ok(DOCUMENTED));
    assert_eq!(a, keys(&ok(DOCUMENTED)));
    let mut v = value(DOCUMENTED);
    if let Some(cps) = v["msg"]["checkpoints"].as_array_mut() {
        cps.push(
            json!({"checkpoint_time":"2024-05-03T15:00:00-04:00","message":"Returned to shipper","tag":"Exception",
            "subtag":"Exception_011","hash":"a6"}),
        );
    }
    let b = keys(&ok(&bytes(&v)));
    let new: Vec<_> = b.iter().filter(|k| !a.contains(k)).collect();
    assert_eq!(new, vec!["6f1c9b0e2d8a4f7e9b3c1d2e4f5a6b7c|hash:a6"]);
    // Without hashes the content key is stable too.
    if let Some(cps) = v["msg"]["checkpoints"].as_array_mut() {
        for c in cps.iter_mut() {
            if let Some(o) = c.as_object_mut() {
                o.remove("hash");
            }
        }
    }
    assert_eq!(keys(&ok(&bytes(&v))), keys(&ok(&bytes(&v))));
    assert_eq!(b.len(), keys(&ok(&bytes(&v))).len());
}

/// Source: AfterShip delivery sub-statuses (aftership.com/docs/tracking/enum/delivery-sub-statuses;
/// Exception_017 from support.aftership.com, 2026): exceptions and their parties.
#[test]
fn exceptions_name_the_responsible_party() {
    let mut v = value(DOCUMENTED);
    let cp = |subtag: &str, tag: &str, msg: &str, t: &str| json!({"checkpoint_time":t,"message":msg,"tag":tag,"subtag":subtag});
    v["msg"]["checkpoints"] = json!([
        cp("Exception_002", "Exception", "Customer moved", "2024-05-01T10:00:00"),
        cp(
            "Exception_003",
            "Exception",
            "Refused by recipient",
            "2024-05-01T11:00:00"
        ),
        cp("Exception_004", "Exception", "Held in customs", "2024-05-01T12:00:00"),
        cp("Exception_017", "Exception", "Severe weather", "2024-05-01T13:00:00"),
        cp(
            "Exception_010",
            "Exception",
            "Returning to sender",
            "2024-05-01T14:00:00"
        ),
        cp(
            "Exception_001",
            "Exception",
            "Delay due to weather conditions",
            "2024-05-01T15:00:00"
        ),
        cp(
            "AttemptFail_001",
            "AttemptFail",
            "Attempted, no one home",
            "2024-05-01T16:00:00"
        ),
        cp(
            "AvailableForPickup_001",
            "AvailableForPickup",
            "At UPS Access Point",
            "2024-05-01T17:00:00"
        ),
    ]);
    let evs = ok(&bytes(&v));
    let got: Vec<_> = evs
        .iter()
        .take(8)
        .map(|e| (e.milestone, e.exception.as_ref().map(|x| (x.reason.as_str(), x.party))))
        .collect();
    assert_eq!(
        got,
        vec![
            (None, Some(("customer_moved", Party::Customer))),
            (None, Some(("refused", Party::Customer))),
            (None, Some(("customs_delay", Party::Customs))),
            (None, Some(("weather_delay", Party::Weather))),
            (Some(M::ReturnedToSender), Some(("returned_to_sender", Party::Carrier))),
            (None, Some(("exception_001", Party::Weather))),
            (Some(M::DeliveryAttempted), None),
            (Some(M::AvailableForPickup), None),
        ]
    );
    assert!(evs[4].carrier_possession && !evs[0].carrier_possession);
}

/// Source: AfterShip delivery statuses list (9 tags): a tag outside it, and
/// `Pending`/`Expired` which name no milestone, stay unmapped with their code.
#[test]
fn unknown_tags_are_unmapped_with_their_code() {
    let mut v = value(DOCUMENTED);
    v["msg"]["checkpoints"] = json!([
        {"checkpoint_time":"2024-05-01T10:00:00","message":"?","tag":"Teleported","subtag":"Teleported_001","raw_tag":"TP"},
        {"checkpoint_time":"2024-05-02T10:00:00","message":"No info","tag":"Expired","subtag":"Expired_001"},
    ]);
    let evs = ok(&bytes(&v));
    assert_eq!(evs[0].milestone, None);
    assert_eq!(evs[0].provider_code, "Teleported/Teleported_001/TP");
    assert!(evs[0].is_unmapped());
    assert!(evs[1].is_unmapped());
    assert_eq!(evs[1].provider_code, "Expired/Expired_001");
}

/// Source: AfterShip webhook specifications: `tracking_pending_time` is not a
/// tracking update; malformed and wrong-shape bodies are typed errors.
#[test]
fn other_events_and_bad_bodies() {
    let pending = json!({"event":"tracking_pending_time","event_id":"x","msg":{"id":"1","tracking_number":"1"},"ts":1});
    assert_eq!(ok(&bytes(&pending)), vec![]);
    assert!(matches!(normalize(b"{\"event\""), Err(DecodeError::NotJson(_))));
    assert!(matches!(
        normalize(b"\"tracking_update\""),
        Err(DecodeError::Shape { .. })
    ));
    let no_msg = json!({"event":"tracking_update"});
    assert!(matches!(normalize(&bytes(&no_msg)), Err(DecodeError::Shape { .. })));
    let bad = json!({"event":"tracking_update","msg":{"tracking_number":"1","checkpoints":{}}});
    assert!(matches!(normalize(&bytes(&bad)), Err(DecodeError::Shape { .. })));
}

proptest! {
    /// Arbitrary bytes, JSON-ish text, arbitrary JSON as `msg`, and the
    /// documented-fields fixture with a random splice: never a panic.
    #[test]
    fn never_panics(
        raw in proptest::collection::vec(any::<u8>(), 0..512),
        ish in json_ish(),
        msg in json_value(),
        at in any::<usize>(), len in 0usize..16, with in json_ish(),
    ) {
        holds_invariants(normalize(&raw))?;
        holds_invariants(normalize(ish.as_bytes()))?;
        holds_invariants(normalize(&bytes(&json!({"event":"tracking_update","msg":msg}))))?;
        holds_invariants(normalize(&splice(DOCUMENTED, at, len, with.as_bytes())))?;
    }
}
