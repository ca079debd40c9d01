//! What ops see of each site: central's high-water mark, any sequences lost to
//! a restore from an old backup, and the gateway's last status report.

use prost::Message;
use waymark_proto::v1::GatewayStatus;

use crate::store::{CentralStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GapRecord {
    pub first: u64,
    pub last: u64,
    pub reason: String,
    pub recorded_ms: i64,
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
    pub(crate) fn new(site_id: String) -> Self {
        Self {
            site_id,
            high_water_mark: 0,
            last_status: None,
            gaps: Vec::new(),
        }
    }
}

impl CentralStore {
    /// Keeps a gateway's latest status report (the next one replaces it).
    pub fn put_status(&self, status: &GatewayStatus, now_ms: i64) -> Result<(), StoreError> {
        let body = status.encode_to_vec();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO gateway_status (site_id, body, received_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (site_id) DO UPDATE SET body = $2, received_ms = $3",
                &[status.site_id.as_str().into(), (&body).into(), now_ms.into()],
            )
        })?;
        Ok(())
    }

    /// Every site known to central: from its stream or its status reports.
    pub fn sites(&self) -> Result<Vec<SiteSummary>, StoreError> {
        self.read(|tx| {
            let mut sites = std::collections::BTreeMap::<String, SiteSummary>::new();
            for r in tx.query("SELECT site_id, high_water_mark FROM site_streams", &[])? {
                let site = r.text(0)?;
                sites
                    .entry(site.clone())
                    .or_insert_with(|| SiteSummary::new(site))
                    .high_water_mark = r.u64(1)?;
            }
            for r in tx.query("SELECT site_id, body FROM gateway_status", &[])? {
                let site = r.text(0)?;
                let status = GatewayStatus::decode(r.bytes(1)?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sites
                    .entry(site.clone())
                    .or_insert_with(|| SiteSummary::new(site))
                    .last_status = Some(status);
            }
            for r in tx.query(
                "SELECT site_id, first_seq, last_seq, reason, recorded_ms FROM site_gaps ORDER BY site_id, first_seq",
                &[],
            )? {
                let site = r.text(0)?;
                sites
                    .entry(site.clone())
                    .or_insert_with(|| SiteSummary::new(site))
                    .gaps
                    .push(GapRecord {
                        first: r.u64(1)?,
                        last: r.u64(2)?,
                        reason: r.text(3)?,
                        recorded_ms: r.i64(4)?,
                    });
            }
            Ok(sites.into_values().collect())
        })
    }

    /// Every gap recorded for `site`, oldest first.
    pub fn gaps(&self, site: &str) -> Result<Vec<GapRecord>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT first_seq, last_seq, reason, recorded_ms FROM site_gaps WHERE site_id = $1 ORDER BY first_seq",
                &[site.into()],
            )?
            .iter()
            .map(|r| {
                Ok(GapRecord {
                    first: r.u64(0)?,
                    last: r.u64(1)?,
                    reason: r.text(2)?,
                    recorded_ms: r.i64(3)?,
                })
            })
            .collect()
        })
    }
}
