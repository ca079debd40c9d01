//! Missing and late scans.

use super::*;
use crate::reconcile::direction::Direction;
use crate::reconcile::engine::Engine;
use crate::reconcile::event::ExceptionReason;
use crate::reconcile::milestones::Milestone;
use crate::reconcile::sim::{DeviceRead, directional_pass, door_settings, parcel_identities};
use waymark_devices::sim::portal::PassShape;

fn door_pass(n: usize, start_ms: i64, direction: Direction, seed: u64) -> Vec<DeviceRead> {
    let (_, tag) = parcel_identities(n);
    let mut rng = fastrand::Rng::with_seed(seed);
    directional_pass(&tag, at(start_ms), &PassShape::default(), direction, &mut rng)
        .into_iter()
        .map(|read| DeviceRead {
            device: "door-3".into(),
            read,
        })
        .collect()
}

fn pack_scan(n: usize, ms: i64) -> DeviceRead {
    read("pack-1", &parcel_identities(n).0, None, ms)
}

fn parcel_orders() -> BTreeMap<String, ParcelRef> {
    (0..4)
        .map(|n| {
            (
                parcel_identities(n).0.value,
                ParcelRef::new(format!("SO-{n}"), format!("P-{n}")),
            )
        })
        .collect()
}

/// Feeds reads one by one, each received `delay_ms` after it was taken, then lets
/// `settle_ms` pass.
fn feed(
    engine: &mut Engine,
    reads: &[DeviceRead],
    delay_ms: i64,
    settle_ms: i64,
    o: &BTreeMap<String, ParcelRef>,
) -> Vec<BusinessEvent> {
    let mut m = matcher(o);
    let mut out = Vec::new();
    let mut last = at(0);
    for r in reads {
        let now = r.read.time.expect("timed") + Duration::milliseconds(delay_ms);
        last = last.max(now);
        out.extend(engine.observe(&r.device, &r.read, last, &mut m).expect("mapped"));
    }
    out.extend(engine.tick(last + Duration::milliseconds(settle_ms), &mut m));
    out
}

#[test]
fn loaded_without_packed_is_an_exception_not_a_silent_gap() {
    let o = parcel_orders();
    let run = || {
        let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
        feed(&mut engine, &door_pass(0, 0, Direction::Outbound, 1), 0, 10_000, &o)
    };
    let events = run();
    assert_eq!(events.len(), 2, "{events:#?}");
    let (loaded, exception) = (&events[0], &events[1]);
    assert_eq!(loaded.milestone(), Some(Milestone::Loaded));
    assert_eq!(
        exception.kind,
        EventKind::Exception {
            reason: ExceptionReason::MissingPrerequisite {
                milestone: Milestone::Loaded,
                missing: Milestone::Packed
            }
        }
    );
    assert_eq!(exception.parcel, Some(ParcelRef::new("SO-0", "P-0")));
    assert_eq!(
        exception.stay.first_ms, loaded.stay.first_ms,
        "raised at the load's time"
    );
    assert_ne!(exception.event_id, loaded.event_id);
    assert!(
        exception
            .interim_disposition()
            .ends_with("exception=missing_prerequisite;missing=packed")
    );
    assert_eq!(ids(&events), ids(&run()), "deterministic ids, exception included");
}

#[test]
fn packed_then_loaded_raises_nothing() {
    let o = parcel_orders();
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let mut reads = vec![pack_scan(1, -60_000)];
    reads.extend(door_pass(1, 0, Direction::Outbound, 2));
    let events = feed(&mut engine, &reads, 0, 10_000, &o);
    let kinds: Vec<_> = events.iter().map(|e| (e.milestone(), e.late)).collect();
    assert_eq!(
        kinds,
        [(Some(Milestone::Packed), false), (Some(Milestone::Loaded), false)]
    );
    assert_eq!(engine.stats().exceptions, 0);
}

#[test]
fn a_pack_scan_arriving_after_the_load_keeps_its_time_and_does_not_move_state_back() {
    let o = parcel_orders();
    let p = ParcelRef::new("SO-2", "P-2");
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let first = feed(&mut engine, &door_pass(2, 0, Direction::Outbound, 3), 0, 10_000, &o);
    let exception_id = first
        .iter()
        .find(|e| is_exception(e))
        .expect("missing packed")
        .event_id
        .clone();
    assert_eq!(engine.parcel(&p).and_then(|s| s.reached), Some(Milestone::Loaded));

    // The handheld was offline: its scan from a minute before the load arrives 20 s after it.
    let late = feed(&mut engine, &[pack_scan(2, -60_000)], 80_000, 10_000, &o);
    assert_eq!(late.len(), 1, "{late:#?}");
    let packed = &late[0];
    assert_eq!(packed.milestone(), Some(Milestone::Packed));
    assert!(packed.late);
    assert_eq!(
        packed.event_time(),
        Some(at(-60_000)),
        "recorded with its real event time"
    );
    assert_eq!(packed.resolves, [exception_id], "settles the exception it answers");
    let state = engine.parcel(&p).expect("parcel");
    assert_eq!(state.reached, Some(Milestone::Loaded), "state not moved backwards");
    assert!(state.seen.contains(Milestone::Packed) && state.open_exceptions.is_empty());
    assert!(packed.interim_disposition().contains(";late=true"));

    // A pack scan genuinely after the load is late too, and still recorded.
    let after = feed(&mut engine, &[pack_scan(2, 120_000)], 0, 10_000, &o);
    assert_eq!((after.len(), after[0].late, after[0].resolves.len()), (1, true, 0));
    assert_eq!(engine.parcel(&p).and_then(|s| s.reached), Some(Milestone::Loaded));
    assert_eq!(engine.stats().late_events, 2);
}

#[test]
fn an_inbound_pass_through_a_loading_door_is_not_a_load() {
    let o = parcel_orders();
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let mut reads = vec![pack_scan(3, -60_000)];
    reads.extend(door_pass(3, 0, Direction::Inbound, 4));
    let events = feed(&mut engine, &reads, 0, 10_000, &o);
    assert_eq!(events.len(), 2, "{events:#?}");
    let door = &events[1];
    assert_eq!(
        (door.kind, door.stay.direction),
        (EventKind::Observation, Some(Direction::Inbound))
    );
    assert_eq!(door.stay.milestone, None);
    let p = ParcelRef::new("SO-3", "P-3");
    assert_eq!(engine.parcel(&p).and_then(|s| s.reached), Some(Milestone::Packed));
}

#[test]
fn reads_from_unmapped_antennas_are_refused_and_counted() {
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let r = read("door-3", &sscc(1), Some(9), 0);
    let err = engine
        .observe(&r.device, &r.read, at(0), &mut no_orders)
        .expect_err("antenna 9");
    assert!(err.to_string().contains("door-3"), "{err}");
    let unknown = read("door-77", &sscc(1), Some(1), 0);
    assert!(
        engine
            .observe_batch(
                &unknown.device,
                std::slice::from_ref(&unknown.read),
                at(0),
                &mut no_orders
            )
            .is_empty()
    );
    assert_eq!(engine.stats().reads_unmapped, 2);
    assert_eq!(engine.stats().reads, 0);
}
