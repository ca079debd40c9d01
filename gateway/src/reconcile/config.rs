//! Reconciliation settings: which device antennas form which read point, what each
//! read point means (business step, portal sides, neighbours), and the smoothing knobs,
//! validated once with every problem reported together.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::milestones::Milestone;
use crate::config::DeviceConfig;

mod settings;

pub use settings::{Capture, ReadPoint, ReconcileSettings, UnmatchedPolicy};

pub const DEFAULT_QUIET_MS: u64 = 2_000;
pub const DEFAULT_MIN_READS: u32 = 1;
pub const DEFAULT_MIN_DURATION_MS: u64 = 0;
pub const DEFAULT_CROSS_READ_WINDOW_MS: u64 = 3_000;
pub const DEFAULT_LATENESS_MS: u64 = 2_000;
pub const DEFAULT_DIRECTION_AGREEMENT: f64 = 0.8;
pub const DEFAULT_LATE_READ_HORIZON_MS: u64 = 10 * 60_000;
pub const DEFAULT_QUARANTINE_CAPACITY: usize = 10_000;
pub const DEFAULT_QUARANTINE_MAX_AGE_HOURS: u64 = 7 * 24;
pub const DEFAULT_PARCEL_RETENTION_HOURS: u64 = 72;
/// Scans of one label at one scan station this close together are one scan.
pub const DEFAULT_REPEAT_WINDOW_MS: u64 = 2_000;
/// Longest repeat window: beyond a minute a second scan is a new act.
pub const MAX_REPEAT_WINDOW_MS: u64 = 60_000;
/// Loaded without a packed event is an exception unless configured otherwise.
pub const DEFAULT_PREREQUISITES: &[(Milestone, &[Milestone])] = &[(Milestone::Loaded, &[Milestone::Packed])];

/// CBV business steps a read point may have, with the disposition they imply.
pub const BUSINESS_STEPS: &[(&str, &str)] = &[
    ("receiving", "in_progress"),
    ("picking", "in_progress"),
    ("packing", "in_progress"),
    ("staging_outbound", "in_progress"),
    ("loading", "in_transit"),
    ("shipping", "in_transit"),
    ("returns_receiving", "returned"),
    ("inspecting", "in_progress"),
];

/// The `[reconcile]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// A stay ends after this long without a read (default for every read point).
    pub quiet_ms: Option<u64>,
    /// Stays with fewer raw reads are blips and ignored.
    pub min_reads: Option<u32>,
    /// Stays shorter than this (first to last read) are blips and ignored.
    pub min_duration_ms: Option<u64>,
    /// Stays of one tag at adjacent read points this close in time compete.
    pub cross_read_window_ms: Option<u64>,
    /// Longest a device may hold a read before the gateway sees it; reads older than
    /// the gateway clock by more than this may find their stay already decided.
    pub lateness_ms: Option<u64>,
    /// Share of inside/outside read pairs that must agree to call a direction (0.5-1].
    pub direction_agreement: Option<f64>,
    /// How long decided stays are remembered so that late and redelivered reads are
    /// recognised instead of starting new stays.
    pub late_read_horizon_ms: Option<u64>,
    pub quarantine_capacity: Option<usize>,
    /// Unmatched stays still unmatched after this are released as exceptions.
    pub quarantine_max_age_hours: Option<u64>,
    /// A parcel's milestone state is forgotten after this long without an event.
    pub parcel_retention_hours: Option<u64>,
    /// Milestone -> milestones that must be recorded before it; replaces the default
    /// (`loaded = ["packed"]`) when present.
    pub prerequisites: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    pub read_points: Vec<ReadPointConfig>,
}

/// One `[[reconcile.read_points]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadPointConfig {
    pub id: String,
    pub device: String,
    /// The device's antennas that belong here; empty (and no sides) means all of them.
    #[serde(default)]
    pub antennas: Vec<u16>,
    /// Portals: antennas facing into the building, and those facing out.
    #[serde(default)]
    pub inside: Vec<u16>,
    #[serde(default)]
    pub outside: Vec<u16>,
    pub business_step: String,
    pub disposition: Option<String>,
    /// Portals: the step of passes going in; without it they are recorded with
    /// `business_step` but mark no milestone (a parcel pulled back off a trailer was not loaded).
    pub inbound_business_step: Option<String>,
    /// Read points whose fields overlap this one (cross-reads); symmetric.
    #[serde(default)]
    pub adjacent: Vec<String>,
    pub quiet_ms: Option<u64>,
    pub min_reads: Option<u32>,
    pub min_duration_ms: Option<u64>,
    /// `quarantine` (default where the step marks a milestone) or `record`.
    pub unmatched: Option<String>,
    /// Makes this a scan station: every scan is an event at once, and scans of the
    /// same label this close to the previous one fold into it. Read points of a
    /// scanner device (`[[devices]] repeat_window_ms`, or any serial scanner) take
    /// the device's window unless they set their own.
    pub repeat_window_ms: Option<u64>,
}

/// Every problem found, each naming its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid reconcile configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ReconcileConfig {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError {
            problems: vec![e.to_string()],
        })
    }

    /// Validates against the gateway's device registry: every read point's device must
    /// be registered, and a registered device no read point mentions becomes a read point
    /// of its own (its `read_point`, `business_step` and `disposition`).
    pub fn validate_for(mut self, devices: &BTreeMap<String, DeviceConfig>) -> Result<ReconcileSettings, ConfigError> {
        let mut problems = Vec::new();
        for (i, rp) in self.read_points.iter().enumerate() {
            if !devices.contains_key(&rp.device) {
                problems.push(format!(
                    "reconcile.read_points[{i}].device: `{}` is not a registered device",
                    rp.device
                ));
            }
        }
        for rp in &mut self.read_points {
            if rp.repeat_window_ms.is_none() {
                rp.repeat_window_ms = devices.get(&rp.device).and_then(|d| d.repeat_window_ms);
            }
        }
        let mentioned: BTreeSet<String> = self.read_points.iter().map(|rp| rp.device.clone()).collect();
        for d in devices.values().filter(|d| !mentioned.contains(&d.id)) {
            self.read_points.push(ReadPointConfig::whole_device(d));
        }
        settings::compile(self, problems)
    }

    /// Validates on its own (tests, tools): device names are taken as given.
    pub fn validate(self) -> Result<ReconcileSettings, ConfigError> {
        settings::compile(self, Vec::new())
    }
}

impl ReadPointConfig {
    /// A read point covering a whole device, as the device registry describes it.
    pub fn whole_device(d: &DeviceConfig) -> Self {
        Self {
            id: d.read_point.clone(),
            device: d.id.clone(),
            antennas: Vec::new(),
            inside: Vec::new(),
            outside: Vec::new(),
            business_step: d.business_step.clone(),
            disposition: Some(d.disposition.clone()),
            inbound_business_step: None,
            adjacent: Vec::new(),
            quiet_ms: None,
            min_reads: None,
            min_duration_ms: None,
            unmatched: None,
            repeat_window_ms: d.repeat_window_ms,
        }
    }
}
