//! The reconciliation engine: reads and a clock in, business events out. Pure and
//! deterministic; its whole state serializes for a restart.
//!
//! Time is event time. The engine clock is the gateway's `now` minus the configured
//! lateness; a stay closes when the clock passes its last read plus the quiet interval,
//! and is decided (cross-reads, blips, matching, milestones) once every competing stay
//! has closed too. Decisions run in the order they became possible, which does not
//! depend on how reads were batched as long as no read arrives later than the lateness.

use chrono::{DateTime, FixedOffset};
use waymark_devices::Read;

use super::config::{Capture, ReconcileSettings};
use super::cross_read::Due;
use super::event::{BusinessEvent, Release};
use super::matching::{Identity, Lookup, LookupFn, Matcher, ParcelRef};
use super::milestones::ParcelState;
use super::presence::{Placement, Sighting, Stay, StayKey};
use super::quarantine::Quarantine;
use super::scans::Scan;

mod routing;
mod state;

use routing::unmatched;
pub use state::{EngineState, Stats};

/// Bumped when `EngineState` changes incompatibly; older snapshots are refused.
pub const STATE_VERSION: u32 = 1;
/// How often (in engine time) old decisions and parcels are forgotten.
const HOUSEKEEPING_EVERY_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// Counted in `Stats::reads_unmapped`; the read point configuration lacks this antenna.
    #[error("no read point for device `{device}` antenna {antenna:?}")]
    Unmapped { device: String, antenna: Option<u16> },
    #[error("engine state version {found} is not the supported version {expected}")]
    StateVersion { found: u32, expected: u32 },
}

#[derive(Debug)]
pub struct Engine {
    site_id: String,
    settings: ReconcileSettings,
    state: EngineState,
    /// Until the clock passes this, nothing can be due (derived; not persisted).
    wake_ms: Option<i64>,
}

/// One thing to do when the clock has passed its time.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Decide(Due),
    Expire(String),
}

impl Engine {
    pub fn new(site_id: impl Into<String>, settings: ReconcileSettings) -> Self {
        Self {
            site_id: site_id.into(),
            settings,
            state: EngineState::default(),
            wake_ms: None,
        }
    }

    /// Resumes from a snapshot. Stays at read points no longer configured are dropped
    /// and counted; everything else continues as if there had been no restart.
    pub fn restore(
        site_id: impl Into<String>,
        settings: ReconcileSettings,
        mut state: EngineState,
    ) -> Result<Self, ReconcileError> {
        if state.version != STATE_VERSION {
            return Err(ReconcileError::StateVersion {
                found: state.version,
                expected: STATE_VERSION,
            });
        }
        let known = |k: &StayKey| settings.read_point(&k.read_point).is_some();
        let dropped = state.open.retain(known) + state.cross.retain(known);
        state.scans.retain(known);
        state.stats.stays_discarded += dropped as u64;
        Ok(Self {
            site_id: site_id.into(),
            settings,
            state,
            wake_ms: None,
        })
    }

    /// The state to persist; serialize it (serde) and hand it to `restore` after a restart.
    pub fn state(&self) -> &EngineState {
        &self.state
    }

    pub fn settings(&self) -> &ReconcileSettings {
        &self.settings
    }

    pub fn stats(&self) -> &Stats {
        &self.state.stats
    }

    pub fn quarantine(&self) -> &Quarantine {
        &self.state.quarantine
    }

    pub fn parcel(&self, parcel: &ParcelRef) -> Option<&ParcelState> {
        self.state.parcels.get(parcel)
    }

    /// Stays open now, and closed ones waiting for their competitors.
    pub fn stays_in_progress(&self) -> (usize, usize) {
        (self.state.open.len(), self.state.cross.pending_len())
    }

    /// One read from `device`, received at `now` (which also stands in for a missing
    /// read time). Returns the events that became final before it.
    pub fn observe<M: Matcher + ?Sized>(
        &mut self,
        device: &str,
        read: &Read,
        now: DateTime<FixedOffset>,
        matcher: &mut M,
    ) -> Result<Vec<BusinessEvent>, ReconcileError> {
        if self.settings.locate(device, read.antenna).is_none() {
            self.state.stats.reads_unmapped += 1;
            return Err(ReconcileError::Unmapped {
                device: device.to_string(),
                antenna: read.antenna,
            });
        }
        let mut out = self.advance(self.engine_time(now), matcher);
        if let Some((key, stay)) = self.place(device, read, now) {
            out.extend(self.scanned(&key, &stay, matcher));
        }
        Ok(out)
    }

