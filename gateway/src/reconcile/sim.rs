//! Simulated traffic for the engine, runnable without the gateway (tests, benchmarks):
//! parcels scanned at a pack station, then carried out through a dock-door portal whose
//! neighbour sometimes catches them too.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset};
use waymark_devices::sim::portal::{PassShape, cross_reads, pass};
use waymark_devices::{Identifier, IdentifierKind, Read};

use super::config::{ConfigError, ReconcileConfig, ReconcileSettings};
use super::direction::Direction;
use super::engine::{Engine, Stats};
use super::event::BusinessEvent;
use super::matching::{Identity, Matcher, ParcelRef};

/// Read points of the door scenario: a pack-station scanner, and two adjacent portals
/// with antennas 1-2 facing inside and 3-4 outside.
pub const DOOR_SCENARIO_CONFIG: &str = r#"
quiet_ms = 2000
cross_read_window_ms = 3000
lateness_ms = 1000

[[read_points]]
id = "pack-station-1"
device = "pack-1"
business_step = "packing"

[[read_points]]
id = "dock-door-3"
device = "door-3"
business_step = "loading"
inside = [1, 2]
outside = [3, 4]
adjacent = ["dock-door-4"]
min_reads = 3

[[read_points]]
id = "dock-door-4"
device = "door-4"
business_step = "loading"
inside = [1, 2]
outside = [3, 4]
min_reads = 3
"#;

pub const INSIDE_ANTENNAS: [u16; 2] = [1, 2];
pub const OUTSIDE_ANTENNAS: [u16; 2] = [3, 4];

/// One read as a device published it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRead {
    pub device: String,
    pub read: Read,
}

#[derive(Debug, Clone)]
pub struct DoorScenario {
    pub parcels: usize,
    /// How many of the parcels door 4's portal also catches.
    pub cross_read_parcels: usize,
    /// The way parcels go through door 3; `None`: antennas at random (no direction).
    pub direction: Option<Direction>,
    /// Scanned at the pack station half an hour before they reach the door.
    pub packed_first: bool,
    pub seed: u64,
}

impl Default for DoorScenario {
    fn default() -> Self {
        Self {
            parcels: 100,
            cross_read_parcels: 2,
            direction: Some(Direction::Outbound),
            packed_first: true,
            seed: 7,
        }
    }
}

/// A scenario's reads in time order, and the orders the site holds for its parcels.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub reads: Vec<DeviceRead>,
    /// SSCC -> parcel.
    pub orders: BTreeMap<String, ParcelRef>,
    pub start: DateTime<FixedOffset>,
}

#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub reads: usize,
    pub events: Vec<BusinessEvent>,
    pub stats: Stats,
}

pub fn door_settings() -> Result<ReconcileSettings, ConfigError> {
    ReconcileConfig::from_toml(DOOR_SCENARIO_CONFIG)?.validate()
}

/// The scenario's SSCC for parcel `n`, and the SSCC-96 tag URN that encodes it.
pub fn parcel_identities(n: usize) -> (Identifier, Identifier) {
    let sscc = waymark_devices::sim::sscc("0614141", n as u64 + 1);
    let (ext, cp, rest) = (&sscc[..1], &sscc[1..8], &sscc[8..17]);
    let urn = format!("urn:epc:id:sscc:{cp}.{ext}{rest}");
    let label = Identifier {
        kind: IdentifierKind::Sscc,
        value: sscc,
    };
    let tag = Identifier {
        kind: IdentifierKind::Epc,
        value: urn,
    };
    (label, tag)
}

/// A portal pass in which the side facing where the tag comes from sees it in the
/// first half and the other side in the second (the simulator's `pass` picks antennas
/// at random, which carries no direction).
pub fn directional_pass(
    tag: &Identifier,
    start: DateTime<FixedOffset>,
    shape: &PassShape,
    direction: Direction,
    rng: &mut fastrand::Rng,
) -> Vec<Read> {
    let (first, second) = match direction {
        Direction::Outbound => (INSIDE_ANTENNAS, OUTSIDE_ANTENNAS),
        Direction::Inbound => (OUTSIDE_ANTENNAS, INSIDE_ANTENNAS),
        Direction::Unknown => return pass(tag, start, shape, rng),
    };
    let half = start + Duration::milliseconds(shape.duration_ms / 2);
    let mut reads = pass(tag, start, shape, rng);
    for r in &mut reads {
        let side = if r.time.is_some_and(|t| t < half) {
            first
        } else {
            second
        };
        r.antenna = Some(side[rng.usize(..side.len())]);
    }
    reads
}

