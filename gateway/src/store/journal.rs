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

/// A commit's journal entries as one segment record: `(seq u64, len u32, bytes)`
/// repeated, big-endian. Its index entry is keyed by the first sequence and holds
/// the reference and the last sequence, so a commit costs the index one write
/// however many payloads it journals. An index entry that holds only a reference
/// (the layout before blocks) points at a single entry's bytes.
pub(super) struct JournalBlock {
    pub first: u64,
    pub last: u64,
    pub bytes: Vec<u8>,
}

impl JournalBlock {
    /// The entries a snapshot in the same commit does not already cover, if any.
    pub(super) fn of(extras: &CommitExtras) -> Option<Self> {
        let covered = extras.snapshot.as_ref().map_or(0, |s| s.fed_through);
        let mut entries = extras.journal.iter().filter(|(seq, _)| *seq > covered).peekable();
        let first = entries.peek()?.0;
        let mut block = Self {
            first,
            last: first,
            bytes: Vec::new(),
        };
        for (seq, bytes) in entries {
            block.bytes.extend_from_slice(&seq.to_be_bytes());
            block.bytes.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            block.bytes.extend_from_slice(bytes);
            block.last = *seq;
        }
        Some(block)
    }

    fn decode(bytes: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, String> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (head, tail) = rest
                .split_at_checked(12)
                .ok_or_else(|| format!("journal block cut inside a header ({} bytes left)", rest.len()))?;
            let seq = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
            let len = u32::from_be_bytes(head[8..].try_into().expect("4 bytes")) as usize;
            let (entry, tail) = tail
                .split_at_checked(len)
                .ok_or_else(|| format!("journal entry {seq} of {len} bytes cut short"))?;
            out.push((seq, entry.to_vec()));
            rest = tail;
        }
        Ok(out)
    }
}

/// An index entry of the journal: where its bytes are and the last sequence they
/// hold (`None`: a single entry, the one the key names).
fn journal_entry(key: &[u8], value: &[u8]) -> Result<(ChunkRef, Option<u64>), StoreError> {
    let r = ChunkRef::decode(value).ok_or_else(|| corrupt(key, format!("journal entry of {} bytes", value.len())))?;
    let last = match value.get(ChunkRef::ENCODED_LEN..) {
        None | Some([]) => None,
        Some(b) => Some(keys::decode_u64(b).ok_or_else(|| corrupt(key, "journal block's last sequence"))?),
    };
    Ok((r, last))
}

impl Store {
    /// Stages the commit's journal block, whose bytes are already in the segments
    /// at `block_ref`, and the snapshot. The block may land in a batch of its own
    /// ahead of the rest: its reads are acknowledged only after the commit, so if a
    /// crash cuts it the reads come again, and replaying a read twice is harmless.
    /// The snapshot, its chunks and the blocks it drops go in one batch.
    pub(super) fn add_extras(
        &self,
        batch: &mut SplitBatch,
        extras: &CommitExtras,
        block: Option<(&JournalBlock, ChunkRef)>,
    ) -> Result<(), StoreError> {
        if let Some((block, r)) = block {
            self.segments.hold(&r);
            let mut value = r.encode();
            value.extend_from_slice(&block.last.to_be_bytes());
            batch.insert(keys::journal(block.first).to_vec(), value);
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
            // Blocks wholly covered go; one that straddles the snapshot stays until
            // a later one covers it, and replay skips what it already reflects.
            for item in self.log.range(keys::journal(0)..=keys::journal(snap.fed_through)) {
                let (k, v) = item?;
                let first = keys::decode_u64(&k[1..]).unwrap_or(0);
                match journal_entry(&k, &v) {
                    Ok((r, last)) if last.unwrap_or(first) <= snap.fed_through => batch.remove_ref(k.to_vec(), r),
                    Ok(_) => {}
                    Err(_) => batch.remove(k.to_vec()),
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
        // The journal is short (each snapshot drops what it covers): read it all
        // rather than look for the block that straddles `seq`.
        for item in self.log.scan_prefix([JOURNAL]) {
            let (k, v) = item?;
            let first = keys::decode_u64(&k[1..]).ok_or_else(|| corrupt(&k, "journal key"))?;
            let (r, last) = journal_entry(&k, &v)?;
            if last.unwrap_or(first) <= seq {
                continue;
            }
            let bytes = self.segments.read(&r)?;
            match last {
                None => out.push((first, bytes)),
                Some(_) => out.extend(
                    JournalBlock::decode(&bytes)
                        .map_err(|e| corrupt(&k, e))?
                        .into_iter()
                        .filter(|(s, _)| *s > seq),
                ),
            }
        }
        Ok(out)
    }

    /// The next journal sequence to use.
    pub fn journal_next(&self) -> Result<u64, StoreError> {
        let last_entry = match self.log.scan_prefix([JOURNAL]).next_back().transpose()? {
            Some((k, v)) => {
                let first = keys::decode_u64(&k[1..]).ok_or_else(|| corrupt(&k, "journal key"))?;
                Some(journal_entry(&k, &v)?.1.unwrap_or(first))
            }
            None => None,
        };
        let snapshot = self.engine_snapshot()?.map(|s| s.fed_through);
        Ok(last_entry.max(snapshot).map_or(1, |s| s + 1))
    }
}