    /// A device's payload. Reads on antennas no read point has are skipped and counted
    /// in `Stats::reads_unmapped`.
    pub fn observe_batch<M: Matcher + ?Sized>(
        &mut self,
        device: &str,
        reads: &[Read],
        now: DateTime<FixedOffset>,
        matcher: &mut M,
    ) -> Vec<BusinessEvent> {
        let clock = self.engine_time(now);
        let mut out = self.advance(clock, matcher);
        for read in reads {
            if self.settings.locate(device, read.antenna).is_some() {
                if let Some((key, stay)) = self.place(device, read, now) {
                    out.extend(self.scanned(&key, &stay, matcher));
                }
            } else {
                self.state.stats.reads_unmapped += 1;
            }
        }
        out.extend(self.advance(clock, matcher));
        out
    }

    /// Lets time pass: closes quiet stays and decides what can be decided. Call it
    /// regularly (every few hundred milliseconds) so that events come out without new reads.
    pub fn tick<M: Matcher + ?Sized>(&mut self, now: DateTime<FixedOffset>, matcher: &mut M) -> Vec<BusinessEvent> {
        self.advance(self.engine_time(now), matcher)
    }

    /// Closes and decides every stay now, as if time had run out (end of a simulation,
    /// a test, or a shutdown without snapshot).
    pub fn flush<M: Matcher + ?Sized>(&mut self, matcher: &mut M) -> Vec<BusinessEvent> {
        for (key, stay) in self.state.open.close_quiet(i64::MAX, |_| 0) {
            self.state.cross.close(key, stay);
        }
        let agenda = self
            .state
            .cross
            .all_due(&self.settings)
            .into_iter()
            .map(|d| (d.at_ms, Step::Decide(d)))
            .collect();
        let mut out = Vec::new();
        self.run(agenda, matcher, &mut out);
        self.wake_ms = None;
        out
    }

    /// Matches the quarantine again (call it when orders arrive). The events keep the
    /// reads' own times and are applied in event-time order. An entry whose parcel
    /// turns out cancelled leaves as a `scanned_after_cancel` exception.
    pub fn rematch<M: Matcher + ?Sized>(&mut self, matcher: &mut M) -> Vec<BusinessEvent> {
        let mut out = Vec::new();
        for (report, lookup) in self
            .state
            .quarantine
            .take_matched(&mut LookupFn(|k: &Identity| matcher.lookup(k)))
        {
            let events = match lookup {
                Lookup::Active(parcel) => {
                    self.state.stats.rematched += 1;
                    self.matched(report, parcel, true)
                }
                Lookup::Cancelled(parcel) => vec![self.scanned_after_cancel(report, parcel, true)],
                Lookup::Unknown => Vec::new(),
            };
            self.count(&events);
            out.extend(events);
        }
        out
    }

    fn engine_time(&self, now: DateTime<FixedOffset>) -> i64 {
        now.timestamp_millis().saturating_sub(self.settings.lateness_ms)
    }

    /// Places a read in its stay. A scan at a scan station that is not a repeat is
    /// returned, to be decided at once.
    fn place(&mut self, device: &str, read: &Read, now: DateTime<FixedOffset>) -> Option<(StayKey, Stay)> {
        let point = self.settings.locate(device, read.antenna)?;
        let time = read.time.unwrap_or(now);
        let s = Sighting {
            time_ms: time.timestamp_millis(),
            offset_minutes: time.offset().local_minus_utc() / 60,
            antenna: read.antenna.unwrap_or(0),
            seen_count: read.seen_count,
            rssi_dbm: read.rssi_dbm,
        };
        let (quiet, hold) = (point.quiet_ms, point.hold_ms);
        let key = StayKey {
            read_point: point.id.clone(),
            identity: Identity::from(&read.identifier),
        };
        let stats = &mut self.state.stats;
        stats.reads += 1;
        if let Capture::Scan { repeat_window_ms } = point.capture {
            return match self.state.scans.scan(&key, s.time_ms, repeat_window_ms) {
                Scan::New => Some((key, Stay::new(device, &s))),
                Scan::Repeat => {
                    stats.scans_repeated += 1;
                    None
                }
            };
        }
        let behind = match self.state.open.place(&key, device, &s, quiet) {
            Placement::Extended => return None,
            Placement::Duplicate => {
                stats.reads_duplicate += 1;
                return None;
            }
            Placement::Split(over) => {
                stats.stays_opened += 1;
                self.wake_by(over.last_ms + hold);
                self.wake_by(s.time_ms + quiet);
                self.state.cross.close(key, over);
                return None;
            }
            Placement::Behind => true,
            Placement::NoOpenStay => false,
        };
        if let Some(stay) = self.state.cross.pending_reaching(&key, s.time_ms, quiet) {
            if !stay.add(&s) {
                stats.reads_duplicate += 1;
            }
            self.wake_ms = None;
        } else if self.state.cross.decided_reaches(&key, s.time_ms, quiet) {
            stats.reads_late += 1;
        } else if behind {
            // An older pass than the open stay: closed already, decided at the next advance.
            stats.stays_opened += 1;
            self.state.cross.close(key, Stay::new(device, &s));
            self.wake_ms = None;
        } else {
            stats.stays_opened += 1;
            self.state.open.open(key, device, &s);
            self.wake_by(s.time_ms + quiet);
        }
        None
    }

