//! Invariants over seeded random streams (a small loop of seeds; proptest would
//! shrink failures, see the report).

use super::*;
use crate::reconcile::direction::Direction;
use crate::reconcile::engine::{Engine, EngineState};
use crate::reconcile::sim::{DeviceRead, directional_pass, door_settings, parcel_identities};
use waymark_devices::sim::portal::{PassShape, cross_reads, pass};

const SEEDS: std::ops::Range<u64> = 0..40;
/// The scenario's lateness: batches spanning less than this are equivalent.
const LATENESS_MS: i64 = 1000;

/// A few parcels wandering between the pack station and two adjacent doors over ten
/// minutes, some with cross-reads; parcel 5 has no order (quarantined).
fn random_stream(rng: &mut fastrand::Rng) -> Vec<DeviceRead> {
    let mut reads = Vec::new();
    let on = |device: &str, rs: Vec<Read>| -> Vec<DeviceRead> {
        rs.into_iter()
            .map(|read| DeviceRead {
                device: device.to_string(),
                read,
            })
            .collect()
    };
    for _ in 0..rng.usize(4..16) {
        let n = rng.usize(0..6);
        let (label, tag) = parcel_identities(n);
        let start = at(rng.i64(0..600_000));
        let shape = PassShape {
            reads: (1, 40),
            duration_ms: rng.i64(200..3000),
            ..PassShape::default()
        };
        let door = if rng.bool() { "door-3" } else { "door-4" };
        match rng.u8(0..5) {
            0 => {
                for k in 0..rng.i64(1..4) {
                    let scan = Read {
                        identifier: label.clone(),
                        antenna: None,
                        rssi_dbm: None,
                        seen_count: rng.u32(1..3),
                        time: Some(start + Duration::milliseconds(k * rng.i64(100..3000))),
                    };
                    reads.push(DeviceRead {
                        device: "pack-1".into(),
                        read: scan,
                    });
                }
            }
            1 => reads.extend(on(door, pass(&tag, start, &shape, rng))),
            2 => {
                let d = if rng.bool() {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                };
                reads.extend(on(door, directional_pass(&tag, start, &shape, d, rng)));
            }
            _ => {
                let other = if door == "door-3" { "door-4" } else { "door-3" };
                reads.extend(on(
                    door,
                    directional_pass(&tag, start, &shape, Direction::Outbound, rng),
                ));
                let offset = Duration::milliseconds(rng.i64(-2000..2000));
                reads.extend(on(other, cross_reads(&tag, start + offset, &shape, rng)));
            }
        }
    }
    reads.sort_by_key(|r| r.read.time);
    reads
}

fn stream_orders() -> BTreeMap<String, ParcelRef> {
    (0..5)
        .map(|n| {
            (
                parcel_identities(n).0.value,
                ParcelRef::new(format!("SO-{n}"), format!("P-{n}")),
            )
        })
        .collect()
}

fn engine() -> Engine {
    Engine::new("dc-1", door_settings().expect("settings"))
}

/// Each read on its own, received when it was taken.
fn one_by_one(engine: &mut Engine, reads: &[DeviceRead], o: &BTreeMap<String, ParcelRef>) -> Vec<BusinessEvent> {
    let mut m = matcher(o);
    let mut out = Vec::new();
    for r in reads {
        let now = r.read.time.expect("timed");
        out.extend(engine.observe(&r.device, &r.read, now, &mut m).expect("mapped"));
    }
    out
}

/// Random batches (each shorter than the lateness), split per device as payloads are,
/// received at their last read, with a tick after each.
fn batched(
    engine: &mut Engine,
    reads: &[DeviceRead],
    rng: &mut fastrand::Rng,
    o: &BTreeMap<String, ParcelRef>,
) -> Vec<BusinessEvent> {
    let mut m = matcher(o);
    let mut out = Vec::new();
    let mut rest = reads;
    while let Some(first) = rest.first() {
        let t0 = first.read.time.expect("timed");
        let want = rng.usize(1..30);
        let len = rest
            .iter()
            .take(want)
            .take_while(|r| r.read.time.is_some_and(|t| (t - t0).num_milliseconds() < LATENESS_MS))
            .count()
            .max(1);
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        let now = chunk.last().and_then(|r| r.read.time).expect("timed");
        for run in chunk.chunk_by(|a, b| a.device == b.device) {
            let payload: Vec<Read> = run.iter().map(|r| r.read.clone()).collect();
            out.extend(engine.observe_batch(&run[0].device, &payload, now, &mut m));
        }
        if rng.bool() {
            out.extend(engine.tick(now, &mut m));
        }
    }
    out
}

