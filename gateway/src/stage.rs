//! The reconciliation stage: the one owner of the engine. Ingest sends it decoded
//! reads; it journals them, feeds the engine, lets time pass every tick, re-matches
//! the quarantine when orders arrive, snapshots the engine now and then, and hands
//! the resulting events, journal entries and snapshots to the recorder, which
//! commits them together. It ends when ingest has stopped, after a last snapshot.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Local, Utc};
use serde::Serialize;
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};
use waymark_devices::Read;

use crate::ingest::{IngestBatch, OnRecorded};
use crate::metrics::GatewayMetrics;
use crate::reconcile::{BusinessEvent, Engine, EngineState, Identity, Lookup, LookupFn, ReconcileSettings, Stats};
use crate::store::{EngineSnapshot, EventDraft, Store, StoreError};

mod journal;

/// How often the engine's clock advances without new reads.
const TICK: Duration = Duration::from_millis(200);
/// How often the engine's state is committed (and the journal it covers dropped).
const SNAPSHOT_EVERY: Duration = Duration::from_secs(2);
/// Most reads the stage takes in before handing a batch to the recorder.
const MAX_READS_PER_BATCH: usize = 4096;

/// Decoded reads of one payload (or scanner frame) on their way to the engine.
#[derive(Debug)]
pub struct StageInput {
    pub device: String,
    pub reads: Vec<Read>,
    /// The gateway's clock at arrival; stands in for reads without a time.
    pub received: DateTime<FixedOffset>,
    pub arrived: Instant,
    /// Told whether the reads were journaled durably (the MQTT acknowledgement).
    pub ack: Option<OnRecorded>,
}

impl StageInput {
    pub fn new(device: &str, reads: Vec<Read>, ack: Option<OnRecorded>) -> Self {
        Self {
            device: device.to_string(),
            reads,
            received: Local::now().fixed_offset(),
            arrived: Instant::now(),
            ack,
        }
    }
}

/// What `/status` shows of the quarantine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuarantineView {
    pub count: usize,
    /// Newest first: what was read, where, when (ms since the epoch).
    pub recent: Vec<(String, String, i64)>,
}

pub struct Stage {
    engine: Engine,
    store: Arc<Store>,
    metrics: Arc<GatewayMetrics>,
    quarantine: Arc<Mutex<QuarantineView>>,
    next_journal: u64,
    counted: Stats,
}

impl Stage {
    /// Restores the engine from its snapshot and replays the journal after it.
    /// Returns the stage and the events the replay derived (the store absorbs the
    /// ones it already holds). Blocking: call it off the runtime's workers.
    pub fn restore(
        site_id: &str,
        settings: ReconcileSettings,
        store: Arc<Store>,
        metrics: Arc<GatewayMetrics>,
    ) -> Result<(Self, Vec<EventDraft>), StoreError> {
        let snapshot = store.engine_snapshot()?;
        let (engine, fed_through) = match &snapshot {
            Some(s) => match serde_json::from_slice::<EngineState>(&s.state)
                .map_err(|e| e.to_string())
                .and_then(|state| Engine::restore(site_id, settings.clone(), state).map_err(|e| e.to_string()))
            {
                Ok(engine) => (engine, s.fed_through),
                Err(e) => {
                    warn!(error = %e, "reconciliation snapshot unusable; starting afresh and replaying the journal");
                    (Engine::new(site_id, settings), 0)
                }
            },
            None => (Engine::new(site_id, settings), 0),
        };
        let mut stage = Self {
            engine,
            counted: Stats::default(),
            store: store.clone(),
            metrics,
            quarantine: Arc::default(),
            next_journal: store.journal_next()?,
        };
        stage.counted = *stage.engine.stats();
        for (reason, _) in stage.counted.exceptions_by_reason() {
            stage.metrics.exceptions(reason, 0);
        }
        let mut replayed = Vec::new();
        let journal = store.journal_after(fed_through)?;
        for (_, bytes) in &journal {
            let Some(entry) = journal::decode(bytes) else {
                warn!("skipping an unreadable journal entry");
                continue;
            };
            let mut m = matcher(&store);
            let events = stage
                .engine
                .observe_batch(&entry.device, &entry.reads, entry.received, &mut m);
            replayed.extend(events.iter().map(BusinessEvent::to_draft));
        }
        if !journal.is_empty() || snapshot.is_some() {
            info!(
                journal_entries = journal.len(),
                events = replayed.len(),
                "reconciliation restored"
            );
        }
        stage.publish_view();
        Ok((stage, replayed))
    }

    pub fn quarantine_view(&self) -> Arc<Mutex<QuarantineView>> {
        self.quarantine.clone()
    }

