//! Orders and parcels, each identifier owned by one order, and the per-site
//! revision log the downlink serves from (revisions are assigned under the
//! site's counter row, so they commit in order and a reader never skips one).

use prost::Message;
use waymark_proto::v1::{Order, OrderRevision, Parcel};

use crate::store::{CentralStore, StoreError, seq_param};

/// An order as a merchant system submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub order_number: String,
    pub site_id: String,
    pub parcels: Vec<NewParcel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewParcel {
    pub parcel_id: Option<String>,
    pub sscc: Option<String>,
    pub tracking_number: Option<String>,
    pub epc: Option<String>,
}

impl NewOrder {
    /// The order as stored: a parcel without an id is numbered after the order.
    pub fn to_order(&self, now_ms: i64) -> Order {
        Order {
            order_number: self.order_number.clone(),
            site_id: self.site_id.clone(),
            parcels: self
                .parcels
                .iter()
                .enumerate()
                .map(|(i, p)| Parcel {
                    parcel_id: p
                        .parcel_id
                        .clone()
                        .unwrap_or_else(|| format!("{}-{}", self.order_number, i + 1)),
                    sscc: p.sscc.clone().unwrap_or_default(),
                    tracking_number: p.tracking_number.clone().unwrap_or_default(),
                    epc: p.epc.clone().unwrap_or_default(),
                    ..Parcel::default()
                })
                .collect(),
            created_ms: now_ms,
            ..Order::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("order {0} already exists with different content")]
    Conflict(String),
    #[error("identifier {identifier} already belongs to order {order}")]
    IdentifierTaken { identifier: String, order: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CentralStore {
    /// Creates an order and appends a revision to its site's log. Submitting the
    /// same order again is accepted and changes nothing (`Ok((order, false))`),
    /// also when two central processes receive it at the same moment.
    pub fn create_order(&self, new: NewOrder, now_ms: i64) -> Result<(Order, bool), OrderError> {
        let order = new.to_order(now_ms);
        let body = order.encode_to_vec();
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO orders (order_number, site_id, created_ms, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (order_number) DO NOTHING",
                &[
                    order.order_number.as_str().into(),
                    order.site_id.as_str().into(),
                    now_ms.into(),
                    (&body).into(),
                ],
            )?;
            if inserted == 0 {
                let existing = tx
                    .query_opt(
                        "SELECT body FROM orders WHERE order_number = $1",
                        &[order.order_number.as_str().into()],
                    )?
                    .ok_or_else(|| StoreError::Corrupt(format!("order {} vanished", order.order_number)))?;
                let existing = decode_order(existing.bytes(0)?)?;
                let same = existing.site_id == order.site_id && existing.parcels == order.parcels;
                return if same {
                    Ok((existing, false))
                } else {
                    Err(OrderError::Conflict(order.order_number.clone()))
                };
            }
            let mut seen = std::collections::HashSet::new();
            for ident in order_identifiers(&order).filter(|i| seen.insert(*i)) {
                let taken = tx.execute(
                    "INSERT INTO order_identifiers (identifier, order_number) VALUES ($1, $2) \
                     ON CONFLICT (identifier) DO NOTHING",
                    &[ident.into(), order.order_number.as_str().into()],
                )? == 0;
                if taken {
                    let owner = tx
                        .query_opt(
                            "SELECT order_number FROM order_identifiers WHERE identifier = $1",
                            &[ident.into()],
                        )?
                        .map(|r| r.text(0))
                        .transpose()?
                        .unwrap_or_default();
                    // The transaction rolls back: the order is not created.
                    return Err(OrderError::IdentifierTaken {
                        identifier: ident.to_string(),
                        order: owner,
                    });
                }
            }
            let revision = tx
                .query_opt(
                    "INSERT INTO site_revision_counters (site_id, last_revision) VALUES ($1, 1) \
                     ON CONFLICT (site_id) DO UPDATE SET last_revision = site_revision_counters.last_revision + 1 \
                     RETURNING last_revision",
                    &[order.site_id.as_str().into()],
                )?
                .ok_or_else(|| StoreError::Corrupt("revision counter returned no row".into()))?
                .i64(0)?;
            tx.execute(
                "INSERT INTO order_revisions (site_id, revision, order_number) VALUES ($1, $2, $3)",
                &[
                    order.site_id.as_str().into(),
                    revision.into(),
                    order.order_number.as_str().into(),
                ],
            )?;
            Ok((order.clone(), true))
        })
    }

    pub fn order(&self, order_number: &str) -> Result<Option<Order>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                "SELECT body FROM orders WHERE order_number = $1",
                &[order_number.into()],
            )?
            .map(|r| decode_order(r.bytes(0)?))
            .transpose()
        })
    }

    /// Up to `limit` revisions of `site` after `cursor`, each with the order as it is now.
    pub fn order_revisions(&self, site: &str, cursor: u64, limit: usize) -> Result<Vec<OrderRevision>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT r.revision, o.body FROM order_revisions r \
                 JOIN orders o ON o.order_number = r.order_number \
                 WHERE r.site_id = $1 AND r.revision > $2 ORDER BY r.revision LIMIT $3",
                &[
                    site.into(),
                    seq_param(cursor),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            )?
            .iter()
            .map(|r| {
                Ok(OrderRevision {
                    revision: r.u64(0)?,
                    order: Some(decode_order(r.bytes(1)?)?),
                })
            })
            .collect()
        })
    }
}

fn decode_order(bytes: &[u8]) -> Result<Order, StoreError> {
    Order::decode(bytes).map_err(|e| StoreError::Corrupt(format!("stored order: {e}")))
}

/// Everything a read may name to find this order.
pub fn order_identifiers(order: &Order) -> impl Iterator<Item = &str> {
    order
        .parcels
        .iter()
        .flat_map(|p| [p.sscc.as_str(), p.tracking_number.as_str(), p.epc.as_str()])
        .filter(|s| !s.is_empty())
}
