//! Offline matching: reads before their orders, the quarantine, re-matching.

use super::*;
use crate::reconcile::config::ReconcileConfig;
use crate::reconcile::direction::Direction;
use crate::reconcile::engine::{Engine, EngineState};
use crate::reconcile::event::{ExceptionReason, Release};
use crate::reconcile::milestones::Milestone;
use crate::reconcile::sim::{DeviceRead, directional_pass, door_settings, parcel_identities};
use waymark_devices::sim::portal::PassShape;

/// The morning: parcels 0-3 packed from 06:00, carried out through door 3 an hour later.
fn morning() -> Vec<DeviceRead> {
    let mut rng = fastrand::Rng::with_seed(11);
    let mut reads = Vec::new();
    for n in 0..4 {
        let (label, tag) = parcel_identities(n);
        reads.push(read("pack-1", &label, None, -8 * 3_600_000 + n as i64 * 60_000));
        let start = at(-7 * 3_600_000 + n as i64 * 5_000);
        let pass = directional_pass(&tag, start, &PassShape::default(), Direction::Outbound, &mut rng);
        reads.extend(pass.into_iter().map(|read| DeviceRead {
            device: "door-3".into(),
            read,
        }));
    }
    reads.sort_by_key(|r| r.read.time);
    reads
}

fn all_orders() -> BTreeMap<String, ParcelRef> {
    (0..4)
        .map(|n| {
            (
                parcel_identities(n).0.value,
                ParcelRef::new(format!("SO-{n}"), format!("P-{n}")),
            )
        })
        .collect()
}

fn run<M: crate::reconcile::Matcher>(engine: &mut Engine, reads: &[DeviceRead], m: &mut M) -> Vec<BusinessEvent> {
    let mut out = Vec::new();
    for r in reads {
        let now = r.read.time.expect("timed");
        out.extend(engine.observe(&r.device, &r.read, now, m).expect("mapped"));
    }
    out.extend(engine.tick(at(0), m));
    out
}

#[test]
fn reads_before_their_orders_are_matched_when_the_orders_arrive_with_their_own_times() {
    let reads = morning();
    // Reference: the orders were there all along.
    let o = all_orders();
    let mut online = Engine::new("dc-1", door_settings().expect("settings"));
    let reference = run(&mut online, &reads, &mut matcher(&o));
    assert_eq!(reference.len(), 8, "{reference:#?}");

    // The site was cut off since morning: nothing matches, nothing is lost.
    let mut offline = Engine::new("dc-1", door_settings().expect("settings"));
    assert!(run(&mut offline, &reads, &mut no_orders).is_empty());
    let q = offline.quarantine();
    assert_eq!(q.len(), 8);
    let recent: Vec<_> = q.recent(2).map(|e| e.stay.read_point.as_str()).collect();
    assert_eq!(recent, ["dock-door-3", "dock-door-3"], "newest first");
    assert_eq!(offline.stats().quarantined, 8);

    // The gateway restarts before the orders sync.
    let snapshot = serde_json::to_vec(offline.state()).expect("serializes");
    let state: EngineState = serde_json::from_slice(&snapshot).expect("parses");
    let mut restarted = Engine::restore("dc-1", door_settings().expect("settings"), state).expect("restores");
    assert_eq!(restarted.quarantine().len(), 8);

    // Orders for parcels 0 and 1 arrive first, then the rest.
    let some = orders(&[
        (&parcel_identities(0).0, "SO-0", "P-0"),
        (&parcel_identities(1).0, "SO-1", "P-1"),
    ]);
    let first = restarted.rematch(&mut matcher(&some));
    assert_eq!(first.len(), 4);
    assert_eq!(restarted.quarantine().len(), 4);
    let rest = restarted.rematch(&mut matcher(&o));
    let rematched: Vec<_> = first.into_iter().chain(rest).collect();
    assert!(restarted.quarantine().is_empty());
    assert_eq!(restarted.stats().rematched, 8);

    let mut got: Vec<_> = rematched
        .iter()
        .map(|e| (e.event_id.clone(), e.stay.first_ms, e.milestone()))
        .collect();
    let mut want: Vec<_> = reference
        .iter()
        .map(|e| (e.event_id.clone(), e.stay.first_ms, e.milestone()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "same ids, the reads' own event times");
    assert!(rematched.iter().all(|e| e.rematched && !e.late && !is_exception(e)));
    let earliest = rematched
        .iter()
        .filter_map(BusinessEvent::event_time)
        .min()
        .expect("events");
    assert_eq!(earliest, at(-8 * 3_600_000), "06:00, not the time of the re-match");
    assert_eq!(
        restarted.parcel(&ParcelRef::new("SO-3", "P-3")).and_then(|s| s.reached),
        Some(Milestone::Loaded)
    );
}

#[test]
fn the_quarantine_releases_what_never_matches_as_exceptions() {
    let text = crate::reconcile::sim::DOOR_SCENARIO_CONFIG.replace(
        "lateness_ms = 1000",
        "lateness_ms = 0\nquarantine_capacity = 2\nquarantine_max_age_hours = 1",
    );
    let settings = ReconcileConfig::from_toml(&text)
        .and_then(ReconcileConfig::validate)
        .expect("valid");
    let mut engine = Engine::new("dc-1", settings);
    let scans: Vec<_> = (10..13)
        .map(|n| read("pack-1", &sscc(n), None, n as i64 * 10_000))
        .collect();
    let events = run(&mut engine, &scans, &mut no_orders);
    let events: Vec<_> = events
        .into_iter()
        .chain(engine.tick(at(200_000), &mut no_orders))
        .collect();
    assert_eq!(events.len(), 1, "the third pushes the oldest out: {events:#?}");
    let overflow = &events[0];
    assert_eq!(
        overflow.kind,
        EventKind::Exception {
            reason: ExceptionReason::Unmatched {
                release: Release::Overflow
            }
        }
    );
    assert_eq!(overflow.stay.identity.value, sscc(10).value);
    assert_ne!(
        overflow.event_id, overflow.stay.stay_id,
        "a later match of the same reads still counts"
    );
    assert_eq!(engine.quarantine().len(), 2);

    let expired = engine.tick(at(2 * 3_600_000), &mut no_orders);
    assert_eq!(expired.len(), 2);
    assert!(
        expired
            .iter()
            .all(|e| e.interim_disposition().contains("exception=unmatched_expired"))
    );
    assert!(engine.quarantine().is_empty());
    let s = engine.stats();
    assert_eq!(
        (s.quarantined, s.quarantine_overflow, s.quarantine_expired, s.exceptions),
        (3, 1, 2, 3)
    );
}

#[test]
fn unmatched_reads_at_a_point_set_to_record_are_recorded_without_an_order() {
    let text = r#"
        [[read_points]]
        id = "receiving-dock"
        device = "dock-1"
        business_step = "receiving"
    "#;
    let settings = ReconcileConfig::from_toml(text)
        .and_then(ReconcileConfig::validate)
        .expect("valid");
    let mut engine = Engine::new("dc-1", settings);
    let events = run(
        &mut engine,
        &[read("dock-1", &sscc(1), Some(1), -60_000)],
        &mut no_orders,
    );
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].parcel.as_ref()),
        (EventKind::Observation, None)
    );
    assert_eq!(engine.stats().unmatched_recorded, 1);
    assert!(engine.quarantine().is_empty());
}
