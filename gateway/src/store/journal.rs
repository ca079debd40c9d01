//! The read journal and the reconciliation engine's snapshot. The journal's
//! bytes go to the event segments with the commit's chunks (one write, one
//! sync); sled holds where each entry is. Decoded reads are
//! journaled in the commit that follows their arrival, so a read the gateway has
//! acknowledged survives a crash even while its stay is still open; the engine's
//! state is snapshotted now and then with the journal position it covers, and the
//! entries it covers are dropped in that same commit. After a restart the engine is
//! restored from the snapshot and the journal after it is replayed.

use super::chunks::SplitBatch;
use super::keys::{self, JOURNAL, META_ENGINE};
use super::segments::ChunkRef;
use super::{Store, StoreError, corrupt};

/// Largest value the journal and the snapshot write. sled writes a page over ~128 KiB
/// to a blob file it never syncs; 16 such values in a leaf stay far below that.
pub const MAX_VALUE_BYTES: usize = 4096;

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

/// Where the current snapshot's chunks are and what journal it covers.
#[derive(Debug, Clone, Copy)]
struct SnapshotHeader {
    fed_through: u64,
    generation: u64,
    chunks: u32,
}

impl SnapshotHeader {
    fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.fed_through.to_be_bytes());
        b[8..16].copy_from_slice(&self.generation.to_be_bytes());
        b[16..].copy_from_slice(&self.chunks.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        Some(Self {
            fed_through: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            generation: u64::from_be_bytes(b.get(8..16)?.try_into().ok()?),
            chunks: u32::from_be_bytes(b.get(16..20)?.try_into().ok()?),
        })
    }
}

impl Store {
    /// Stages the journal entries, whose bytes are already in the segments at
    /// `journal_refs`, and the snapshot. Journal entries may land in batches of
    /// their own ahead of the rest: their reads are acknowledged only after the
    /// commit, so if a crash cuts it the reads come again, and replaying a read
    /// twice is harmless. The snapshot, its chunks and the entries it drops go in
    /// one batch.
    pub(super) fn add_extras(
        &self,
        batch: &mut SplitBatch,
        extras: &CommitExtras,
        journal_refs: &[ChunkRef],
    ) -> Result<(), StoreError> {
        for ((seq, _), r) in extras.journal.iter().zip(journal_refs) {
            self.segments.hold(r);
            batch.insert(keys::journal(*seq).to_vec(), r.encode());
            batch.boundary();
        }
        if let Some(snap) = &extras.snapshot {
            // A new generation of chunks replaces the old one in the same batch.
            let old = self.snapshot_header()?;
            let generation = old.map_or(1, |h| h.generation + 1);
            let chunks: Vec<&[u8]> = snap.state.chunks(MAX_VALUE_BYTES).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                batch.insert(keys::snapshot_chunk(generation, i as u32).to_vec(), chunk.to_vec());
            }
            if let Some(old) = old {
                for i in 0..old.chunks {
                    batch.remove(keys::snapshot_chunk(old.generation, i).to_vec());
                }
            }
            let header = SnapshotHeader {
                fed_through: snap.fed_through,
                generation,
                chunks: chunks.len() as u32,
            };
            batch.insert(META_ENGINE.to_vec(), header.encode().to_vec());
            for item in self.log.range(keys::journal(0)..=keys::journal(snap.fed_through)) {
                let (k, v) = item?;
                match ChunkRef::decode(&v) {
                    Some(r) => batch.remove_ref(k.to_vec(), r),
                    None => batch.remove(k.to_vec()),
                }
            }
            for ((seq, _), r) in extras.journal.iter().zip(journal_refs) {
                if *seq <= snap.fed_through {
                    batch.remove_ref(keys::journal(*seq).to_vec(), *r);
                }
            }
        }
        Ok(())
    }

    fn snapshot_header(&self) -> Result<Option<SnapshotHeader>, StoreError> {
        let Some(v) = self.log.get(META_ENGINE)? else {
            return Ok(None);
        };
        SnapshotHeader::decode(&v).map(Some).ok_or_else(|| StoreError::Corrupt {
            key: "engine snapshot".into(),
            detail: format!("header of {} bytes", v.len()),
        })
    }

    pub fn engine_snapshot(&self) -> Result<Option<EngineSnapshot>, StoreError> {
        let Some(header) = self.snapshot_header()? else {
            return Ok(None);
        };
        let mut state = Vec::new();
        for i in 0..header.chunks {
            let chunk = self
                .log
                .get(keys::snapshot_chunk(header.generation, i))?
                .ok_or_else(|| StoreError::Corrupt {
                    key: "engine snapshot".into(),
                    detail: format!("chunk {i} of {} missing", header.chunks),
                })?;
            state.extend_from_slice(&chunk);
        }
        Ok(Some(EngineSnapshot {
            state,
            fed_through: header.fed_through,
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
            let r = ChunkRef::decode(&v).ok_or_else(|| corrupt(&k, format!("journal entry of {} bytes", v.len())))?;
            out.push((keys::decode_u64(&k[1..]).unwrap_or(0), self.segments.read(&r)?));
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
