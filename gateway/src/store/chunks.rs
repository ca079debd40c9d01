//! How the event log sits in sled: events in chunks of consecutive sequences
//! (`waymark_proto::chunk`), reads through them, commits split into small
//! batches, recovery of a commit cut by a crash, and the upgrade from the
//! one-key-per-event layout.

use prost::Message;
use waymark_proto::chunk;
use waymark_proto::v1::Event;

use super::ids::IdRuns;
use super::keys::{self, CHUNK, FORMAT_CHUNKS, JOURNAL, LEGACY_EVENT, META_FORMAT, META_LAST_SEQ, META_LOG_BYTES};
use super::segments::ChunkRef;
use super::{Store, StoreError, corrupt, entry_bytes, read_u64, stage_index};

/// Writes per sled batch before a commit starts another. sled keeps a copy of a
/// leaf for every write into it until its batch completes: 1M events written
/// 4,096 to a batch peaked at 8 GB of memory, 128 to a batch at 53 MB.
const WRITES_PER_BATCH: usize = 256;

/// A commit as a sequence of sled batches. Each batch is atomic on its own and a
/// crash keeps a prefix of them; callers mark with `boundary` where a cut leaves
/// the store consistent (after a chunk and its index entries, say).
#[derive(Default)]
pub(super) struct SplitBatch {
    done: Vec<sled::Batch>,
    current: sled::Batch,
    writes: usize,
    /// Segment references the removals drop; released once they are applied.
    released: Vec<ChunkRef>,
}

impl SplitBatch {
    pub(super) fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.current.insert(key, value);
        self.writes += 1;
    }

    pub(super) fn remove(&mut self, key: Vec<u8>) {
        self.current.remove(key);
        self.writes += 1;
    }

    /// Removes the index entry `key` that points at `r` in the segments.
    pub(super) fn remove_ref(&mut self, key: Vec<u8>, r: ChunkRef) {
        self.remove(key);
        self.released.push(r);
    }

    /// Starts a new batch here if the current one is full.
    pub(super) fn boundary(&mut self) {
        if self.writes >= WRITES_PER_BATCH {
            self.done.push(std::mem::take(&mut self.current));
            self.writes = 0;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.done.is_empty() && self.writes == 0
    }

    /// Applies the batches in order; returns the segment references the
    /// removals dropped, to release only now that they are written (released
    /// earlier, a failed write would leave a segment counted short and deletable
    /// while still in use).
    pub(super) fn apply(self, tree: &sled::Tree) -> Result<Vec<ChunkRef>, sled::Error> {
        for batch in self.done {
            tree.apply_batch(batch)?;
        }
        tree.apply_batch(self.current)?;
        Ok(self.released)
    }
}

impl Store {
    /// Applies a commit's batches, then releases the segment references it dropped.
    pub(super) fn apply_split(&self, batch: SplitBatch) -> Result<(), StoreError> {
        for r in batch.apply(&self.log)? {
            self.segments.release(&r);
        }
        Ok(())
    }
}

fn chunk_first(key: &[u8]) -> u64 {
    keys::decode_u64(&key[1..]).unwrap_or(0)
}

impl Store {
    /// Appends `events` (consecutive sequences) to the segments as chunks and
    /// syncs them, then stages each chunk's index entry with its events' entries
    /// in `batch`, one batch boundary per chunk.
    pub(super) fn stage_chunks(
        &self,
        batch: &mut SplitBatch,
        ids: &mut IdRuns<'_>,
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.stage_chunks_with(batch, ids, events, &[]).map(|_| ())
    }

