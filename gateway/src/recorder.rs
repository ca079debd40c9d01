//! Group commit: drains whatever drafts are waiting (up to a limit), records them
//! in one durable commit, then announces the new last sequence to the replicator.
//! Runs on its own thread because the commit blocks on fdatasync.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::ingest::IngestBatch;
use crate::metrics::{GatewayMetrics, RejectLabel};
use crate::store::{BudgetUse, CommitExtras, EventDraft, Store, StoreError};

pub struct Recorder {
    pub site_id: String,
    pub store: Arc<Store>,
    pub metrics: Arc<GatewayMetrics>,
    pub max_events_per_commit: usize,
    pub alarm: Arc<BudgetAlarm>,
    /// The last recorded sequence; the replicator waits on it.
    pub recorded: watch::Sender<u64>,
    /// Only consulted while waiting for room; the queue's closing is the normal stop.
    pub shutdown: CancellationToken,
}

impl Recorder {
    /// Ends when every sender is gone, after committing what it received: the drain.
    pub fn spawn(self, rx: mpsc::Receiver<IngestBatch>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || self.run(rx))
    }

    fn run(self, mut rx: mpsc::Receiver<IngestBatch>) {
        // After a failed commit the engine has seen reads whose journal entries were
        // not recorded; a snapshot now would mark them as done. Keep journaling, take
        // no snapshot until a restart replays the journal.
        let mut snapshots_allowed = true;
        while let Some(mut batch) = rx.blocking_recv() {
            // Group commit: whatever waits goes in. No pause to let more gather:
            // devices' PUBACKs wait for this commit, so a pause would be added to
            // every device's round trip and, through its in-flight window, divide
            // its throughput.
            while batch.drafts.len() < self.max_events_per_commit {
                match rx.try_recv() {
                    Ok(more) => batch.append(more),
                    Err(_) => break,
                }
            }
            let IngestBatch {
                drafts,
                mut extras,
                recorded: waiting,
                arrivals,
            } = batch;
            if !snapshots_allowed {
                extras.snapshot = None;
            }
            let committed = self.commit(drafts, &extras);
            if !committed && snapshots_allowed {
                snapshots_allowed = false;
                error!(
                    "a commit failed: no more engine snapshots and no more acknowledgements until restart, \
                     so the journal keeps every read and devices keep what was not recorded"
                );
            }
            // After a failed commit the engine has taken in reads whose events were not
            // recorded; the same reads sent again would be absorbed as duplicates. So
            // nothing is acknowledged any more: devices and the site broker keep every
            // later message, and the restart's replay derives them again.
            let ok = committed && snapshots_allowed;
            // Read-to-recorded latency is a read's: batches without reads (the
            // engine's snapshots, stays closed by the clock) have no arrivals.
            if committed {
                for r in arrivals {
                    self.metrics.read_to_recorded_seconds.observe(r.elapsed().as_secs_f64());
                }
            }
            for w in waiting {
                w.notify(ok);
            }
        }
        info!(last_sequence = self.store.last_sequence(), "recorder drained");
    }

    /// True when the drafts are recorded (or were all duplicates). A group
    /// commit can be large: when it does not fit in the disk budget, the largest
    /// prefix that fits (halving, so a few attempts) is recorded first, with the
    /// journal and snapshot; what is left waits or is refused as a whole.
    fn commit(&self, drafts: Vec<EventDraft>, extras: &CommitExtras) -> bool {
        let none = CommitExtras::default();
        let mut rest = drafts.as_slice();
        let mut extras = extras;
        let mut take = rest.len();
        loop {
            let piece = &rest[..take];
            let started = Instant::now();
            let result = self
                .store
                .record_with(&self.site_id, piece, extras, Utc::now().timestamp_millis());
            self.alarm.check(&self.metrics, self.store.budget_use());
            match result {
                Ok(r) => {
                    self.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                    self.metrics.events_recorded.inc_by(r.appended);
                    self.metrics.recorded_bytes.inc_by(r.added_bytes);
                    self.count_by_device(piece, r.duplicates);
                    self.metrics.events_duplicate.inc_by(r.duplicates);
                    self.metrics.events_compacted.inc_by(r.compacted);
                    self.recorded.send_replace(r.last_sequence);
                    rest = &rest[take..];
                    if rest.is_empty() {
                        return true;
                    }
                    extras = &none;
                    take = rest.len();
                }
                Err(StoreError::BudgetExhausted { .. }) if take > 1 => take /= 2,
                // A commit that does not fit waits until central's acks let compaction
                // make room: ingest stops reading, and what is not recorded is not
                // acknowledged, so the site broker or the device keeps it meanwhile.
                Err(e @ StoreError::BudgetExhausted { .. }) => {
                    let n = rest.len();
                    warn!(error = %e, events = n, "store full: waiting for central to acknowledge events");
                    std::thread::sleep(Duration::from_secs(1));
                    if self.shutdown.is_cancelled() {
                        // Not acknowledged: the site broker or the devices keep these messages.
                        warn!(
                            events = n,
                            "shutting down with the store full: these reads stay with the broker or the devices"
                        );
                        return false;
                    }
                    take = n;
                }
                Err(e) => {
                    let n = rest.len() as u64;
                    let reason = "store_error";
                    self.metrics
                        .rejected
                        .get_or_create(&RejectLabel {
                            reason,
                            device: "all".into(),
                        })
                        .inc_by(n);
                    error!(error = %e, events = n, reason, "commit refused; these events were not recorded");
                    return false;
                }
            }
        }
    }
}

impl Recorder {
    /// Events recorded per device. Only exact when the commit had no duplicates
    /// (the common case); with duplicates the per-device split is skipped rather
    /// than guessed, and the total above stays exact.
    fn count_by_device(&self, drafts: &[EventDraft], duplicates: u64) {
        if duplicates > 0 {
            return;
        }
        let mut by_device: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for d in drafts {
            *by_device.entry(d.0.device_id.as_str()).or_default() += 1;
        }
        for (device, n) in by_device {
            self.metrics.device_recorded(device, n);
        }
    }
}

/// Raises and clears the disk-budget alarm (metric and log) as use crosses the threshold.
#[derive(Debug)]
pub struct BudgetAlarm {
    pub threshold: f64,
    raised: std::sync::atomic::AtomicBool,
}

impl BudgetAlarm {
    pub fn new(threshold: f64) -> Self {
        Self {
            threshold,
            raised: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn check(&self, metrics: &GatewayMetrics, usage: BudgetUse) {
        use std::sync::atomic::Ordering;
        metrics.log_bytes.set(usage.log_bytes as i64);
        metrics.budget_bytes.set(usage.budget_bytes as i64);
        let over = usage.ratio() >= self.threshold;
        if over != self.raised.swap(over, Ordering::Relaxed) {
            metrics.budget_alarm.set(i64::from(over));
            let (used, budget) = (usage.log_bytes, usage.budget_bytes);
            if over {
                warn!(
                    used,
                    budget,
                    percent = (usage.ratio() * 100.0) as u64,
                    "disk budget alarm: the store is nearly full; is central reachable?"
                );
            } else {
                info!(used, budget, "disk budget alarm cleared");
            }
        }
    }
}
