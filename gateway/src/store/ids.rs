//! The dedupe index, (event time, event id) -> sequence, in runs
//! (`waymark_proto::id_runs`, shared with central's store) under `d` keys.
//!
//! One key per event made the id index most of sled's pages: at 1M events about
//! 60,000 of 89,000, and sled keeps an entry per page in memory from the moment
//! it opens (about 20 MiB of the gateway's 59 during a catch-up).
//!
//! [`IdRuns`] is a commit's (or a compaction pass's) view of the index: the runs
//! it read or changed, over the stored ones. Unlike central's, it also removes
//! entries, when compaction drops their events: a run whose first entry goes
//! moves to the next entry's key. `write` puts the runs changed since the last
//! call into a sled batch, so each chunk's batch carries its events' entries.

use std::collections::{BTreeMap, BTreeSet};

use waymark_proto::id_runs;
pub(super) use waymark_proto::id_runs::Entry;

use super::chunks::SplitBatch;
use super::keys::{self, EVENT_ID};
use super::{StoreError, corrupt};

const PREFIX: &[u8] = &[EVENT_ID];

fn decode(key: &[u8], v: &[u8]) -> Result<Vec<Entry>, StoreError> {
    id_runs::decode(PREFIX, v).map_err(|e| corrupt(key, e))
}

/// One commit's (or compaction pass's) view of the index.
pub(super) struct IdRuns<'a> {
    tree: &'a sled::Tree,
    /// Runs read or changed, by key: what they hold now.
    runs: BTreeMap<Vec<u8>, Vec<Entry>>,
    /// Stored keys no longer a run's (emptied, or its first entry removed).
    gone: BTreeSet<Vec<u8>>,
    dirty: BTreeSet<Vec<u8>>,
    unwritten_gone: Vec<Vec<u8>>,
}

