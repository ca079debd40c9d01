//! The gateway's local store: the durable event log (which is also the
//! replication queue) and the site's orders received by downlink.
//!
//! Durability: sled 0.34's `flush` ends in `sync_file_range`, which does not
//! survive a power cut, so a commit is `flush` followed by `fdatasync` of sled's
//! data file. Events are kept under ~1 KiB so that no sled page grows past the
//! blob threshold (128 KiB), because blob files are written without a sync.

mod budget;
mod cancelled;
mod chunks;
mod ids;
mod journal;
mod keys;
mod orders;
mod segments;

use std::fs::File;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prost::Message;
use waymark_proto::v1::{Event, EventKind};

pub use budget::{BudgetUse, Compacted};
pub use cancelled::{CANCELLED_RETENTION_MS, CancelledParcel};
use chunks::SplitBatch;
use ids::IdRuns;
pub use journal::{CommitExtras, EngineSnapshot, MAX_VALUE_BYTES};
use keys::{META_ACKED, META_LAST_SEQ, META_LOG_BYTES};
use segments::Segments;

/// Largest encoded event the store accepts (see the module note on blobs).
pub const MAX_EVENT_BYTES: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store i/o: {0}")]
    Sled(#[from] sled::Error),
    #[error("store sync: {0}")]
    Sync(#[from] std::io::Error),
    #[error(transparent)]
    Segment(#[from] segments::SegmentError),
    #[error("stored record {key} is corrupt: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("event {event_id} encodes to {size} bytes, more than {MAX_EVENT_BYTES}")]
    EventTooLarge { event_id: String, size: usize },
    #[error(
        "disk budget exhausted: {needed} bytes needed, {free} free of {budget} after compacting every event central has acknowledged"
    )]
    BudgetExhausted { needed: u64, free: u64, budget: u64 },
}

impl StoreError {
    /// Retrying later can succeed (central may acknowledge events meanwhile).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::BudgetExhausted { .. })
    }
}

/// An event as derived from reads, before the store gives it a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft(pub Event);

/// What one commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Events newly appended, with contiguous sequences ending at `last_sequence`.
    pub appended: u64,
    /// Drafts whose event id was already in the log (a redelivered read).
    pub duplicates: u64,
    pub last_sequence: u64,
    /// Acknowledged events removed to make room for this commit.
    pub compacted: u64,
    /// Bytes the appended events added to the log.
    pub added_bytes: u64,
}

pub struct Store {
    db: sled::Db,
    log: sled::Tree,
    orders: sled::Tree,
    /// sled's data file, kept open to fdatasync it after each flush.
    data_file: File,
    /// The chunks' bytes; `log` holds where each one is.
    segments: Segments,
    /// Serializes commits so that sequences are assigned without gaps.
    commit_lock: Mutex<LogState>,
    orders_held: AtomicU64,
    budget_bytes: u64,
    /// Central's acknowledged sequence, as last heard (see `set_acked_sequence`).
    acked: AtomicU64,
    acked_written_ms: AtomicI64,
}

const ACKED_WRITE_INTERVAL_MS: i64 = 1000;

/// A stored record that does not decode.
fn corrupt(key: &[u8], detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: format!("{key:?}"),
        detail: detail.to_string(),
    }
}

/// Counters kept in memory under the commit lock and in the log's meta keys.
#[derive(Debug, Clone, Copy)]
struct LogState {
    last_seq: u64,
    /// Bytes of events and their index entries in the log: what the budget caps.
    log_bytes: u64,
}

/// Bytes one event occupies in the log, its index entries included (the
/// budget's unit): the event framed in its chunk, the id index entry, and the
/// priority index entry of a milestone or exception.
fn entry_bytes(encoded_len: usize, event: &Event) -> u64 {
    let priority_key = if is_priority(event) { 9 } else { 0 };
    (encoded_len + 2 + 9 + event.event_id.len() + 8 + priority_key) as u64
}

