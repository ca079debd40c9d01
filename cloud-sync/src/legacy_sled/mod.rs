//! The sled store of Waymark releases before central moved to SQL, kept to
//! read a data directory for `waymark-sync import-sled` (and to write one in
//! the import test). Every site's events (applied exactly once, in per-site order,
//! stored in chunks of consecutive sequences, see `waymark_proto::chunk`),
//! the identifier index behind order timelines, orders with a per-site revision
//! log for the downlink, the last status report of each gateway, and the API's
//! tokens (hashed).
//!
//! A commit is durable before it is acknowledged: sled flush, then fdatasync of
//! its data file (sled 0.34's flush alone only issues sync_file_range).

mod enrollment;
mod gaps;
mod ids;
mod keys;
mod orders;
mod tokens;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::sync::Mutex;

use prost::Message;
use waymark_proto::chunk::{self, CHUNK_TARGET_BYTES};
use waymark_proto::v1::{Event, GatewayStatus};

pub use crate::ops::SiteSummary;
pub use enrollment::{EnrollmentError, EnrollmentToken};
pub use gaps::GapRecord;
pub use orders::{NewOrder, NewParcel, OrderError, order_identifiers};
pub use tokens::TokenRecord;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store i/o: {0}")]
    Sled(#[from] sled::Error),
    #[error("store sync: {0}")]
    Sync(#[from] std::io::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the store in {0} was written by an earlier Waymark (one key per event) and this version cannot read it; start central on a new data directory (gateways resend what they still hold)"
    )]
    Layout(String),
}

/// Why a batch from a gateway was refused; nothing of it was applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("event {sequence} claims site `{claimed}`, the stream belongs to `{site}`")]
    WrongSite {
        site: String,
        claimed: String,
        sequence: u64,
    },
    #[error("sequence gap: expected {expected}, got {got}; resume from the high-water mark")]
    Gap { expected: u64, got: u64 },
    #[error("event {sequence} is invalid: {problem}")]
    Invalid { sequence: u64, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    pub applied: u64,
    /// Events at or below the high-water mark, or with an id already applied.
    pub duplicates: u64,
    pub high_water_mark: u64,
}

