//! What the engine persists across a restart, and its counters.

use serde::{Deserialize, Serialize};

use super::STATE_VERSION;
use crate::reconcile::cross_read::CrossReads;
use crate::reconcile::milestones::ParcelBook;
use crate::reconcile::presence::Presence;
use crate::reconcile::quarantine::Quarantine;
use crate::reconcile::scans::RecentScans;

/// Counters since the state was created (they survive restarts with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub reads: u64,
    pub reads_unmapped: u64,
    /// Reads a stay had already counted (redelivered).
    pub reads_duplicate: u64,
    /// Reads that arrived after their stay was decided.
    pub reads_late: u64,
    pub stays_opened: u64,
    pub stays_decided: u64,
    pub blips: u64,
    /// Stays dropped because an adjacent read point had the better claim.
    pub cross_reads: u64,
    pub events: u64,
    pub milestones: u64,
    pub exceptions: u64,
    /// Exception events for a milestone's missing prerequisite (one per milestone missing).
    pub missing_prerequisites: u64,
    pub late_events: u64,
    pub quarantined: u64,
    pub rematched: u64,
    pub quarantine_expired: u64,
    pub quarantine_overflow: u64,
    /// Stays of parcels whose shipment was cancelled (each one exception event).
    pub scanned_after_cancel: u64,
    /// Unmatched stays recorded as plain observations (read points set to `record`).
    pub unmatched_recorded: u64,
    pub parcels_forgotten: u64,
    /// Stays of read points missing from the configuration at restore.
    pub stays_discarded: u64,
    /// Scans at scan stations decided at once.
    pub scans: u64,
    /// Scans folded into an earlier scan of the same label (within the repeat window).
    pub scans_repeated: u64,
}

impl Stats {
    /// Exception events by the reason they carry on the wire (`Event.exception`).
    pub fn exceptions_by_reason(&self) -> [(&'static str, u64); 4] {
        [
            ("missing_prerequisite", self.missing_prerequisites),
            ("unmatched_expired", self.quarantine_expired),
            ("unmatched_overflow", self.quarantine_overflow),
            ("scanned_after_cancel", self.scanned_after_cancel),
        ]
    }
}

/// Everything the engine must find again after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineState {
    pub version: u32,
    pub(super) clock_ms: i64,
    pub(super) next_housekeeping_ms: i64,
    pub(super) open: Presence,
    pub(super) cross: CrossReads,
    /// Absent from snapshots taken before scan stations existed.
    #[serde(default)]
    pub(super) scans: RecentScans,
    pub(super) quarantine: Quarantine,
    pub(super) parcels: ParcelBook,
    pub(super) stats: Stats,
}

impl Default for EngineState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            clock_ms: i64::MIN,
            next_housekeeping_ms: i64::MIN,
            open: Presence::default(),
            cross: CrossReads::default(),
            scans: RecentScans::default(),
            quarantine: Quarantine::default(),
            parcels: ParcelBook::default(),
            stats: Stats::default(),
        }
    }
}
