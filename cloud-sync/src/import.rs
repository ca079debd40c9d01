//! Upgrading from a release that kept central in sled: `waymark-sync
//! import-sled --from OLD_DATA_DIR` copies events (with marks and gaps),
//! orders (in revision order, so each site's downlink numbering is unchanged),
//! gateway status reports, API and enrollment tokens and the CA into the
//! configured store. Everything is written idempotently: a second run adds nothing.

use std::path::{Path, PathBuf};

use tracing::info;

use crate::legacy_sled::SledStore;
use crate::orders::{NewOrder, NewParcel};
use crate::projection::Projection;
use crate::store::{CentralStore, StoreError, seq_param};

/// Where a sled data directory keeps its store.
const SLED_DIR: &str = "store";
const IMPORTED: &str = "imported_sled";
/// Events read from sled and written per transaction.
const PAGE: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0} holds no sled store of an earlier Waymark (no store/db)")]
    NotSled(PathBuf),
    #[error("reading the sled store: {0}")]
    Sled(#[from] crate::legacy_sled::StoreError),
    #[error("writing the new store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

/// What one run added (zero everywhere on a second run).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    pub events: u64,
    pub sites: usize,
    pub gaps: u64,
    pub orders: u64,
    pub api_tokens: u64,
    pub enrollment_tokens: u64,
    pub ca: bool,
}

/// True when `data_dir` holds a sled store of an earlier release.
pub fn has_sled_store(data_dir: &Path) -> bool {
    data_dir.join(SLED_DIR).join("db").is_file()
}

/// Refuses to start on a data directory whose sled store was never imported:
/// its events and tokens would silently be missing.
pub fn refuse_unimported(data_dir: &Path, store: &CentralStore) -> Result<(), StoreError> {
    if has_sled_store(data_dir) && store.setting(IMPORTED)?.is_none() {
        return Err(StoreError::LegacyNotImported {
            dir: data_dir.join(SLED_DIR).display().to_string(),
            data_dir: data_dir.display().to_string(),
        });
    }
    Ok(())
}

pub fn import_sled(from: &Path, store: &CentralStore, cache_bytes: u64) -> Result<Imported, ImportError> {
    if !has_sled_store(from) {
        return Err(ImportError::NotSled(from.to_path_buf()));
    }
    let sled = SledStore::open(&from.join(SLED_DIR), cache_bytes)?;
    let mut out = Imported::default();
    for (site, mark) in sled.marks()? {
        out.sites += 1;
        out.events += import_site(&sled, store, &site, mark)?;
        for gap in sled.gaps(&site)? {
            out.gaps += store.write(|tx| {
                tx.execute(
                    "INSERT INTO site_gaps (site_id, first_seq, last_seq, reason, recorded_ms) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[
                        site.as_str().into(),
                        seq_param(gap.first),
                        seq_param(gap.last),
                        gap.reason.as_str().into(),
                        gap.recorded_ms.into(),
                    ],
                )
            })?;
        }
    }
    for site in sled.order_sites()? {
        // Oldest revision first: the new store numbers them 1, 2, ... again,
        // the same numbers the site's gateway holds as its downlink cursor.
        for rev in sled.order_revisions(&site, 0, usize::MAX)? {
            let Some(order) = rev.order else { continue };
            let some = |s: String| (!s.is_empty()).then_some(s);
            let new = NewOrder {
                order_number: order.order_number.clone(),
                site_id: order.site_id.clone(),
                parcels: order
                    .parcels
                    .into_iter()
                    .map(|p| NewParcel {
                        parcel_id: some(p.parcel_id),
                        sscc: some(p.sscc),
                        tracking_number: some(p.tracking_number),
                        epc: some(p.epc),
                    })
                    .collect(),
            };
            let (_, created) = store
                .create_order(new, order.created_ms)
                .map_err(|e| ImportError::Other(format!("order {}: {e}", order.order_number)))?;
            out.orders += u64::from(created);
        }
    }
    for status in sled.statuses()? {
        store.put_status(&status, status.reported_ms)?;
    }
    let before = store.tokens()?.len();
    for t in sled.tokens()? {
        store.insert_token(&t)?;
    }
    out.api_tokens = (store.tokens()?.len() - before) as u64;
    let before = store.enrollment_tokens()?.len();
    for (hash, t) in sled.enrollment_tokens()? {
        let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
            continue;
        };
        store.put_enrollment_token(&hash, &t)?;
    }
    out.enrollment_tokens = (store.enrollment_tokens()?.len() - before) as u64;
    let (cert, key) = (from.join("pki/ca.crt"), from.join("pki/ca.key"));
    if cert.is_file() && key.is_file() {
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|e| ImportError::Other(format!("{}: {e}", p.display())));
        let (cert, key) = (read(&cert)?, read(&key)?);
        out.ca = store.stored_ca()?.is_none();
        let (stored, _) = store.store_ca_if_absent(&cert, &key)?;
        if stored != cert {
            return Err(ImportError::Other(
                "the store already holds another CA; gateways enrolled with the old one would be refused. Import into a new store, or give the old CA as tls.ca_cert/tls.ca_key".into(),
            ));
        }
    }
    // The timeline from the imported events: priority-lane events above each
    // mark now, the rest as the projector catches up.
    store.reset_projection(Projection::Timeline)?;
    store.catch_up(Projection::Timeline, |_| {})?;
    store.setting_if_absent(
        IMPORTED,
        &format!("{} at {}", from.display(), chrono::Utc::now().to_rfc3339()),
    )?;
    info!(?out, from = %from.display(), "sled store imported");
    Ok(out)
}

/// Copies one site's events and sets its mark; returns the events added.
fn import_site(sled: &SledStore, store: &CentralStore, site: &str, mark: u64) -> Result<u64, ImportError> {
    let mut added = 0;
    let mut after = 0;
    loop {
        let events = sled.site_events(site, after, PAGE)?;
        let Some(last) = events.last() else { break };
        after = last.sequence;
        added += store.import_events(site, &events)?;
    }
    store.write(|tx| {
        tx.execute(
            "INSERT INTO site_streams (site_id, high_water_mark) VALUES ($1, $2) \
             ON CONFLICT (site_id) DO UPDATE SET high_water_mark = \
             CASE WHEN site_streams.high_water_mark > $2 THEN site_streams.high_water_mark ELSE $2 END",
            &[site.into(), seq_param(mark)],
        )
    })?;
    Ok(added)
}