/// The index entries of one event; `ids` writes its entry with the chunk's batch.
fn stage_index(batch: &mut SplitBatch, ids: &mut IdRuns<'_>, e: &Event) -> Result<(), StoreError> {
    ids.add(ids::Entry::new(
        &[keys::EVENT_ID],
        e.event_time_ms,
        &e.event_id,
        e.sequence,
    ))?;
    if is_priority(e) {
        batch.insert(keys::priority(e.sequence).to_vec(), Vec::new());
    }
    Ok(())
}

/// Milestones and exceptions replicate ahead of a backlog of observations.
pub fn is_priority(event: &Event) -> bool {
    matches!(
        EventKind::try_from(event.kind),
        Ok(EventKind::Milestone | EventKind::Exception)
    )
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store; `budget_bytes` caps the event log's size.
    pub fn open(dir: &Path, cache_capacity_bytes: u64, budget_bytes: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            // Every commit flushes and syncs by itself. sled's periodic flusher
            // also runs its log cleaner, which pages in old pages to move them and
            // grew a gateway from 30 to 85 MiB replicating a 1M-event backlog
            // while nothing new was written.
            .flush_every_ms(None)
            .open()?;
        let log = db.open_tree("log")?;
        let orders = db.open_tree("orders")?;
        let data_file = File::open(dir.join("db"))?;
        let state = LogState {
            last_seq: read_u64(&log, META_LAST_SEQ)?,
            log_bytes: read_u64(&log, META_LOG_BYTES)?,
        };
        let acked = read_u64(&log, META_ACKED)?;
        let orders_held = AtomicU64::new(orders.scan_prefix([keys::ORDER]).count() as u64);
        let store = Self {
            db,
            log,
            orders,
            data_file,
            segments: Segments::open(&dir.join("segments"))?,
            commit_lock: Mutex::new(state),
            orders_held,
            budget_bytes,
            acked: AtomicU64::new(acked),
            acked_written_ms: AtomicI64::new(0),
        };
        store.hold_indexed_chunks()?;
        store.upgrade_layout()?;
        store.count_in_partial_commit()?;
        Ok(store)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.commit_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends the drafts not already in the log and makes them durable.
    /// Returns only after the fdatasync: what it reports is recorded. When the
    /// budget would be exceeded it first compacts acknowledged events; if that is
    /// not enough it records nothing and returns `BudgetExhausted`.
    pub fn record(&self, site_id: &str, drafts: &[EventDraft], record_time_ms: i64) -> Result<Recorded, StoreError> {
        self.record_with(site_id, drafts, &CommitExtras::default(), record_time_ms)
    }

    /// `record`, plus journal entries and an engine snapshot in the same commit.
    ///
    /// The commit is written as several sled batches (see [`SplitBatch`]), each
    /// chunk with its events' index entries, the counters last, then one sync. A
    /// crash between batches leaves events stored that were never reported as
    /// recorded; their reads were not acknowledged either, so they come again and
    /// are absorbed by the id index, and `open` counts the stored events in.
    pub fn record_with(
        &self,
        site_id: &str,
        drafts: &[EventDraft],
        extras: &CommitExtras,
        record_time_ms: i64,
    ) -> Result<Recorded, StoreError> {
        let mut state = self.state();
        let mut seen_in_batch = std::collections::HashSet::new();
        let mut ids = IdRuns::new(&self.log);
        let mut events = Vec::new();
        let mut duplicates = 0;
        let mut added_bytes = 0;
        for EventDraft(draft) in drafts {
            if !seen_in_batch.insert(draft.event_id.as_str())
                || ids.get(draft.event_time_ms, &draft.event_id)?.is_some()
            {
                duplicates += 1;
                continue;
            }
            let mut event = draft.clone();
            event.site_id = site_id.to_string();
            event.sequence = state.last_seq + 1 + events.len() as u64;
            event.record_time_ms = record_time_ms;
            let len = event.encoded_len();
            if len > MAX_EVENT_BYTES {
                return Err(StoreError::EventTooLarge {
                    event_id: event.event_id,
                    size: len,
                });
            }
            added_bytes += entry_bytes(len, &event);
            events.push(event);
        }
        let appended = events.len() as u64;
        let next = state.last_seq + appended;
        let mut compacted = 0;
        if appended > 0 || !extras.is_empty() {
            if state.log_bytes + added_bytes > self.budget_bytes {
                let want = state.log_bytes + added_bytes - self.budget_bytes;
                compacted = self.compact_locked(&mut state, None, want)?.events;
                let free = self.budget_bytes.saturating_sub(state.log_bytes);
                if added_bytes > free {
                    return Err(StoreError::BudgetExhausted {
                        needed: added_bytes,
                        free,
                        budget: self.budget_bytes,
                    });
                }
            }
            let mut batch = SplitBatch::default();
            let block = journal::JournalBlock::of(extras);
            let more: Vec<&[u8]> = block.iter().map(|b| b.bytes.as_slice()).collect();
            let block_ref = self.stage_chunks_with(&mut batch, &mut ids, &events, &more)?;
            self.add_extras(&mut batch, extras, block.as_ref().zip(block_ref.into_iter().next()))?;
            let log_bytes = state.log_bytes + added_bytes;
            batch.insert(META_LAST_SEQ.to_vec(), next.to_be_bytes().to_vec());
            let acked = self.acked.load(Ordering::Relaxed);
            batch.insert(META_ACKED.to_vec(), acked.to_be_bytes().to_vec());
            batch.insert(META_LOG_BYTES.to_vec(), log_bytes.to_be_bytes().to_vec());
            self.apply_split(batch)?;
            self.sync()?;
            *state = LogState {
                last_seq: next,
                log_bytes,
            };
        }
        Ok(Recorded {
            appended,
            duplicates,
            last_sequence: next,
            compacted,
            added_bytes: if appended > 0 { added_bytes } else { 0 },
        })
    }

    /// sled flush (writes and sync_file_range) then fdatasync of the data file.
    fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.data_file.sync_data()?;
        Ok(())
    }

    pub fn last_sequence(&self) -> u64 {
        self.state().last_seq
    }

    /// Central has reported it holds events up to `high_water_mark`. If central is
    /// ahead of this store (the store was restored from an old copy), new events must
    /// start above it or central would discard them as already applied.
    pub fn note_central_high_water_mark(&self, high_water_mark: u64) -> Result<bool, StoreError> {
        let mut state = self.state();
        self.acked.store(high_water_mark, Ordering::Relaxed);
        self.log.insert(META_ACKED, &high_water_mark.to_be_bytes())?;
        if high_water_mark > state.last_seq {
            self.log.insert(META_LAST_SEQ, &high_water_mark.to_be_bytes())?;
            self.sync()?;
            state.last_seq = high_water_mark;
            return Ok(true);
        }
        Ok(false)
    }

    /// The highest sequence central has acknowledged, as last heard.
    pub fn acked_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.acked.load(Ordering::Relaxed))
    }

    /// Notes central's acknowledgement. It is written to sled at most once a
    /// second (and with every commit): each sled write moves sled's log on, and
    /// its cleaner then pages in old pages to relocate them, which kept a
    /// gateway's memory growing through a long catch-up. A crash can only lose a
    /// recent value, which makes compaction more careful, never less; replication
    /// resumes from central's own high-water mark anyway.
    pub fn set_acked_sequence(&self, seq: u64) -> Result<(), StoreError> {
        self.acked.store(seq, Ordering::Relaxed);
        let now = chrono::Utc::now().timestamp_millis();
        let last = self.acked_written_ms.load(Ordering::Relaxed);
        if now - last >= ACKED_WRITE_INTERVAL_MS {
            self.acked_written_ms.store(now, Ordering::Relaxed);
            self.log.insert(META_ACKED, &seq.to_be_bytes())?;
        }
        Ok(())
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0) + self.segments.size_on_disk()
    }
}

fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64, StoreError> {
    match tree.get(key)? {
        None => Ok(0),
        Some(v) => keys::decode_u64(&v).ok_or_else(|| StoreError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            detail: format!("expected 8 bytes, found {}", v.len()),
        }),
    }
}

#[cfg(test)]
mod tests;