pub struct SledStore {
    db: sled::Db,
    events: sled::Tree,
    orders: sled::Tree,
    status: sled::Tree,
    tokens: sled::Tree,
    data_file: File,
    /// Serializes order writes so per-site revisions are assigned without races.
    order_write: Mutex<()>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

/// Events per sled batch of an apply (see `apply_events`). Unit tests use small
/// batches so that a few hundred events already span several.
const EVENTS_PER_BATCH: usize = if cfg!(test) { 128 } else { 1024 };

/// The writes of one apply, not yet made.
struct Staged {
    /// Chunks with their id index entries.
    batches: Vec<sled::Batch>,
    /// Timeline entries, written beside `batches` (see `apply_events`).
    timeline: Vec<sled::Batch>,
    timeline_entries: usize,
    /// The new high-water mark, written after both.
    mark: Option<sled::Batch>,
    applied: Applied,
}

/// Timeline entries worth a second thread: below this, starting it costs more
/// than it saves.
const PARALLEL_TIMELINE_ENTRIES: usize = 512;

impl SledStore {
    pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            // Every write that must survive a crash syncs by itself (`sync`). sled's
            // periodic flusher also runs its log cleaner, which pages old pages in
            // to move them: it made a 1M-event catch-up take 8.7-12.8 s of
            // central's CPU from run to run (85-148k events/s); without it 8.7-8.8 s
            // (124k, four runs alike). Gateway status reports are the one write left
            // unsynced; the next report replaces a lost one.
            .flush_every_ms(None)
            .open()?;
        let events = db.open_tree("events")?;
        match events.get(keys::FORMAT)? {
            Some(v) if keys::decode_u64(&v) == Some(keys::FORMAT_CHUNKS) => {}
            Some(v) => return Err(StoreError::Corrupt(format!("unknown store format {v:?}"))),
            None if events.is_empty() => {
                events.insert(keys::FORMAT, &keys::FORMAT_CHUNKS.to_be_bytes())?;
            }
            None => {
                return Err(StoreError::Layout(dir.display().to_string()));
            }
        }
        Ok(Self {
            events,
            orders: db.open_tree("orders")?,
            status: db.open_tree("status")?,
            tokens: db.open_tree("tokens")?,
            data_file: File::open(dir.join("db"))?,
            order_write: Mutex::new(()),
            db,
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.data_file.sync_data()?;
        Ok(())
    }

    pub fn high_water_mark(&self, site: &str) -> Result<u64, StoreError> {
        read_u64(&self.events, &keys::join(keys::HIGH_WATER, &[site.as_bytes()]))
    }

    /// Applies a batch from `site`'s gateway: events at or below the high-water
    /// mark are skipped, the next ones must follow it without a gap. One durable
    /// commit; the caller serializes calls per site.
    pub fn apply(&self, site: &str, events: &[Event]) -> Result<Applied, ApplyError> {
        self.apply_events(site, events, true)
    }

    /// Applies events sent ahead of the ordered stream (the priority lane): each
    /// is stored by sequence and id exactly as `apply` would, but the high-water
    /// mark does not move. When the ordered stream reaches them, `apply` skips
    /// them as already applied by their id. One durable commit.
    pub fn apply_expedited(&self, site: &str, events: &[Event]) -> Result<Applied, ApplyError> {
        self.apply_events(site, events, false)
    }

    fn apply_events(&self, site: &str, events: &[Event], ordered: bool) -> Result<Applied, ApplyError> {
        let staged = self.stage(site, events, ordered)?;
        if staged.batches.is_empty() && staged.timeline_entries == 0 && staged.mark.is_none() {
            return Ok(staged.applied);
        }
        // Batches of about 1,000 events rather than one for the whole call: sled
        // copies a leaf on every insert and keeps each replaced copy until the
        // batch ends (4,096 random-keyed events to a batch cost 8 GB in a
        // benchmark). Not much smaller either: each batch also has a fixed cost
        // (a manifest in sled's log, its lock), and at 128 events per batch a 1M
        // catch-up ran at 93-109k events/s against 126-144k at 1,024.
        //
        // The timeline entries (one random-keyed insert per identifier, the
        // largest cost left) are written by a second thread while this one
        // writes the chunks, and the high-water mark only after both: sled keeps
        // a prefix of its writes in a crash, so a stored mark means everything
        // below it is stored with its timeline. A crash before the mark leaves
        // events stored above it, perhaps without their timeline entries; the
        // gateway resends them from the mark, they are found stored, counted as
        // duplicates, their timeline entries are written again (the same keys),
        // and the mark moves past them, as for events expedited earlier.
        let Staged {
            batches,
            timeline,
            timeline_entries,
            mark,
            applied,
        } = staged;
        let write = |batches: Vec<sled::Batch>| -> Result<(), StoreError> {
            for batch in batches {
                self.events.apply_batch(batch)?;
            }
            Ok(())
        };
        if timeline_entries >= PARALLEL_TIMELINE_ENTRIES {
            std::thread::scope(|scope| {
                let beside = scope.spawn(|| write(timeline));
                let here = write(batches);
                let beside = beside
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::Corrupt("timeline writer panicked".into())));
                here.and(beside)
            })?;
        } else {
            write(batches)?;
            write(timeline)?;
        }
        write(mark.into_iter().collect())?;
        self.sync()?;
        Ok(applied)
    }