impl<'a> IdRuns<'a> {
    pub(super) fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            runs: BTreeMap::new(),
            gone: BTreeSet::new(),
            dirty: BTreeSet::new(),
            unwritten_gone: Vec::new(),
        }
    }

    /// The key of the run with the greatest key at or below `key`, read into
    /// `runs` if it was only stored.
    fn run_at_or_below(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mine = self
            .runs
            .range::<[u8], _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(key)))
            .next_back()
            .map(|(k, _)| k.clone());
        let mut stored = None;
        for item in self.tree.range([EVENT_ID].as_slice()..=key).rev() {
            let (k, v) = item?;
            if self.gone.contains(k.as_ref()) {
                continue;
            }
            stored = Some((k, v));
            break;
        }
        match (mine, stored) {
            (Some(m), Some((s, _))) if m.as_slice() >= s.as_ref() => Ok(Some(m)),
            (_, Some((s, v))) => {
                let k = s.to_vec();
                if !self.runs.contains_key(&k) {
                    let run = decode(&k, &v)?;
                    self.runs.insert(k.clone(), run);
                }
                Ok(Some(k))
            }
            (m, None) => Ok(m),
        }
    }

    /// The sequence recorded under `event_time_ms` and `event_id`, if any.
    pub(super) fn get(&mut self, event_time_ms: i64, event_id: &str) -> Result<Option<u64>, StoreError> {
        let key = keys::event_id(event_time_ms, event_id);
        let Some(run) = self.run_at_or_below(&key)? else {
            return Ok(None);
        };
        Ok(self.runs.get(&run).and_then(|entries| id_runs::seq_of(entries, &key)))
    }

    /// Adds an entry the index does not hold.
    pub(super) fn add(&mut self, entry: Entry) -> Result<(), StoreError> {
        let Some(key) = self.run_at_or_below(&entry.key)? else {
            self.start_run(entry);
            return Ok(());
        };
        let Some(run) = self.runs.get_mut(&key) else {
            self.start_run(entry);
            return Ok(());
        };
        let added = id_runs::add(run, entry);
        if added.changed_run() {
            self.dirty.insert(key);
        }
        if let Some(run) = added.into_new_run() {
            self.put_run(run);
        }
        Ok(())
    }

    fn start_run(&mut self, entry: Entry) {
        self.put_run(vec![entry]);
    }

    /// A new run (or a run under a new key), under its first entry's key.
    fn put_run(&mut self, run: Vec<Entry>) {
        if let Some(k) = run.first().map(|e| e.key.clone()) {
            self.gone.remove(&k);
            self.dirty.insert(k.clone());
            self.runs.insert(k, run);
        }
    }

    /// Removes the entry for `event_time_ms` and `event_id`, if held.
    pub(super) fn remove(&mut self, event_time_ms: i64, event_id: &str) -> Result<(), StoreError> {
        let key = keys::event_id(event_time_ms, event_id);
        let Some(run_key) = self.run_at_or_below(&key)? else {
            return Ok(());
        };
        let Some(run) = self.runs.get_mut(&run_key) else {
            return Ok(());
        };
        let Ok(at) = run.binary_search_by(|e| e.key.cmp(&key)) else {
            return Ok(());
        };
        run.remove(at);
        if at > 0 {
            self.dirty.insert(run_key);
            return Ok(());
        }
        // The run's key was its first entry: it moves to the next one, if any.
        let rest = self.runs.remove(&run_key).unwrap_or_default();
        self.dirty.remove(&run_key);
        self.gone.insert(run_key.clone());
        self.unwritten_gone.push(run_key);
        self.put_run(rest);
        Ok(())
    }

    /// Puts the runs changed since the last call into `batch`.
    pub(super) fn write(&mut self, batch: &mut SplitBatch) {
        for key in std::mem::take(&mut self.unwritten_gone) {
            if !self.runs.contains_key(&key) {
                batch.remove(key);
            }
        }
        for key in std::mem::take(&mut self.dirty) {
            if let Some(run) = self.runs.get(&key) {
                batch.insert(key, id_runs::encode(PREFIX.len(), run));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Every run sorted, non-empty, under its first entry's key, below the next.
    fn check_runs(tree: &sled::Tree) -> Result<BTreeMap<(i64, String), u64>, TestCaseError> {
        let mut last: Option<Vec<u8>> = None;
        let mut all = BTreeMap::new();
        for item in tree.scan_prefix([EVENT_ID]) {
            let (k, v) = item.expect("scan");
            let run = decode(&k, &v).expect("decode");
            prop_assert!(!run.is_empty() && run.len() <= id_runs::MAX_RUN_ENTRIES);
            prop_assert_eq!(&run[0].key[..], &k[..]);
            prop_assert!(run.windows(2).all(|w| w[0].key < w[1].key));
            prop_assert!(last.as_ref().is_none_or(|l| l < &run[0].key));
            last = run.last().map(|e| e.key.clone());
            for e in run {
                let t = (u64::from_be_bytes(e.key[1..9].try_into().expect("8")) ^ (1 << 63)) as i64;
                all.insert((t, String::from_utf8(e.key[9..].to_vec()).expect("utf8")), e.seq);
            }
        }
        Ok(all)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(i64, u8),
        Remove(i64, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (-3..60i64, 0..30u8).prop_map(|(t, id)| Op::Add(t, id)),
            2 => (-3..60i64, 0..30u8).prop_map(|(t, id)| Op::Remove(t, id)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn runs_match_a_map_through_adds_removes_and_partial_writes(
            rounds in proptest::collection::vec((proptest::collection::vec(op(), 0..300), 1..80usize), 1..6),
        ) {
            let db = sled::Config::new().temporary(true).open().expect("db");
            let tree = db.open_tree("t").expect("tree");
            // Keys of other kinds around the index must not be taken for runs.
            tree.insert(b"c\x00\x01", b"chunk".to_vec()).expect("insert");
            tree.insert(b"m/last", b"x".to_vec()).expect("insert");
            let mut model = BTreeMap::<(i64, String), u64>::new();
            let mut seq = 0;
            for (ops, write_every) in rounds {
                let mut runs = IdRuns::new(&tree);
                let mut batch = SplitBatch::default();
                for (i, op) in ops.into_iter().enumerate() {
                    match op {
                        Op::Add(t, id) => {
                            let id = format!("{id:02}");
                            let held = runs.get(t, &id).expect("get");
                            prop_assert_eq!(held, model.get(&(t, id.clone())).copied());
                            if held.is_none() {
                                seq += 1;
                                runs.add(Entry::new(PREFIX, t, &id, seq)).expect("add");
                                model.insert((t, id), seq);
                            }
                        }
                        Op::Remove(t, id) => {
                            let id = format!("{id:02}");
                            runs.remove(t, &id).expect("remove");
                            model.remove(&(t, id));
                        }
                    }
                    if i % write_every == 0 {
                        runs.write(&mut batch);
                        batch.boundary();
                    }
                }
                runs.write(&mut batch);
                batch.apply(&tree).expect("apply");
                prop_assert_eq!(check_runs(&tree)?, model.clone());
                let mut fresh = IdRuns::new(&tree);
                for ((t, id), seq) in &model {
                    prop_assert_eq!(fresh.get(*t, id).expect("get"), Some(*seq));
                }
            }
        }
    }
}
