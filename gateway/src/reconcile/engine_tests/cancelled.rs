//! Parcels of cancelled shipments: never matched, never quarantined; one
//! `scanned_after_cancel` exception per stay.

use super::*;
use crate::reconcile::config::ReconcileConfig;
use crate::reconcile::direction::Direction;
use crate::reconcile::engine::Engine;
use crate::reconcile::event::ExceptionReason;
use crate::reconcile::matching::{Lookup, LookupFn};
use crate::reconcile::milestones::Milestone;
use crate::reconcile::sim::{DeviceRead, directional_pass, door_settings, parcel_identities};
use crate::store::EventDraft;
use waymark_devices::sim::portal::PassShape;
use waymark_proto::v1::EventKind as WireKind;

/// A site whose parcel 0 (SO-0 / P-0) was cancelled and parcel 1 (SO-1 / P-1) is to ship.
pub fn site(key: &Identity) -> Lookup {
    let n = (0..2).find(|n| parcel_identities(*n).0.value == key.value);
    match n {
        Some(0) => Lookup::Cancelled(ParcelRef::new("SO-0", "P-0")),
        Some(n) => Lookup::Active(ParcelRef::new(format!("SO-{n}"), format!("P-{n}"))),
        None => Lookup::Unknown,
    }
}

fn outbound_pass(n: usize, start_ms: i64, seed: u64) -> Vec<DeviceRead> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let shape = PassShape {
        reads: (100, 100),
        ..PassShape::default()
    };
    let tag = parcel_identities(n).1;
    directional_pass(&tag, at(start_ms), &shape, Direction::Outbound, &mut rng)
        .into_iter()
        .map(|read| DeviceRead {
            device: "door-3".into(),
            read,
        })
        .collect()
}

fn feed(engine: &mut Engine, reads: &[DeviceRead]) -> Vec<BusinessEvent> {
    let mut m = LookupFn(site);
    let mut out = Vec::new();
    for r in reads {
        let now = r.read.time.expect("timed");
        out.extend(engine.observe(&r.device, &r.read, now, &mut m).expect("mapped"));
    }
    out.extend(engine.flush(&mut m));
    out
}

#[test]
fn a_cancelled_parcel_through_the_door_is_one_exception_with_its_parcel() {
    let reads = outbound_pass(0, 0, 3);
    assert!(reads.len() >= 100, "a portal reads the tag {} times", reads.len());
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let events = feed(&mut engine, &reads);
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(
        e.kind,
        EventKind::Exception {
            reason: ExceptionReason::ScannedAfterCancel
        }
    );
    assert_eq!(e.parcel, Some(ParcelRef::new("SO-0", "P-0")));
    assert_ne!(
        e.event_id, e.stay.stay_id,
        "derived from the stay, like other exceptions"
    );
    assert!(engine.parcel(&ParcelRef::new("SO-0", "P-0")).is_none(), "never matched");
    assert!(engine.quarantine().is_empty(), "never quarantined");
    let s = engine.stats();
    assert_eq!((s.scanned_after_cancel, s.exceptions, s.milestones), (1, 1, 0));

    let EventDraft(w) = e.to_draft();
    assert_eq!(w.kind, WireKind::Exception as i32);
    assert_eq!(w.exception, "scanned_after_cancel");
    assert_eq!((w.order_number.as_str(), w.parcel_id.as_str()), ("SO-0", "P-0"));
    assert_eq!(w.milestone, "loaded", "the step the read point marks");
    assert_eq!(
        (w.read_point.as_str(), w.device_id.as_str(), w.direction.as_str()),
        ("dock-door-3", "door-3", "outbound")
    );
    assert_eq!(
        (w.business_step.as_str(), w.disposition.as_str()),
        ("loading", "in_transit")
    );
    let ids: Vec<_> = w.identifiers.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(
        ids,
        [
            parcel_identities(0).1.value.as_str(),
            parcel_identities(0).0.value.as_str()
        ]
    );
    assert_eq!(w.read_count as usize, reads.len());
    assert!(!w.late && !w.rematched);
    assert_eq!(
        e.interim_disposition(),
        "in_transit;direction=outbound;parcel=P-0;exception=scanned_after_cancel"
    );
}

