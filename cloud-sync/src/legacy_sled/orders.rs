//! Orders and parcels, and the per-site revision log the downlink serves from.

use prost::Message;
use waymark_proto::v1::{Order, OrderRevision};

use super::keys::{self, ORDER, PARCEL_ID, REVISION, REVISION_COUNTER};
use super::{SledStore, StoreError, read_u64};
pub use crate::orders::{NewOrder, NewParcel};

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("order {0} already exists with different content")]
    Conflict(String),
    #[error("identifier {identifier} already belongs to order {order}")]
    IdentifierTaken { identifier: String, order: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SledStore {
    /// Creates an order and appends a revision to its site's log. Submitting the
    /// same order again is accepted and changes nothing (`Ok((order, false))`).
    pub fn create_order(&self, new: NewOrder, now_ms: i64) -> Result<(Order, bool), OrderError> {
        let _guard = self.order_write.lock().unwrap_or_else(|p| p.into_inner());
        let order = new.to_order(now_ms);
        if let Some(existing) = self.order(&new.order_number)? {
            let same = existing.site_id == order.site_id && existing.parcels == order.parcels;
            return if same {
                Ok((existing, false))
            } else {
                Err(OrderError::Conflict(new.order_number))
            };
        }
        let mut batch = sled::Batch::default();
        for ident in order_identifiers(&order) {
            if let Some(owner) = self
                .orders
                .get(keys::join(PARCEL_ID, &[ident.as_bytes()]))
                .map_err(StoreError::from)?
            {
                return Err(OrderError::IdentifierTaken {
                    identifier: ident.to_string(),
                    order: String::from_utf8_lossy(&owner).into_owned(),
                });
            }
            batch.insert(
                keys::join(PARCEL_ID, &[ident.as_bytes()]),
                order.order_number.as_bytes(),
            );
        }
        let counter_key = keys::join(REVISION_COUNTER, &[order.site_id.as_bytes()]);
        let revision = read_u64(&self.orders, &counter_key)? + 1;
        batch.insert(counter_key, &revision.to_be_bytes());
        batch.insert(
            keys::site_seq(REVISION, &order.site_id, revision),
            order.order_number.as_bytes(),
        );
        batch.insert(
            keys::join(ORDER, &[order.order_number.as_bytes()]),
            order.encode_to_vec(),
        );
        self.orders.apply_batch(batch).map_err(StoreError::from)?;
        self.sync()?;
        Ok((order, true))
    }

    pub fn order(&self, order_number: &str) -> Result<Option<Order>, StoreError> {
        self.orders
            .get(keys::join(ORDER, &[order_number.as_bytes()]))?
            .map(|v| Order::decode(v.as_ref()).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Up to `limit` revisions of `site` after `cursor`, each with the order as it is now.
    pub fn order_revisions(&self, site: &str, cursor: u64, limit: usize) -> Result<Vec<OrderRevision>, StoreError> {
        let start = keys::site_seq(REVISION, site, cursor.saturating_add(1));
        let end = keys::site_seq(REVISION, site, u64::MAX);
        let mut out = Vec::new();
        for item in self.orders.range(start..=end).take(limit) {
            let (k, number) = item?;
            let revision = keys::decode_u64(&k[k.len() - 8..]).unwrap_or(0);
            let number = String::from_utf8_lossy(&number).into_owned();
            out.push(OrderRevision {
                revision,
                order: self.order(&number)?,
            });
        }
        Ok(out)
    }
}

/// Everything a read may name to find this order.
pub fn order_identifiers(order: &Order) -> impl Iterator<Item = &str> {
    order
        .parcels
        .iter()
        .flat_map(|p| [p.sscc.as_str(), p.tracking_number.as_str(), p.epc.as_str()])
        .filter(|s| !s.is_empty())
}
