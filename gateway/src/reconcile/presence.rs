//! Smoothing: the reads of one identity at one read point folded into stays. A stay
//! starts at the first read and ends once the read point has been quiet for its quiet
//! interval; reads inside a stay, and the same read delivered twice, add nothing new.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::as_vec;
use super::matching::Identity;

/// Most distinct reads a stay keeps for de-duplication and direction; beyond it the
/// oldest are dropped (a tag parked in a field for hours would otherwise grow without bound).
pub const MAX_MARKS_PER_STAY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StayKey {
    pub read_point: String,
    pub identity: Identity,
}

/// One read as the smoothing sees it.
#[derive(Debug, Clone, Copy)]
pub struct Sighting {
    pub time_ms: i64,
    pub offset_minutes: i32,
    pub antenna: u16,
    pub seen_count: u32,
    pub rssi_dbm: Option<f32>,
}

/// A distinct read kept in a stay: time, antenna, signal in tenths of a dBm
/// (`i32::MIN` without), and how many raw reads it stood for. Time, antenna and signal
/// identify a read: a redelivered read repeats all three.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mark(pub i64, pub u16, pub i32, pub u32);

impl Mark {
    fn key(&self) -> (i64, u16, i32) {
        (self.0, self.1, self.2)
    }
}

impl Sighting {
    fn key(&self) -> (i64, u16, i32) {
        let rssi = self.rssi_dbm.map_or(i32::MIN, |r| (r * 10.0).round() as i32);
        (self.time_ms, self.antenna, rssi)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stay {
    pub device: String,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Zone offset of the first read: the event is reported in the zone it happened in.
    pub offset_minutes: i32,
    /// Raw reads, duplicates excluded.
    pub reads: u32,
    pub peak_rssi_dbm: Option<f32>,
    /// The antenna that saw the tag best (first one, without signal strength).
    pub peak_antenna: u16,
    /// Distinct reads in time order.
    marks: Vec<Mark>,
}

impl Stay {
    pub fn new(device: &str, s: &Sighting) -> Self {
        Self {
            device: device.to_string(),
            first_ms: s.time_ms,
            last_ms: s.time_ms,
            offset_minutes: s.offset_minutes,
            reads: s.seen_count.max(1),
            peak_rssi_dbm: s.rssi_dbm,
            peak_antenna: s.antenna,
            marks: vec![Mark(s.time_ms, s.antenna, s.key().2, s.seen_count.max(1))],
        }
    }

    /// Adds a read; false when it was already counted (a redelivered read).
    pub fn add(&mut self, s: &Sighting) -> bool {
        let count = s.seen_count.max(1);
        let key = s.key();
        let at = match self.marks.last() {
            Some(m) if m.key() < key => self.marks.len(),
            _ => match self.marks.binary_search_by(|m| m.key().cmp(&key)) {
                Ok(i) => {
                    let known = &mut self.marks[i];
                    let more = count.saturating_sub(known.3);
                    known.3 = known.3.max(count);
                    self.reads = self.reads.saturating_add(more);
                    return false;
                }
                Err(i) => i,
            },
        };
        self.marks.insert(at, Mark(s.time_ms, s.antenna, key.2, count));
        if self.marks.len() > MAX_MARKS_PER_STAY {
            self.marks.drain(..MAX_MARKS_PER_STAY / 4);
        }
        self.reads = self.reads.saturating_add(count);
        if s.time_ms < self.first_ms {
            self.first_ms = s.time_ms;
            self.offset_minutes = s.offset_minutes;
        }
        self.last_ms = self.last_ms.max(s.time_ms);
        if s.rssi_dbm.is_some_and(|r| self.peak_rssi_dbm.is_none_or(|p| r > p)) {
            self.peak_rssi_dbm = s.rssi_dbm;
            self.peak_antenna = s.antenna;
        }
        true
    }

    pub fn duration_ms(&self) -> i64 {
        self.last_ms - self.first_ms
    }

    /// Whether `time_ms` lies within the stay or less than `quiet_ms` from its ends.
    pub fn reaches(&self, time_ms: i64, quiet_ms: i64) -> bool {
        self.first_ms - quiet_ms <= time_ms && time_ms <= self.last_ms + quiet_ms
    }

    /// Too few reads or too short to be a tag really passing: a blip.
    pub fn is_blip(&self, min_reads: u32, min_duration_ms: i64) -> bool {
        self.reads < min_reads || self.duration_ms() < min_duration_ms
    }

    /// The distinct reads in time order, as (time, antenna).
    pub fn marks(&self) -> impl Iterator<Item = (i64, u16)> + '_ {
        self.marks.iter().map(|m| (m.0, m.1))
    }
}

/// Where a read went.
#[derive(Debug, PartialEq)]
pub enum Placement {
    /// It extended the open stay.
    Extended,
    /// The open stay had already counted it.
    Duplicate,
    /// It came after the open stay's quiet interval: that stay is over (returned) and
    /// the read started the next one.
    Split(Stay),
    /// It is older than the open stay by more than the quiet interval: the caller
    /// decides what it belongs to.
    Behind,
    /// No stay is open for the key: the caller decides.
    NoOpenStay,
}

/// The open stays, one per (read point, identity).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Presence {
    #[serde(with = "as_vec")]
    open: BTreeMap<StayKey, Stay>,
}