    /// Validates `events` and prepares the writes that apply them: chunks with
    /// their id runs in sled batches of about [`EVENTS_PER_BATCH`] events, their
    /// timeline entries in batches of their own, and the high-water mark (if
    /// `ordered`) in a batch to write after both; writes nothing.
    fn stage(&self, site: &str, events: &[Event], ordered: bool) -> Result<Staged, ApplyError> {
        let mut hwm = self.high_water_mark(site)?;
        // Sequences above the mark that are already stored. A sequence lives in
        // exactly one chunk, so an event under one of them with another id (a
        // gateway bug, not a resend) is counted as a duplicate rather than stored
        // in an overlapping chunk.
        let taken = if ordered {
            self.stored_above(site, hwm, events)?
        } else {
            Vec::new()
        };
        let mut ids_in_call = HashSet::new();
        let mut seqs_in_call = HashSet::new();
        let mut out = Applied::default();
        // The events to store, as runs of consecutive positions in `events`, and
        // their id index entries in the same order.
        let mut runs: Vec<Range<usize>> = Vec::new();
        let mut id_entries = Vec::new();
        let mut timeline = sled::Batch::default();
        let mut timeline_entries = 0;
        let mut stored_ids = ids::Stored::new(&self.events, site);
        for (i, e) in events.iter().enumerate() {
            if e.site_id != site {
                return Err(ApplyError::WrongSite {
                    site: site.into(),
                    claimed: e.site_id.clone(),
                    sequence: e.sequence,
                });
            }
            if e.sequence <= hwm {
                out.duplicates += 1;
                continue;
            }
            if ordered && e.sequence != hwm + 1 {
                return Err(ApplyError::Gap {
                    expected: hwm + 1,
                    got: e.sequence,
                });
            }
            validate(e)?;
            if ordered {
                hwm = e.sequence;
            }
            let seq_taken = if ordered {
                taken.iter().any(|r| r.contains(&e.sequence))
            } else {
                !seqs_in_call.insert(e.sequence) || self.chunk_holding(site, e.sequence)?.is_some()
            };
            let id_entry = ids::entry(site, e.event_time_ms, &e.event_id, e.sequence);
            let id_stored = stored_ids.contains(&id_entry)?;
            if seq_taken || !ids_in_call.insert(e.event_id.as_str()) || id_stored {
                if ordered && seq_taken && id_stored {
                    // Stored above the mark before (expedited, or a commit a crash
                    // cut short): its timeline entries may be missing.
                    timeline_entries += stage_timeline(&mut timeline, site, e);
                }
                out.duplicates += 1;
                continue;
            }
            match runs.last_mut() {
                Some(run) if run.end == i => run.end = i + 1,
                _ => runs.push(i..i + 1),
            }
            id_entries.push(id_entry);
            out.applied += 1;
        }
        out.high_water_mark = hwm;

        let mut batches = Vec::new();
        let mut timelines = vec![timeline];
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        let mut id_entries = id_entries.into_iter();
        let mut id_changes = ids::Changes::new(site);
        for run in runs {
            // Only events being stored: a skipped one leaves a hole in the
            // sequences, which chunks never span, so chunks never overlap.
            let run = &events[run];
            for c in chunk::chunks(run, CHUNK_TARGET_BYTES) {
                let stored = &run[c.events.clone()];
                for (e, id_entry) in stored.iter().zip(&mut id_entries) {
                    id_changes.add(&mut stored_ids, id_entry)?;
                    if let Some(t) = timelines.last_mut() {
                        timeline_entries += stage_timeline(t, site, e);
                    }
                }
                batch.insert(keys::site_seq(keys::EVENT, site, c.first_sequence), c.bytes);
                in_batch += stored.len();
                if in_batch >= EVENTS_PER_BATCH {
                    id_changes.write(&mut batch);
                    batches.push(std::mem::take(&mut batch));
                    timelines.push(sled::Batch::default());
                    in_batch = 0;
                }
            }
        }
        id_changes.write(&mut batch);
        if in_batch > 0 {
            batches.push(batch);
        }
        let mark = (ordered && (out.applied > 0 || out.duplicates > 0)).then(|| {
            let mut mark = sled::Batch::default();
            mark.insert(keys::join(keys::HIGH_WATER, &[site.as_bytes()]), &hwm.to_be_bytes());
            mark
        });
        Ok(Staged {
            batches,
            timeline: timelines,
            timeline_entries,
            mark,
            applied: out,
        })
    }

