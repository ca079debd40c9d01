//! Scan stations: a barcode scan is a deliberate act, so it becomes an event at once
//! instead of waiting for a quiet interval meant for RFID portals. Scans of the same
//! label at the same station within the repeat window of the previous one fold into
//! the scan that made the event (an operator re-scanning because the beep was missed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::as_vec;
use super::presence::StayKey;

/// Recent scans per (label, station): the runs of scans each folded into one event,
/// as (first, last) scan times.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecentScans {
    #[serde(with = "as_vec")]
    runs: BTreeMap<StayKey, Vec<(i64, i64)>>,
}

/// What one scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Not within the window of an earlier scan: an event of its own.
    New,
    /// Folded into an earlier scan's event.
    Repeat,
}

impl RecentScans {
    /// Classifies a scan at `time_ms` and remembers it. A repeat extends its run, so a
    /// label scanned every second for a minute is one event.
    pub fn scan(&mut self, key: &StayKey, time_ms: i64, window_ms: i64) -> Scan {
        let runs = self.runs.entry(key.clone()).or_default();
        let reaching = runs.iter_mut().find(|(first, last)| {
            first.saturating_sub(window_ms) <= time_ms && time_ms <= last.saturating_add(window_ms)
        });
        match reaching {
            Some(run) => {
                run.0 = run.0.min(time_ms);
                run.1 = run.1.max(time_ms);
                Scan::Repeat
            }
            None => {
                runs.push((time_ms, time_ms));
                Scan::New
            }
        }
    }

    /// Forgets runs whose last scan is older than `horizon_ms` before `clock_ms`.
    pub fn prune(&mut self, clock_ms: i64, horizon_ms: i64) {
        self.runs.retain(|_, runs| {
            runs.retain(|(_, last)| last.saturating_add(horizon_ms) >= clock_ms);
            !runs.is_empty()
        });
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&StayKey) -> bool) {
        self.runs.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::matching::Identity;

    fn key(label: &str) -> StayKey {
        StayKey {
            read_point: "pack-1".into(),
            identity: Identity {
                kind: waymark_devices::IdentifierKind::Sscc,
                value: label.into(),
            },
        }
    }

    #[test]
    fn repeats_within_the_window_of_the_previous_scan_fold() {
        let mut s = RecentScans::default();
        let a = key("a");
        assert_eq!(s.scan(&a, 0, 2000), Scan::New);
        assert_eq!(s.scan(&a, 1500, 2000), Scan::Repeat);
        assert_eq!(
            s.scan(&a, 3400, 2000),
            Scan::Repeat,
            "within the window of the second scan"
        );
        assert_eq!(s.scan(&a, 5401, 2000), Scan::New);
        assert_eq!(s.scan(&key("b"), 5401, 2000), Scan::New, "another label");
        assert_eq!(s.scan(&a, 5401, 2000), Scan::Repeat, "the same scan delivered twice");
    }

    #[test]
    fn a_zero_window_folds_only_scans_at_the_same_millisecond() {
        let mut s = RecentScans::default();
        let a = key("a");
        assert_eq!(s.scan(&a, 0, 0), Scan::New);
        assert_eq!(s.scan(&a, 0, 0), Scan::Repeat);
        assert_eq!(s.scan(&a, 1, 0), Scan::New);
    }

    #[test]
    fn pruning_forgets_old_runs() {
        let mut s = RecentScans::default();
        let a = key("a");
        s.scan(&a, 0, 2000);
        s.prune(70_000, 60_000);
        assert_eq!(s.scan(&a, 1000, 2000), Scan::New);
    }
}
