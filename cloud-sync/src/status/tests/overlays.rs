//! Overlays on and off, and delivery estimates.

use super::*;
use crate::status::overlays::{
    REASON_ESTIMATE_AFTER_PROMISE, REASON_ESTIMATE_PASSED, REASON_NO_CARRIER_POSSESSION, REASON_PROMISE_PASSED,
};
use Milestone as M;

fn kinds(s: &ParcelStatus) -> Vec<Overlay> {
    s.overlays.iter().map(|o| o.overlay).collect()
}

fn shipped() -> Vec<ParcelEvent> {
    let mut events = warehouse();
    events.push(carrier(50, M::CarrierAccepted));
    events
}

#[test]
fn delayed_when_the_estimate_is_later_than_the_promise() {
    let mut events = shipped();
    events.push(estimate(55, 55, day(2)));
    let ctx = Context {
        promised: Some(day(2)),
        ..ctx()
    };
    assert!(parcel_status(&events, &ctx).overlays.is_empty(), "on time");
    events.push(estimate(120, 120, day(3)));
    let s = parcel_status(&events, &ctx);
    assert_eq!(kinds(&s), [Overlay::Delayed]);
    let d = &s.overlays[0];
    assert_eq!(d.reason, REASON_ESTIMATE_AFTER_PROMISE);
    assert_eq!(d.since_ms, at(120));
    assert_eq!(d.provenance.as_ref().map(|p| p.event_id.as_str()), Some("est-120"));
    // Back on time: off again.
    events.push(estimate(180, 180, day(1)));
    assert!(parcel_status(&events, &ctx).overlays.is_empty());
}

#[test]
fn delayed_when_the_estimate_has_passed_without_delivery() {
    let mut events = shipped();
    events.push(estimate(55, 55, day(1)));
    let before_end = Context {
        now_ms: day(1).to_ms - 1,
        ..ctx()
    };
    let after_end = Context {
        now_ms: day(1).to_ms,
        ..ctx()
    };
    assert!(parcel_status(&events, &before_end).overlays.is_empty());
    let s = parcel_status(&events, &after_end);
    assert_eq!(kinds(&s), [Overlay::Delayed]);
    assert_eq!(s.overlays[0].reason, REASON_ESTIMATE_PASSED);
    assert_eq!(s.overlays[0].since_ms, day(1).to_ms);
    // Delivered: no longer delayed, and the estimate is no longer shown.
    events.push(carrier(2 * 24 * 60, M::Delivered));
    let s = parcel_status(&events, &after_end);
    assert!(s.overlays.is_empty());
    assert_eq!(s.estimate, None);
}

#[test]
fn delayed_when_the_promise_has_passed_and_there_is_no_estimate() {
    let events = shipped();
    let ctx = Context {
        now_ms: day(3).from_ms,
        promised: Some(day(2)),
        ..ctx()
    };
    let s = parcel_status(&events, &ctx);
    assert_eq!(kinds(&s), [Overlay::Delayed]);
    assert_eq!(s.overlays[0].reason, REASON_PROMISE_PASSED);
    assert_eq!(s.overlays[0].provenance, None);
    // With an estimate, the estimate is what is compared with the promise.
    let mut events = events;
    events.push(estimate(55, 55, day(3)));
    let s = parcel_status(&events, &ctx);
    assert_eq!(s.overlays[0].reason, REASON_ESTIMATE_AFTER_PROMISE);
}

#[test]
fn an_exception_is_on_until_resolved() {
    let mut events = warehouse();
    events.push(exception(41, Source::Site, "x-1", "missing_prerequisite", Party::Site));
    let s = status(&events);
    assert_eq!(kinds(&s), [Overlay::Exception]);
    let x = &s.overlays[0];
    assert_eq!(
        (x.reason.as_str(), x.party),
        ("missing_prerequisite", Some(Party::Site))
    );
    assert_eq!(x.since_ms, at(41));
    assert_eq!(x.provenance.as_ref().map(|p| p.event_id.as_str()), Some("x-1"));
    // A carrier milestone does not settle a site's exception ...
    events.push(carrier(50, M::CarrierAccepted));
    assert_eq!(kinds(&status(&events)), [Overlay::Exception]);
    // ... a resolution naming it does, whatever its timestamp.
    events.push(resolved(30, &["x-1"]));
    assert!(status(&events).overlays.is_empty());
}

