//! A parcel's status from all of its events: which milestones it has reached,
//! with their provenance, and which is the current one. Pure: the events and a
//! context in, the status out.
//!
//! Rules (DESIGN.md, "Milestones"), and the ones decided here:
//!
//! - Events are read in event-time order ([`in_reading_order`]), each distinct
//!   event once, so neither arrival order nor a resent event changes anything.
//! - The current milestone is the reached one of highest [`Milestone::rank`];
//!   among milestones of equal rank (the last-mile loop, alternative return
//!   decisions) the one reached latest. A late or out-of-order event joins the
//!   history but cannot lower the rank.
//! - `delivered` outranks every outbound milestone, so it is terminal for
//!   outbound; the return chapter ranks above it and starts a new chapter. One
//!   return chapter per parcel.
//! - An operator correction applies at its event time to what has been reached
//!   by then: a retraction removes the milestone (it no longer counts, and a
//!   later event reaching it again counts anew); an assertion adds it, marked
//!   `corrected`, unless it is already reached (the original evidence stays).
//!   Every correction is kept in `corrections`. Corrections are the one way
//!   status moves back.
//! - Cancelled: the parcel is marked cancelled. If it was never handed over
//!   (no `loaded` or later possession milestone, whenever the cancel came), the
//!   customer sees Cancelled; a parcel already on the trailer cannot be
//!   un-shipped, so it keeps its milestone and customer status.

use serde::Serialize;

use super::customer::{CustomerStatus, customer_status};
use super::event::{Context, Fact, ParcelEvent, Provenance, Source, in_reading_order};
use super::milestone::{Milestone, MilestoneSet};
use super::overlays::{EstimateView, OverlayState, estimate_view, overlays};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParcelStatus {
    /// The current (furthest) milestone of the current chapter.
    pub milestone: Option<Milestone>,
    /// Each milestone that counts, first time reached, in event-time order.
    pub milestones: Vec<Reached>,
    /// Active overlays: delayed, then label not accepted, then each open exception.
    pub overlays: Vec<OverlayState>,
    pub customer: CustomerStatus,
    /// The carrier's current and original estimates and the promise; `None`
    /// once delivered, or when there is neither estimate nor promise.
    pub estimate: Option<EstimateView>,
    pub cancelled: bool,
    /// Every operator correction read, in event-time order (the audit trail).
    pub corrections: Vec<AppliedCorrection>,
    /// Carrier milestones whose timestamps contradict the order of the steps
    /// (a delivery timestamped before the pickup): kept and flagged, never
    /// used to move status back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clock_anomalies: Vec<ClockAnomaly>,
}

/// A milestone timestamped before a step that must come first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockAnomaly {
    pub milestone: Milestone,
    pub event_time_ms: i64,
    /// The earlier step, timestamped after it.
    pub before: Milestone,
    pub before_time_ms: i64,
}

impl ParcelStatus {
    /// The first time `m` was reached, if it counts.
    pub fn reached(&self, m: Milestone) -> Option<&Reached> {
        self.milestones.iter().find(|r| r.milestone == m)
    }

    /// Out of the warehouse: `loaded` or a later possession milestone (never
    /// `label_created`).
    pub fn handed_over(&self) -> bool {
        self.milestones.iter().any(|r| r.milestone.is_possession())
    }
}

/// A milestone reached, and who says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reached {
    pub milestone: Milestone,
    pub event_time_ms: i64,
    pub offset_minutes: i32,
    pub provenance: Provenance,
    /// Asserted by an operator correction.
    pub corrected: bool,
    pub detail: Option<String>,
}

/// An operator correction as read, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedCorrection {
    pub milestone: Milestone,
    /// `true`: asserted; `false`: retracted.
    pub assert: bool,
    pub reason: String,
    pub event_time_ms: i64,
    pub provenance: Provenance,
}

/// What the walk over the events found; overlays and estimates read it too.
pub(crate) struct Walk<'e> {
    /// Per milestone (by index), while it counts.
    pub(crate) slots: [Option<Slot>; Milestone::ALL.len()],
    pub(crate) reached: MilestoneSet,
    pub(crate) cancelled: bool,
    pub(crate) corrections: Vec<AppliedCorrection>,
    pub(crate) exceptions: Vec<&'e ParcelEvent>,
    pub(crate) resolved: Vec<&'e str>,
    pub(crate) estimates: Vec<&'e ParcelEvent>,
    /// The latest event time of any carrier milestone event.
    pub(crate) last_carrier_milestone_ms: Option<i64>,
}

/// A milestone that counts: its first reach, and the positions (in reading
/// order) of its first and latest reach.
pub(crate) struct Slot {
    pub(crate) reached: Reached,
    first: usize,
    last: usize,
}

