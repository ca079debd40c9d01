//! Shared by the EasyPost, AfterShip and Shippo normalizer tests: event keys,
//! and proptest strategies for "JSON-ish" bodies.

use proptest::prelude::*;
use serde_json::Value;

use crate::carriers::CarrierEvent;
use crate::status::Milestone;

/// A fixture as JSON, to change a field and post it again.
pub fn value(body: &[u8]) -> Value {
    match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

pub fn bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

pub fn keys(events: &[CarrierEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_key.clone()).collect()
}

pub fn milestones(events: &[CarrierEvent]) -> Vec<Option<Milestone>> {
    events.iter().map(|e| e.milestone).collect()
}

/// Arbitrary JSON values, nested a few levels, with the field names the
/// aggregators use so the decoders get past the envelope.
pub fn json_value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "description",
        "result",
        "tracking_details",
        "tracking_code",
        "status",
        "status_detail",
        "datetime",
        "carrier_code",
        "event",
        "msg",
        "checkpoints",
        "tag",
        "subtag",
        "checkpoint_time",
        "data",
        "tracking_history",
        "tracking_status",
        "substatus",
        "code",
        "eta",
        "tracking_number",
        "est_delivery_date",
        "carrier_detail",
        "latest_estimated_delivery",
        "aftership_estimated_delivery_date",
        "proof_of_delivery",
        "hash",
        "location",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "tracker.updated",
            "tracking_update",
            "edd_revise",
            "track_updated",
            "in_transit",
            "failure",
            "TRANSIT",
            "FAILURE",
            "Exception",
            "Exception_004",
            "2024-08-05",
            "2024-08-05T00:00:00Z",
            "9999-12-31T23:59:59+14:00",
            "",
        ])
        .prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// Strings made of JSON punctuation, digits and words.
pub fn json_ish() -> impl Strategy<Value = String> {
    r#"[\[\]{}":,0-9a-z_. \-\\]{0,200}"#
}

/// `base` with `len` bytes at `at` (wrapped) replaced by `with`.
pub fn splice(base: &[u8], at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    let at = if base.is_empty() { 0 } else { at % base.len() };
    let end = at.saturating_add(len).min(base.len());
    let mut out = base.get(..at).unwrap_or_default().to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(base.get(end..).unwrap_or_default());
    out
}

/// What any body gives, whatever it is: either a typed error or events that
/// keep the rules (keys present and unique, possession exactly when the
/// milestone is a carrier-possession one, so never for a label).
pub fn holds_invariants(
    r: Result<Vec<CarrierEvent>, crate::carriers::normalize::DecodeError>,
) -> Result<(), TestCaseError> {
    let Ok(evs) = r else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    for e in &evs {
        prop_assert!(!e.event_key.is_empty());
        prop_assert!(seen.insert(e.event_key.clone()), "duplicate key {}", e.event_key);
        prop_assert_eq!(
            e.carrier_possession,
            e.milestone.is_some_and(Milestone::is_carrier_possession)
        );
    }
    Ok(())
}
