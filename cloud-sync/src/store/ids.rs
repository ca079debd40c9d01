//! The id index: every event id a site's stored events carry, for dedupe.
//!
//! Entries (event time, event id, sequence) are packed in runs, one key per run,
//! rather than one key per event: each sled insert copies a leaf and every few
//! inserts split one, rewriting its parent in the log, so a key per event cost
//! about 6 us of central's CPU per event in a catch-up; a run of up to
//! [`MAX_RUN_ENTRIES`] costs a fraction of that.
//!
//! A run is stored under the [`keys::event_id`] key of its first entry, entries
//! sorted in key order, and runs never overlap: the run that may hold an entry is
//! the one with the greatest key at or below the entry's. A new entry goes into
//! that run (which keeps its key) or, if there is none or it is full and the
//! entry would go last, starts a new run; a full run split in two leaves the
//! lower half under its key. During a catch-up event times mostly grow, so
//! entries land in the last run.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::{StoreError, keys};

/// Entries per run: at most 64 * (8 + 8 + 1 + 64) bytes, ~3 KiB with 32-character ids.
const MAX_RUN_ENTRIES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The key of the entry, `keys::event_id(site, time, id)`: orders entries.
    key: Vec<u8>,
    /// Where the event id starts in `key`.
    id_at: usize,
    seq: u64,
}

impl Entry {
    pub(super) fn new(site: &str, event_time_ms: i64, event_id: &str, seq: u64) -> Self {
        let key = keys::event_id(site, event_time_ms, event_id);
        Self {
            id_at: key.len() - event_id.len(),
            key,
            seq,
        }
    }
}

/// A run's value: per entry, the 8 time bytes, the sequence, the id's length and
/// the id. The site is the key's.
fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| 17 + e.key.len() - e.id_at).sum());
    for e in entries {
        let id = &e.key[e.id_at..];
        out.extend_from_slice(&e.key[e.id_at - 9..e.id_at - 1]);
        out.extend_from_slice(&e.seq.to_be_bytes());
        // Ids are validated to be at most 64 bytes.
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
    }
    out
}

fn decode(prefix: &[u8], mut v: &[u8]) -> Result<Vec<Entry>, StoreError> {
    let corrupt = || StoreError::Corrupt("id index run".into());
    let mut out = Vec::new();
    while !v.is_empty() {
        let (time, rest) = v.split_at_checked(8).ok_or_else(corrupt)?;
        let (seq, rest) = rest.split_at_checked(8).ok_or_else(corrupt)?;
        let (&len, rest) = rest.split_first().ok_or_else(corrupt)?;
        let (id, rest) = rest.split_at_checked(usize::from(len)).ok_or_else(corrupt)?;
        let mut key = Vec::with_capacity(prefix.len() + 9 + id.len());
        key.extend_from_slice(prefix);
        key.extend_from_slice(time);
        key.push(0);
        let id_at = key.len();
        key.extend_from_slice(id);
        out.push(Entry {
            key,
            id_at,
            seq: keys::decode_u64(seq).ok_or_else(corrupt)?,
        });
        v = rest;
    }
    Ok(out)
}

/// A run as stored: its key and entries.
type Run = (Vec<u8>, Vec<Entry>);

/// One site's id index as stored, read through a cached window: the run found
/// last and the key range in which no other run starts.
pub(super) struct Stored<'a> {
    tree: &'a sled::Tree,
    /// `i <site> 0`: every key of the site's index starts with it.
    prefix: Vec<u8>,
    window: Option<Window>,
}

struct Window {
    /// The run starting at `start`, or no run and the site's first key.
    run: Option<Run>,
    /// The next run's key, if any: no run starts between `run` and it.
    end: Option<Vec<u8>>,
}

impl Window {
    fn covers(&self, key: &[u8]) -> bool {
        self.run.as_ref().is_none_or(|(k, _)| k.as_slice() <= key) && self.end.as_deref().is_none_or(|end| key < end)
    }
}

