//! Central's store: every site's events (applied exactly once, in per-site order),
//! the identifier index behind order timelines, orders with a per-site revision
//! log for the downlink, the last status report of each gateway, and the API's
//! tokens (hashed).
//!
//! A commit is durable before it is acknowledged: sled flush, then fdatasync of
//! its data file (sled 0.34's flush alone only issues sync_file_range).

mod enrollment;
mod gaps;
mod keys;
mod orders;
mod tokens;

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

use prost::Message;
use waymark_proto::v1::{Event, GatewayStatus};

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

pub struct CentralStore {
    db: sled::Db,
    events: sled::Tree,
    orders: sled::Tree,
    status: sled::Tree,
    tokens: sled::Tree,
    data_file: File,
    /// Serializes order writes so per-site revisions are assigned without races.
    order_write: Mutex<()>,
}

impl std::fmt::Debug for CentralStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentralStore").finish_non_exhaustive()
    }
}

const MAX_IDENTIFIERS_PER_EVENT: usize = 16;
const MAX_FIELD_LEN: usize = 128;

impl CentralStore {
    pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            .open()?;
        Ok(Self {
            events: db.open_tree("events")?,
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
        let mut hwm = self.high_water_mark(site)?;
        let mut batch = sled::Batch::default();
        let mut ids_in_batch = HashSet::new();
        let mut out = Applied::default();
        for e in events {
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
            let id_key = keys::join(keys::EVENT_ID, &[site.as_bytes(), e.event_id.as_bytes()]);
            if !ids_in_batch.insert(e.event_id.as_str())
                || self.events.contains_key(&id_key).map_err(StoreError::from)?
            {
                out.duplicates += 1;
                continue;
            }
            stage_event(&mut batch, site, e, id_key);
            out.applied += 1;
        }
        if out.applied > 0 || (ordered && out.duplicates > 0) {
            if ordered {
                batch.insert(keys::join(keys::HIGH_WATER, &[site.as_bytes()]), &hwm.to_be_bytes());
            }
            self.events.apply_batch(batch).map_err(StoreError::from)?;
            self.sync()?;
        }
        out.high_water_mark = hwm;
        Ok(out)
    }

    /// Up to `limit` events of `site` with sequence > `after`.
    pub fn site_events(&self, site: &str, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let start = keys::site_seq(keys::EVENT, site, after.saturating_add(1));
        let end = keys::site_seq(keys::EVENT, site, u64::MAX);
        self.events
            .range(start..=end)
            .take(limit)
            .map(|r| decode_event(&r?.1))
            .collect()
    }

    /// Every event that names one of `identifiers`, oldest event time first.
    pub fn timeline(&self, identifiers: &[&str]) -> Result<Vec<Event>, StoreError> {
        let mut seen = HashSet::new();
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
                if let Some(v) = self.events.get(keys::site_seq(keys::EVENT, &site, seq))? {
                    out.push(decode_event(&v)?);
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

#[derive(Debug, Clone)]
pub struct SiteSummary {
    pub site_id: String,
    pub high_water_mark: u64,
    pub last_status: Option<GatewayStatus>,
    /// Sequences the site's gateway could no longer deliver.
    pub gaps: Vec<GapRecord>,
}

impl SiteSummary {
    fn new(site_id: String) -> Self {
        Self {
            site_id,
            high_water_mark: 0,
            last_status: None,
            gaps: Vec::new(),
        }
    }
}

/// The writes that apply one event: its id index, the event under its sequence,
/// and its timeline entries.
fn stage_event(batch: &mut sled::Batch, site: &str, e: &Event, id_key: Vec<u8>) {
    batch.insert(id_key, &e.sequence.to_be_bytes());
    batch.insert(keys::site_seq(keys::EVENT, site, e.sequence), e.encode_to_vec());
    for ident in timeline_keys(e) {
        batch.insert(
            keys::join(
                keys::TIMELINE,
                &[ident.as_bytes(), site.as_bytes(), &e.sequence.to_be_bytes()],
            ),
            &[],
        );
    }
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
    let invalid = |problem: String| ApplyError::Invalid {
        sequence: e.sequence,
        problem,
    };
    if e.event_id.is_empty() || e.event_id.len() > 64 {
        return Err(invalid(format!("event_id must be 1-64 bytes, is {}", e.event_id.len())));
    }
    if e.identifiers.is_empty() || e.identifiers.len() > MAX_IDENTIFIERS_PER_EVENT {
        return Err(invalid(format!(
            "must name 1-{MAX_IDENTIFIERS_PER_EVENT} identifiers, names {}",
            e.identifiers.len()
        )));
    }
    let fields = e.identifiers.iter().map(|i| i.value.as_str()).chain([
        e.read_point.as_str(),
        e.device_id.as_str(),
        e.business_step.as_str(),
        e.disposition.as_str(),
        e.order_number.as_str(),
    ]);
    for f in fields {
        if f.len() > MAX_FIELD_LEN || f.contains('\0') {
            return Err(invalid(format!(
                "a field is longer than {MAX_FIELD_LEN} bytes or holds NUL"
            )));
        }
    }
    Ok(())
}

fn decode_event(v: &[u8]) -> Result<Event, StoreError> {
    Event::decode(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64, StoreError> {
    match tree.get(key)? {
        None => Ok(0),
        Some(v) => keys::decode_u64(&v).ok_or_else(|| StoreError::Corrupt(format!("counter {key:?}"))),
    }
}

#[cfg(test)]
mod tests;
