//! Validated settings: read points resolved per (device, antenna), defaults applied,
//! adjacency made symmetric; every problem collected on the way.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    BUSINESS_STEPS, ConfigError, DEFAULT_PREREQUISITES, DEFAULT_REPEAT_WINDOW_MS, MAX_REPEAT_WINDOW_MS,
    ReadPointConfig, ReconcileConfig,
};
use super::{
    DEFAULT_CROSS_READ_WINDOW_MS, DEFAULT_DIRECTION_AGREEMENT, DEFAULT_LATE_READ_HORIZON_MS, DEFAULT_LATENESS_MS,
    DEFAULT_MIN_DURATION_MS, DEFAULT_MIN_READS, DEFAULT_PARCEL_RETENTION_HOURS, DEFAULT_QUARANTINE_CAPACITY,
    DEFAULT_QUARANTINE_MAX_AGE_HOURS, DEFAULT_QUIET_MS,
};
use crate::reconcile::direction::Side;
use crate::reconcile::milestones::{Milestone, MilestoneSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedPolicy {
    /// Keep the stay until its order arrives (re-matched), or release it as an exception.
    Quarantine,
    /// Record it at once as an observation without an order.
    Record,
}

/// How a read point's reads become stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// RFID: reads fold into a stay that ends after the quiet interval, and is
    /// decided once its competitors at adjacent read points are.
    Dwell,
    /// A scan station: each scan is decided at once; repeats of a label within
    /// `repeat_window_ms` of the previous scan fold into it.
    Scan { repeat_window_ms: i64 },
}

/// A validated read point.
#[derive(Debug, Clone)]
pub struct ReadPoint {
    pub id: String,
    pub device: String,
    pub business_step: String,
    pub disposition: String,
    pub inbound: Option<(String, String)>,
    pub adjacent: Vec<String>,
    pub quiet_ms: i64,
    /// How long after its last read a stay waits before it is decided: the quiet
    /// interval, or the cross-read window if longer and the point has neighbours.
    pub hold_ms: i64,
    pub min_reads: u32,
    pub min_duration_ms: i64,
    pub unmatched: UnmatchedPolicy,
    pub capture: Capture,
    sides: BTreeMap<u16, Side>,
}

impl ReadPoint {
    pub fn is_portal(&self) -> bool {
        !self.sides.is_empty()
    }

    pub fn side(&self, antenna: u16) -> Option<Side> {
        self.sides.get(&antenna).copied()
    }
}

/// Validated settings the engine runs on.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub read_points: Vec<ReadPoint>,
    pub cross_read_window_ms: i64,
    pub lateness_ms: i64,
    pub direction_agreement: f64,
    pub late_read_horizon_ms: i64,
    pub quarantine_capacity: usize,
    pub quarantine_max_age_ms: i64,
    pub parcel_retention_ms: i64,
    pub prerequisites: BTreeMap<Milestone, MilestoneSet>,
    by_id: BTreeMap<String, usize>,
    by_antenna: BTreeMap<(String, u16), usize>,
    by_device: BTreeMap<String, usize>,
}

impl ReconcileSettings {
    pub fn read_point(&self, id: &str) -> Option<&ReadPoint> {
        self.by_id.get(id).map(|&i| &self.read_points[i])
    }

    /// The read point a device's antenna feeds (`None`: the device gave no antenna).
    pub fn locate(&self, device: &str, antenna: Option<u16>) -> Option<&ReadPoint> {
        let by_antenna = antenna.and_then(|a| self.by_antenna.get(&(device.to_string(), a)));
        let index = by_antenna.or_else(|| self.by_device.get(device)).or_else(|| {
            // A device without antenna numbers on a single read point still belongs to it.
            let mut points = self
                .by_antenna
                .range((device.to_string(), 0)..=(device.to_string(), u16::MAX));
            let first = points.next().map(|(_, i)| i)?;
            (antenna.is_none() && points.all(|(_, i)| i == first)).then_some(first)
        })?;
        Some(&self.read_points[*index])
    }
}

