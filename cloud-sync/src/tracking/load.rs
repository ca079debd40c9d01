//! What the tracking pages read from the store: the order, its parcels'
//! stored status and its matched carrier events, in one read transaction.

use std::collections::HashMap;

use super::page::{OrderData, StoredStatus};
use crate::orders::OrderRecord;
use crate::store::{CentralStore, StoreError};

/// The order with everything its page shows; `None` when there is no such order.
pub fn order_data(store: &CentralStore, number: &str) -> Result<Option<OrderData>, StoreError> {
    store.read(|tx| {
        let Some(order) = crate::orders::order_in(tx, number)? else {
            return Ok(None);
        };
        let mut statuses = HashMap::new();
        for r in tx.query(
            "SELECT parcel_id, status FROM parcels WHERE order_number = $1",
            &[number.into()],
        )? {
            // A status the page cannot read shows as no status yet, never an error page.
            if let Ok(s) = serde_json::from_str::<StoredStatus>(&r.text(1)?) {
                statuses.insert(r.text(0)?, s);
            }
        }
        let carrier = crate::carriers::store::events_of_order(tx, number)?
            .into_iter()
            .map(|s| s.event)
            .collect();
        Ok(Some(OrderData {
            order,
            statuses,
            carrier,
        }))
    })
}

/// The order alone (the lookup's check), `None` when there is none.
pub fn order(store: &CentralStore, number: &str) -> Result<Option<OrderRecord>, StoreError> {
    store.order(number)
}
