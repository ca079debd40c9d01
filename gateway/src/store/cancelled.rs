//! Identifiers of cancelled parcels, remembered for a while after central cancels
//! their shipment, so that a later read of one is recognised and recorded as an
//! exception instead of waiting in the quarantine as an unknown identifier.

use serde::{Deserialize, Serialize};

use super::keys;
use super::{Store, StoreError};
use crate::reconcile::{Lookup, ParcelRef};

/// How long a cancelled identifier is remembered after the last revision that said
/// it was cancelled. After that a read of it is an unknown identifier again: it waits
/// in the quarantine and leaves as an `unmatched_expired` exception, so it is still
/// never matched and never silent. Expired entries go with the next revision applied.
pub const CANCELLED_RETENTION_MS: i64 = 30 * 24 * 3_600_000;

/// What the store keeps of one cancelled identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelledParcel {
    pub order_number: String,
    /// Empty for the order number of an order cancelled as a whole.
    pub parcel_id: String,
    /// When the gateway applied the revision that cancelled it (its clock, ms).
    pub cancelled_ms: i64,
}

impl Store {
    /// The cancelled parcel an identifier names, if it is remembered.
    pub fn cancelled_parcel(&self, value: &str) -> Result<Option<CancelledParcel>, StoreError> {
        let Some(v) = self.orders.get(keys::cancelled(value))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v).map(Some).map_err(|e| StoreError::Corrupt {
            key: format!("cancelled identifier {value}"),
            detail: e.to_string(),
        })
    }

    /// What reconciliation makes of an identifier: a parcel to ship, a cancelled
    /// one, or nothing the site knows. An identifier active in an order wins.
    pub fn lookup(&self, value: &str) -> Result<Lookup, StoreError> {
        if let Some(parcel) = self.parcel_for(value)? {
            return Ok(Lookup::Active(parcel));
        }
        Ok(match self.cancelled_parcel(value)? {
            Some(c) => Lookup::Cancelled(ParcelRef::new(c.order_number, c.parcel_id)),
            None => Lookup::Unknown,
        })
    }

    /// How many cancelled identifiers are remembered (a scan: tests and diagnostics).
    pub fn cancelled_identifiers_held(&self) -> usize {
        self.orders.scan_prefix([keys::CANCELLED]).count()
    }

    /// Stages `value` as cancelled now (a restated cancellation restarts its retention).
    pub(super) fn stage_cancelled(
        &self,
        batch: &mut sled::Batch,
        value: &str,
        parcel: &ParcelRef,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.stage_reactivated(batch, value)?;
        let entry = CancelledParcel {
            order_number: parcel.order_number.clone(),
            parcel_id: parcel.parcel_id.clone(),
            cancelled_ms: now_ms,
        };
        let bytes = serde_json::to_vec(&entry).map_err(|e| StoreError::Corrupt {
            key: format!("cancelled identifier {value}"),
            detail: e.to_string(),
        })?;
        batch.insert(keys::cancelled(value), bytes);
        batch.insert(keys::cancelled_at(now_ms, value), &[]);
        Ok(())
    }

    /// Stages forgetting that `value` was cancelled (its parcel is active again).
    pub(super) fn stage_reactivated(&self, batch: &mut sled::Batch, value: &str) -> Result<(), StoreError> {
        if let Some(old) = self.cancelled_parcel(value)? {
            batch.remove(keys::cancelled(value));
            batch.remove(keys::cancelled_at(old.cancelled_ms, value));
        }
        Ok(())
    }

    /// Stages removing the entries past retention at `now_ms`; returns how many.
    pub(super) fn stage_expired_cancellations(
        &self,
        batch: &mut sled::Batch,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let cutoff = now_ms.saturating_sub(CANCELLED_RETENTION_MS);
        let mut expired = 0;
        for item in self
            .orders
            .range(keys::cancelled_at_bound(i64::MIN)..keys::cancelled_at_bound(cutoff))
        {
            let (k, _) = item?;
            batch.remove(keys::cancelled(&String::from_utf8_lossy(&k[9..])));
            batch.remove(k);
            expired += 1;
        }
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    use waymark_proto::v1::{Order, OrderRevision, Parcel, Shipment};

    use super::*;

    const DAY_MS: i64 = 24 * 3_600_000;

    fn parcel(id: &str, sscc: &str, epc: &str) -> Parcel {
        Parcel {
            parcel_id: id.into(),
            sscc: sscc.into(),
            epc: epc.into(),
            shipment_id: format!("SH-{id}"),
            ..Parcel::default()
        }
    }

    fn shipment(id: &str, cancelled: bool) -> Shipment {
        Shipment {
            shipment_id: format!("SH-{id}"),
            cancelled,
            ..Shipment::default()
        }
    }

    /// SO-1 with parcels P-1 (SSCC 1, an EPC) and P-2 (SSCC 2), as revision `revision`
    /// with the parcels named in `cancelled` moved to `cancelled_parcels`.
    fn so1(revision: u64, cancelled: &[&str], whole_order: bool) -> OrderRevision {
        let all = [
            parcel("P-1", "100000000000000001", "urn:epc:id:sscc:0000000.0000000001"),
            parcel("P-2", "100000000000000002", ""),
        ];
        let (gone, left): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| cancelled.contains(&p.parcel_id.as_str()));
        OrderRevision {
            revision,
            order: Some(Order {
                order_number: "SO-1".into(),
                site_id: "dc-1".into(),
                shipments: ["P-1", "P-2"]
                    .iter()
                    .map(|p| shipment(p, whole_order || cancelled.contains(p)))
                    .collect(),
                parcels: left,
                cancelled_parcels: gone,
                cancelled: whole_order,
                ..Order::default()
            }),
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
        (dir, store)
    }

    fn lookup(store: &Store, value: &str) -> Lookup {
        store.lookup(value).expect("lookup")
    }

    fn cancelled(order: &str, parcel: &str) -> Lookup {
        Lookup::Cancelled(ParcelRef::new(order, parcel))
    }

    #[test]
    fn a_cancelled_shipment_moves_its_identifiers_to_the_cancelled_index() {
        let (_dir, store) = open();
        store.apply_order_revision(&so1(1, &[], false), 0).expect("apply");
        assert_eq!(
            lookup(&store, "100000000000000001"),
            Lookup::Active(ParcelRef::new("SO-1", "P-1"))
        );
        store.apply_order_revision(&so1(2, &["P-1"], false), 10).expect("apply");
        assert_eq!(store.orders_held(), 1, "P-2 is still to ship");
        for id in ["100000000000000001", "urn:epc:id:sscc:0000000.0000000001"] {
            assert_eq!(store.order_for_identifier(id).expect("get"), None, "{id}");
            assert_eq!(lookup(&store, id), cancelled("SO-1", "P-1"), "{id}");
        }
        assert_eq!(
            store.cancelled_parcel("100000000000000001").expect("get"),
            Some(CancelledParcel {
                order_number: "SO-1".into(),
                parcel_id: "P-1".into(),
                cancelled_ms: 10,
            })
        );
        assert_eq!(
            lookup(&store, "100000000000000002"),
            Lookup::Active(ParcelRef::new("SO-1", "P-2"))
        );
        assert_eq!(
            lookup(&store, "SO-1"),
            Lookup::Active(ParcelRef::new("SO-1", "")),
            "the order is still active"
        );
        assert_eq!(store.cancelled_identifiers_held(), 2);
        assert_eq!(store.downlink_cursor().expect("cursor"), 2);
    }

    #[test]
    fn a_cancelled_order_leaves_the_store_and_orders_held_goes_down() {
        let (dir, store) = open();
        store.apply_order_revision(&so1(1, &[], false), 0).expect("apply");
        assert_eq!(store.orders_held(), 1);
        store
            .apply_order_revision(&so1(2, &["P-1", "P-2"], true), 5)
            .expect("apply");
        assert_eq!(store.orders_held(), 0);
        assert_eq!(store.order("SO-1").expect("get"), None);
        assert_eq!(lookup(&store, "100000000000000002"), cancelled("SO-1", "P-2"));
        assert_eq!(lookup(&store, "SO-1"), cancelled("SO-1", ""), "the order number too");
        // Restated (a central re-sending from an old cursor): nothing held goes negative.
        store
            .apply_order_revision(&so1(3, &["P-1", "P-2"], true), 6)
            .expect("apply");
        assert_eq!(store.orders_held(), 0);
        drop(store);
        let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("reopen");
        assert_eq!(store.orders_held(), 0, "counted from the store at open");
        assert_eq!(lookup(&store, "SO-1"), cancelled("SO-1", ""));
    }

    #[test]
    fn a_cancellation_of_an_order_never_held_is_still_remembered() {
        let (_dir, store) = open();
        store
            .apply_order_revision(&so1(7, &["P-1", "P-2"], true), 0)
            .expect("apply");
        assert_eq!(store.orders_held(), 0);
        assert_eq!(lookup(&store, "100000000000000001"), cancelled("SO-1", "P-1"));
    }

    #[test]
    fn a_parcel_active_again_takes_its_identifiers_back() {
        let (_dir, store) = open();
        store
            .apply_order_revision(&so1(1, &["P-1", "P-2"], true), 0)
            .expect("apply");
        store.apply_order_revision(&so1(2, &["P-2"], false), 1).expect("apply");
        assert_eq!(store.orders_held(), 1);
        assert_eq!(
            lookup(&store, "100000000000000001"),
            Lookup::Active(ParcelRef::new("SO-1", "P-1"))
        );
        assert_eq!(store.cancelled_parcel("100000000000000001").expect("get"), None);
        assert_eq!(lookup(&store, "SO-1"), Lookup::Active(ParcelRef::new("SO-1", "")));
        assert_eq!(lookup(&store, "100000000000000002"), cancelled("SO-1", "P-2"));
        assert_eq!(store.cancelled_identifiers_held(), 1);
        // An old-style revision (no cancellation fields) listing every parcel: all active.
        store.apply_order_revision(&so1(3, &[], false), 2).expect("apply");
        assert_eq!(store.cancelled_identifiers_held(), 0);
        assert_eq!(
            lookup(&store, "100000000000000002"),
            Lookup::Active(ParcelRef::new("SO-1", "P-2"))
        );
    }

    #[test]
    fn a_label_moved_to_another_order_is_active_there() {
        let (_dir, store) = open();
        store
            .apply_order_revision(&so1(1, &["P-1", "P-2"], true), 0)
            .expect("apply");
        let mut moved = so1(2, &[], false);
        if let Some(o) = moved.order.as_mut() {
            o.order_number = "SO-2".into();
        }
        store.apply_order_revision(&moved, 1).expect("apply");
        assert_eq!(
            lookup(&store, "100000000000000001"),
            Lookup::Active(ParcelRef::new("SO-2", "P-1"))
        );
        assert_eq!(lookup(&store, "SO-1"), cancelled("SO-1", ""));
    }

    #[test]
    fn a_label_moved_before_its_old_shipment_is_cancelled_stays_active() {
        let (_dir, store) = open();
        store.apply_order_revision(&so1(1, &[], false), 0).expect("apply");
        let mut moved = so1(2, &["P-2"], false);
        if let Some(o) = moved.order.as_mut() {
            o.order_number = "SO-2".into();
            o.cancelled_parcels.clear();
        }
        store.apply_order_revision(&moved, 1).expect("apply");
        store.apply_order_revision(&so1(3, &["P-1"], false), 2).expect("apply");
        assert_eq!(
            lookup(&store, "100000000000000001"),
            Lookup::Active(ParcelRef::new("SO-2", "P-1")),
            "SO-1's cancellation does not take SO-2's label"
        );
        assert_eq!(
            lookup(&store, "100000000000000002"),
            Lookup::Active(ParcelRef::new("SO-1", "P-2"))
        );
    }

    #[test]
    fn cancelled_identifiers_are_forgotten_after_the_retention() {
        let (_dir, store) = open();
        store.apply_order_revision(&so1(1, &["P-1"], false), 0).expect("apply");
        let mut other = so1(2, &["P-1", "P-2"], true);
        if let Some(o) = other.order.as_mut() {
            o.order_number = "SO-2".into();
            o.parcels.clear();
            o.cancelled_parcels = vec![parcel("P-9", "100000000000000009", "")];
        }
        store.apply_order_revision(&other, 20 * DAY_MS).expect("apply");
        assert_eq!(store.cancelled_identifiers_held(), 4, "P-1's two, P-9's, SO-2");
        // A revision past SO-1's retention forgets SO-1's entries and only those, unless
        // it restates them.
        store
            .apply_order_revision(&so1(3, &[], true), CANCELLED_RETENTION_MS - 1)
            .expect("apply");
        store
            .apply_order_revision(&so1(4, &[], false), CANCELLED_RETENTION_MS + 1)
            .expect("apply");
        assert_eq!(store.cancelled_identifiers_held(), 2, "SO-2's stay");
        store
            .apply_order_revision(&so1(5, &["P-1"], false), CANCELLED_RETENTION_MS + 1)
            .expect("apply");
        assert_eq!(
            store
                .cancelled_parcel("100000000000000001")
                .expect("get")
                .map(|c| c.cancelled_ms),
            Some(CANCELLED_RETENTION_MS + 1),
            "restated, so kept from now"
        );
        store
            .apply_order_revision(&so1(6, &[], false), 20 * DAY_MS + CANCELLED_RETENTION_MS + 1)
            .expect("apply");
        assert_eq!(store.cancelled_identifiers_held(), 0);
        assert_eq!(lookup(&store, "100000000000000009"), Lookup::Unknown);
        assert_eq!(
            store.orders.scan_prefix([keys::CANCELLED_AT]).count(),
            0,
            "no stray time keys"
        );
    }
}