pub(super) fn compile(config: ReconcileConfig, mut problems: Vec<String>) -> Result<ReconcileSettings, ConfigError> {
    let p = &mut problems;
    let window = bounded(
        p,
        "cross_read_window_ms",
        config.cross_read_window_ms,
        DEFAULT_CROSS_READ_WINDOW_MS,
        0..=60_000,
    );
    let lateness = bounded(p, "lateness_ms", config.lateness_ms, DEFAULT_LATENESS_MS, 0..=600_000);
    let horizon = bounded(
        p,
        "late_read_horizon_ms",
        config.late_read_horizon_ms,
        DEFAULT_LATE_READ_HORIZON_MS,
        60_000..=86_400_000,
    );
    let capacity = bounded(
        p,
        "quarantine_capacity",
        config.quarantine_capacity,
        DEFAULT_QUARANTINE_CAPACITY,
        1..=1_000_000,
    );
    let max_age_h = bounded(
        p,
        "quarantine_max_age_hours",
        config.quarantine_max_age_hours,
        DEFAULT_QUARANTINE_MAX_AGE_HOURS,
        1..=24 * 90,
    );
    let retention_h = bounded(
        p,
        "parcel_retention_hours",
        config.parcel_retention_hours,
        DEFAULT_PARCEL_RETENTION_HOURS,
        1..=24 * 90,
    );
    let agreement = config.direction_agreement.unwrap_or(DEFAULT_DIRECTION_AGREEMENT);
    if !(agreement > 0.5 && agreement <= 1.0) {
        p.push(format!(
            "reconcile.direction_agreement: {agreement} is outside (0.5, 1.0] (default {DEFAULT_DIRECTION_AGREEMENT})"
        ));
    }
    let defaults = PointDefaults {
        quiet: bounded(p, "quiet_ms", config.quiet_ms, DEFAULT_QUIET_MS, 100..=600_000),
        min_reads: bounded(p, "min_reads", config.min_reads, DEFAULT_MIN_READS, 1..=100_000),
        min_duration: bounded(
            p,
            "min_duration_ms",
            config.min_duration_ms,
            DEFAULT_MIN_DURATION_MS,
            0..=600_000,
        ),
        window: window as i64,
    };
    let prerequisites = prerequisites(p, config.prerequisites);
    let ids: BTreeSet<&str> = config.read_points.iter().map(|rp| rp.id.as_str()).collect();
    let mut adjacency: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, rp) in config.read_points.iter().enumerate() {
        for other in &rp.adjacent {
            if other == &rp.id {
                p.push(format!(
                    "reconcile.read_points[{i}].adjacent: `{other}` is the read point itself"
                ));
            } else if !ids.contains(other.as_str()) {
                p.push(format!(
                    "reconcile.read_points[{i}].adjacent: `{other}` is not a configured read point"
                ));
            } else {
                adjacency.entry(rp.id.clone()).or_default().insert(other.clone());
                adjacency.entry(other.clone()).or_default().insert(rp.id.clone());
            }
        }
    }
    let mut settings = ReconcileSettings {
        read_points: Vec::new(),
        cross_read_window_ms: window as i64,
        lateness_ms: lateness as i64,
        direction_agreement: agreement,
        late_read_horizon_ms: horizon as i64,
        quarantine_capacity: capacity,
        quarantine_max_age_ms: max_age_h as i64 * 3_600_000,
        parcel_retention_ms: retention_h as i64 * 3_600_000,
        prerequisites,
        by_id: BTreeMap::new(),
        by_antenna: BTreeMap::new(),
        by_device: BTreeMap::new(),
    };
    for (i, rp) in config.read_points.into_iter().enumerate() {
        let adjacent = adjacency.remove(&rp.id).unwrap_or_default().into_iter().collect();
        let key = format!("reconcile.read_points[{i}]");
        let (point, antennas) = rp.compile_point(p, &key, &defaults, adjacent);
        settings.register(p, &key, point, antennas);
    }
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigError { problems })
    }
}

