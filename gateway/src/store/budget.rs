//! The disk budget and compaction. Only events central has acknowledged are ever
//! removed, oldest first: after their retention, or earlier when the budget needs
//! the room. An unreplicated event is never removed to make space.

use prost::Message;
use waymark_proto::v1::Event;

use super::keys::{self, EVENT, META_LOG_BYTES};
use super::{LogState, Store, StoreError, entry_bytes, is_priority};

/// Events removed per sled batch while compacting.
const COMPACT_CHUNK: usize = 2048;

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
    pub(super) fn compact_locked(
        &self,
        state: &mut LogState,
        recorded_before_ms: Option<i64>,
        want_bytes: u64,
    ) -> Result<Compacted, StoreError> {
        let acked = self.acked_sequence()?.min(state.last_seq);
        let mut done = Compacted::default();
        while done.bytes < want_bytes {
            let mut batch = sled::Batch::default();
            let mut chunk = Compacted::default();
            for item in self.log.range(keys::event(0)..=keys::event(acked)).take(COMPACT_CHUNK) {
                let (k, v) = item?;
                let event = Event::decode(v.as_ref()).map_err(|e| StoreError::Corrupt {
                    key: format!("{k:?}"),
                    detail: e.to_string(),
                })?;
                if recorded_before_ms.is_some_and(|t| event.record_time_ms >= t)
                    || done.bytes + chunk.bytes >= want_bytes
                {
                    break;
                }
                chunk.events += 1;
                chunk.bytes += entry_bytes(v.len(), &event);
                batch.remove(k);
                batch.remove(keys::event_id(&event.event_id));
                if is_priority(&event) {
                    batch.remove(keys::priority(event.sequence).to_vec());
                }
            }
            if chunk.events == 0 {
                break;
            }
            state.log_bytes = state.log_bytes.saturating_sub(chunk.bytes);
            batch.insert(META_LOG_BYTES, &state.log_bytes.to_be_bytes());
            // Not synced on its own: losing a compaction in a power cut only keeps
            // events a little longer; the next commit's sync makes it durable.
            self.log.apply_batch(batch)?;
            done.events += chunk.events;
            done.bytes += chunk.bytes;
        }
        Ok(done)
    }

    /// The oldest sequence still in the log, if any.
    pub fn first_sequence(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .log
            .scan_prefix([EVENT])
            .next()
            .transpose()?
            .and_then(|(k, _)| keys::decode_u64(&k[1..])))
    }
}