fn finish(engine: &mut Engine, mut out: Vec<BusinessEvent>, o: &BTreeMap<String, ParcelRef>) -> Vec<BusinessEvent> {
    out.extend(engine.flush(&mut matcher(o)));
    out
}

#[test]
fn one_enter_per_stay() {
    let quiet = 2000;
    for seed in SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut reads = Vec::new();
        let mut expected = BTreeMap::<String, Vec<(i64, i64)>>::new();
        for n in 0..3 {
            let label = parcel_identities(n).0;
            let mut t = rng.i64(0..5000);
            let mut stays: Vec<(i64, i64)> = Vec::new();
            for _ in 0..rng.usize(1..40) {
                reads.push(read("pack-1", &label, None, t));
                match stays.last_mut() {
                    Some(s) if t - s.1 <= quiet => s.1 = t,
                    _ => stays.push((t, t)),
                }
                t += if rng.u8(0..4) == 0 {
                    rng.i64(quiet + 1..10_000)
                } else {
                    rng.i64(0..=quiet)
                };
            }
            let first_ms = at(0).timestamp_millis();
            let stays = stays.into_iter().map(|(a, b)| (a + first_ms, b + first_ms)).collect();
            expected.insert(label.value, stays);
        }
        reads.sort_by_key(|r| r.read.time);
        let o = stream_orders();
        let mut e = engine();
        let events = one_by_one(&mut e, &reads, &o);
        let events = finish(&mut e, events, &o);
        let mut got = BTreeMap::<String, Vec<(i64, i64)>>::new();
        for ev in &events {
            got.entry(ev.stay.identity.value.clone())
                .or_default()
                .push((ev.stay.first_ms, ev.stay.last_ms));
        }
        assert_eq!(got, expected, "seed {seed}");
        let stays: usize = expected.values().map(Vec::len).sum();
        assert_eq!(e.stats().stays_opened, stays as u64, "seed {seed}: one enter per stay");
        assert_eq!(e.stats().stays_decided, stays as u64, "seed {seed}: one exit per enter");
    }
}

#[test]
fn duplicate_reads_never_change_the_output() {
    for seed in SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let reads = random_stream(&mut rng);
        let o = stream_orders();
        let mut plain = engine();
        let expected = {
            let out = one_by_one(&mut plain, &reads, &o);
            finish(&mut plain, out, &o)
        };
        // Redeliver a third of the reads up to 40 reads later (a broker resending a payload).
        let mut noisy = Vec::with_capacity(reads.len() * 2);
        let mut scheduled: Vec<(usize, DeviceRead)> = Vec::new();
        for (i, r) in reads.iter().enumerate() {
            noisy.push(r.clone());
            if rng.u8(0..3) == 0 {
                scheduled.push((i + rng.usize(0..40), r.clone()));
            }
            scheduled.retain(|(due, dup)| {
                let now = *due <= i;
                if now {
                    noisy.push(dup.clone());
                }
                !now
            });
        }
        noisy.extend(scheduled.into_iter().map(|(_, dup)| dup));
        let mut e = engine();
        let got = {
            let out = one_by_one(&mut e, &noisy, &o);
            finish(&mut e, out, &o)
        };
        assert_eq!(got, expected, "seed {seed}");
        let absorbed = |e: &Engine| e.stats().reads_duplicate + e.stats().reads_late;
        assert_eq!(
            absorbed(&e) - absorbed(&plain),
            (noisy.len() - reads.len()) as u64,
            "seed {seed}"
        );
    }
}

#[test]
fn the_output_does_not_depend_on_batching() {
    for seed in SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let reads = random_stream(&mut rng);
        let o = stream_orders();
        let mut single = engine();
        let expected = {
            let out = one_by_one(&mut single, &reads, &o);
            finish(&mut single, out, &o)
        };
        assert!(!expected.is_empty());
        for _ in 0..3 {
            let mut e = engine();
            let got = {
                let out = batched(&mut e, &reads, &mut rng, &o);
                finish(&mut e, out, &o)
            };
            assert_eq!(got, expected, "seed {seed}");
        }
    }
}

