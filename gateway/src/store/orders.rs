//! The site's orders as received by downlink, indexed by every parcel identifier
//! so that reads can be matched to orders while the site is offline.

use prost::Message;
use waymark_proto::v1::{Order, OrderRevision};

use std::sync::atomic::Ordering;

use super::keys::{self, META_DOWNLINK_CURSOR};
use super::{Store, StoreError, read_u64};

impl Store {
    /// Stores one revision and advances the downlink cursor in the same batch.
    /// Not fdatasync'ed: a revision lost in a power cut is fetched again from the cursor.
    pub fn apply_order_revision(&self, rev: &OrderRevision) -> Result<(), StoreError> {
        let Some(order) = &rev.order else {
            return Ok(());
        };
        let mut batch = sled::Batch::default();
        let old = self.order(&order.order_number)?;
        for id in old.iter().flat_map(parcel_identifiers) {
            batch.remove(keys::identifier(id));
        }
        for id in parcel_identifiers(order) {
            batch.insert(keys::identifier(id), order.order_number.as_bytes());
        }
        batch.insert(keys::order(&order.order_number), order.encode_to_vec());
        batch.insert(META_DOWNLINK_CURSOR, &rev.revision.to_be_bytes());
        self.orders.apply_batch(batch)?;
        if old.is_none() {
            self.orders_held.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn downlink_cursor(&self) -> Result<u64, StoreError> {
        read_u64(&self.orders, META_DOWNLINK_CURSOR)
    }

    pub fn order(&self, order_number: &str) -> Result<Option<Order>, StoreError> {
        let Some(v) = self.orders.get(keys::order(order_number))? else {
            return Ok(None);
        };
        Order::decode(v.as_ref()).map(Some).map_err(|e| StoreError::Corrupt {
            key: format!("order {order_number}"),
            detail: e.to_string(),
        })
    }

    /// The order number a parcel identifier (SSCC, tracking number, EPC) belongs to.
    pub fn order_for_identifier(&self, value: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .orders
            .get(keys::identifier(value))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The parcel a read names: its order, and the parcel whose SSCC, tracking number
    /// or EPC it is. A read of the order number itself is order-level (empty parcel id).
    pub fn parcel_for(&self, value: &str) -> Result<Option<crate::reconcile::ParcelRef>, StoreError> {
        let Some(number) = self.order_for_identifier(value)? else {
            return Ok(None);
        };
        let parcel = self.order(&number)?.and_then(|o| {
            o.parcels.into_iter().find(|p| {
                [&p.sscc, &p.tracking_number, &p.epc]
                    .iter()
                    .any(|v| v.as_str() == value)
            })
        });
        Ok(Some(crate::reconcile::ParcelRef::new(
            number,
            parcel.map(|p| p.parcel_id).unwrap_or_default(),
        )))
    }

    pub fn orders_held(&self) -> u64 {
        self.orders_held.load(Ordering::Relaxed)
    }
}

fn parcel_identifiers(order: &Order) -> impl Iterator<Item = &str> {
    order
        .parcels
        .iter()
        .flat_map(|p| [p.sscc.as_str(), p.tracking_number.as_str(), p.epc.as_str()])
        .filter(|s| !s.is_empty())
        .chain(std::iter::once(order.order_number.as_str()))
}
