//! A tag passing through a dock-door portal, as a reader really sees it: read many
//! times on several antennas, the signal rising as it nears and falling as it
//! leaves, sometimes also caught by the neighbouring door's portal. Seeded, so a
//! run can be replayed exactly.

use chrono::{DateTime, Duration, FixedOffset};

use crate::read::{Identifier, Read};

/// How a pass looks; the defaults match a parcel on a pallet jack through a door.
#[derive(Debug, Clone)]
pub struct PassShape {
    /// Antennas of the portal, numbered from 1.
    pub antennas: u16,
    /// Reads per pass, inclusive range.
    pub reads: (u32, u32),
    /// How long the tag is in the field, milliseconds.
    pub duration_ms: i64,
    /// Strongest signal at the middle of the pass, dBm.
    pub peak_rssi_dbm: f32,
}

impl Default for PassShape {
    fn default() -> Self {
        Self {
            antennas: 4,
            reads: (20, 200),
            duration_ms: 1500,
            peak_rssi_dbm: -42.0,
        }
    }
}

/// The reads of one tag passing the portal, starting at `start`, in time order.
pub fn pass(tag: &Identifier, start: DateTime<FixedOffset>, shape: &PassShape, rng: &mut fastrand::Rng) -> Vec<Read> {
    let n = rng.u32(shape.reads.0..=shape.reads.1.max(shape.reads.0));
    let mut offsets: Vec<i64> = (0..n).map(|_| rng.i64(0..=shape.duration_ms)).collect();
    offsets.sort_unstable();
    offsets
        .into_iter()
        .map(|t| {
            // Distance from the middle of the pass, 0 (closest) to 1 (edge of the field).
            let x = ((t as f32 / shape.duration_ms.max(1) as f32) - 0.5).abs() * 2.0;
            let antenna = rng.u16(1..=shape.antennas.max(1));
            let rssi = shape.peak_rssi_dbm - 30.0 * x * x - rng.f32() * 4.0 - f32::from(antenna % 2);
            Read {
                identifier: tag.clone(),
                antenna: Some(antenna),
                rssi_dbm: Some((rssi * 10.0).round() / 10.0),
                seen_count: 1,
                time: Some(start + Duration::milliseconds(t)),
            }
        })
        .collect()
}

/// What the neighbouring door catches of the same pass: a few weak reads.
pub fn cross_reads(
    tag: &Identifier,
    start: DateTime<FixedOffset>,
    shape: &PassShape,
    rng: &mut fastrand::Rng,
) -> Vec<Read> {
    let weak = PassShape {
        reads: (2, 8),
        peak_rssi_dbm: shape.peak_rssi_dbm - 25.0,
        ..shape.clone()
    };
    pass(tag, start, &weak, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::IdentifierKind;

    fn tag() -> Identifier {
        Identifier {
            kind: IdentifierKind::Epc,
            value: "urn:epc:id:sscc:0614141.1234567890".into(),
        }
    }

    fn t0() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-11-21T14:02:11+01:00").expect("time")
    }

    #[test]
    fn a_pass_is_many_reads_on_every_antenna_strongest_in_the_middle() {
        let mut rng = fastrand::Rng::with_seed(7);
        let reads = pass(&tag(), t0(), &PassShape::default(), &mut rng);
        assert!((20..=200).contains(&reads.len()), "{}", reads.len());
        let antennas: std::collections::BTreeSet<_> = reads.iter().filter_map(|r| r.antenna).collect();
        assert!(antennas.len() >= 3 && antennas.iter().all(|a| (1..=4).contains(a)));
        let rssi = |r: &Read| r.rssi_dbm.unwrap_or(-200.0);
        let (first, mid) = (&reads[0], &reads[reads.len() / 2]);
        assert!(rssi(mid) > rssi(first) - 6.0, "signal peaks mid-pass");
        assert!(reads.windows(2).all(|w| w[0].time <= w[1].time));
        let end = t0() + Duration::milliseconds(1500);
        assert!(reads.iter().all(|r| r.time.is_some_and(|t| t >= t0() && t <= end)));
    }

    #[test]
    fn same_seed_same_pass_and_cross_reads_are_weaker() {
        let a = pass(&tag(), t0(), &PassShape::default(), &mut fastrand::Rng::with_seed(1));
        let b = pass(&tag(), t0(), &PassShape::default(), &mut fastrand::Rng::with_seed(1));
        assert_eq!(a, b);
        let cross = cross_reads(&tag(), t0(), &PassShape::default(), &mut fastrand::Rng::with_seed(1));
        assert!((2..=8).contains(&cross.len()));
        let best = |r: &[Read]| r.iter().filter_map(|r| r.rssi_dbm).fold(f32::MIN, f32::max);
        assert!(best(&cross) < best(&a));
    }
}
