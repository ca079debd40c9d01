//! The disk budget and compaction. Only events central has acknowledged are ever
//! removed, oldest first: after their retention, or earlier when the budget needs
//! the room. An unreplicated event is never removed to make space.

use prost::Message;

use super::chunks::SplitBatch;
use super::ids::IdRuns;
use super::keys::{self, META_LOG_BYTES};
use super::{LogState, Store, StoreError, entry_bytes, is_priority};

/// Chunks read per pass while compacting.
const COMPACT_CHUNKS: usize = 64;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    pub events: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetUse {
    pub log_bytes: u64,
    pub budget_bytes: u64,
}

impl BudgetUse {
    pub fn ratio(&self) -> f64 {
        self.log_bytes as f64 / self.budget_bytes.max(1) as f64
    }
}

impl Store {
    pub fn budget_use(&self) -> BudgetUse {
        BudgetUse {
            log_bytes: self.state().log_bytes,
            budget_bytes: self.budget_bytes,
        }
    }

    /// Removes acknowledged events recorded before `recorded_before_ms` (retention).
    pub fn compact_expired(&self, recorded_before_ms: i64) -> Result<Compacted, StoreError> {
        let mut state = self.state();
        self.compact_locked(&mut state, Some(recorded_before_ms), u64::MAX)
    }

    /// Removes acknowledged events, oldest first, until `want_bytes` are freed or
    /// none is left that qualifies (`recorded_before_ms`, when set, limits by age).
    /// A chunk partly compacted is written again with the events it keeps.
    pub(super) fn compact_locked(
        &self,
        state: &mut LogState,
        recorded_before_ms: Option<i64>,
        want_bytes: u64,
    ) -> Result<Compacted, StoreError> {
        let acked = self.acked_sequence()?.min(state.last_seq);
        let mut done = Compacted::default();
        let mut exhausted = false;
        while !exhausted && done.bytes < want_bytes {
            let mut batch = SplitBatch::default();
            let mut ids = IdRuns::new(&self.log);
            let mut step = Compacted::default();
            let chunks = self.log.range(keys::chunk(0)..=keys::chunk(acked)).take(COMPACT_CHUNKS);
            let mut seen = 0;
            for item in chunks {
                seen += 1;
                let (k, v) = item?;
                let (chunk_ref, events) = self.read_chunk(&k, &v)?;
                let keep = events
                    .iter()
                    .position(|e| {
                        let qualifies = e.sequence <= acked
                            && recorded_before_ms.is_none_or(|t| e.record_time_ms < t)
                            && done.bytes + step.bytes < want_bytes;
                        if qualifies {
                            step.events += 1;
                            step.bytes += entry_bytes(e.encoded_len(), e);
                        }
                        !qualifies
                    })
                    .unwrap_or(events.len());
                if keep == 0 {
                    exhausted = true;
                    break;
                }
                for e in &events[..keep] {
                    ids.remove(e.event_time_ms, &e.event_id)?;
                    if is_priority(e) {
                        batch.remove(keys::priority(e.sequence).to_vec());
                    }
                }
                batch.remove_ref(k.to_vec(), chunk_ref);
                // The events kept go into a new chunk (their index entries are
                // written again, unchanged).
                self.stage_chunks(&mut batch, &mut ids, &events[keep..])?;
                ids.write(&mut batch);
                batch.boundary();
                if keep < events.len() {
                    exhausted = true;
                    break;
                }
            }
            if seen < COMPACT_CHUNKS {
                exhausted = true;
            }
            if batch.is_empty() {
                break;
            }
            state.log_bytes = state.log_bytes.saturating_sub(step.bytes);
            batch.insert(META_LOG_BYTES.to_vec(), state.log_bytes.to_be_bytes().to_vec());
            // Not synced on its own: losing a compaction in a power cut only keeps
            // events a little longer; the next commit's sync makes it durable.
            self.apply_split(batch)?;
            done.events += step.events;
            done.bytes += step.bytes;
        }
        let unused = self.segments.unused();
        if !unused.is_empty() {
            // The removals must be durable before the bytes they pointed at go.
            self.sync()?;
            self.segments.delete(&unused)?;
        }
        Ok(done)
    }
}