impl Presence {
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    pub fn get(&self, key: &StayKey) -> Option<&Stay> {
        self.open.get(key)
    }

    pub(crate) fn place(&mut self, key: &StayKey, device: &str, s: &Sighting, quiet_ms: i64) -> Placement {
        let Some(stay) = self.open.get_mut(key) else {
            return Placement::NoOpenStay;
        };
        if s.time_ms > stay.last_ms + quiet_ms {
            let over = std::mem::replace(stay, Stay::new(device, s));
            return Placement::Split(over);
        }
        if s.time_ms < stay.first_ms - quiet_ms {
            return Placement::Behind;
        }
        match stay.add(s) {
            true => Placement::Extended,
            false => Placement::Duplicate,
        }
    }

    pub(crate) fn open(&mut self, key: StayKey, device: &str, s: &Sighting) {
        self.open.insert(key, Stay::new(device, s));
    }

    /// Ends the stays whose quiet interval has passed by `clock_ms`.
    pub(crate) fn close_quiet(&mut self, clock_ms: i64, quiet_ms: impl Fn(&StayKey) -> i64) -> Vec<(StayKey, Stay)> {
        let over: Vec<StayKey> = self
            .open
            .iter()
            .filter(|(k, s)| s.last_ms + quiet_ms(k) < clock_ms)
            .map(|(k, _)| k.clone())
            .collect();
        over.into_iter()
            .filter_map(|k| self.open.remove(&k).map(|s| (k, s)))
            .collect()
    }

    /// Earliest time at which an open stay can end.
    pub(crate) fn next_close_ms(&self, quiet_ms: impl Fn(&StayKey) -> i64) -> Option<i64> {
        self.open.iter().map(|(k, s)| s.last_ms + quiet_ms(k)).min()
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&StayKey) -> bool) -> usize {
        let before = self.open.len();
        self.open.retain(|k, _| keep(k));
        before - self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_devices::IdentifierKind;

    fn at(time_ms: i64, antenna: u16) -> Sighting {
        Sighting {
            time_ms,
            offset_minutes: 60,
            antenna,
            seen_count: 1,
            rssi_dbm: Some(-60.0 + antenna as f32),
        }
    }

    fn key() -> StayKey {
        StayKey {
            read_point: "door".into(),
            identity: Identity::new(IdentifierKind::Sscc, "106141412345678908"),
        }
    }

    #[test]
    fn reads_within_the_quiet_interval_extend_the_stay_and_a_gap_splits_it() {
        let mut p = Presence::default();
        assert_eq!(p.place(&key(), "d", &at(0, 1), 1000), Placement::NoOpenStay);
        p.open(key(), "d", &at(0, 1));
        assert_eq!(p.place(&key(), "d", &at(900, 2), 1000), Placement::Extended);
        assert_eq!(p.place(&key(), "d", &at(900, 2), 1000), Placement::Duplicate);
        let Placement::Split(over) = p.place(&key(), "d", &at(2000, 1), 1000) else {
            panic!("a gap over the quiet interval ends the stay");
        };
        assert_eq!(
            (over.first_ms, over.last_ms, over.reads, over.peak_antenna),
            (0, 900, 2, 2)
        );
        assert_eq!(p.place(&key(), "d", &at(500, 1), 1000), Placement::Behind);
        assert_eq!(p.close_quiet(3000, |_| 1000).len(), 0);
        assert_eq!(p.close_quiet(3001, |_| 1000).len(), 1);
        assert!(p.is_empty());
    }

    #[test]
    fn out_of_order_reads_keep_marks_sorted_and_move_the_start() {
        let mut s = Stay::new("d", &at(100, 1));
        assert!(s.add(&at(50, 3)));
        assert!(s.add(&at(75, 2)));
        assert!(!s.add(&at(50, 3)));
        assert_eq!(s.marks().collect::<Vec<_>>(), [(50, 3), (75, 2), (100, 1)]);
        assert_eq!((s.first_ms, s.last_ms, s.reads), (50, 100, 3));
    }

    #[test]
    fn a_redelivered_read_with_a_higher_count_only_adds_the_difference() {
        let mut s = Stay::new("d", &at(0, 1));
        let folded = Sighting {
            seen_count: 5,
            ..at(0, 1)
        };
        assert!(!s.add(&folded));
        assert_eq!(s.reads, 5);
        assert!(s.is_blip(6, 0) && !s.is_blip(5, 0) && s.is_blip(1, 1));
    }
}
