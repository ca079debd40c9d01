//! The quarantine: stays seen at business read points that matched no order the site
//! holds. They are kept (in the engine's state), shown (count and latest entries) and
//! matched again when orders arrive, keeping their original event times.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::event::StayReport;
use super::matching::{Lookup, Matcher, resolve};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    pub stay: StayReport,
    /// The engine clock when it was quarantined.
    pub since_ms: i64,
}

/// Oldest first, in the order stays were quarantined.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Quarantine {
    entries: VecDeque<Quarantined>,
}

impl Quarantine {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `n` most recently quarantined, newest first (for the status page).
    pub fn recent(&self, n: usize) -> impl Iterator<Item = &Quarantined> {
        self.entries.iter().rev().take(n)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Quarantined> {
        self.entries.iter()
    }

    /// Adds a stay; when that overfills the quarantine, returns the oldest entry, which
    /// the caller must release (never drop silently).
    pub(crate) fn push(&mut self, stay: StayReport, since_ms: i64, capacity: usize) -> Option<StayReport> {
        self.entries.push_back(Quarantined { stay, since_ms });
        (self.entries.len() > capacity)
            .then(|| self.entries.pop_front().map(|q| q.stay))
            .flatten()
    }

    /// Entries whose last read is older than `max_age_ms` at `clock_ms`, with the time
    /// each expired, in expiry order.
    pub(crate) fn expiring(&self, clock_ms: i64, max_age_ms: i64) -> Vec<(i64, String)> {
        let mut out: Vec<_> = self
            .entries
            .iter()
            .map(|q| (q.stay.last_ms.saturating_add(max_age_ms), q.stay.stay_id.clone()))
            .filter(|(at, _)| *at < clock_ms)
            .collect();
        out.sort();
        out
    }

    pub(crate) fn next_expiry_ms(&self, max_age_ms: i64) -> Option<i64> {
        self.entries
            .iter()
            .map(|q| q.stay.last_ms.saturating_add(max_age_ms))
            .min()
    }

    pub(crate) fn take(&mut self, stay_id: &str) -> Option<StayReport> {
        let i = self.entries.iter().position(|q| q.stay.stay_id == stay_id)?;
        self.entries.remove(i).map(|q| q.stay)
    }

    /// Removes and returns the entries the matcher now knows (active or cancelled), in
    /// event-time order, so that a parcel's milestones are applied in the order they
    /// happened.
    pub(crate) fn take_matched(&mut self, matcher: &mut dyn Matcher) -> Vec<(StayReport, Lookup)> {
        let mut matched = Vec::new();
        let mut kept = VecDeque::with_capacity(self.entries.len());
        for q in self.entries.drain(..) {
            match resolve(matcher, &q.stay.identity) {
                Lookup::Unknown => kept.push_back(q),
                known => matched.push((q.stay, known)),
            }
        }
        self.entries = kept;
        matched.sort_by(|(a, _), (b, _)| (a.first_ms, &a.stay_id).cmp(&(b.first_ms, &b.stay_id)));
        matched
    }
}
