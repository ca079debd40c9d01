//! The waymark format (docs/carriers.md, "The waymark format"): fixture
//! tests/data/carriers/waymark/events.json and bodies built from the spec.

use proptest::prelude::*;

use super::aggregators_support::holds_invariants;

use crate::carriers::normalize::{DecodeError, waymark::normalize};
use crate::status::{Milestone, Party};

const EVENTS: &[u8] = include_bytes!("../../../../tests/data/carriers/waymark/events.json");

/// Source: docs/carriers.md example: milestones, possession, offsets,
/// estimate, exception, proof of delivery; an unknown milestone name kept.
#[test]
fn documented_example_decodes() {
    let events = normalize(EVENTS).expect("decodes");
    assert_eq!(events.len(), 5);
    let label = &events[0];
    assert_eq!(label.milestone, Some(Milestone::LabelCreated));
    assert!(!label.carrier_possession);
    assert_eq!(label.carrier, "metro courier");
    assert_eq!(label.event_key, "mc-7781-1");
    assert_eq!(label.offset_minutes, Some(120));
    assert_eq!(label.event_time_ms, Some(1_777_615_200_000));
    let est = label.estimated_delivery.as_ref().expect("present");
    assert_eq!((est.from.as_str(), est.to.as_str()), ("2026-05-02", "2026-05-03"));
    assert_eq!(events[1].milestone, Some(Milestone::CarrierAccepted));
    assert!(events[1].carrier_possession);
    assert_eq!(
        events[1].location.as_ref().and_then(|l| l.city.as_deref()),
        Some("Lyon")
    );
    let x = events[2].exception.as_ref().expect("present");
    assert_eq!(
        (x.reason.as_str(), x.party),
        ("recipient_not_available", Party::Customer)
    );
    assert_eq!(events[3].proof_of_delivery.as_deref(), Some("signed: M. Durand"));
    assert_eq!(events[3].milestone, Some(Milestone::Delivered));
    assert!(events[4].is_unmapped());
    assert_eq!(events[4].provider_code, "cross_docked");
    assert_eq!(normalize(EVENTS).expect("decodes"), events, "same body, same keys");
}

/// Spec: a missing `event_id` or `tracking_number`, a time without offset,
/// an unknown party are shape errors naming the path.
#[test]
fn errors_name_the_path() {
    let path_of = |body: &str| match normalize(body.as_bytes()) {
        Err(DecodeError::Shape { path, .. }) => path,
        other => panic!("{other:?}"),
    };
    let ok = r#"{"event_id":"a","tracking_number":"T","milestone":"in_transit","event_time":"2026-05-01T10:00:00Z"}"#;
    assert_eq!(
        path_of(&format!(r#"{{"events":[{ok},{ok},{{"tracking_number":"T"}}]}}"#)),
        "events[2].event_id"
    );
    assert_eq!(path_of(r#"{"events":[{"event_id":"a"}]}"#), "events[0].tracking_number");
    assert_eq!(
        path_of(r#"{"events":[{"event_id":"a","tracking_number":"T","event_time":"2026-05-01T10:00:00"}]}"#),
        "events[0].event_time"
    );
    assert_eq!(
        path_of(
            r#"{"events":[{"event_id":"a","tracking_number":"T","event_time":"2026-05-01T10:00:00Z","exception":{"reason":"x","party":"ufo"}}]}"#
        ),
        "events[0].exception.party"
    );
    assert_eq!(
        path_of(r#"{"events":[{"event_id":"a","tracking_number":"T","milestone":"delivered"}]}"#),
        "events[0].event_time"
    );
    let estimate_only =
        r#"{"events":[{"event_id":"a","tracking_number":"T","estimated_delivery":{"from":"2026-05-04"}}]}"#;
    let est = normalize(estimate_only.as_bytes()).expect("decodes");
    assert_eq!(est[0].milestone, None);
    assert_eq!(est[0].event_time_ms, None);
    assert_eq!(
        est[0].estimated_delivery.as_ref().map(|e| e.to.as_str()),
        Some("2026-05-04")
    );
    assert_eq!(path_of("{}"), "events");
    assert!(matches!(normalize(b"]"), Err(DecodeError::NotJson(_))));
    assert_eq!(normalize(br#"{"events":[]}"#).expect("decodes"), vec![]);
}

/// Spec: the return-chapter and warehouse milestones are not carrier
/// milestones in this format: kept unmapped.
#[test]
fn non_carrier_milestones_are_unmapped() {
    let ev =
        normalize(br#"{"events":[{"event_id":"a","tracking_number":"T","milestone":"picked","event_time":"2026-05-01T10:00:00Z"}]}"#).expect("decodes");
    assert!(ev[0].is_unmapped());
    assert_eq!(ev[0].provider_code, "picked");
}

proptest! {
    /// Arbitrary bytes and field values never panic, and what decodes keeps
    /// the rules (unique keys, possession only with a carrier milestone).
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..512), s in ".{0,30}", t in ".{0,12}") {
        holds_invariants(normalize(&body))?;
        let j = serde_json::json!({"events": [{"event_id": s, "tracking_number": t, "milestone": s, "event_time": s,
            "estimated_delivery": {"from": s, "to": t}, "exception": {"reason": s, "party": t}}]});
        holds_invariants(normalize(j.to_string().as_bytes()))?;
    }
}
