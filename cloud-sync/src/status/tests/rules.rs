//! One test per status rule of DESIGN.md ("Milestones") and per rule decided
//! in the engine.

use super::*;
use Milestone as M;

#[test]
fn status_is_the_furthest_milestone_with_its_provenance() {
    let mut events = warehouse();
    events.push(carrier(50, M::CarrierAccepted));
    events.push(carrier(120, M::InTransit));
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::InTransit));
    assert_eq!(s.customer, CustomerStatus::InTransit);
    let order: Vec<_> = s.milestones.iter().map(|r| r.milestone).collect();
    assert_eq!(
        order,
        [
            M::Ordered,
            M::Picked,
            M::Packed,
            M::Staged,
            M::Loaded,
            M::CarrierAccepted,
            M::InTransit
        ]
    );
    let loaded = s.reached(M::Loaded).expect("loaded");
    assert_eq!(loaded.provenance.source, Source::Site);
    assert_eq!(loaded.provenance.actor, "door-3");
    assert_eq!(loaded.provenance.event_id, "loaded-40");
    assert_eq!(loaded.provenance.evidence, "site/loaded-40");
    assert_eq!((loaded.event_time_ms, loaded.offset_minutes), (at(40), 60));
    assert!(!loaded.corrected);
}

#[test]
fn arrival_order_does_not_matter() {
    let mut events = warehouse();
    events.extend([carrier(50, M::CarrierAccepted), carrier(90, M::OutForDelivery)]);
    let mut reversed = events.clone();
    reversed.reverse();
    assert_eq!(status(&events), status(&reversed));
}

#[test]
fn a_late_event_joins_the_history_but_does_not_move_status_back() {
    let mut events = warehouse();
    events.push(carrier(90, M::OutForDelivery));
    let before = status(&events);
    // The in-transit scan of an hour earlier arrives now.
    events.push(carrier(70, M::InTransit));
    // And a carrier resends an in-transit scan stamped after the out-for-delivery one.
    events.push(carrier(95, M::InTransit));
    let after = status(&events);
    assert_eq!(before.milestone, Some(M::OutForDelivery));
    assert_eq!(after.milestone, Some(M::OutForDelivery));
    let transit = after.reached(M::InTransit).expect("in the history");
    assert_eq!(transit.event_time_ms, at(70), "first time reached");
    assert_eq!(after.milestones.len(), before.milestones.len() + 1);
}

#[test]
fn a_duplicate_event_changes_nothing() {
    let mut events = warehouse();
    events.push(carrier(50, M::CarrierAccepted));
    let once = status(&events);
    let mut resent = carrier(50, M::CarrierAccepted);
    resent.record_time_ms += 3_600_000; // delivered again an hour later
    events.push(resent);
    assert_eq!(status(&events), once);
}

#[test]
fn out_for_delivery_again_after_an_attempt_is_the_status() {
    let mut events = warehouse();
    events.push(carrier(90, M::OutForDelivery));
    let mut attempt = carrier(100, M::DeliveryAttempted);
    attempt.fact = Fact::Reached {
        milestone: M::DeliveryAttempted,
        detail: Some("no_access".into()),
    };
    events.push(attempt);
    let s = status(&events);
    assert_eq!(s.customer, CustomerStatus::DeliveryAttempted);
    assert_eq!(
        s.reached(M::DeliveryAttempted).and_then(|r| r.detail.as_deref()),
        Some("no_access")
    );
    events.push(carrier(90 + 24 * 60, M::OutForDelivery));
    assert_eq!(status(&events).milestone, Some(M::OutForDelivery));
}

#[test]
fn delivered_is_terminal_for_outbound() {
    let mut events = warehouse();
    events.extend([carrier(50, M::CarrierAccepted), carrier(200, M::Delivered)]);
    // Scans after delivery, stamped later: none moves the status.
    events.extend([
        carrier(210, M::InTransit),
        carrier(220, M::OutForDelivery),
        carrier(230, M::ReturnedToSender),
        carrier(240, M::DeliveryAttempted),
    ]);
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::Delivered));
    assert_eq!(s.customer, CustomerStatus::Delivered);
    assert!(s.reached(M::ReturnedToSender).is_some(), "kept in the history");
}