struct PointDefaults {
    quiet: u64,
    min_reads: u32,
    min_duration: u64,
    window: i64,
}

impl ReadPointConfig {
    fn compile_point(
        self,
        p: &mut Vec<String>,
        key: &str,
        d: &PointDefaults,
        adjacent: Vec<String>,
    ) -> (ReadPoint, BTreeSet<u16>) {
        if self.id.is_empty() || self.id.len() > 128 || self.id.chars().any(char::is_control) {
            p.push(format!("{key}.id: `{}` must be 1-128 printable characters", self.id));
        }
        if self.device.is_empty() {
            p.push(format!("{key}.device: required"));
        }
        let step_disposition = |p: &mut Vec<String>, field: &str, step: &str| {
            BUSINESS_STEPS
                .iter()
                .find(|(s, _)| *s == step)
                .map(|(_, disp)| disp.to_string())
                .unwrap_or_else(|| {
                    let known: Vec<_> = BUSINESS_STEPS.iter().map(|(s, _)| *s).collect();
                    p.push(format!("{key}.{field}: `{step}` is not one of {}", known.join(", ")));
                    String::new()
                })
        };
        let default_disposition = step_disposition(p, "business_step", &self.business_step);
        let inside: BTreeSet<u16> = self.inside.iter().copied().collect();
        let outside: BTreeSet<u16> = self.outside.iter().copied().collect();
        if inside.is_empty() != outside.is_empty() {
            p.push(format!("{key}: a portal needs both `inside` and `outside` antennas"));
        }
        if let Some(a) = inside.intersection(&outside).next() {
            p.push(format!("{key}: antenna {a} is both inside and outside"));
        }
        let antennas: BTreeSet<u16> = self.antennas.iter().chain(&inside).chain(&outside).copied().collect();
        if antennas.contains(&0) {
            p.push(format!("{key}.antennas: antennas are numbered from 1"));
        }
        let inbound = self.inbound_business_step.map(|step| {
            if inside.is_empty() {
                p.push(format!(
                    "{key}.inbound_business_step: only for portals (with inside and outside antennas)"
                ));
            }
            let disp = step_disposition(p, "inbound_business_step", &step);
            (step, disp)
        });
        let unmatched = match self.unmatched.as_deref() {
            None if Milestone::for_step(&self.business_step).is_some() => UnmatchedPolicy::Quarantine,
            None => UnmatchedPolicy::Record,
            Some("quarantine") => UnmatchedPolicy::Quarantine,
            Some("record") => UnmatchedPolicy::Record,
            Some(other) => {
                p.push(format!("{key}.unmatched: `{other}` is not quarantine or record"));
                UnmatchedPolicy::Record
            }
        };
        let capture = match self.repeat_window_ms {
            None => Capture::Dwell,
            Some(window) => {
                if !inside.is_empty() {
                    p.push(format!("{key}: a scan station (repeat_window_ms) cannot be a portal"));
                }
                if !adjacent.is_empty() {
                    p.push(format!(
                        "{key}: a scan station (repeat_window_ms) decides at once and has no cross-reads; \
                         it cannot be adjacent to `{}`",
                        adjacent.join("`, `")
                    ));
                }
                let window = bounded(
                    p,
                    &format!("{key}.repeat_window_ms"),
                    Some(window),
                    DEFAULT_REPEAT_WINDOW_MS,
                    0..=MAX_REPEAT_WINDOW_MS,
                );
                Capture::Scan {
                    repeat_window_ms: window as i64,
                }
            }
        };
        let quiet = bounded(p, &format!("{key}.quiet_ms"), self.quiet_ms, d.quiet, 100..=600_000) as i64;
        let hold = if adjacent.is_empty() {
            quiet
        } else {
            quiet.max(d.window)
        };
        let sides = inside
            .iter()
            .map(|a| (*a, Side::Inside))
            .chain(outside.iter().map(|a| (*a, Side::Outside)));
        let point = ReadPoint {
            id: self.id,
            device: self.device,
            disposition: self.disposition.unwrap_or(default_disposition),
            business_step: self.business_step,
            inbound,
            adjacent,
            quiet_ms: quiet,
            hold_ms: hold,
            min_reads: bounded(p, &format!("{key}.min_reads"), self.min_reads, d.min_reads, 1..=100_000),
            min_duration_ms: bounded(
                p,
                &format!("{key}.min_duration_ms"),
                self.min_duration_ms,
                d.min_duration,
                0..=600_000,
            ) as i64,
            unmatched,
            capture,
            sides: sides.collect(),
        };
        (point, antennas)
    }
}