    /// A new scan: decided now, whatever the clock. Scan stations have no neighbours
    /// (validated) and a deliberate scan is never a blip.
    fn scanned<M: Matcher + ?Sized>(&mut self, key: &StayKey, stay: &Stay, matcher: &mut M) -> Vec<BusinessEvent> {
        let stats = &mut self.state.stats;
        stats.scans += 1;
        stats.stays_opened += 1;
        stats.stays_decided += 1;
        let events = self.decide_scan(key, stay, matcher);
        self.count(&events);
        events
    }

    fn wake_by(&mut self, at_ms: i64) {
        if let Some(w) = self.wake_ms {
            self.wake_ms = Some(w.min(at_ms));
        }
    }

    fn advance<M: Matcher + ?Sized>(&mut self, clock_ms: i64, matcher: &mut M) -> Vec<BusinessEvent> {
        self.state.clock_ms = self.state.clock_ms.max(clock_ms);
        let clock = self.state.clock_ms;
        if self.wake_ms.is_some_and(|w| clock <= w) {
            return Vec::new();
        }
        if clock >= self.state.next_housekeeping_ms {
            self.housekeeping(clock);
        }
        let settings = &self.settings;
        let quiet = |k: &StayKey| settings.read_point(&k.read_point).map_or(0, |p| p.quiet_ms);
        for (key, stay) in self.state.open.close_quiet(clock, quiet) {
            self.state.cross.close(key, stay);
        }
        let decisions = self.state.cross.due(clock, settings, &self.state.open);
        let expiries = self.state.quarantine.expiring(clock, settings.quarantine_max_age_ms);
        let agenda = decisions
            .into_iter()
            .map(|d| (d.at_ms, Step::Decide(d)))
            .chain(expiries.into_iter().map(|(at, id)| (at, Step::Expire(id))))
            .collect();
        let mut out = Vec::new();
        self.run(agenda, matcher, &mut out);
        self.wake_ms = self.next_wake();
        out
    }

    fn run<M: Matcher + ?Sized>(
        &mut self,
        mut agenda: Vec<(i64, Step)>,
        matcher: &mut M,
        out: &mut Vec<BusinessEvent>,
    ) {
        agenda.sort();
        for (_, step) in agenda {
            let events = match step {
                Step::Decide(due) => self.decide(&due, matcher),
                Step::Expire(stay_id) => match self.state.quarantine.take(&stay_id) {
                    Some(report) => {
                        self.state.stats.quarantine_expired += 1;
                        vec![unmatched(report, Release::Expired)]
                    }
                    None => Vec::new(),
                },
            };
            self.count(&events);
            out.extend(events);
        }
    }

    fn housekeeping(&mut self, clock: i64) {
        self.state.cross.prune(clock, self.settings.late_read_horizon_ms);
        self.state.scans.prune(clock, self.settings.late_read_horizon_ms);
        let cutoff = clock.saturating_sub(self.settings.parcel_retention_ms);
        self.state.stats.parcels_forgotten += self.state.parcels.forget_before(cutoff) as u64;
        self.state.next_housekeeping_ms = clock.saturating_add(HOUSEKEEPING_EVERY_MS);
    }

    fn next_wake(&self) -> Option<i64> {
        let settings = &self.settings;
        let quiet = |k: &StayKey| settings.read_point(&k.read_point).map_or(0, |p| p.quiet_ms);
        [
            self.state.open.next_close_ms(quiet),
            self.state.cross.next_hold_end_ms(settings),
            self.state.quarantine.next_expiry_ms(settings.quarantine_max_age_ms),
            Some(self.state.next_housekeeping_ms.saturating_sub(1)),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