    /// The sequence ranges above `hwm`, up to the last of `events`, that stored
    /// chunks already hold (expedited events, or a commit cut short by a crash).
    fn stored_above(&self, site: &str, hwm: u64, events: &[Event]) -> Result<Vec<RangeInclusive<u64>>, StoreError> {
        let (Some(lo), Some(hi)) = (hwm.checked_add(1), events.iter().map(|e| e.sequence).max()) else {
            return Ok(Vec::new());
        };
        if hi < lo {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        // The chunk holding `lo` may start at or below the mark: an expedited run
        // the ordered stream has partly passed.
        if let Some(c) = self.chunk_holding(site, lo)? {
            out.push(c.first..=c.last);
        }
        if lo < hi {
            let start = keys::site_seq(keys::EVENT, site, lo + 1);
            for item in self.events.range(start..=keys::site_seq(keys::EVENT, site, hi)) {
                let (k, v) = item?;
                let first = chunk_first(&k)?;
                out.push(first..=chunk_last(first, &v)?);
            }
        }
        Ok(out)
    }

    /// `site`'s stored chunk with the greatest first sequence at or below `seq`.
    fn chunk_at_or_below(&self, site: &str, seq: u64) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        let start = keys::site_seq(keys::EVENT, site, 0);
        Ok(self
            .events
            .range(start..=keys::site_seq(keys::EVENT, site, seq))
            .next_back()
            .transpose()?)
    }

    /// The stored chunk of `site` holding `seq`: the one with the greatest first
    /// sequence at or below it, if it reaches `seq` (chunks never span a hole).
    fn chunk_holding(&self, site: &str, seq: u64) -> Result<Option<StoredChunk>, StoreError> {
        let Some((k, bytes)) = self.chunk_at_or_below(site, seq)? else {
            return Ok(None);
        };
        let first = chunk_first(&k)?;
        let last = chunk_last(first, &bytes)?;
        Ok((seq <= last).then_some(StoredChunk { first, last, bytes }))
    }

    /// Up to `limit` events of `site` with sequence > `after`.
    pub fn site_events(&self, site: &str, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let Some(from) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        // From the chunk that may hold `from` in its middle.
        let start = match self.chunk_at_or_below(site, from)? {
            Some((k, _)) => k.to_vec(),
            None => keys::site_seq(keys::EVENT, site, from),
        };
        let end = keys::site_seq(keys::EVENT, site, u64::MAX);
        let mut out = Vec::new();
        for item in self.events.range(start..=end) {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item?;
            let room = limit - out.len();
            out.extend(decode_chunk(&v)?.into_iter().filter(|e| e.sequence > after).take(room));
        }
        Ok(out)
    }

    /// Every event that names one of `identifiers`, oldest event time first.
    pub fn timeline(&self, identifiers: &[&str]) -> Result<Vec<Event>, StoreError> {
        let mut seen = HashSet::new();
        // Chunks decoded so far, per site by first sequence: (last sequence, events).
        let mut decoded: HashMap<String, BTreeMap<u64, (u64, Vec<Event>)>> = HashMap::new();
        let mut out = Vec::new();
        for ident in identifiers.iter().filter(|i| !i.is_empty()) {
            let mut prefix = keys::join(keys::TIMELINE, &[ident.as_bytes()]);
            prefix.push(0);
            for item in self.events.scan_prefix(&prefix) {
                let (k, _) = item?;
                let Some((site, seq)) = keys::timeline_tail(&k) else {
                    continue;
                };
                if !seen.insert((site.clone(), seq)) {
                    continue;
                }
                let site_chunks = decoded.entry(site.clone()).or_default();
                let cached = site_chunks
                    .range(..=seq)
                    .next_back()
                    .is_some_and(|(_, (last, _))| seq <= *last);
                if !cached {
                    let Some(c) = self.chunk_holding(&site, seq)? else {
                        continue;
                    };
                    site_chunks.insert(c.first, (c.last, decode_chunk(&c.bytes)?));
                }
                let event = site_chunks
                    .range(..=seq)
                    .next_back()
                    .and_then(|(_, (_, events))| events.iter().find(|e| e.sequence == seq));
                if let Some(e) = event {
                    out.push(e.clone());
                }
            }
        }
        out.sort_by(|a, b| (a.event_time_ms, &a.site_id, a.sequence).cmp(&(b.event_time_ms, &b.site_id, b.sequence)));
        Ok(out)
    }

    pub fn put_status(&self, status: &GatewayStatus) -> Result<(), StoreError> {
        self.status.insert(status.site_id.as_bytes(), status.encode_to_vec())?;
        Ok(())
    }