#[test]
fn a_carrier_exception_is_settled_by_a_later_carrier_milestone() {
    let mut events = shipped();
    events.push(exception(100, Source::Carrier, "cx-1", "weather_delay", Party::Weather));
    events.push(carrier(90, M::InTransit)); // earlier: does not settle it
    assert_eq!(kinds(&status(&events)), [Overlay::Exception]);
    events.push(carrier(130, M::InTransit));
    assert!(status(&events).overlays.is_empty());
}

#[test]
fn delivery_settles_earlier_exceptions_but_not_later_ones() {
    let mut events = shipped();
    events.push(exception(
        100,
        Source::Site,
        "x-1",
        "scanned_after_cancel",
        Party::Merchant,
    ));
    events.push(carrier(200, M::Delivered));
    assert!(status(&events).overlays.is_empty());
    events.push(exception(300, Source::Carrier, "cx-2", "damaged", Party::Carrier));
    let s = status(&events);
    assert_eq!(kinds(&s), [Overlay::Exception]);
    assert_eq!(s.overlays[0].reason, "damaged");
}

#[test]
fn label_not_accepted_when_loaded_without_carrier_possession() {
    let mut events = warehouse(); // loaded at 40
    events.push(carrier(5, M::LabelCreated));
    let window = |now_minutes, window_minutes| Context {
        now_ms: at(now_minutes),
        acceptance_window_ms: window_minutes * MIN,
        ..ctx()
    };
    assert!(
        parcel_status(&events, &window(100, 120)).overlays.is_empty(),
        "within the window"
    );
    assert!(
        parcel_status(&events, &window(200, 0)).overlays.is_empty(),
        "no window: off"
    );
    let s = parcel_status(&events, &window(200, 120));
    assert_eq!(kinds(&s), [Overlay::LabelNotAccepted]);
    let o = &s.overlays[0];
    assert_eq!(o.reason, REASON_NO_CARRIER_POSSESSION);
    assert_eq!(o.since_ms, at(160));
    assert_eq!(o.party, Some(Party::Carrier));
    assert_eq!(o.provenance.as_ref().map(|p| p.event_id.as_str()), Some("loaded-40"));
    // Any carrier possession scan turns it off, even one without acceptance.
    events.push(carrier(300, M::InTransit));
    assert!(parcel_status(&events, &window(400, 120)).overlays.is_empty());
}

#[test]
fn no_outbound_overlay_once_cancelled_before_loading() {
    let events = [intake(0), site(10, M::Picked), cancelled(20)];
    let ctx = Context {
        now_ms: day(5).from_ms,
        promised: Some(day(2)),
        ..ctx()
    };
    assert!(parcel_status(&events, &ctx).overlays.is_empty());
}

#[test]
fn estimates_keep_the_original_the_history_and_the_latest() {
    let mut events = shipped();
    events.push(estimate(60, 61, day(2)));
    events.push(estimate(120, 300, day(3))); // issued at 120, recorded late
    events.push(estimate(200, 201, day(4)));
    events.push(estimate(100, 400, day(3))); // an old one, resent last
    let ctx = Context {
        promised: Some(day(2)),
        ..ctx()
    };
    let view = parcel_status(&events, &ctx).estimate.expect("estimates");
    assert_eq!(view.original, Some(day(2)));
    assert_eq!(view.current, Some(day(4)), "the latest by event time");
    assert_eq!(view.history, [day(2), day(3), day(4)]);
    assert_eq!(view.promised, Some(day(2)));
    // The original is the first recorded, not the first issued.
    let mut events = shipped();
    events.extend([estimate(60, 500, day(2)), estimate(120, 130, day(3))]);
    let view = parcel_status(&events, &ctx).estimate.expect("estimates");
    assert_eq!((view.original, view.current), (Some(day(3)), Some(day(3))));
    assert_eq!(status(&shipped()).estimate, None, "no estimate, no promise");
}

#[test]
fn an_estimate_is_ignored_once_delivered() {
    let mut events = shipped();
    events.extend([estimate(60, 61, day(2)), carrier(300, M::Delivered)]);
    let ctx = Context {
        promised: Some(day(1)),
        now_ms: day(9).from_ms,
        ..ctx()
    };
    let s = parcel_status(&events, &ctx);
    assert_eq!(s.estimate, None);
    assert!(s.overlays.is_empty());
    // Delivery retracted: the estimate and the delay come back.
    events.push(correction(400, false, M::Delivered));
    let s = parcel_status(&events, &ctx);
    assert_eq!(s.estimate.as_ref().and_then(|e| e.current), Some(day(2)));
    assert_eq!(kinds(&s), [Overlay::Delayed]);
}