    /// `stage_chunks`, with `more` appended and synced in the same write; returns
    /// where each of `more` went.
    pub(super) fn stage_chunks_with(
        &self,
        batch: &mut SplitBatch,
        ids: &mut IdRuns<'_>,
        events: &[Event],
        more: &[&[u8]],
    ) -> Result<Vec<ChunkRef>, StoreError> {
        let chunks = chunk::chunks(events, chunk::CHUNK_TARGET_BYTES);
        if chunks.is_empty() && more.is_empty() {
            return Ok(Vec::new());
        }
        let bytes: Vec<&[u8]> = chunks
            .iter()
            .map(|c| c.bytes.as_slice())
            .chain(more.iter().copied())
            .collect();
        let mut refs = self.segments.append(&bytes)?;
        self.segments.sync()?;
        let more_refs = refs.split_off(chunks.len());
        for (c, r) in chunks.iter().zip(&refs) {
            // Held before the index entry exists: counting one too many only
            // keeps a segment a little longer.
            self.segments.hold(r);
            for e in &events[c.events.clone()] {
                stage_index(batch, ids, e)?;
            }
            ids.write(batch);
            batch.insert(keys::chunk(c.first_sequence).to_vec(), r.encode());
            batch.boundary();
        }
        Ok(more_refs)
    }

    /// The events of the chunk whose index entry is `(key, value)`.
    pub(super) fn read_chunk(&self, key: &[u8], value: &[u8]) -> Result<(ChunkRef, Vec<Event>), StoreError> {
        let r = ChunkRef::decode(value).ok_or_else(|| corrupt(key, format!("chunk entry of {} bytes", value.len())))?;
        let bytes = self.segments.read(&r)?;
        Ok((r, chunk::decode(&bytes).map_err(|e| corrupt(key, e))?))
    }

    /// Counts, per segment, the chunks and journal entries the index points at.
    /// Runs before `upgrade_layout`: until it is done, journal entries hold their
    /// bytes, not a reference, and are not counted.
    pub(super) fn hold_indexed_chunks(&self) -> Result<(), StoreError> {
        let journal = if read_u64(&self.log, META_FORMAT)? == FORMAT_CHUNKS {
            Some(self.log.scan_prefix([JOURNAL]))
        } else {
            None
        };
        for item in self.log.scan_prefix([CHUNK]).chain(journal.into_iter().flatten()) {
            let (k, v) = item?;
            let r = ChunkRef::decode(&v).ok_or_else(|| corrupt(&k, "segment reference"))?;
            self.segments.hold(&r);
        }
        Ok(())
    }

