//! What the status engine takes in: a parcel's events from every source, as
//! facts with their times and provenance, and the context of the computation
//! (the clock, the merchant's promise). Also the one order in which the engine
//! reads events, so that arrival order never matters.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::milestone::Milestone;

/// Where a fact comes from: each milestone has a named source of truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    OrderIntake,
    Site,
    Carrier,
    Operator,
    Returns,
}

/// Who says so and on what evidence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Provenance {
    pub source: Source,
    /// Device id, carrier or provider name, or the operator token's name.
    pub actor: String,
    /// The provider's (or the site's) event id.
    pub event_id: String,
    /// Reference to the raw evidence, e.g. "site/dc-1/seq/42".
    pub evidence: String,
}

/// The party an exception names as responsible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Carrier,
    Merchant,
    Customer,
    Customs,
    Weather,
    Site,
}

/// What one event says about a parcel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fact {
    /// A milestone, with its detail (attempt reason, location ...).
    Reached {
        milestone: Milestone,
        detail: Option<String>,
    },
    /// An exception event (site: "missing_prerequisite", "scanned_after_cancel" ...;
    /// carrier exceptions).
    Exception { reason: String, party: Party },
    /// Settles earlier exception events by id (the gateway's `resolves_event_ids`).
    Resolved { event_ids: Vec<String> },
    /// A carrier's delivery estimate, half-open `[from_ms, to_ms)`: a date is
    /// the range of that one day.
    Estimate { from_ms: i64, to_ms: i64 },
    /// An audited operator correction: asserts or retracts a milestone.
    Correction {
        assert: bool,
        milestone: Milestone,
        reason: String,
    },
    /// The parcel's shipment was cancelled.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParcelEvent {
    pub fact: Fact,
    pub event_time_ms: i64,
    /// The UTC offset where the event happened, for showing local time.
    pub offset_minutes: i32,
    /// When central recorded it.
    pub record_time_ms: i64,
    pub provenance: Provenance,
}

impl ParcelEvent {
    pub fn event_id(&self) -> &str {
        &self.provenance.event_id
    }
}

/// A time range, half-open: `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Window {
    /// A window whose ends are in order, whichever way they were given.
    pub fn new(a: i64, b: i64) -> Self {
        Window {
            from_ms: a.min(b),
            to_ms: a.max(b),
        }
    }

    /// Whether the window is over at `now_ms` (its end is exclusive).
    pub fn has_passed(self, now_ms: i64) -> bool {
        now_ms >= self.to_ms
    }
}

/// What the engine needs besides the events. It reads no clock: `now_ms` is given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    pub now_ms: i64,
    /// The merchant's promise for the shipment.
    pub promised: Option<Window>,
    /// `label_not_accepted`: loaded, and no carrier possession within this long.
    /// 0 turns the overlay off.
    pub acceptance_window_ms: i64,
}

/// The events in the order the engine reads them, each distinct event once.
///
/// Order: event time; at one instant, milestones before the other facts (so a
/// correction at the same millisecond applies after the milestone it corrects),
/// lower rank first; then event id; then every other field. The order is total,
/// so any permutation of the same events reads the same.
///
/// A duplicate (same source, event id and fact, e.g. a webhook delivered twice)
/// is read once, as its first copy in this order. The source is part of the key
/// because two carriers' event ids may collide.
pub(crate) fn in_reading_order(events: &[ParcelEvent]) -> Vec<&ParcelEvent> {
    let mut sorted: Vec<&ParcelEvent> = events.iter().collect();
    sorted.sort_unstable_by(|a, b| reading_order(a, b));
    let mut seen: HashSet<(Source, &str, &Fact)> = HashSet::with_capacity(sorted.len());
    sorted.retain(|e| seen.insert((e.provenance.source, e.event_id(), &e.fact)));
    sorted
}

fn reading_order(a: &ParcelEvent, b: &ParcelEvent) -> Ordering {
    a.event_time_ms
        .cmp(&b.event_time_ms)
        .then_with(|| fact_order(&a.fact).cmp(&fact_order(&b.fact)))
        .then_with(|| a.event_id().cmp(b.event_id()))
        .then_with(|| a.fact.cmp(&b.fact))
        .then_with(|| a.record_time_ms.cmp(&b.record_time_ms))
        .then_with(|| a.offset_minutes.cmp(&b.offset_minutes))
        .then_with(|| a.provenance.cmp(&b.provenance))
}

/// Milestones first, by rank; corrections last, so they apply to what came
/// at the same instant.
fn fact_order(f: &Fact) -> (u8, u8) {
    match f {
        Fact::Reached { milestone, .. } => (0, milestone.rank()),
        Fact::Estimate { .. } => (1, 0),
        Fact::Exception { .. } => (2, 0),
        Fact::Resolved { .. } => (3, 0),
        Fact::Cancelled => (4, 0),
        Fact::Correction { milestone, .. } => (5, milestone.rank()),
    }
}