impl<'a> Stored<'a> {
    pub(super) fn new(tree: &'a sled::Tree, site: &str) -> Self {
        let mut prefix = keys::join(keys::EVENT_ID, &[site.as_bytes()]);
        prefix.push(0);
        Self {
            tree,
            prefix,
            window: None,
        }
    }

    /// The stored run with the greatest key at or below `key`.
    fn run_at_or_below(&mut self, key: &[u8]) -> Result<Option<&Run>, StoreError> {
        if !self.window.as_ref().is_some_and(|w| w.covers(key)) {
            let run = match self.tree.range(self.prefix.as_slice()..=key).next_back() {
                Some(item) => {
                    let (k, v) = item?;
                    Some((k.to_vec(), decode(&self.prefix, &v)?))
                }
                None => None,
            };
            let end = match self
                .tree
                .range::<&[u8], _>((Bound::Excluded(key), Bound::Unbounded))
                .next()
            {
                Some(item) => Some(item?.0.to_vec()).filter(|k| k.starts_with(&self.prefix)),
                None => None,
            };
            self.window = Some(Window { run, end });
        }
        Ok(self.window.as_ref().and_then(|w| w.run.as_ref()))
    }

    /// Whether the index holds `entry`'s time and id (under any sequence).
    pub(super) fn contains(&mut self, entry: &Entry) -> Result<bool, StoreError> {
        Ok(self
            .run_at_or_below(&entry.key)?
            .is_some_and(|(_, run)| run.binary_search_by(|e| e.key.cmp(&entry.key)).is_ok()))
    }
}

/// Runs changed by one apply, on top of the stored index; written batch by batch.
pub(super) struct Changes {
    runs: BTreeMap<Vec<u8>, Vec<Entry>>,
    dirty: BTreeSet<Vec<u8>>,
}

impl Changes {
    pub(super) fn new() -> Self {
        Self {
            runs: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// Adds `entry`, which the index does not hold yet.
    pub(super) fn add(&mut self, stored: &mut Stored<'_>, entry: Entry) -> Result<(), StoreError> {
        // The run to add to: the greater of the changed and the stored one (a
        // stored run already changed is in `runs` under the same key).
        let changed = self
            .runs
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(entry.key.as_slice())))
            .next_back()
            .map(|(k, _)| k.clone());
        let key = match (changed, stored.run_at_or_below(&entry.key)?) {
            (c, Some((s, run))) if c.as_ref().is_none_or(|c| s > c) => {
                self.runs.insert(s.clone(), run.clone());
                Some(s.clone())
            }
            (c, _) => c,
        };
        let Some((key, run)) = key.and_then(|k| self.runs.get_mut(&k).map(|run| (k, run))) else {
            self.start_run(entry);
            return Ok(());
        };
        let at = run.partition_point(|e| e.key < entry.key);
        if run.get(at).is_some_and(|e| e.key == entry.key) {
            return Ok(());
        }
        if at == run.len() && run.len() >= MAX_RUN_ENTRIES {
            self.start_run(entry);
            return Ok(());
        }
        run.insert(at, entry);
        if run.len() > MAX_RUN_ENTRIES {
            let upper = run.split_off(run.len() / 2);
            if let Some(first) = upper.first() {
                self.dirty.insert(first.key.clone());
                self.runs.insert(first.key.clone(), upper);
            }
        }
        self.dirty.insert(key);
        Ok(())
    }

    fn start_run(&mut self, entry: Entry) {
        self.dirty.insert(entry.key.clone());
        self.runs.insert(entry.key.clone(), vec![entry]);
    }

