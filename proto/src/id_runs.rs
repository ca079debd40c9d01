//! Runs of the dedupe index both stores keep: (event time, event id) ->
//! sequence, packed up to [`MAX_RUN_ENTRIES`] entries to a value instead of one
//! key per event. sled keeps an entry per page in memory and copies a leaf on
//! every insert, so a key per event made the index most of both stores' cost.
//!
//! An entry's key is the store's prefix, the event time (sortable), then the id.
//! A run is stored under its first entry's key, its entries sorted, and runs never
//! overlap: the run that may hold an entry is the one with the greatest key at or
//! below it. Leading with the time makes a catch-up, which comes in about the order
//! things happened, add to the last run. Dedupe stays exact because the time is a
//! function of the id: ids hash the stay start, and the event time is that start.
//!
//! Pure: the stores find and write runs in their sled trees.

/// Entries per run: at most 64 * (8 + 8 + 1 + 64) bytes, ~2.3 KiB with
/// 32-character ids, well below what would make a sled page a blob.
pub const MAX_RUN_ENTRIES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// [`key`]: orders entries.
    pub key: Vec<u8>,
    pub seq: u64,
}

impl Entry {
    pub fn new(prefix: &[u8], event_time_ms: i64, event_id: &str, seq: u64) -> Self {
        Self {
            key: key(prefix, event_time_ms, event_id),
            seq,
        }
    }
}

/// `prefix`, the time big-endian with its sign bit flipped (so that it sorts),
/// then the id.
pub fn key(prefix: &[u8], event_time_ms: i64, event_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8 + event_id.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(&(event_time_ms.cast_unsigned() ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(event_id.as_bytes());
    k
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("id index run is cut short or malformed")]
pub struct CorruptRun;

/// A run's value: per entry, the key's 8 time bytes, the sequence, the id's
/// length and the id (the prefix is the store's).
pub fn encode(prefix_len: usize, entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| 9 + e.key.len() - prefix_len).sum());
    for e in entries {
        let (time, id) = e.key[prefix_len..].split_at(8);
        out.extend_from_slice(time);
        out.extend_from_slice(&e.seq.to_be_bytes());
        // Event ids are at most 64 bytes (both stores refuse longer ones first).
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
    }
    out
}

pub fn decode(prefix: &[u8], mut v: &[u8]) -> Result<Vec<Entry>, CorruptRun> {
    let mut out = Vec::new();
    while !v.is_empty() {
        let (time, rest) = v.split_at_checked(8).ok_or(CorruptRun)?;
        let (seq, rest) = rest.split_at_checked(8).ok_or(CorruptRun)?;
        let (&len, rest) = rest.split_first().ok_or(CorruptRun)?;
        let (id, rest) = rest.split_at_checked(usize::from(len)).ok_or(CorruptRun)?;
        let mut key = Vec::with_capacity(prefix.len() + 8 + id.len());
        key.extend_from_slice(prefix);
        key.extend_from_slice(time);
        key.extend_from_slice(id);
        let seq = u64::from_be_bytes(seq.try_into().map_err(|_| CorruptRun)?);
        out.push(Entry { key, seq });
        v = rest;
    }
    Ok(out)
}

/// The sequence `run` holds under `key`, if any.
pub fn seq_of(run: &[Entry], key: &[u8]) -> Option<u64> {
    run.binary_search_by(|e| e.key.as_slice().cmp(key))
        .ok()
        .map(|i| run[i].seq)
}

/// What adding an entry to the run that may hold it did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// The run already held the key.
    Held,
    Added,
    /// Added, and the run grew past its size: this upper half is a new run,
    /// stored under its first entry's key.
    Split(Vec<Entry>),
    /// The entry would go last in a full run: it starts a new run of its own.
    Full(Entry),
}

impl Added {
    /// Whether the run it was added to changed.
    pub fn changed_run(&self) -> bool {
        matches!(self, Self::Added | Self::Split(_))
    }

    /// The new run to store under its first entry's key, if any.
    pub fn into_new_run(self) -> Option<Vec<Entry>> {
        match self {
            Self::Split(upper) => Some(upper),
            Self::Full(entry) => Some(vec![entry]),
            Self::Held | Self::Added => None,
        }
    }
}

pub fn add(run: &mut Vec<Entry>, entry: Entry) -> Added {
    let at = run.partition_point(|e| e.key < entry.key);
    if run.get(at).is_some_and(|e| e.key == entry.key) {
        return Added::Held;
    }
    if at == run.len() && run.len() >= MAX_RUN_ENTRIES {
        return Added::Full(entry);
    }
    run.insert(at, entry);
    if run.len() > MAX_RUN_ENTRIES {
        return Added::Split(run.split_off(run.len() / 2));
    }
    Added::Added
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_round_trips_and_a_cut_one_is_an_error() {
        let p = b"i\x00dc-1\x00";
        let entries = vec![Entry::new(p, -5, "a", 1), Entry::new(p, 7, "bcd", 9)];
        assert_eq!(decode(p, &encode(p.len(), &entries)), Ok(entries.clone()));
        assert_eq!(decode(p, &encode(p.len(), &entries)[..20]), Err(CorruptRun));
        assert_eq!(seq_of(&entries, &key(p, 7, "bcd")), Some(9));
        assert_eq!(seq_of(&entries, &key(p, 8, "bcd")), None);
    }

    #[test]
    fn keys_sort_by_time_across_the_epoch_then_by_id() {
        let times = [i64::MIN, -5, -1, 0, 1, 1_795_237_331_250, i64::MAX];
        let keys: Vec<_> = times.iter().map(|&t| key(b"d", t, "x")).collect();
        assert!(keys.is_sorted(), "{keys:?}");
        let keys = [
            key(b"d", -5, "b"),
            key(b"d", -1, "a"),
            key(b"d", 0, "a"),
            key(b"d", 9, "a"),
            key(b"d", 9, "b"),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_run_takes_entries_in_order_splits_past_its_size_and_hands_back_one_past_its_end() {
        let mut run = Vec::new();
        for i in 0..MAX_RUN_ENTRIES as i64 {
            assert_eq!(add(&mut run, Entry::new(b"d", i * 2, "x", 0)), Added::Added);
        }
        assert_eq!(add(&mut run, Entry::new(b"d", 0, "x", 5)), Added::Held);
        let last = Entry::new(b"d", 1_000, "x", 1);
        let full = add(&mut run, last.clone());
        assert!(!full.changed_run());
        assert_eq!(full.into_new_run(), Some(vec![last]));
        let split = add(&mut run, Entry::new(b"d", 3, "x", 2));
        assert!(split.changed_run());
        let Some(upper) = split.into_new_run() else {
            panic!("a run of {} + 1 splits", MAX_RUN_ENTRIES);
        };
        assert_eq!(run.len() + upper.len(), MAX_RUN_ENTRIES + 1);
        assert!(run.last().map(|e| &e.key) < upper.first().map(|e| &e.key));
    }
}