impl Walk<'_> {
    pub(crate) fn reached_at(&self, m: Milestone) -> Option<&Reached> {
        self.slots[m.index()].as_ref().map(|s| &s.reached)
    }

    fn current(&self) -> Option<Milestone> {
        self.slots
            .iter()
            .flatten()
            .max_by_key(|s| (s.reached.milestone.rank(), s.last))
            .map(|s| s.reached.milestone)
    }
}

/// The status of one parcel from all of its events, whatever their source and
/// arrival order.
pub fn parcel_status(events: &[ParcelEvent], ctx: &Context) -> ParcelStatus {
    let walk = walk(&in_reading_order(events));
    let milestone = walk.current();
    let customer = customer_status(milestone, walk.reached, walk.cancelled);
    let overlays = overlays(&walk, milestone, customer, ctx);
    let estimate = estimate_view(&walk, ctx);
    let mut slots: Vec<&Slot> = walk.slots.iter().flatten().collect();
    slots.sort_by_key(|s| s.first);
    let milestones: Vec<Reached> = slots.into_iter().map(|s| s.reached.clone()).collect();
    let clock_anomalies = clock_anomalies(&milestones);
    ParcelStatus {
        milestone,
        milestones,
        overlays,
        customer,
        estimate,
        cancelled: walk.cancelled,
        corrections: walk.corrections,
        clock_anomalies,
    }
}

/// Carrier possession milestones timestamped before a possession step of
/// lower rank (a `delivered` before the carrier's pickup or our `loaded`).
/// The last-mile loop shares a rank, so going round it is no anomaly.
fn clock_anomalies(milestones: &[Reached]) -> Vec<ClockAnomaly> {
    let mut out = Vec::new();
    for m in milestones
        .iter()
        .filter(|m| m.provenance.source == Source::Carrier && m.milestone.is_carrier_possession())
    {
        let contradicted = milestones
            .iter()
            .filter(|n| n.milestone.is_possession() && n.milestone.rank() < m.milestone.rank())
            .filter(|n| n.event_time_ms > m.event_time_ms)
            .max_by_key(|n| n.event_time_ms);
        if let Some(n) = contradicted {
            out.push(ClockAnomaly {
                milestone: m.milestone,
                event_time_ms: m.event_time_ms,
                before: n.milestone,
                before_time_ms: n.event_time_ms,
            });
        }
    }
    out
}

fn walk<'e>(events: &[&'e ParcelEvent]) -> Walk<'e> {
    let mut w = Walk {
        slots: Default::default(),
        reached: MilestoneSet::default(),
        cancelled: false,
        corrections: Vec::new(),
        exceptions: Vec::new(),
        resolved: Vec::new(),
        estimates: Vec::new(),
        last_carrier_milestone_ms: None,
    };
    for (pos, e) in events.iter().copied().enumerate() {
        match &e.fact {
            Fact::Reached { milestone, detail } => {
                if e.provenance.source == Source::Carrier {
                    w.last_carrier_milestone_ms = Some(e.event_time_ms);
                }
                w.reach(*milestone, e, pos, false, detail.as_ref());
            }
            Fact::Correction {
                assert,
                milestone,
                reason,
            } => {
                if *assert {
                    w.reach(*milestone, e, pos, true, None);
                } else {
                    w.slots[milestone.index()] = None;
                    w.reached.remove(*milestone);
                }
                w.corrections.push(AppliedCorrection {
                    milestone: *milestone,
                    assert: *assert,
                    reason: reason.clone(),
                    event_time_ms: e.event_time_ms,
                    provenance: e.provenance.clone(),
                });
            }
            Fact::Exception { .. } => w.exceptions.push(e),
            Fact::Resolved { event_ids } => w.resolved.extend(event_ids.iter().map(String::as_str)),
            Fact::Estimate { .. } => w.estimates.push(e),
            Fact::Cancelled => w.cancelled = true,
        }
    }
    w
}

impl Walk<'_> {
    fn reach(&mut self, m: Milestone, e: &ParcelEvent, pos: usize, corrected: bool, detail: Option<&String>) {
        self.reached.insert(m);
        match &mut self.slots[m.index()] {
            Some(slot) => slot.last = pos,
            slot @ None => {
                *slot = Some(Slot {
                    reached: Reached {
                        milestone: m,
                        event_time_ms: e.event_time_ms,
                        offset_minutes: e.offset_minutes,
                        provenance: e.provenance.clone(),
                        corrected,
                        detail: detail.cloned(),
                    },
                    first: pos,
                    last: pos,
                });
            }
        }
    }
}
