//! What a decided stay becomes: its report (direction, step, id), then a milestone,
//! an observation, a quarantine entry, or an exception.

use super::Engine;
use crate::reconcile::config::UnmatchedPolicy;
use crate::reconcile::cross_read::{Due, Verdict};
use crate::reconcile::direction::{self, Direction};
use crate::reconcile::event::{BusinessEvent, EventKind, ExceptionReason, Release, StayReport, derived_id, stay_id};
use crate::reconcile::matching::{Identity, Lookup, LookupFn, Matcher, ParcelRef, resolve};
use crate::reconcile::milestones::Milestone;
use crate::reconcile::presence::{Stay, StayKey};

impl Engine {
    pub(super) fn decide<M: Matcher + ?Sized>(&mut self, due: &Due, matcher: &mut M) -> Vec<BusinessEvent> {
        let Some((stay, verdict)) = self.state.cross.decide(due, &self.settings) else {
            return Vec::new();
        };
        self.state.stats.stays_decided += 1;
        match verdict {
            Verdict::CrossRead => self.state.stats.cross_reads += 1,
            Verdict::Blip => self.state.stats.blips += 1,
            Verdict::Kept => {
                if let Some(report) = self.report(&due.key, &stay) {
                    return self.route(report, matcher);
                }
            }
        }
        Vec::new()
    }

    /// A scan's stay, kept as it is.
    pub(super) fn decide_scan<M: Matcher + ?Sized>(
        &mut self,
        key: &StayKey,
        stay: &Stay,
        matcher: &mut M,
    ) -> Vec<BusinessEvent> {
        match self.report(key, stay) {
            Some(report) => self.route(report, matcher),
            None => Vec::new(),
        }
    }

    /// What a kept stay says: direction, the step it stands for, its id.
    fn report(&self, key: &StayKey, stay: &Stay) -> Option<StayReport> {
        let point = self.settings.read_point(&key.read_point)?;
        let direction = point.is_portal().then(|| {
            let sides = stay.marks().map(|(t, antenna)| (t, point.side(antenna)));
            direction::infer(sides, self.settings.direction_agreement)
        });
        let (step, disposition, marks_milestone) = match (&point.inbound, direction) {
            (Some((step, disp)), Some(Direction::Inbound)) => (step, disp, true),
            (None, Some(Direction::Inbound)) => (&point.business_step, &point.disposition, false),
            _ => (&point.business_step, &point.disposition, true),
        };
        Some(StayReport {
            stay_id: stay_id(&self.site_id, &key.identity, &key.read_point, step, stay.first_ms),
            identity: key.identity.clone(),
            read_point: key.read_point.clone(),
            device_id: stay.device.clone(),
            antenna: stay.peak_antenna,
            business_step: step.clone(),
            disposition: disposition.clone(),
            milestone: marks_milestone.then(|| Milestone::for_step(step)).flatten(),
            direction,
            first_ms: stay.first_ms,
            last_ms: stay.last_ms,
            offset_minutes: stay.offset_minutes,
            read_count: stay.reads,
            peak_rssi_dbm: stay.peak_rssi_dbm,
        })
    }

    fn route<M: Matcher + ?Sized>(&mut self, report: StayReport, matcher: &mut M) -> Vec<BusinessEvent> {
        match resolve(&mut LookupFn(|k: &Identity| matcher.lookup(k)), &report.identity) {
            Lookup::Active(parcel) => return self.matched(report, parcel, false),
            Lookup::Cancelled(parcel) => return vec![self.scanned_after_cancel(report, parcel, false)],
            Lookup::Unknown => {}
        }
        let policy = self.settings.read_point(&report.read_point).map(|p| p.unmatched);
        if policy != Some(UnmatchedPolicy::Quarantine) {
            self.state.stats.unmatched_recorded += 1;
            return vec![event(EventKind::Observation, report, None)];
        }
        self.state.stats.quarantined += 1;
        self.wake_by(report.last_ms.saturating_add(self.settings.quarantine_max_age_ms));
        let capacity = self.settings.quarantine_capacity;
        match self.state.quarantine.push(report, self.state.clock_ms, capacity) {
            Some(oldest) => {
                self.state.stats.quarantine_overflow += 1;
                vec![unmatched(oldest, Release::Overflow)]
            }
            None => Vec::new(),
        }
    }

    /// The events of a stay whose parcel is known: its milestone (possibly late) and an
    /// exception for every prerequisite the parcel lacks.
    pub(super) fn matched(&mut self, report: StayReport, parcel: ParcelRef, rematched: bool) -> Vec<BusinessEvent> {
        let Some(m) = report.milestone else {
            let mut e = event(EventKind::Observation, report, Some(parcel));
            e.rematched = rematched;
            return vec![e];
        };
        let applied = self
            .state
            .parcels
            .apply(&parcel, m, report.last_ms, &self.settings.prerequisites);
        let mut out = Vec::with_capacity(1 + applied.missing.len());
        for missing in applied.missing {
            self.state.stats.missing_prerequisites += 1;
            let id = derived_id(&report.stay_id, &["missing", missing.as_str()]);
            self.state.parcels.open_exception(&parcel, missing, id.clone());
            let reason = ExceptionReason::MissingPrerequisite { milestone: m, missing };
            let mut e = event(EventKind::Exception { reason }, report.clone(), Some(parcel.clone()));
            e.event_id = id;
            e.rematched = rematched;
            out.push(e);
        }
        let mut e = event(EventKind::Milestone { milestone: m }, report, Some(parcel));
        e.late = applied.late;
        e.rematched = rematched;
        e.resolves = applied.resolves;
        out.insert(0, e);
        out
    }

    /// A stay of a cancelled parcel, at any read point: one exception per stay (a
    /// portal's hundred reads of a tag are one stay), and the parcel's state is left
    /// alone. Its id differs from the stay's, like an unmatched release.
    pub(super) fn scanned_after_cancel(
        &mut self,
        report: StayReport,
        parcel: ParcelRef,
        rematched: bool,
    ) -> BusinessEvent {
        self.state.stats.scanned_after_cancel += 1;
        let reason = ExceptionReason::ScannedAfterCancel;
        let mut e = event(EventKind::Exception { reason }, report, Some(parcel));
        e.event_id = derived_id(&e.stay.stay_id, &["scanned_after_cancel"]);
        e.rematched = rematched;
        e
    }

    pub(super) fn count(&mut self, events: &[BusinessEvent]) {
        let stats = &mut self.state.stats;
        for e in events {
            stats.events += 1;
            match e.kind {
                EventKind::Milestone { .. } => stats.milestones += 1,
                EventKind::Exception { .. } => stats.exceptions += 1,
                EventKind::Observation => {}
            }
            stats.late_events += u64::from(e.late);
        }
    }
}

fn event(kind: EventKind, stay: StayReport, parcel: Option<ParcelRef>) -> BusinessEvent {
    BusinessEvent {
        event_id: stay.stay_id.clone(),
        kind,
        stay,
        parcel,
        late: false,
        rematched: false,
        resolves: Vec::new(),
    }
}

/// An unmatched stay released from the quarantine, as an exception. Its id differs from
/// the stay's so that a later match of the same reads is still recorded.
pub(super) fn unmatched(report: StayReport, release: Release) -> BusinessEvent {
    let reason = ExceptionReason::Unmatched { release };
    let mut e = event(EventKind::Exception { reason }, report, None);
    e.event_id = derived_id(&e.stay.stay_id, &["unmatched"]);
    e
}
