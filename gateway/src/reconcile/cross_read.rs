//! Cross-read suppression: a tag seen at two adjacent read points at about the same
//! time was at one of them. Closed stays wait here until every stay they compete with
//! has closed, then the one with most reads (then strongest signal) is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::as_vec;
use super::config::ReconcileSettings;
use super::presence::{Presence, Stay, StayKey};

/// The outcome for one closed stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The tag really was here.
    Kept,
    /// An adjacent read point had the better claim: a cross-read, dropped and counted.
    CrossRead,
    /// Too few reads or too short: dropped and counted.
    Blip,
}

/// What is remembered of a decided stay: enough to settle later competitors and to
/// recognise late or redelivered reads that belong to it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub first_ms: i64,
    pub last_ms: i64,
    pub kept: bool,
}

/// A closed stay that can be decided now; ordered so that every batching of the same
/// reads decides stays in the same order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    /// When the decision became possible: the latest hold among the stay and its competitors.
    pub at_ms: i64,
    pub hold_until_ms: i64,
    pub first_ms: i64,
    pub key: StayKey,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CrossReads {
    /// Closed stays awaiting their decision.
    #[serde(with = "as_vec")]
    pending: BTreeMap<StayKey, Vec<Stay>>,
    #[serde(with = "as_vec")]
    decided: BTreeMap<StayKey, Vec<Span>>,
}

/// Whether two stays of one tag at adjacent read points are close enough to compete.
pub fn overlaps(a: (i64, i64), b: (i64, i64), window_ms: i64) -> bool {
    b.0 <= a.1 + window_ms && a.0 <= b.1 + window_ms
}

/// Whether stay `a` at `a_point` has the better claim than `b` at `b_point`: more
/// reads, then stronger peak signal, then (for determinism) the smaller read point id.
pub fn beats(a: &Stay, a_point: &str, b: &Stay, b_point: &str) -> bool {
    let rssi = |s: &Stay| s.peak_rssi_dbm.unwrap_or(f32::NEG_INFINITY);
    match a.reads.cmp(&b.reads) {
        std::cmp::Ordering::Equal => match rssi(a).total_cmp(&rssi(b)) {
            std::cmp::Ordering::Equal => a_point < b_point,
            o => o.is_gt(),
        },
        o => o.is_gt(),
    }
}

impl CrossReads {
    pub fn pending_len(&self) -> usize {
        self.pending.values().map(Vec::len).sum()
    }

    pub(crate) fn close(&mut self, key: StayKey, stay: Stay) {
        self.pending.entry(key).or_default().push(stay);
    }

    /// The pending stay a late read still belongs to.
    pub(crate) fn pending_reaching(&mut self, key: &StayKey, time_ms: i64, quiet_ms: i64) -> Option<&mut Stay> {
        self.pending
            .get_mut(key)?
            .iter_mut()
            .find(|s| s.reaches(time_ms, quiet_ms))
    }

    /// Whether a late read falls in a stay already decided.
    pub(crate) fn decided_reaches(&self, key: &StayKey, time_ms: i64, quiet_ms: i64) -> bool {
        self.decided.get(key).is_some_and(|spans| {
            spans
                .iter()
                .any(|s| s.first_ms - quiet_ms <= time_ms && time_ms <= s.last_ms + quiet_ms)
        })
    }