#[test]
fn the_same_input_gives_the_same_ids_even_across_a_restart() {
    for seed in SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let reads = random_stream(&mut rng);
        let o = stream_orders();
        let mut a = engine();
        let first = {
            let out = one_by_one(&mut a, &reads, &o);
            finish(&mut a, out, &o)
        };
        let mut b = engine();
        let second = {
            let out = one_by_one(&mut b, &reads, &o);
            finish(&mut b, out, &o)
        };
        assert_eq!(ids(&first), ids(&second), "seed {seed}");
        let unique: std::collections::BTreeSet<_> = ids(&first).into_iter().collect();
        assert_eq!(unique.len(), first.len(), "seed {seed}: ids are unique");

        // Stop half-way, persist, restore into a new engine, carry on.
        let cut = rng.usize(..=reads.len());
        let mut c = engine();
        let mut out = one_by_one(&mut c, &reads[..cut], &o);
        let snapshot = serde_json::to_string(c.state()).expect("serializes");
        let state: EngineState = serde_json::from_str(&snapshot).expect("parses");
        let mut d = Engine::restore("dc-1", door_settings().expect("settings"), state).expect("restores");
        out.extend(one_by_one(&mut d, &reads[cut..], &o));
        let resumed = finish(&mut d, out, &o);
        assert_eq!(resumed, first, "seed {seed}: cut at {cut}");
    }
}

#[test]
fn a_cancelled_identifier_is_never_matched_and_each_of_its_stays_is_one_exception() {
    use crate::reconcile::event::ExceptionReason;
    use crate::reconcile::matching::{Lookup, LookupFn};
    let cancelled_reason = EventKind::Exception {
        reason: ExceptionReason::ScannedAfterCancel,
    };
    let mut raised = 0;
    for seed in SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let reads = random_stream(&mut rng);
        let o = stream_orders();
        let cancelled: BTreeMap<String, ParcelRef> = o
            .iter()
            .filter(|_| rng.bool())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let site = |k: &Identity| match (cancelled.get(&k.value), o.get(&k.value)) {
            (Some(p), _) => Lookup::Cancelled(p.clone()),
            (None, Some(p)) => Lookup::Active(p.clone()),
            (None, None) => Lookup::Unknown,
        };
        let mut e = engine();
        let mut m = LookupFn(site);
        let mut events = Vec::new();
        for r in &reads {
            let now = r.read.time.expect("timed");
            events.extend(e.observe(&r.device, &r.read, now, &mut m).expect("mapped"));
        }
        events.extend(e.flush(&mut m));

        // Reference: the same reads with every order active.
        let mut reference = engine();
        let expected = {
            let out = one_by_one(&mut reference, &reads, &o);
            finish(&mut reference, out, &o)
        };
        let is_cancelled = |p: &Option<ParcelRef>| p.as_ref().is_some_and(|p| cancelled.values().any(|c| c == p));
        let mut stays_of_cancelled: Vec<_> = expected
            .iter()
            .filter(|ev| is_cancelled(&ev.parcel) && !is_exception(ev))
            .map(|ev| ev.stay.stay_id.clone())
            .collect();
        let mut exceptions: Vec<_> = events
            .iter()
            .filter(|ev| ev.kind == cancelled_reason)
            .map(|ev| ev.stay.stay_id.clone())
            .collect();
        stays_of_cancelled.sort();
        exceptions.sort();
        assert_eq!(exceptions, stays_of_cancelled, "seed {seed}: one exception per stay");
        for ev in &events {
            if is_cancelled(&ev.parcel) {
                assert_eq!(ev.kind, cancelled_reason, "seed {seed}: {ev:#?}");
            }
        }
        for p in cancelled.values() {
            assert!(e.parcel(p).is_none(), "seed {seed}: {p:?} never matched");
        }
        let quarantined_cancelled = e
            .quarantine()
            .iter()
            .filter(|q| {
                q.stay
                    .identity
                    .match_keys()
                    .iter()
                    .any(|k| cancelled.contains_key(&k.value))
            })
            .count();
        assert_eq!(quarantined_cancelled, 0, "seed {seed}");
        assert_eq!(e.stats().scanned_after_cancel, exceptions.len() as u64, "seed {seed}");
        raised += exceptions.len();
    }
    assert!(
        raised > SEEDS.count(),
        "the streams do read cancelled parcels ({raised})"
    );
}
