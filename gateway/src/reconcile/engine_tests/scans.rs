//! Scan stations: a scan is an event at once; repeats within the window fold.

use super::*;
use crate::reconcile::config::{Capture, DEFAULT_REPEAT_WINDOW_MS, ReconcileConfig};
use crate::reconcile::engine::{Engine, EngineState};
use crate::reconcile::milestones::Milestone;
use crate::reconcile::sim::parcel_identities;

const WINDOW_MS: i64 = 2000;

/// A pack station that scans, next to a portal that dwells.
const SCAN_CONFIG: &str = r#"
lateness_ms = 2000
quiet_ms = 2000
[[read_points]]
id = "pack-station-1"
device = "pack-1"
business_step = "packing"
repeat_window_ms = 2000
[[read_points]]
id = "dock-door-3"
device = "door-3"
business_step = "loading"
"#;

fn engine() -> Engine {
    let settings = ReconcileConfig::from_toml(SCAN_CONFIG)
        .and_then(ReconcileConfig::validate)
        .expect("settings");
    Engine::new("dc-1", settings)
}

fn label(n: usize) -> waymark_devices::Identifier {
    parcel_identities(n).0
}

fn scan_orders() -> BTreeMap<String, ParcelRef> {
    (0..4)
        .map(|n| (label(n).value, ParcelRef::new(format!("SO-{n}"), format!("P-{n}"))))
        .collect()
}

/// A scan of parcel `n` at `ms`, received at that moment; the events it produced.
fn scan(e: &mut Engine, n: usize, ms: i64, o: &BTreeMap<String, ParcelRef>) -> Vec<BusinessEvent> {
    let r = read("pack-1", &label(n), None, ms);
    e.observe(&r.device, &r.read, at(ms), &mut matcher(o)).expect("mapped")
}

#[test]
fn a_scan_is_its_event_at_once_without_waiting_for_the_clock() {
    let o = scan_orders();
    let mut e = engine();
    let events = scan(&mut e, 0, 0, &o);
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    assert_eq!(ev.stay.read_point, "pack-station-1");
    assert_eq!(ev.stay.first_ms, at(0).timestamp_millis());
    assert!(matches!(
        ev.kind,
        EventKind::Milestone {
            milestone: Milestone::Packed
        }
    ));
    assert_eq!(ev.parcel, Some(ParcelRef::new("SO-0", "P-0")));
    assert!(
        e.tick(at(60_000), &mut matcher(&o)).is_empty(),
        "nothing left to decide"
    );
    assert!(e.flush(&mut matcher(&o)).is_empty());
}

#[test]
fn a_label_scanned_three_times_in_a_row_is_one_event() {
    let o = scan_orders();
    let mut e = engine();
    let mut events = Vec::new();
    for ms in [0, 700, 1900] {
        events.extend(scan(&mut e, 1, ms, &o));
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(e.stats().scans_repeated, 2);
    // Another label in between is its own event and does not break the run.
    assert_eq!(scan(&mut e, 2, 2000, &o).len(), 1);
    assert!(
        scan(&mut e, 1, 3500, &o).is_empty(),
        "within the window of the previous scan"
    );
    // Past the window: a new scan, a new event (a late re-pack, kept with its real time).
    let again = scan(&mut e, 1, 3500 + WINDOW_MS + 1, &o);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0].event_id, events[0].event_id);
}

#[test]
fn repeats_still_fold_after_a_restart_from_a_snapshot() {
    let o = scan_orders();
    let mut e = engine();
    assert_eq!(scan(&mut e, 0, 0, &o).len(), 1);
    let json = serde_json::to_vec(e.state()).expect("encodes");
    let state: EngineState = serde_json::from_slice(&json).expect("decodes");
    let mut e = Engine::restore("dc-1", e.settings().clone(), state).expect("restores");
    assert!(scan(&mut e, 0, 1000, &o).is_empty());
    // A snapshot from before scan stations existed has no recent scans: it still loads.
    let mut old: serde_json::Value = serde_json::from_slice(&json).expect("json");
    old.as_object_mut().expect("object").remove("scans");
    let state: EngineState = serde_json::from_value(old).expect("an older snapshot decodes");
    assert!(Engine::restore("dc-1", e.settings().clone(), state).is_ok());
}

