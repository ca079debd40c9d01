//! 17TRACK: push bodies **built** from the documented fields
//! (wksw/17track-golang-sdk `models/v2/track.go` @38a545c and notes/carriers.md
//! §5): no full public push payload was found (tests/data/carriers/README.md).

use proptest::prelude::*;

use super::aggregators_support::holds_invariants;

use crate::carriers::normalize::{DecodeError, seventeen_track::normalize};
use crate::status::{Milestone, Party};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/data/carriers/17track/", $name))
    };
}

const UPDATED: &[u8] = fixture!("tracking-updated-built.json");
const INFO_ONLY: &[u8] = fixture!("tracking-updated-info-received-built.json");
const STOPPED: &[u8] = fixture!("tracking-stopped-built.json");

/// Built (track.go fields, §5 sub-statuses): each event of the whole history
/// gets its milestone, possession and exception party; the estimate range is
/// its own event; an unknown sub-status is kept unmapped.
#[test]
fn whole_history_decodes() {
    let events = normalize(UPDATED).expect("decodes");
    assert_eq!(events.len(), 9);
    let m: Vec<_> = events.iter().map(|e| e.milestone).collect();
    assert_eq!(
        m,
        [
            Some(Milestone::Delivered),
            Some(Milestone::OutForDelivery),
            Some(Milestone::DeliveryAttempted),
            Some(Milestone::InTransit),
            Some(Milestone::InTransit),
            Some(Milestone::CarrierAccepted),
            Some(Milestone::LabelCreated),
            None,
            None,
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.carrier == "17track:3011" && e.tracking_number == "RR123456789CN")
    );
    assert!(events[..6].iter().all(|e| e.carrier_possession));
    assert!(!events[6].carrier_possession, "InfoReceived is label only");
    assert_eq!(events[2].exception.as_ref().expect("present").party, Party::Customer);
    assert_eq!(events[3].exception.as_ref().expect("present").party, Party::Customs);
    assert_eq!(events[7].provider_code, "InTransit_Mystery");
    assert!(events[7].is_unmapped());
    assert_eq!(events[5].offset_minutes, Some(480));
    assert_eq!(
        events[0].location.as_ref().and_then(|l| l.postal_code.as_deref()),
        Some("10115")
    );
    let est = events[8].estimated_delivery.as_ref().expect("present");
    assert_eq!((est.from.as_str(), est.to.as_str()), ("2026-05-05", "2026-05-07"));
    assert_eq!(events[8].event_key, "RR123456789CN|estimate|2026-05-05|2026-05-07");
}

/// Built: 17TRACK resends the whole history; the same push twice gives the
/// same keys, and the label-only event keeps its key in a later push.
#[test]
fn resent_history_keeps_its_keys() {
    let a = normalize(UPDATED).expect("decodes");
    assert_eq!(a, normalize(UPDATED).expect("decodes"));
    let early = normalize(INFO_ONLY).expect("decodes");
    assert_eq!(early.len(), 1, "empty estimate, no estimate event");
    assert_eq!(early[0].milestone, Some(Milestone::LabelCreated));
    assert!(!early[0].carrier_possession);
    assert!(a.iter().any(|e| e.event_key == early[0].event_key));
}

/// Built: `TRACKING_STOPPED` is not a tracking update.
#[test]
fn stopped_gives_nothing_and_bad_bodies_are_errors() {
    assert_eq!(normalize(STOPPED).expect("decodes"), vec![]);
    assert!(matches!(normalize(b"\xff"), Err(DecodeError::NotJson(_))));
    assert!(matches!(
        normalize(br#"{"event":"TRACKING_UPDATED","data":{"carrier":1}}"#),
        Err(DecodeError::Shape { path, .. }) if path == "data.number"
    ));
}

/// Built: exception sub-statuses name the party; returns are returned_to_sender.
#[test]
fn exception_sub_statuses() {
    let body = |sub: &str| {
        format!(
            r#"{{"event":"TRACKING_UPDATED","data":{{"number":"N1","carrier":100003,"track_info":{{"tracking":{{"providers":[
            {{"events":[{{"time_iso":"2026-05-01T10:00:00Z","description":"d","sub_status":"{sub}"}}]}}]}}}}}}}}"#
        )
    };
    let one = |sub: &str| normalize(body(sub).as_bytes()).expect("decodes").remove(0);
    assert_eq!(
        one("Exception_Damage").exception.expect("present").party,
        Party::Carrier
    );
    assert_eq!(one("Exception_Lost").exception.expect("present").party, Party::Carrier);
    assert_eq!(
        one("Exception_Rejected").exception.expect("present").party,
        Party::Customer
    );
    assert_eq!(
        one("DeliveryFailure_NoBody").milestone,
        Some(Milestone::DeliveryAttempted)
    );
    let r = one("Exception_Returning");
    assert_eq!(
        (r.milestone, r.carrier_possession),
        (Some(Milestone::ReturnedToSender), true)
    );
    assert_eq!(one("Exception_Returned").milestone, Some(Milestone::ReturnedToSender));
    assert_eq!(
        one("AvailableForPickup_Other").milestone,
        Some(Milestone::AvailableForPickup)
    );
    assert!(one("NotFound_Other").is_unmapped());
    assert_eq!(one("InTransit_PickedUp").carrier, "17track:100003");
}

proptest! {
    /// Arbitrary bytes and field values never panic, and what decodes keeps
    /// the rules (unique keys, possession only with a carrier milestone).
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..512), s in ".{0,30}", t in ".{0,12}") {
        holds_invariants(normalize(&body))?;
        let j = serde_json::json!({"event": "TRACKING_UPDATED", "data": {"number": s, "carrier": t,
            "track_info": {"time_metrics": {"estimated_delivery_date": {"from": s, "to": t}},
            "tracking": {"providers": [{"events": [{"time_iso": s, "time_utc": t, "stage": t, "sub_status": s,
            "description": s}]}]}}}});
        holds_invariants(normalize(j.to_string().as_bytes()))?;
    }
}