#[test]
fn a_return_starts_a_new_chapter() {
    let mut events = warehouse();
    events.extend([carrier(50, M::CarrierAccepted), carrier(200, M::Delivered)]);
    events.push(returns(3000, M::ReturnRequested));
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::ReturnRequested));
    assert_eq!(s.customer, CustomerStatus::ReturnStarted);
    events.extend([
        returns(3010, M::ReturnApproved),
        returns(3020, M::ReturnLabelIssued),
        carrier(3100, M::ReturnInTransit),
        site(4000, M::ReturnReceived),
        site(4100, M::Inspected),
        returns(4200, M::DispositionDecided),
        returns(4300, M::RefundReleased),
    ]);
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::RefundReleased));
    assert_eq!(s.customer, CustomerStatus::Refunded);
    events.push(returns(4400, M::Closed));
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::Closed));
    assert_eq!(
        s.customer,
        CustomerStatus::Refunded,
        "a closed return reads as its outcome"
    );
    // An outbound scan after the return started does not end the chapter.
    events.push(carrier(5000, M::InTransit));
    assert_eq!(status(&events).milestone, Some(M::Closed));
}

#[test]
fn a_correction_retracts_a_milestone_with_its_provenance() {
    let mut events = warehouse();
    events.extend([
        carrier(50, M::CarrierAccepted),
        carrier(90, M::InTransit),
        carrier(200, M::Delivered),
    ]);
    assert_eq!(status(&events).milestone, Some(M::Delivered));
    events.push(correction(300, false, M::Delivered));
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::InTransit), "the explicit cause moves status back");
    assert!(
        s.reached(M::Delivered).is_none(),
        "a retracted milestone no longer counts"
    );
    let c = &s.corrections[..];
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].milestone, c[0].assert), (M::Delivered, false));
    assert_eq!(c[0].provenance.source, Source::Operator);
    assert_eq!(c[0].provenance.actor, "ops-alice");
    assert_eq!(c[0].reason, "carrier scanned the wrong parcel");
    // Reached again after the retraction: it counts anew.
    events.push(carrier(400, M::Delivered));
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::Delivered));
    assert_eq!(s.reached(M::Delivered).map(|r| r.event_time_ms), Some(at(400)));
}

#[test]
fn a_correction_applies_in_event_time_order() {
    let mut events = warehouse();
    // The retraction is stamped before the delivery it would retract: it retracts nothing.
    events.extend([correction(100, false, M::Delivered), carrier(200, M::Delivered)]);
    assert_eq!(status(&events).milestone, Some(M::Delivered));
}

#[test]
fn a_correction_asserts_a_milestone_marked_corrected() {
    let mut events = warehouse();
    events.push(carrier(50, M::CarrierAccepted));
    events.push(correction(500, true, M::Delivered));
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::Delivered));
    let d = s.reached(M::Delivered).expect("asserted");
    assert!(d.corrected);
    assert_eq!(d.provenance.source, Source::Operator);
    assert_eq!(d.provenance.event_id, "corr-delivered-500");
    // Asserting what the carrier already said keeps the carrier's evidence.
    let mut events = warehouse();
    events.extend([carrier(200, M::Delivered), correction(500, true, M::Delivered)]);
    let d = status(&events).reached(M::Delivered).cloned().expect("delivered");
    assert!(!d.corrected);
    assert_eq!(d.provenance.source, Source::Carrier);
}

#[test]
fn a_created_label_is_never_handed_to_carrier() {
    let mut events = warehouse();
    events.truncate(4); // ordered .. staged
    events.push(carrier(5, M::LabelCreated));
    let s = status(&events);
    assert_eq!(
        s.milestone,
        Some(M::Staged),
        "a label does not outrank a warehouse step"
    );
    assert_eq!(s.customer, CustomerStatus::Preparing);
    let s = status(&[intake(0), carrier(5, M::LabelCreated)]);
    assert_eq!(s.milestone, Some(M::LabelCreated));
    assert_eq!(s.customer, CustomerStatus::Preparing);
    assert!(!s.handed_over());
    assert_eq!(status(&[intake(0)]).customer, CustomerStatus::OrderReceived);
    assert_eq!(status(&[]).customer, CustomerStatus::OrderReceived);
}

