//! The simulated door run from the acceptance.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::reconcile::direction::Direction;
use crate::reconcile::engine::Engine;
use crate::reconcile::milestones::Milestone;
use crate::reconcile::sim::{
    DeviceRead, DoorScenario, directional_pass, door_settings, feed, parcel_identities, prepare, run_door_scenario,
};
use waymark_devices::sim::portal::{PassShape, cross_reads};

/// Raw reads per tag value at one device, to check that no pass was split or merged.
/// The simulator can emit two reads alike in time, antenna and signal; the engine takes
/// the second for a redelivery of the first, so they count once.
fn reads_per_tag(reads: &[DeviceRead], device: &str) -> BTreeMap<String, u32> {
    let mut seen = BTreeSet::new();
    let mut out = BTreeMap::new();
    for r in reads.iter().filter(|r| r.device == device) {
        let rssi = r.read.rssi_dbm.map(|x| (x * 10.0).round() as i32);
        let key = (r.read.identifier.value.clone(), r.read.time, r.read.antenna, rssi);
        if seen.insert(key) {
            *out.entry(r.read.identifier.value.clone()).or_default() += r.read.seen_count;
        }
    }
    out
}

#[test]
fn a_hundred_parcels_through_a_door_make_a_hundred_outbound_loaded_events() {
    for seed in [7, 8, 9, 10, 11] {
        let scenario = DoorScenario {
            seed,
            ..DoorScenario::default()
        };
        let prepared = prepare(&scenario);
        let door_reads = reads_per_tag(&prepared.reads, "door-3");
        assert_eq!(door_reads.len(), 100);
        assert!(door_reads.values().all(|n| (20..=200).contains(n)));
        let run = run_door_scenario(&scenario, 500).expect("settings");

        let loaded: Vec<_> = run
            .events
            .iter()
            .filter(|e| e.milestone() == Some(Milestone::Loaded))
            .collect();
        assert_eq!(loaded.len(), 100, "seed {seed}");
        for e in &loaded {
            assert_eq!(e.stay.read_point, "dock-door-3", "seed {seed}");
            assert_eq!(e.stay.direction, Some(Direction::Outbound), "seed {seed}: {e:?}");
            assert_eq!(
                door_reads.get(&e.stay.identity.value),
                Some(&e.stay.read_count),
                "whole pass, once"
            );
            assert!(!e.late && e.resolves.is_empty());
        }
        let parcels: BTreeSet<_> = loaded.iter().filter_map(|e| e.parcel.clone()).collect();
        assert_eq!(parcels.len(), 100, "every parcel once");
        let packed = run
            .events
            .iter()
            .filter(|e| e.milestone() == Some(Milestone::Packed))
            .count();
        assert_eq!((packed, run.events.len()), (100, 200), "nothing spurious");
        assert!(run.events.iter().all(|e| e.stay.read_point != "dock-door-4"));
        assert_eq!(run.stats.cross_reads, 2, "the neighbour's cross-reads are counted");
        assert_eq!(
            (run.stats.exceptions, run.stats.blips, run.stats.quarantined),
            (0, 0, 0)
        );
        assert_eq!(run.stats.reads, run.reads as u64);
    }
}

#[test]
fn without_antenna_order_each_parcel_is_still_one_loaded_event_of_unknown_direction() {
    let scenario = DoorScenario {
        direction: None,
        cross_read_parcels: 5,
        ..DoorScenario::default()
    };
    let run = run_door_scenario(&scenario, 500).expect("settings");
    let loaded: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.milestone() == Some(Milestone::Loaded))
        .collect();
    assert_eq!(loaded.len(), 100);
    let parcels: BTreeSet<_> = loaded.iter().filter_map(|e| e.parcel.clone()).collect();
    assert_eq!(parcels.len(), 100);
    assert!(
        loaded.iter().all(|e| e.stay.direction == Some(Direction::Unknown)),
        "{:?}",
        loaded.iter().map(|e| e.stay.direction).collect::<Vec<_>>()
    );
    assert_eq!(run.stats.cross_reads, 5);
}

#[test]
fn parcels_carried_in_are_inbound_observations() {
    let scenario = DoorScenario {
        direction: Some(Direction::Inbound),
        ..DoorScenario::default()
    };
    let run = run_door_scenario(&scenario, 500).expect("settings");
    let door: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.stay.read_point == "dock-door-3")
        .collect();
    assert_eq!(door.len(), 100);
    assert!(
        door.iter()
            .all(|e| e.stay.direction == Some(Direction::Inbound) && e.milestone().is_none())
    );
}

#[test]
fn the_read_point_with_the_better_claim_keeps_the_stay() {
    // The parcel really goes out through door 4; door 3 catches a few weak reads.
    let (label, tag) = parcel_identities(0);
    let mut rng = fastrand::Rng::with_seed(5);
    let shape = PassShape::default();
    let reads: Vec<DeviceRead> = directional_pass(&tag, at(0), &shape, Direction::Outbound, &mut rng)
        .into_iter()
        .map(|read| DeviceRead {
            device: "door-4".into(),
            read,
        })
        .chain(
            cross_reads(&tag, at(300), &shape, &mut rng)
                .into_iter()
                .map(|read| DeviceRead {
                    device: "door-3".into(),
                    read,
                }),
        )
        .collect();
    let mut reads = reads;
    reads.sort_by_key(|r| r.read.time);
    let o = orders(&[(&label, "SO-1", "P-1")]);
    let mut engine = Engine::new("dc-1", door_settings().expect("settings"));
    let events = feed(&mut engine, &reads, 250, &mut matcher(&o));
    let loaded: Vec<_> = events
        .iter()
        .filter(|e| e.milestone() == Some(Milestone::Loaded))
        .collect();
    assert_eq!(loaded.len(), 1, "{events:#?}");
    assert_eq!(loaded[0].stay.read_point, "dock-door-4");
    assert_eq!(engine.stats().cross_reads, 1);
}

#[test]
fn a_thousand_parcels_scale_the_same_way() {
    let scenario = DoorScenario {
        parcels: 1000,
        cross_read_parcels: 20,
        ..DoorScenario::default()
    };
    let run = run_door_scenario(&scenario, 500).expect("settings");
    let loaded = run
        .events
        .iter()
        .filter(|e| e.milestone() == Some(Milestone::Loaded))
        .count();
    assert_eq!((loaded, run.events.len()), (1000, 2000));
    assert_eq!((run.stats.cross_reads, run.stats.exceptions), (20, 0));
}
