//! Group commit: drains whatever drafts are waiting (up to a limit), records them
//! in one durable commit, then announces the new last sequence to the replicator.
//! Runs on its own thread because the commit blocks on fdatasync.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::ingest::IngestBatch;
use crate::metrics::GatewayMetrics;
use crate::store::Store;

pub struct Recorder {
    pub site_id: String,
    pub store: Arc<Store>,
    pub metrics: Arc<GatewayMetrics>,
    pub max_events_per_commit: usize,
    /// The last recorded sequence; the replicator waits on it.
    pub recorded: watch::Sender<u64>,
}

impl Recorder {
    /// Ends when every sender is gone, after committing what it received: the drain.
    pub fn spawn(self, rx: mpsc::Receiver<IngestBatch>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || self.run(rx))
    }

    fn run(self, mut rx: mpsc::Receiver<IngestBatch>) {
        while let Some(first) = rx.blocking_recv() {
            let mut drafts = first.drafts;
            let mut waiting: Vec<_> = first.recorded.into_iter().collect();
            while drafts.len() < self.max_events_per_commit {
                match rx.try_recv() {
                    Ok(more) => {
                        drafts.extend(more.drafts);
                        waiting.extend(more.recorded);
                    }
                    Err(_) => break,
                }
            }
            let n = drafts.len();
            let started = Instant::now();
            match self.store.record(&self.site_id, drafts, Utc::now().timestamp_millis()) {
                Ok(r) => {
                    self.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                    self.metrics.events_recorded.inc_by(r.appended);
                    self.metrics.events_duplicate.inc_by(r.duplicates);
                    self.recorded.send_replace(r.last_sequence);
                    for w in waiting {
                        w.send(true).ok();
                    }
                }
                Err(e) => {
                    // Nothing of this batch was recorded; the reads are counted as lost.
                    self.metrics
                        .rejected
                        .get_or_create(&crate::metrics::RejectLabel {
                            reason: "store_error",
                            device: "all".into(),
                        })
                        .inc_by(n as u64);
                    error!(error = %e, events = n, "commit failed; these events were not recorded");
                    for w in waiting {
                        w.send(false).ok();
                    }
                }
            }
        }
        info!(last_sequence = self.store.last_sequence(), "recorder drained");
    }
}