    /// Up to `max` events with sequence >= `from`, in order.
    pub fn events_from(&self, from: u64, max: usize) -> Result<Vec<Event>, StoreError> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        let start = self.chunk_holding(from)?.map_or(from, |(k, _)| chunk_first(&k));
        for item in self.log.range(keys::chunk(start)..=keys::chunk(u64::MAX)) {
            let (k, v) = item?;
            for e in self.read_chunk(&k, &v)?.1 {
                if e.sequence >= from {
                    out.push(e);
                    if out.len() == max {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Up to `max` milestone and exception events with sequence >= `from`, in order.
    pub fn priority_from(&self, from: u64, max: usize) -> Result<Vec<Event>, StoreError> {
        let mut out = Vec::new();
        let mut cached: Vec<Event> = Vec::new();
        for item in self.log.range(keys::priority(from)..keys::priority(u64::MAX)).take(max) {
            let (k, _) = item?;
            let Some(seq) = keys::decode_u64(&k[1..]) else {
                continue;
            };
            if !cached.iter().any(|e| e.sequence == seq) {
                cached = match self.chunk_holding(seq)? {
                    Some((chunk_key, v)) => self.read_chunk(&chunk_key, &v)?.1,
                    None => Vec::new(),
                };
            }
            // Compaction removes an event and its priority key in one batch, so a
            // missing event here only means it was compacted meanwhile.
            if let Some(e) = cached.iter().find(|e| e.sequence == seq) {
                out.push(e.clone());
            }
        }
        Ok(out)
    }

    /// The index entry (key, value) of the chunk that would hold `seq`: chunks
    /// never span a hole, so it is the last chunk starting at or below `seq`.
    fn chunk_holding(&self, seq: u64) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        Ok(self
            .log
            .range(keys::chunk(0)..=keys::chunk(seq))
            .next_back()
            .transpose()?)
    }

    /// The oldest sequence still in the log, if any.
    pub fn first_sequence(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .log
            .scan_prefix([CHUNK])
            .next()
            .transpose()?
            .map(|(k, _)| chunk_first(&k)))
    }

    /// A crash between the batches of a commit can leave chunks after the last
    /// sequence the counters know (see `record_with`). Their events are kept: they
    /// are in the log with their index entries, and their reads will be absorbed
    /// as duplicates when they come again.
    pub(super) fn count_in_partial_commit(&self) -> Result<(), StoreError> {
        let mut state = self.state();
        let mut last = state.last_seq;
        let mut bytes = 0;
        for item in self.log.range(keys::chunk(state.last_seq + 1)..=keys::chunk(u64::MAX)) {
            let (k, v) = item?;
            for e in self.read_chunk(&k, &v)?.1 {
                last = last.max(e.sequence);
                bytes += entry_bytes(e.encoded_len(), &e);
            }
        }
        if last > state.last_seq {
            tracing::warn!(
                from = state.last_seq + 1,
                to = last,
                "events of a commit cut short by a crash kept; their reads will be absorbed as duplicates"
            );
            let mut batch = sled::Batch::default();
            batch.insert(META_LAST_SEQ, &last.to_be_bytes());
            batch.insert(META_LOG_BYTES, &(state.log_bytes + bytes).to_be_bytes());
            self.log.apply_batch(batch)?;
            self.sync()?;
            state.last_seq = last;
            state.log_bytes += bytes;
        }
        Ok(())
    }

    /// Rewrites a store of the first layout (one key per event, id index by id
    /// alone) into chunks. Each batch moves a run of events and their index
    /// entries; a crash in between resumes where it stopped.
    pub(super) fn upgrade_layout(&self) -> Result<(), StoreError> {
        if read_u64(&self.log, META_FORMAT)? == FORMAT_CHUNKS {
            return Ok(());
        }
        let mut moved = 0u64;
        loop {
            let mut events = Vec::new();
            let mut batch = SplitBatch::default();
            // At most 4 writes per event: few enough that the chunks' index
            // entries stay in one batch with the removals (no boundary is
            // reached), so each pass moves its events atomically.
            for item in self.log.scan_prefix([LEGACY_EVENT]).take(WRITES_PER_BATCH / 8) {
                let (k, v) = item?;
                events.push(Event::decode(v.as_ref()).map_err(|e| corrupt(&k, e))?);
                batch.remove(k.to_vec());
            }
            if events.is_empty() {
                break;
            }
            for e in &events {
                batch.remove(keys::legacy_event_id(&e.event_id));
            }
            let mut ids = IdRuns::new(&self.log);
            self.stage_chunks(&mut batch, &mut ids, &events)?;
            moved += events.len() as u64;
            self.apply_split(batch)?;
        }
        // First-layout journal entries hold their bytes: they move to the segments
        // in one batch with the format key, so that an entry is never taken for
        // bytes once it holds a reference. The journal is short (a snapshot
        // drops what it covers).
        let entries: Vec<(sled::IVec, sled::IVec)> = self.log.scan_prefix([JOURNAL]).collect::<Result<_, _>>()?;
        let bytes: Vec<&[u8]> = entries.iter().map(|(_, v)| v.as_ref()).collect();
        let refs = self.segments.append(&bytes)?;
        self.segments.sync()?;
        let mut batch = sled::Batch::default();
        for ((k, _), r) in entries.iter().zip(&refs) {
            self.segments.hold(r);
            batch.insert(k.clone(), r.encode());
        }
        batch.insert(META_FORMAT, &FORMAT_CHUNKS.to_be_bytes());
        self.log.apply_batch(batch)?;
        self.sync()?;
        if moved > 0 || !entries.is_empty() {
            tracing::info!(
                events = moved,
                journal = entries.len(),
                "event log rewritten into chunks and segments"
            );
        }
        Ok(())
    }
}