    /// Writes the runs changed since the last call into `batch`.
    pub(super) fn write(&mut self, batch: &mut sled::Batch) {
        for key in std::mem::take(&mut self.dirty) {
            if let Some(run) = self.runs.get(&key) {
                batch.insert(key, encode(run));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_round_trips() {
        let entries = vec![Entry::new("dc-1", -5, "a", 1), Entry::new("dc-1", 7, "bcd", 9)];
        let prefix = [keys::join(keys::EVENT_ID, &[b"dc-1"]), vec![0]].concat();
        assert_eq!(decode(&prefix, &encode(&entries)).expect("decode"), entries);
        assert!(decode(&prefix, &encode(&entries)[..20]).is_err());
    }

    mod model {
        use std::collections::BTreeSet;

        use proptest::prelude::*;

        use super::*;

        fn key(t: i64, id: u8) -> (i64, String) {
            (t, format!("{id:02}"))
        }

        /// Every run sorted, under its first entry's key, not overlapping the next.
        fn check_runs(tree: &sled::Tree, prefix: &[u8]) -> Result<usize, TestCaseError> {
            let mut last: Option<Vec<u8>> = None;
            let mut count = 0;
            for item in tree.scan_prefix(prefix) {
                let (k, v) = item.expect("scan");
                let run = decode(prefix, &v).expect("decode");
                prop_assert!(!run.is_empty() && run.len() <= MAX_RUN_ENTRIES);
                prop_assert_eq!(&run[0].key[..], &k[..]);
                prop_assert!(run.windows(2).all(|w| w[0].key < w[1].key));
                prop_assert!(last.as_ref().is_none_or(|l| l < &run[0].key));
                last = run.last().map(|e| e.key.clone());
                count += run.len();
            }
            Ok(count)
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
            #[test]
            fn runs_match_a_set(
                rounds in proptest::collection::vec(
                    (proptest::collection::vec((-3..50i64, 0..40u8), 0..200), 1..100usize),
                    1..6,
                ),
            ) {
                let db = sled::Config::new().temporary(true).open().expect("db");
                let tree = db.open_tree("t").expect("tree");
                let mut model = BTreeSet::new();
                let prefix = Stored::new(&tree, "dc-1").prefix.clone();
                // Another site's runs around it must not be seen.
                tree.insert(keys::event_id("dc-0", 5, "x"), encode(&[Entry::new("dc-0", 5, "x", 1)])).expect("insert");
                tree.insert(keys::event_id("dc-2", 5, "x"), encode(&[Entry::new("dc-2", 5, "x", 1)])).expect("insert");
                for (adds, write_every) in rounds {
                    let mut stored = Stored::new(&tree, "dc-1");
                    let mut changes = Changes::new();
                    // Written once the round is staged, as an apply does.
                    let mut batches = Vec::new();
                    let mut batch = sled::Batch::default();
                    let mut in_round = BTreeSet::new();
                    for (i, (t, id)) in adds.into_iter().enumerate() {
                        let k = key(t, id);
                        let entry = Entry::new("dc-1", k.0, &k.1, i as u64);
                        prop_assert_eq!(stored.contains(&entry).expect("contains"), model.contains(&k));
                        if model.contains(&k) || !in_round.insert(k) {
                            continue;
                        }
                        changes.add(&mut stored, entry).expect("add");
                        if i % write_every == 0 {
                            changes.write(&mut batch);
                            batches.push(std::mem::take(&mut batch));
                        }
                    }
                    changes.write(&mut batch);
                    batches.push(batch);
                    for b in batches {
                        tree.apply_batch(b).expect("batch");
                    }
                    model.extend(in_round);
                    prop_assert_eq!(check_runs(&tree, &prefix)?, model.len());
                    let mut fresh = Stored::new(&tree, "dc-1");
                    for t in -3..50 {
                        for id in 0..40 {
                            let k = key(t, id);
                            let entry = Entry::new("dc-1", k.0, &k.1, 0);
                            prop_assert_eq!(fresh.contains(&entry).expect("contains"), model.contains(&k));
                        }
                    }
                }
            }
        }
    }
}