#[test]
fn each_stay_of_a_cancelled_parcel_is_one_exception_and_active_parcels_are_unaffected() {
    let mut reads = outbound_pass(0, 0, 5);
    reads.extend(outbound_pass(1, 500, 6));
    reads.extend(outbound_pass(0, 60_000, 7));
    reads.sort_by_key(|r| r.read.time);
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let events = feed(&mut engine, &reads);
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.parcel.clone().map(|p| p.parcel_id), e.interim_disposition()))
        .collect();
    assert_eq!(events.len(), 4, "{summary:#?}");
    let cancelled: Vec<_> = events
        .iter()
        .filter(|e| e.to_draft().0.exception == "scanned_after_cancel")
        .collect();
    assert_eq!(cancelled.len(), 2, "two stays, two exceptions: {summary:#?}");
    assert_ne!(cancelled[0].event_id, cancelled[1].event_id);
    let loaded: Vec<_> = events.iter().filter_map(BusinessEvent::milestone).collect();
    assert_eq!(
        loaded,
        [Milestone::Loaded],
        "P-1 ships as usual (not packed: an exception)"
    );
    assert!(
        cancelled
            .iter()
            .all(|e| e.parcel == Some(ParcelRef::new("SO-0", "P-0")))
    );
    assert_eq!(engine.stats().scanned_after_cancel, 2);
}

/// A pack station that scans: repeats fold, as they do for any label.
const SCAN_CONFIG: &str = r#"
[[read_points]]
id = "pack-station-1"
device = "pack-1"
business_step = "packing"
repeat_window_ms = 2000
"#;

#[test]
fn a_scan_of_a_cancelled_label_is_an_exception_at_once_and_repeats_fold() {
    let settings = ReconcileConfig::from_toml(SCAN_CONFIG)
        .and_then(ReconcileConfig::validate)
        .expect("settings");
    let mut engine = Engine::new("dc-1", settings);
    let label = parcel_identities(0).0;
    let mut m = LookupFn(site);
    let mut per_scan = Vec::new();
    for ms in [0, 700, 1900, 10_000] {
        let r = read("pack-1", &label, None, ms);
        per_scan.push(engine.observe(&r.device, &r.read, at(ms), &mut m).expect("mapped"));
    }
    let counts: Vec<_> = per_scan.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 0, 0, 1], "decided at once; the repeats within 2 s fold");
    let EventDraft(w) = per_scan[0][0].to_draft();
    assert_eq!(
        (w.exception.as_str(), w.milestone.as_str(), w.parcel_id.as_str()),
        ("scanned_after_cancel", "packed", "P-0")
    );
    assert_eq!(
        (w.business_step.as_str(), w.read_point.as_str(), w.device_id.as_str()),
        ("packing", "pack-station-1", "pack-1")
    );
    assert_eq!(w.identifiers.len(), 1);
    assert!(engine.flush(&mut m).is_empty());
}

#[test]
fn a_quarantined_stay_whose_order_comes_cancelled_leaves_as_an_exception() {
    let reads = outbound_pass(0, 0, 9);
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let mut m = no_orders;
    for r in &reads {
        let now = r.read.time.expect("timed");
        assert!(
            engine
                .observe(&r.device, &r.read, now, &mut m)
                .expect("mapped")
                .is_empty()
        );
    }
    assert!(engine.flush(&mut m).is_empty());
    assert_eq!(engine.quarantine().len(), 1);

    let released = engine.rematch(&mut LookupFn(site));
    assert_eq!(released.len(), 1, "{released:#?}");
    let e = &released[0];
    assert_eq!(e.parcel, Some(ParcelRef::new("SO-0", "P-0")));
    assert_eq!(e.to_draft().0.exception, "scanned_after_cancel");
    assert!(e.rematched, "it came out of the quarantine");
    assert!(engine.quarantine().is_empty());
    let s = engine.stats();
    assert_eq!((s.scanned_after_cancel, s.rematched, s.exceptions), (1, 0, 1));
    assert!(engine.rematch(&mut LookupFn(site)).is_empty(), "once");
}

#[test]
fn exceptions_by_reason_add_up_to_the_exceptions() {
    let mut reads = outbound_pass(0, 0, 5);
    reads.extend(outbound_pass(1, 500, 6));
    reads.sort_by_key(|r| r.read.time);
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let events = feed(&mut engine, &reads);
    let s = engine.stats();
    let by_reason = s.exceptions_by_reason();
    assert_eq!(by_reason.iter().map(|(_, n)| n).sum::<u64>(), s.exceptions);
    for e in events.iter().filter(|e| is_exception(e)) {
        let reason = e.to_draft().0.exception;
        assert!(
            by_reason.iter().any(|(r, n)| *r == reason && *n > 0),
            "{reason} counted: {by_reason:?}"
        );
    }
    let missing = by_reason.iter().find(|(r, _)| *r == "missing_prerequisite");
    assert_eq!(
        missing,
        Some(&("missing_prerequisite", 1)),
        "P-1 loaded without packing"
    );
}