#[test]
fn loaded_or_carrier_accepted_is_handed_to_carrier() {
    let mut events = warehouse();
    events.push(carrier(5, M::LabelCreated));
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::Loaded));
    assert_eq!(s.customer, CustomerStatus::HandedToCarrier);
    assert_eq!(s.customer.text(), "Handed to carrier");
    let s = status(&[intake(0), carrier(5, M::LabelCreated), carrier(60, M::CarrierAccepted)]);
    assert_eq!(s.customer, CustomerStatus::HandedToCarrier);
}

#[test]
fn a_cancelled_parcel_before_loading_is_cancelled() {
    let mut events = warehouse();
    events.truncate(3); // ordered, picked, packed
    events.push(cancelled(25));
    let s = status(&events);
    assert!(s.cancelled);
    assert_eq!(s.customer, CustomerStatus::Cancelled);
    assert_eq!(s.milestone, Some(M::Packed), "the milestone stays what was reached");
}

#[test]
fn a_parcel_already_loaded_cannot_be_cancelled() {
    let mut events = warehouse();
    events.push(cancelled(45));
    let s = status(&events);
    assert!(s.cancelled);
    assert_eq!(s.milestone, Some(M::Loaded));
    assert_eq!(s.customer, CustomerStatus::HandedToCarrier);
    // Loaded after the cancel (a scan the site also flags): still on the trailer.
    let mut events = warehouse();
    events.insert(0, cancelled(35));
    assert_eq!(status(&events).customer, CustomerStatus::HandedToCarrier);
}

#[test]
fn names_round_trip_and_match_serde() {
    for m in Milestone::ALL {
        assert_eq!(Milestone::parse(m.as_str()), Some(m));
        assert_eq!(serde_json::to_value(m).ok(), Some(serde_json::json!(m.as_str())));
    }
    assert_eq!(Milestone::parse("shipped"), None);
    assert!(M::ReturnRequested.is_return() && M::Closed.is_return());
    assert!(!M::ReturnedToSender.is_return() && !M::Delivered.is_return());
    assert!(!M::LabelCreated.is_possession() && M::Loaded.is_possession());
    let c = CustomerStatus::ReadyForPickup;
    assert_eq!(serde_json::to_value(c).ok(), Some(serde_json::json!(c.as_str())));
    let o = OrderStatus::PartiallyShipped;
    assert_eq!(serde_json::to_value(o).ok(), Some(serde_json::json!(o.as_str())));
    let v = Overlay::LabelNotAccepted;
    assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::json!(v.as_str())));
}

#[test]
fn a_delivery_timestamped_before_the_pickup_is_kept_and_flagged_not_used_to_regress() {
    let mut events = warehouse();
    // The carrier's clock: delivered at 60, picked up at 80.
    events.extend([carrier(60, M::Delivered), carrier(80, M::CarrierAccepted)]);
    let s = status(&events);
    assert_eq!(s.milestone, Some(M::Delivered), "delivered stays terminal");
    assert_eq!(
        s.clock_anomalies,
        [ClockAnomaly {
            milestone: M::Delivered,
            event_time_ms: at(60),
            before: M::CarrierAccepted,
            before_time_ms: at(80),
        }]
    );
    // In the right order there is nothing to flag, and going round the last
    // mile (attempted, out for delivery again) is no anomaly either.
    let mut fine = warehouse();
    fine.extend([
        carrier(50, M::CarrierAccepted),
        carrier(70, M::DeliveryAttempted),
        carrier(80, M::OutForDelivery),
        carrier(90, M::Delivered),
    ]);
    assert!(status(&fine).clock_anomalies.is_empty());
}
