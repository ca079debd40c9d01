//! Overlays (conditions on top of a milestone, not steps) and delivery
//! estimates.
//!
//! Rules decided here where DESIGN.md is silent:
//!
//! - `delayed` and `label_not_accepted` concern the outbound trip only: off
//!   once delivered, returned to sender, in the return chapter, or cancelled
//!   before hand-over.
//! - `delayed`: the current estimate ends after the promise ends
//!   (`estimate_after_promise`), or the current estimate (else the promise) has
//!   ended at `now` (`estimate_passed` / `promise_passed`). Windows are
//!   half-open, so a one-day window has passed at the next midnight.
//! - `exception`: one overlay per open exception event. It is settled by a
//!   `Resolved` naming its event id (whenever that came: the id is explicit);
//!   a carrier's exception also by any carrier milestone event strictly later
//!   in event time (the carrier moved the parcel on); and any exception by
//!   delivery at or after it. An exception raised after delivery (a damage
//!   claim, a return inspection) stays until resolved.
//! - `label_not_accepted`: `loaded`, no carrier possession milestone, and more
//!   than the lane's window since loading; the carrier is the party named.
//! - Estimates: the current one is the latest by event time (a resent old
//!   estimate does not replace a newer one); the original is the first
//!   recorded (what the customer was first shown); the history lists them in
//!   event-time order without repeats in a row.

use serde::{Deserialize, Serialize};

use super::customer::CustomerStatus;
use super::engine::Walk;
use super::event::{Context, Fact, ParcelEvent, Party, Provenance, Source, Window};
use super::milestone::Milestone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlay {
    Delayed,
    Exception,
    LabelNotAccepted,
}

impl Overlay {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delayed => "delayed",
            Self::Exception => "exception",
            Self::LabelNotAccepted => "label_not_accepted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverlayState {
    pub overlay: Overlay,
    /// A reason code: the exception's own, or one of the `REASON_*` constants.
    pub reason: String,
    pub party: Option<Party>,
    pub since_ms: i64,
    pub provenance: Option<Provenance>,
}

pub const REASON_ESTIMATE_AFTER_PROMISE: &str = "estimate_after_promise";
pub const REASON_ESTIMATE_PASSED: &str = "estimate_passed";
pub const REASON_PROMISE_PASSED: &str = "promise_passed";
pub const REASON_NO_CARRIER_POSSESSION: &str = "no_carrier_possession";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EstimateView {
    /// The carrier's latest estimate.
    pub current: Option<Window>,
    /// The first estimate recorded.
    pub original: Option<Window>,
    /// The merchant's promise.
    pub promised: Option<Window>,
    /// Every estimate in event-time order, without repeats in a row.
    pub history: Vec<Window>,
}

pub(crate) fn overlays(
    w: &Walk<'_>,
    current: Option<Milestone>,
    customer: CustomerStatus,
    ctx: &Context,
) -> Vec<OverlayState> {
    let delivered_ms = w.reached_at(Milestone::Delivered).map(|r| r.event_time_ms);
    let outbound_open = delivered_ms.is_none()
        && customer != CustomerStatus::Cancelled
        && current.is_none_or(|m| !m.is_return() && m != Milestone::ReturnedToSender);
    let mut out = Vec::new();
    if outbound_open {
        out.extend(delayed(w, ctx));
        out.extend(label_not_accepted(w, ctx));
    }
    for e in &w.exceptions {
        let Fact::Exception { reason, party } = &e.fact else {
            continue;
        };
        let resolved = w.resolved.contains(&e.event_id());
        let moved_on =
            e.provenance.source == Source::Carrier && w.last_carrier_milestone_ms.is_some_and(|t| t > e.event_time_ms);
        let delivered_since = delivered_ms.is_some_and(|t| t >= e.event_time_ms);
        if !(resolved || moved_on || delivered_since) {
            out.push(OverlayState {
                overlay: Overlay::Exception,
                reason: reason.clone(),
                party: Some(*party),
                since_ms: e.event_time_ms,
                provenance: Some(e.provenance.clone()),
            });
        }
    }
    out
}

fn delayed(w: &Walk<'_>, ctx: &Context) -> Option<OverlayState> {
    let latest = w.estimates.last().and_then(|e| window(e).map(|win| (e, win)));
    let state = |reason: &str, since_ms, e: Option<&ParcelEvent>| OverlayState {
        overlay: Overlay::Delayed,
        reason: reason.to_owned(),
        party: None,
        since_ms,
        provenance: e.map(|e| e.provenance.clone()),
    };
    match (latest, ctx.promised) {
        (Some((e, est)), Some(promise)) if est.to_ms > promise.to_ms => {
            Some(state(REASON_ESTIMATE_AFTER_PROMISE, e.event_time_ms, Some(e)))
        }
        (Some((e, est)), _) if est.has_passed(ctx.now_ms) => Some(state(REASON_ESTIMATE_PASSED, est.to_ms, Some(e))),
        (None, Some(promise)) if promise.has_passed(ctx.now_ms) => {
            Some(state(REASON_PROMISE_PASSED, promise.to_ms, None))
        }
        _ => None,
    }
}

fn label_not_accepted(w: &Walk<'_>, ctx: &Context) -> Option<OverlayState> {
    if ctx.acceptance_window_ms <= 0 || w.reached.any(Milestone::is_carrier_possession) {
        return None;
    }
    let loaded = w.reached_at(Milestone::Loaded)?;
    let overdue_ms = loaded.event_time_ms.saturating_add(ctx.acceptance_window_ms);
    (ctx.now_ms > overdue_ms).then(|| OverlayState {
        overlay: Overlay::LabelNotAccepted,
        reason: REASON_NO_CARRIER_POSSESSION.to_owned(),
        party: Some(Party::Carrier),
        since_ms: overdue_ms,
        provenance: Some(loaded.provenance.clone()),
    })
}

pub(crate) fn estimate_view(w: &Walk<'_>, ctx: &Context) -> Option<EstimateView> {
    if w.reached.contains(Milestone::Delivered) || (w.estimates.is_empty() && ctx.promised.is_none()) {
        return None;
    }
    let mut history: Vec<Window> = Vec::with_capacity(w.estimates.len());
    for win in w.estimates.iter().filter_map(|e| window(e)) {
        if history.last() != Some(&win) {
            history.push(win);
        }
    }
    // Reading order breaks ties between estimates recorded at the same instant.
    let original = w
        .estimates
        .iter()
        .enumerate()
        .min_by_key(|(pos, e)| (e.record_time_ms, *pos))
        .and_then(|(_, e)| window(e));
    Some(EstimateView {
        current: history.last().copied(),
        original,
        promised: ctx.promised,
        history,
    })
}

fn window(e: &ParcelEvent) -> Option<Window> {
    match e.fact {
        Fact::Estimate { from_ms, to_ms } => Some(Window::new(from_ms, to_ms)),
        _ => None,
    }
}