    /// Every site known to central: from events, orders or status reports.
    pub fn sites(&self) -> Result<Vec<SiteSummary>, StoreError> {
        let mut sites = std::collections::BTreeMap::<String, SiteSummary>::new();
        for item in self.events.scan_prefix([keys::HIGH_WATER]) {
            let (k, v) = item?;
            let site = String::from_utf8_lossy(&k[1..]).into_owned();
            sites
                .entry(site.clone())
                .or_insert_with(|| SiteSummary::new(site))
                .high_water_mark = keys::decode_u64(&v).unwrap_or(0);
        }
        for item in self.status.iter() {
            let (k, v) = item?;
            let site = String::from_utf8_lossy(&k).into_owned();
            let status = GatewayStatus::decode(v.as_ref()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sites
                .entry(site.clone())
                .or_insert_with(|| SiteSummary::new(site))
                .last_status = Some(status);
        }
        let mut out: Vec<SiteSummary> = sites.into_values().collect();
        for s in &mut out {
            s.gaps = self.gaps(&s.site_id)?;
        }
        Ok(out)
    }
}

/// Stages the timeline entries of one stored event; returns how many.
fn stage_timeline(batch: &mut sled::Batch, site: &str, e: &Event) -> usize {
    let mut n = 0;
    for ident in timeline_keys(e) {
        batch.insert(
            keys::join(
                keys::TIMELINE,
                &[ident.as_bytes(), site.as_bytes(), &e.sequence.to_be_bytes()],
            ),
            &[],
        );
        n += 1;
    }
    n
}

/// An event is found in a timeline by each identifier it names and by its order.
fn timeline_keys(e: &Event) -> impl Iterator<Item = &str> {
    e.identifiers
        .iter()
        .map(|i| i.value.as_str())
        .chain(std::iter::once(e.order_number.as_str()))
        .filter(|s| !s.is_empty())
}

fn validate(e: &Event) -> Result<(), ApplyError> {
    match crate::replication::event_problem(e) {
        Some(problem) => Err(ApplyError::Invalid {
            sequence: e.sequence,
            problem,
        }),
        None => Ok(()),
    }
}

/// A stored chunk: the events `first..=last` of a site, encoded.
struct StoredChunk {
    first: u64,
    last: u64,
    bytes: sled::IVec,
}

fn decode_chunk(v: &[u8]) -> Result<Vec<Event>, StoreError> {
    chunk::decode(v).map_err(|e| StoreError::Corrupt(format!("event chunk: {e}")))
}

fn chunk_first(key: &[u8]) -> Result<u64, StoreError> {
    keys::tail_u64(key).ok_or_else(|| StoreError::Corrupt(format!("event chunk key {key:?}")))
}

/// The last sequence of the chunk starting at `first`: its events are
/// consecutive, so counting them is enough (no decoding).
fn chunk_last(first: u64, mut bytes: &[u8]) -> Result<u64, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("event chunk at {first}"));
    let mut count = 0u64;
    while !bytes.is_empty() {
        let len = prost::decode_length_delimiter(&mut bytes).map_err(|_| corrupt())?;
        bytes = bytes.get(len..).ok_or_else(corrupt)?;
        count += 1;
    }
    count
        .checked_sub(1)
        .and_then(|n| first.checked_add(n))
        .ok_or_else(corrupt)
}

fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64, StoreError> {
    match tree.get(key)? {
        None => Ok(0),
        Some(v) => keys::decode_u64(&v).ok_or_else(|| StoreError::Corrupt(format!("counter {key:?}"))),
    }
}

#[cfg(test)]
mod tests;

/// Reading everything out, for `import-sled`.
impl SledStore {
    /// Every site with a high-water mark, and the mark.
    pub fn marks(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.events
            .scan_prefix([keys::HIGH_WATER])
            .map(|item| {
                let (k, v) = item?;
                Ok((
                    String::from_utf8_lossy(&k[1..]).into_owned(),
                    keys::decode_u64(&v).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// Sites with orders (a revision counter).
    pub fn order_sites(&self) -> Result<Vec<String>, StoreError> {
        self.orders
            .scan_prefix([keys::REVISION_COUNTER])
            .map(|item| Ok(String::from_utf8_lossy(&item?.0[1..]).into_owned()))
            .collect()
    }

    /// Every status report, by site.
    pub fn statuses(&self) -> Result<Vec<GatewayStatus>, StoreError> {
        self.status
            .iter()
            .map(|item| {
                let (_, v) = item?;
                GatewayStatus::decode(v.as_ref()).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }
}