    /// Stays decidable once the clock has passed `clock_ms`, in decision order. A stay
    /// waits while a competing stay is open or still within its own hold.
    pub(crate) fn due(&self, clock_ms: i64, settings: &ReconcileSettings, open: &Presence) -> Vec<Due> {
        let window = settings.cross_read_window_ms;
        let mut due = Vec::new();
        for (key, stays) in &self.pending {
            let Some(point) = settings.read_point(&key.read_point) else {
                continue;
            };
            'stay: for stay in stays {
                let hold_until = stay.last_ms + point.hold_ms;
                if hold_until >= clock_ms {
                    continue;
                }
                let mut at = hold_until;
                for (other_key, other_point) in neighbours(key, settings) {
                    if open
                        .get(&other_key)
                        .is_some_and(|o| overlaps(span(stay), span(o), window))
                    {
                        continue 'stay;
                    }
                    for other in self.pending.get(&other_key).into_iter().flatten() {
                        if overlaps(span(stay), span(other), window) {
                            at = at.max(other.last_ms + other_point.hold_ms);
                        }
                    }
                }
                if at < clock_ms {
                    due.push(Due {
                        at_ms: at,
                        hold_until_ms: hold_until,
                        first_ms: stay.first_ms,
                        key: key.clone(),
                    });
                }
            }
        }
        due.sort();
        due
    }

    /// Every pending stay, as if the clock had run out (shutdown, tests, benchmarks).
    pub(crate) fn all_due(&self, settings: &ReconcileSettings) -> Vec<Due> {
        self.due(i64::MAX, settings, &Presence::default())
    }

    /// Decides one due stay and remembers the decision. A stay loses to a competitor
    /// already kept (decisions are final) or to a pending competitor that beats it.
    pub(crate) fn decide(&mut self, due: &Due, settings: &ReconcileSettings) -> Option<(Stay, Verdict)> {
        let stays = self.pending.get_mut(&due.key)?;
        let index = stays.iter().position(|s| s.first_ms == due.first_ms)?;
        let stay = stays.remove(index);
        if stays.is_empty() {
            self.pending.remove(&due.key);
        }
        let point = settings.read_point(&due.key.read_point)?;
        let window = settings.cross_read_window_ms;
        let outcompeted = neighbours(&due.key, settings).any(|(other_key, _)| {
            let kept_there = self.decided.get(&other_key).into_iter().flatten();
            let waiting_there = self.pending.get(&other_key).into_iter().flatten();
            kept_there
                .filter(|s| s.kept)
                .any(|s| overlaps(span(&stay), (s.first_ms, s.last_ms), window))
                || waiting_there.into_iter().any(|o| {
                    overlaps(span(&stay), span(o), window)
                        && beats(o, &other_key.read_point, &stay, &due.key.read_point)
                })
        });
        let verdict = if outcompeted {
            Verdict::CrossRead
        } else if stay.is_blip(point.min_reads, point.min_duration_ms) {
            Verdict::Blip
        } else {
            Verdict::Kept
        };
        self.decided.entry(due.key.clone()).or_default().push(Span {
            first_ms: stay.first_ms,
            last_ms: stay.last_ms,
            kept: verdict == Verdict::Kept,
        });
        Some((stay, verdict))
    }

    /// Forgets decisions older than the late-read horizon.
    pub(crate) fn prune(&mut self, clock_ms: i64, horizon_ms: i64) {
        self.decided.retain(|_, spans| {
            spans.retain(|s| s.last_ms + horizon_ms >= clock_ms);
            !spans.is_empty()
        });
    }

    /// Earliest time at which a pending stay's own hold ends.
    pub(crate) fn next_hold_end_ms(&self, settings: &ReconcileSettings) -> Option<i64> {
        self.pending
            .iter()
            .flat_map(|(k, stays)| {
                let hold = settings.read_point(&k.read_point).map_or(0, |p| p.hold_ms);
                stays.iter().map(move |s| s.last_ms + hold)
            })
            .min()
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&StayKey) -> bool) -> usize {
        let before = self.pending_len();
        self.pending.retain(|k, _| keep(k));
        self.decided.retain(|k, _| keep(k));
        before - self.pending_len()
    }
}

fn span(s: &Stay) -> (i64, i64) {
    (s.first_ms, s.last_ms)
}

/// The same identity's keys at the read points adjacent to `key`'s.
fn neighbours<'a>(
    key: &'a StayKey,
    settings: &'a ReconcileSettings,
) -> impl Iterator<Item = (StayKey, &'a super::config::ReadPoint)> + 'a {
    let adjacent = settings
        .read_point(&key.read_point)
        .map(|p| p.adjacent.as_slice())
        .unwrap_or_default();
    adjacent.iter().filter_map(move |id| {
        let point = settings.read_point(id)?;
        let other = StayKey {
            read_point: id.clone(),
            identity: key.identity.clone(),
        };
        Some((other, point))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::presence::Sighting;

    fn stay(reads: u32, rssi: f32) -> Stay {
        let s = Sighting {
            time_ms: 0,
            offset_minutes: 0,
            antenna: 1,
            seen_count: reads,
            rssi_dbm: Some(rssi),
        };
        Stay::new("d", &s)
    }

    #[test]
    fn more_reads_win_then_stronger_signal_then_the_smaller_id() {
        assert!(beats(&stay(20, -70.0), "door-4", &stay(5, -40.0), "door-3"));
        assert!(beats(&stay(5, -40.0), "door-4", &stay(5, -60.0), "door-3"));
        assert!(beats(&stay(5, -40.0), "door-3", &stay(5, -40.0), "door-4"));
        assert!(!beats(&stay(5, -40.0), "door-4", &stay(5, -40.0), "door-3"));
    }

    #[test]
    fn stays_compete_when_within_the_window_of_each_other() {
        assert!(overlaps((0, 1000), (500, 800), 0));
        assert!(overlaps((0, 1000), (3000, 4000), 2000));
        assert!(!overlaps((0, 1000), (3001, 4000), 2000));
        assert!(!overlaps((3001, 4000), (0, 1000), 2000));
    }
}
