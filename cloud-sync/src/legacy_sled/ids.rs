//! The id index: every event id a site's stored events carry, for dedupe, in
//! runs (`waymark_proto::id_runs`, shared with the gateway's store) under
//! `i <site> 0` keys. One key per event cost about 6 us of central's CPU per
//! event in a catch-up: each sled insert copies a leaf and every few inserts
//! split one, rewriting its parent in the log.
//!
//! [`Stored`] reads a site's runs through a cached window (the run found and the
//! key of the next), one seek per call in a catch-up; [`Changes`] holds the runs
//! one apply changed, written batch by batch.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use waymark_proto::id_runs;

use super::{StoreError, keys};

pub(super) use waymark_proto::id_runs::Entry;

/// The key prefix of `site`'s index: `i <site> 0`.
fn prefix(site: &str) -> Vec<u8> {
    let mut p = keys::join(keys::EVENT_ID, &[site.as_bytes()]);
    p.push(0);
    p
}

/// `site`'s id index entry for an event.
pub(super) fn entry(site: &str, event_time_ms: i64, event_id: &str, seq: u64) -> Entry {
    Entry::new(&prefix(site), event_time_ms, event_id, seq)
}

fn decode(prefix: &[u8], v: &[u8]) -> Result<Vec<Entry>, StoreError> {
    id_runs::decode(prefix, v).map_err(|e| StoreError::Corrupt(e.to_string()))
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
        Self {
            tree,
            prefix: prefix(site),
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
            .is_some_and(|(_, run)| id_runs::seq_of(run, &entry.key).is_some()))
    }
}

/// Runs changed by one apply, on top of the stored index; written batch by batch.
pub(super) struct Changes {
    runs: BTreeMap<Vec<u8>, Vec<Entry>>,
    dirty: BTreeSet<Vec<u8>>,
    prefix_len: usize,
}

impl Changes {
    pub(super) fn new(site: &str) -> Self {
        Self {
            runs: BTreeMap::new(),
            dirty: BTreeSet::new(),
            prefix_len: prefix(site).len(),
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
        let added = id_runs::add(run, entry);
        if added.changed_run() {
            self.dirty.insert(key);
        }
        if let Some(run) = added.into_new_run()
            && let Some(first) = run.first()
        {
            self.dirty.insert(first.key.clone());
            self.runs.insert(first.key.clone(), run);
        }
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
                batch.insert(key, id_runs::encode(self.prefix_len, run));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(entries: &[Entry]) -> Vec<u8> {
        id_runs::encode(prefix("dc-1").len(), entries)
    }

    #[test]
    fn a_run_round_trips() {
        let entries = vec![entry("dc-1", -5, "a", 1), entry("dc-1", 7, "bcd", 9)];
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
                prop_assert!(!run.is_empty() && run.len() <= id_runs::MAX_RUN_ENTRIES);
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
                tree.insert(entry("dc-0", 5, "x", 1).key, encode(&[entry("dc-0", 5, "x", 1)])).expect("insert");
                tree.insert(entry("dc-2", 5, "x", 1).key, encode(&[entry("dc-2", 5, "x", 1)])).expect("insert");
                for (adds, write_every) in rounds {
                    let mut stored = Stored::new(&tree, "dc-1");
                    let mut changes = Changes::new("dc-1");
                    // Written once the round is staged, as an apply does.
                    let mut batches = Vec::new();
                    let mut batch = sled::Batch::default();
                    let mut in_round = BTreeSet::new();
                    for (i, (t, id)) in adds.into_iter().enumerate() {
                        let k = key(t, id);
                        let entry = entry("dc-1", k.0, &k.1, i as u64);
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
                            let entry = entry("dc-1", k.0, &k.1, 0);
                            prop_assert_eq!(fresh.contains(&entry).expect("contains"), model.contains(&k));
                        }
                    }
                }
            }
        }
    }
}
