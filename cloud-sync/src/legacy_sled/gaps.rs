//! Gaps: ranges of a site's sequences central will never receive, because the
//! gateway had already compacted them when central lost them (a restore from an
//! old backup). Recorded where operators see them instead of stalling the site's
//! replication forever.

pub use crate::ops::GapRecord;

use super::{Applied, ApplyError, SledStore, StoreError, keys};

const TREE: &str = "gaps";
const MAX_REASON: usize = 200;

impl SledStore {
    /// Records that `first..=last` of `site` cannot be delivered and moves the
    /// high-water mark past them. `first` must follow the mark, as a batch would.
    pub fn record_gap(
        &self,
        site: &str,
        first: u64,
        last: u64,
        reason: &str,
        now_ms: i64,
    ) -> Result<Applied, ApplyError> {
        let hwm = self.high_water_mark(site)?;
        if first != hwm + 1 || last < first {
            return Err(ApplyError::Gap {
                expected: hwm + 1,
                got: first,
            });
        }
        let record = GapRecord {
            first,
            last,
            reason: reason.chars().take(MAX_REASON).collect(),
            recorded_ms: now_ms,
        };
        let value = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let gaps = self.db.open_tree(TREE).map_err(StoreError::from)?;
        // The record first: if the mark's write is lost, the retry rewrites the same key.
        gaps.insert(keys::site_seq(b'g', site, first), value)
            .map_err(StoreError::from)?;
        self.events
            .insert(keys::join(keys::HIGH_WATER, &[site.as_bytes()]), &last.to_be_bytes())
            .map_err(StoreError::from)?;
        self.sync()?;
        Ok(Applied {
            applied: 0,
            duplicates: 0,
            high_water_mark: last,
        })
    }

    /// Every gap recorded for `site`, oldest first.
    pub fn gaps(&self, site: &str) -> Result<Vec<GapRecord>, StoreError> {
        let gaps = self.db.open_tree(TREE)?;
        let start = keys::site_seq(b'g', site, 0);
        let end = keys::site_seq(b'g', site, u64::MAX);
        gaps.range(start..=end)
            .map(|r| {
                let (_, v) = r?;
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("gap record: {e}")))
            })
            .collect()
    }
}
