//! The read journal and the reconciliation engine's snapshot. Decoded reads are
//! journaled in the commit that follows their arrival, so a read the gateway has
//! acknowledged survives a crash even while its stay is still open; the engine's
//! state is snapshotted now and then with the journal position it covers, and the
//! entries it covers are dropped in that same commit. After a restart the engine is
//! restored from the snapshot and the journal after it is replayed.

use super::keys::{self, JOURNAL, META_ENGINE};
use super::{Store, StoreError};

/// What a commit carries besides events.
#[derive(Debug, Clone, Default)]
pub struct CommitExtras {
    /// (journal sequence, encoded entry), in order.
    pub journal: Vec<(u64, Vec<u8>)>,
    pub snapshot: Option<EngineSnapshot>,
}

impl CommitExtras {
    pub fn is_empty(&self) -> bool {
        self.journal.is_empty() && self.snapshot.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSnapshot {
    /// The engine state, serialized by the engine's owner.
    pub state: Vec<u8>,
    /// The last journal sequence whose reads the state already reflects.
    pub fed_through: u64,
}

impl Store {
    pub(super) fn add_extras(&self, batch: &mut sled::Batch, extras: &CommitExtras) -> Result<(), StoreError> {
        for (seq, entry) in &extras.journal {
            batch.insert(keys::journal(*seq).to_vec(), entry.as_slice());
        }
        if let Some(snap) = &extras.snapshot {
            let mut value = snap.fed_through.to_be_bytes().to_vec();
            value.extend_from_slice(&snap.state);
            batch.insert(META_ENGINE, value);
            for item in self.log.range(keys::journal(0)..=keys::journal(snap.fed_through)) {
                batch.remove(item?.0);
            }
            for (seq, _) in extras.journal.iter().filter(|(seq, _)| *seq <= snap.fed_through) {
                batch.remove(keys::journal(*seq).to_vec());
            }
        }
        Ok(())
    }

    pub fn engine_snapshot(&self) -> Result<Option<EngineSnapshot>, StoreError> {
        let Some(v) = self.log.get(META_ENGINE)? else {
            return Ok(None);
        };
        let fed_through = keys::decode_u64(v.get(..8).unwrap_or_default()).ok_or_else(|| StoreError::Corrupt {
            key: "engine snapshot".into(),
            detail: "shorter than 8 bytes".into(),
        })?;
        Ok(Some(EngineSnapshot {
            state: v[8..].to_vec(),
            fed_through,
        }))
    }

    /// Journal entries after `seq`, in order.
    pub fn journal_after(&self, seq: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .log
            .range(keys::journal(seq.saturating_add(1))..=keys::journal(u64::MAX))
        {
            let (k, v) = item?;
            out.push((keys::decode_u64(&k[1..]).unwrap_or(0), v.to_vec()));
        }
        Ok(out)
    }

    /// The next journal sequence to use.
    pub fn journal_next(&self) -> Result<u64, StoreError> {
        let last_entry = self
            .log
            .scan_prefix([JOURNAL])
            .next_back()
            .transpose()?
            .and_then(|(k, _)| keys::decode_u64(&k[1..]));
        let snapshot = self.engine_snapshot()?.map(|s| s.fed_through);
        Ok(last_entry.max(snapshot).map_or(1, |s| s + 1))
    }
}