impl ReconcileSettings {
    fn register(&mut self, p: &mut Vec<String>, key: &str, point: ReadPoint, antennas: BTreeSet<u16>) {
        let index = self.read_points.len();
        if self.by_id.insert(point.id.clone(), index).is_some() {
            p.push(format!("{key}.id: `{}` is listed twice", point.id));
        }
        let device = point.device.clone();
        let owner = |s: &Self, i: usize| s.read_points[i].id.clone();
        if let Some(&other) = self.by_device.get(&device) {
            p.push(format!(
                "{key}: device `{device}` already belongs whole to read point `{}`",
                owner(self, other)
            ));
        }
        if antennas.is_empty() {
            let claimed = self
                .by_antenna
                .range((device.clone(), 0)..=(device.clone(), u16::MAX))
                .next();
            if let Some((_, &other)) = claimed {
                p.push(format!(
                    "{key}: device `{device}` has antennas in read point `{}`; list this one's antennas",
                    owner(self, other)
                ));
            }
            self.by_device.insert(device.clone(), index);
        }
        for a in antennas {
            if let Some(other) = self.by_antenna.insert((device.clone(), a), index) {
                p.push(format!(
                    "{key}: antenna {a} of `{device}` is already in read point `{}`",
                    owner(self, other)
                ));
            }
        }
        self.read_points.push(point);
    }
}

fn prerequisites(p: &mut Vec<String>, raw: Option<BTreeMap<String, Vec<String>>>) -> BTreeMap<Milestone, MilestoneSet> {
    let Some(raw) = raw else {
        return DEFAULT_PREREQUISITES
            .iter()
            .map(|(m, req)| (*m, req.iter().copied().collect()))
            .collect();
    };
    let mut out = BTreeMap::new();
    let names = || Milestone::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
    for (name, required) in raw {
        let Some(m) = Milestone::parse(&name) else {
            p.push(format!("reconcile.prerequisites.{name}: not a milestone ({})", names()));
            continue;
        };
        let mut set = MilestoneSet::default();
        for r in required {
            match Milestone::parse(&r) {
                Some(req) if req < m => set.insert(req),
                Some(_) => p.push(format!(
                    "reconcile.prerequisites.{name}: `{r}` does not come before `{name}`"
                )),
                None => p.push(format!(
                    "reconcile.prerequisites.{name}: `{r}` is not a milestone ({})",
                    names()
                )),
            }
        }
        out.insert(m, set);
    }
    out
}

fn bounded<T>(p: &mut Vec<String>, key: &str, v: Option<T>, default: T, range: std::ops::RangeInclusive<T>) -> T
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    let v = v.unwrap_or(default);
    if range.contains(&v) {
        return v;
    }
    let key = if key.starts_with("reconcile.") {
        key.to_string()
    } else {
        format!("reconcile.{key}")
    };
    p.push(format!(
        "{key}: {v} is outside {}..={} (default {default})",
        range.start(),
        range.end()
    ));
    // Carry on with the default so that one bad value is reported once.
    default
}