pub fn prepare(s: &DoorScenario) -> Prepared {
    let mut rng = fastrand::Rng::with_seed(s.seed);
    let start = DateTime::parse_from_rfc3339("2026-11-21T14:00:00+01:00").unwrap_or_default();
    let shape = PassShape::default();
    let mut crossed: Vec<usize> = (0..s.parcels).collect();
    rng.shuffle(&mut crossed);
    crossed.truncate(s.cross_read_parcels);
    let mut reads = Vec::new();
    let mut orders = BTreeMap::new();
    let mut at = start;
    let device_read = |device: &str, read: Read| DeviceRead {
        device: device.to_string(),
        read,
    };
    for n in 0..s.parcels {
        let (label, tag) = parcel_identities(n);
        orders.insert(
            label.value.clone(),
            ParcelRef::new(format!("SO-{n:04}"), format!("P-{n:04}")),
        );
        if s.packed_first {
            let packed_at = at - Duration::minutes(30);
            let scan = Read {
                identifier: label.clone(),
                antenna: None,
                rssi_dbm: None,
                seen_count: 1,
                time: Some(packed_at),
            };
            reads.push(device_read("pack-1", scan));
        }
        let door = match s.direction {
            Some(d) => directional_pass(&tag, at, &shape, d, &mut rng),
            None => pass(&tag, at, &shape, &mut rng),
        };
        reads.extend(door.into_iter().map(|r| device_read("door-3", r)));
        if crossed.contains(&n) {
            let weak = cross_reads(&tag, at, &shape, &mut rng);
            reads.extend(weak.into_iter().map(|r| device_read("door-4", r)));
        }
        at += Duration::milliseconds(rng.i64(400..=1500));
    }
    reads.sort_by_key(|r| r.read.time);
    Prepared { reads, orders, start }
}

/// Feeds reads as devices would publish them: runs of one device's reads spanning at
/// most `batch_span_ms`, each received when its last read was taken, then flushes.
pub fn feed<M: Matcher + ?Sized>(
    engine: &mut Engine,
    reads: &[DeviceRead],
    batch_span_ms: i64,
    matcher: &mut M,
) -> Vec<BusinessEvent> {
    let mut out = Vec::new();
    let mut rest = reads;
    while let Some(first) = rest.first() {
        let t0 = first.read.time.map_or(0, |t| t.timestamp_millis());
        let len = rest
            .iter()
            .take_while(|r| {
                r.device == first.device && r.read.time.is_some_and(|t| t.timestamp_millis() - t0 <= batch_span_ms)
            })
            .count()
            .max(1);
        let (batch, tail) = rest.split_at(len);
        rest = tail;
        let Some(now) = batch.last().and_then(|r| r.read.time) else {
            continue;
        };
        let payload: Vec<Read> = batch.iter().map(|r| r.read.clone()).collect();
        out.extend(engine.observe_batch(&first.device, &payload, now, matcher));
        out.extend(engine.tick(now, matcher));
    }
    out.extend(engine.flush(matcher));
    out
}

/// Parcels needed for about `reads` simulated reads (a pass averages 110 reads).
pub fn parcels_for_reads(reads: usize) -> usize {
    reads.div_ceil(111).max(1)
}

/// The whole door scenario through a fresh engine: the benchmark entry point.
pub fn run_door_scenario(s: &DoorScenario, batch_span_ms: i64) -> Result<ScenarioRun, ConfigError> {
    let prepared = prepare(s);
    let mut engine = Engine::new("dc-sim", door_settings()?);
    let orders = &prepared.orders;
    let mut matcher = |k: &Identity| orders.get(&k.value).cloned();
    let events = feed(&mut engine, &prepared.reads, batch_span_ms, &mut matcher);
    Ok(ScenarioRun {
        reads: prepared.reads.len(),
        events,
        stats: *engine.stats(),
    })
}
