//! The site's orders as received by downlink, indexed by every parcel identifier
//! so that reads can be matched to orders while the site is offline.

use prost::Message;
use tracing::debug;
use waymark_proto::v1::{Order, OrderRevision, Parcel};

use std::sync::atomic::Ordering;

use super::keys::{self, META_DOWNLINK_CURSOR};
use super::{Store, StoreError, read_u64};
use crate::reconcile::ParcelRef;

impl Store {
    /// Stores one revision and advances the downlink cursor in the same batch.
    /// Not fdatasync'ed: a revision lost in a power cut is fetched again from the cursor.
    ///
    /// The parcels of cancelled shipments leave the identifier index for the
    /// cancelled one (see [`CANCELLED_RETENTION_MS`](super::CANCELLED_RETENTION_MS));
    /// an order with nothing left for the site leaves the store. A revision that
    /// lists a parcel as active again takes its identifiers back. `now_ms` stamps
    /// the cancellations and expires old ones.
    pub fn apply_order_revision(&self, rev: &OrderRevision, now_ms: i64) -> Result<(), StoreError> {
        let Some(order) = &rev.order else {
            return Ok(());
        };
        let mut batch = sled::Batch::default();
        let expired = self.stage_expired_cancellations(&mut batch, now_ms)?;
        if expired > 0 {
            debug!(expired, "cancelled identifiers past retention forgotten");
        }
        let old = self.order(&order.order_number)?;
        // Only the entries still pointing here: a label moved to another order stays there.
        for id in old.iter().flat_map(parcel_identifiers) {
            if self.order_for_identifier(id)?.as_deref() == Some(order.order_number.as_str()) {
                batch.remove(keys::identifier(id));
            }
        }
        let active: Vec<&str> = match order.cancelled {
            true => Vec::new(),
            false => parcel_identifiers(order).collect(),
        };
        for id in &active {
            batch.insert(keys::identifier(id), order.order_number.as_bytes());
            self.stage_reactivated(&mut batch, id)?;
        }
        for (id, parcel) in cancelled_identifiers(order) {
            if !active.contains(&id) {
                self.stage_cancelled(&mut batch, id, &parcel, now_ms)?;
            }
        }
        match order.cancelled {
            true => batch.remove(keys::order(&order.order_number)),
            false => batch.insert(keys::order(&order.order_number), order.encode_to_vec()),
        }
        batch.insert(META_DOWNLINK_CURSOR, &rev.revision.to_be_bytes());
        self.orders.apply_batch(batch)?;
        match (old.is_some(), order.cancelled) {
            (false, false) => {
                self.orders_held.fetch_add(1, Ordering::Relaxed);
            }
            (true, true) => {
                self.orders_held.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
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
    pub fn parcel_for(&self, value: &str) -> Result<Option<ParcelRef>, StoreError> {
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
        Ok(Some(ParcelRef::new(
            number,
            parcel.map(|p| p.parcel_id).unwrap_or_default(),
        )))
    }

    pub fn orders_held(&self) -> u64 {
        self.orders_held.load(Ordering::Relaxed)
    }
}

/// The identifiers an active order is matched under: its parcels' and its number.
fn parcel_identifiers(order: &Order) -> impl Iterator<Item = &str> {
    order
        .parcels
        .iter()
        .flat_map(identifiers_of)
        .chain(std::iter::once(order.order_number.as_str()))
}

/// The identifiers of the order's cancelled parcels, each with its parcel. An order
/// cancelled as a whole adds every parcel it still lists and its own number.
fn cancelled_identifiers(order: &Order) -> Vec<(&str, ParcelRef)> {
    let parcel = |p: &Parcel| ParcelRef::new(order.order_number.as_str(), p.parcel_id.as_str());
    let whole_order = order.cancelled.then_some(&order.parcels).into_iter().flatten();
    let mut out: Vec<_> = order
        .cancelled_parcels
        .iter()
        .chain(whole_order)
        .flat_map(|p| identifiers_of(p).map(move |id| (id, parcel(p))))
        .collect();
    if order.cancelled {
        out.push((
            order.order_number.as_str(),
            ParcelRef::new(order.order_number.as_str(), ""),
        ));
    }
    out
}

fn identifiers_of(p: &Parcel) -> impl Iterator<Item = &str> {
    [p.sscc.as_str(), p.tracking_number.as_str(), p.epc.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
}