    pub async fn run(
        mut self,
        replayed: Vec<EventDraft>,
        mut input: mpsc::Receiver<StageInput>,
        out: mpsc::Sender<IngestBatch>,
        orders_arrived: Arc<Notify>,
    ) {
        // What the journal replay derived goes out with a snapshot of the engine
        // that derived it, in one commit: the next start replays only what comes
        // after. Without it a gateway that crashes before its first periodic
        // snapshot replays ever more on every start (a crash loop snowballs).
        let mut first = IngestBatch::new(replayed);
        first.extras.snapshot = self.snapshot();
        if out.send(first).await.is_err() {
            return;
        }
        let mut last_snapshot = Instant::now();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch = tokio::select! {
                biased;
                msg = input.recv() => match msg {
                    Some(msg) => {
                        // Whatever else is waiting goes in the same batch: one hand-off
                        // to the recorder and one metrics update for all of it.
                        let mut batch = IngestBatch::default();
                        let mut reads = msg.reads.len();
                        self.observe(msg, &mut batch);
                        while reads < MAX_READS_PER_BATCH {
                            let Ok(msg) = input.try_recv() else { break };
                            reads += msg.reads.len();
                            self.observe(msg, &mut batch);
                        }
                        batch
                    }
                    None => break,
                },
                () = orders_arrived.notified() => {
                    let mut m = matcher(&self.store);
                    batch_of(self.engine.rematch(&mut m))
                }
                _ = tick.tick() => {
                    let mut m = matcher(&self.store);
                    batch_of(self.engine.tick(Utc::now().with_timezone(Local::now().offset()), &mut m))
                }
            };
            if last_snapshot.elapsed() >= SNAPSHOT_EVERY {
                batch.extras.snapshot = self.snapshot();
                last_snapshot = Instant::now();
            }
            self.account();
            if !batch.is_empty() && out.send(batch).await.is_err() {
                return;
            }
        }
        // Ingest has stopped: keep the open stays for the next start.
        let mut last = IngestBatch::new(Vec::new());
        last.extras.snapshot = self.snapshot();
        out.send(last).await.ok();
        info!("reconciliation stage stopped");
    }

    /// Journals `msg`'s reads and feeds them to the engine; both go into `batch`.
    fn observe(&mut self, msg: StageInput, batch: &mut IngestBatch) {
        batch.recorded.extend(msg.ack);
        if msg.reads.is_empty() {
            return;
        }
        batch.extras.journal.push((
            self.next_journal,
            journal::encode(&msg.device, msg.received, &msg.reads),
        ));
        self.next_journal += 1;
        batch.arrivals.push(msg.arrived);
        let mut m = matcher(&self.store);
        let events = self.engine.observe_batch(&msg.device, &msg.reads, msg.received, &mut m);
        batch.drafts.extend(events.iter().map(BusinessEvent::to_draft));
    }

    fn snapshot(&self) -> Option<EngineSnapshot> {
        match serde_json::to_vec(self.engine.state()) {
            Ok(state) => Some(EngineSnapshot {
                state,
                fed_through: self.next_journal.saturating_sub(1),
            }),
            Err(e) => {
                warn!(error = %e, "engine state not encodable; keeping the journal");
                None
            }
        }
    }

    /// Moves the engine's counters into metrics and refreshes the quarantine view.
    fn account(&mut self) {
        let now = *self.engine.stats();
        let m = &self.metrics;
        let was = self.counted;
        m.reconcile_cross_reads
            .inc_by(now.cross_reads.saturating_sub(was.cross_reads));
        m.reconcile_blips.inc_by(now.blips.saturating_sub(was.blips));
        m.reconcile_reads_late
            .inc_by(now.reads_late.saturating_sub(was.reads_late));
        m.reconcile_reads_unmapped
            .inc_by(now.reads_unmapped.saturating_sub(was.reads_unmapped));
        for ((reason, after), (_, before)) in now.exceptions_by_reason().into_iter().zip(was.exceptions_by_reason()) {
            m.exceptions(reason, after.saturating_sub(before));
        }
        m.reconcile_rematched
            .inc_by(now.rematched.saturating_sub(was.rematched));
        m.reconcile_scans_repeated
            .inc_by(now.scans_repeated.saturating_sub(was.scans_repeated));
        self.counted = now;
        if now != was {
            self.publish_view();
        }
    }

    fn publish_view(&self) {
        let q = self.engine.quarantine();
        self.metrics.quarantine_size.set(q.len() as i64);
        let view = QuarantineView {
            count: q.len(),
            recent: q
                .recent(10)
                .map(|e| {
                    (
                        e.stay.identity.value.clone(),
                        e.stay.read_point.clone(),
                        e.stay.first_ms,
                    )
                })
                .collect(),
        };
        *self.quarantine.lock().unwrap_or_else(|p| p.into_inner()) = view;
    }
}

fn batch_of(events: Vec<BusinessEvent>) -> IngestBatch {
    IngestBatch::new(events.iter().map(BusinessEvent::to_draft).collect())
}

/// Parcels as the site's orders know them, cancelled ones included. A store error
/// reads as unknown: the stay waits in the quarantine and is matched again later.
pub(crate) fn matcher(store: &Store) -> LookupFn<impl FnMut(&Identity) -> Lookup + '_> {
    LookupFn(move |k: &Identity| store.lookup(&k.value).unwrap_or(Lookup::Unknown))
}
