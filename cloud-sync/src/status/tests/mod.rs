//! Tests of the status engine: one table test per DESIGN rule (`rules`,
//! `overlays`, `orders`) and property tests of its invariants (`props`).

mod orders;
mod overlays;
mod props;
mod rules;

use super::*;

/// 2026-11-21T14:00:00Z; tests speak in minutes after it.
pub(super) const T0: i64 = 1_795_269_600_000;
pub(super) const MIN: i64 = 60_000;
pub(super) const HOUR: i64 = 60 * MIN;
pub(super) const DAY: i64 = 24 * HOUR;

pub(super) fn at(minutes: i64) -> i64 {
    T0 + minutes * MIN
}

pub(super) fn event(minutes: i64, source: Source, id: &str, fact: Fact) -> ParcelEvent {
    ParcelEvent {
        fact,
        event_time_ms: at(minutes),
        offset_minutes: 60,
        record_time_ms: at(minutes) + 5_000,
        provenance: Provenance {
            source,
            actor: match source {
                Source::OrderIntake => "oms",
                Source::Site => "door-3",
                Source::Carrier => "easypost",
                Source::Operator => "ops-alice",
                Source::Returns => "returns-portal",
            }
            .to_owned(),
            event_id: id.to_owned(),
            evidence: format!("{source:?}/{id}").to_lowercase(),
        },
    }
}

fn reach(minutes: i64, source: Source, m: Milestone) -> ParcelEvent {
    let id = format!("{}-{minutes}", m.as_str());
    event(
        minutes,
        source,
        &id,
        Fact::Reached {
            milestone: m,
            detail: None,
        },
    )
}

pub(super) fn intake(minutes: i64) -> ParcelEvent {
    reach(minutes, Source::OrderIntake, Milestone::Ordered)
}

pub(super) fn site(minutes: i64, m: Milestone) -> ParcelEvent {
    reach(minutes, Source::Site, m)
}

pub(super) fn carrier(minutes: i64, m: Milestone) -> ParcelEvent {
    reach(minutes, Source::Carrier, m)
}

pub(super) fn returns(minutes: i64, m: Milestone) -> ParcelEvent {
    reach(minutes, Source::Returns, m)
}

pub(super) fn correction(minutes: i64, assert: bool, m: Milestone) -> ParcelEvent {
    let id = format!("corr-{}-{minutes}", m.as_str());
    let reason = "carrier scanned the wrong parcel".to_owned();
    event(
        minutes,
        Source::Operator,
        &id,
        Fact::Correction {
            assert,
            milestone: m,
            reason,
        },
    )
}

pub(super) fn exception(minutes: i64, source: Source, id: &str, reason: &str, party: Party) -> ParcelEvent {
    let reason = reason.to_owned();
    event(minutes, source, id, Fact::Exception { reason, party })
}

pub(super) fn resolved(minutes: i64, ids: &[&str]) -> ParcelEvent {
    let event_ids = ids.iter().map(|s| (*s).to_owned()).collect();
    event(
        minutes,
        Source::Site,
        &format!("res-{minutes}"),
        Fact::Resolved { event_ids },
    )
}

/// An estimate issued at `minutes`, recorded `recorded` minutes after T0.
pub(super) fn estimate(minutes: i64, recorded: i64, window: Window) -> ParcelEvent {
    let mut e = event(
        minutes,
        Source::Carrier,
        &format!("est-{minutes}"),
        Fact::Estimate {
            from_ms: window.from_ms,
            to_ms: window.to_ms,
        },
    );
    e.record_time_ms = at(recorded);
    e
}

pub(super) fn cancelled(minutes: i64) -> ParcelEvent {
    event(
        minutes,
        Source::OrderIntake,
        &format!("cancel-{minutes}"),
        Fact::Cancelled,
    )
}

/// The day `n` days after T0's day, as a one-day window.
pub(super) fn day(n: i64) -> Window {
    let start = T0 - T0.rem_euclid(DAY) + n * DAY;
    Window {
        from_ms: start,
        to_ms: start + DAY,
    }
}

pub(super) fn ctx() -> Context {
    Context {
        now_ms: at(60),
        promised: None,
        acceptance_window_ms: 0,
    }
}

/// The site's part of the happy path: ordered, picked, packed, staged, loaded.
pub(super) fn warehouse() -> Vec<ParcelEvent> {
    use Milestone as M;
    vec![
        intake(0),
        site(10, M::Picked),
        site(20, M::Packed),
        site(30, M::Staged),
        site(40, M::Loaded),
    ]
}

pub(super) fn status(events: &[ParcelEvent]) -> ParcelStatus {
    parcel_status(events, &ctx())
}