#[test]
fn scan_stations_do_not_change_how_portals_dwell() {
    let o = scan_orders();
    let mut e = engine();
    let tag = read("door-3", &label(3), None, 0);
    let first = e
        .observe(&tag.device, &tag.read, at(0), &mut matcher(&o))
        .expect("mapped");
    assert!(first.is_empty(), "a portal read waits for its quiet interval");
    let later = e.tick(at(4100), &mut matcher(&o));
    // Loaded, and the exception for its missing pack scan.
    assert_eq!(later.len(), 2, "{later:?}");
    assert!(matches!(
        later[0].kind,
        EventKind::Milestone {
            milestone: Milestone::Loaded
        }
    ));
}

/// Property: over random scan sequences, batched or not, each run of scans closer
/// than the window is exactly one event, out in the call that fed the run's first scan.
#[test]
fn one_event_per_run_of_scans_however_they_are_batched() {
    for seed in 0..60u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut scans: Vec<(usize, i64)> = Vec::new();
        for n in 0..3 {
            let mut t = rng.i64(0..3000);
            for _ in 0..rng.usize(1..12) {
                scans.push((n, t));
                t += if rng.bool() {
                    rng.i64(0..=WINDOW_MS)
                } else {
                    rng.i64(WINDOW_MS + 1..8000)
                };
            }
        }
        scans.sort_by_key(|&(n, t)| (t, n));
        let mut expected = 0;
        let mut last: BTreeMap<usize, i64> = BTreeMap::new();
        for &(n, t) in &scans {
            if last.get(&n).is_none_or(|&l| t - l > WINDOW_MS) {
                expected += 1;
            }
            last.insert(n, t);
        }
        let o = scan_orders();
        let mut e = engine();
        let mut got = 0;
        let mut rest = scans.as_slice();
        while !rest.is_empty() {
            let (batch, tail) = rest.split_at(rng.usize(1..=rest.len().min(5)));
            rest = tail;
            let reads: Vec<_> = batch
                .iter()
                .map(|&(n, t)| read("pack-1", &label(n), None, t).read)
                .collect();
            let now = at(batch.last().map_or(0, |s| s.1));
            got += e.observe_batch("pack-1", &reads, now, &mut matcher(&o)).len();
        }
        assert_eq!(got, expected, "seed {seed}: {scans:?}");
        assert!(e.flush(&mut matcher(&o)).is_empty(), "seed {seed}: nothing held back");
        assert_eq!(e.stats().scans + e.stats().scans_repeated, scans.len() as u64);
    }
}

#[test]
fn a_scanner_device_makes_its_read_points_scan_stations() {
    let mut scanner = crate::config::DeviceConfig {
        id: "scanner-1".into(),
        kind: crate::config::DeviceKind::Serial,
        read_point: "pack-station-2".into(),
        business_step: "packing".into(),
        disposition: "in_progress".into(),
        serial: None,
        password_hash: None,
        hostname: None,
        repeat_window_ms: Some(DEFAULT_REPEAT_WINDOW_MS),
    };
    let devices = BTreeMap::from([(scanner.id.clone(), scanner.clone())]);
    let s = ReconcileConfig::default().validate_for(&devices).expect("valid");
    assert_eq!(
        s.read_point("pack-station-2").map(|p| p.capture),
        Some(Capture::Scan {
            repeat_window_ms: DEFAULT_REPEAT_WINDOW_MS as i64
        })
    );
    scanner.repeat_window_ms = None;
    let devices = BTreeMap::from([(scanner.id.clone(), scanner)]);
    let s = ReconcileConfig::default().validate_for(&devices).expect("valid");
    assert_eq!(s.read_point("pack-station-2").map(|p| p.capture), Some(Capture::Dwell));
}

#[test]
fn a_scan_station_cannot_be_a_portal_or_have_neighbours() {
    let text = r#"
        [[read_points]]
        id = "pack"
        device = "pack-1"
        business_step = "packing"
        repeat_window_ms = 120000
        inside = [1]
        outside = [2]
        [[read_points]]
        id = "door"
        device = "door-3"
        business_step = "loading"
        adjacent = ["pack"]
    "#;
    let err = ReconcileConfig::from_toml(text)
        .and_then(ReconcileConfig::validate)
        .expect_err("invalid")
        .to_string();
    for needle in [
        "reconcile.read_points[0]: a scan station (repeat_window_ms) cannot be a portal",
        "cannot be adjacent to `door`",
        "reconcile.read_points[0].repeat_window_ms: 120000 is outside 0..=60000",
    ] {
        assert!(err.contains(needle), "{needle} missing from {err}");
    }
}
