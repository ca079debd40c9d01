//! Orders in the central store: the order whole in `orders.body`, its
//! shipments and parcels as rows for lists and lookups, every identifier owned
//! by one order, and the per-site revision log the downlink serves from
//! (revisions are assigned under the site's counter row, so they commit in
//! order and a reader never skips one).

use prost::Message;
use waymark_proto::v1::{Event, Order, OrderRevision, Parcel};

use super::model::{OrderRecord, parcel_id};
use crate::store::{CentralStore, Engine, StoreError, Tx, seq_param};

/// An order in the shape orders had before shipments: one site ships every
/// parcel. Kept for `import-sled` and older clients.
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
                        .unwrap_or_else(|| parcel_id(&self.order_number, i + 1)),
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

    pub fn to_record(&self, now_ms: i64) -> OrderRecord {
        OrderRecord::from_legacy(&self.to_order(now_ms))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("order {0} already exists with different content; send it with a newer revision to update it")]
    Conflict(String),
    #[error("order {number} is at revision {stored}; revision {sent} is not newer")]
    StaleRevision { number: String, stored: u64, sent: u64 },
    #[error("order {0} is cancelled")]
    Cancelled(String),
    #[error("identifier {identifier} already belongs to order {order}")]
    IdentifierTaken { identifier: String, order: String },
    #[error("no order {0}")]
    NotFound(String),
    #[error("order {order} has no shipment {shipment}")]
    NoShipment { order: String, shipment: String },
    #[error("order {order} has no parcel {parcel}")]
    NoParcel { order: String, parcel: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Created,
    Updated,
    /// The same order again: nothing changed.
    Unchanged,
}

impl CentralStore {
    /// Creates an order from the shape orders had before shipments.
    pub fn create_order(&self, new: NewOrder, now_ms: i64) -> Result<(Order, bool), OrderError> {
        let (record, done) = self.submit_order(new.to_record(now_ms), now_ms)?;
        let site = new.site_id.clone();
        Ok((record.site_view(&site), done == Submitted::Created))
    }

    /// Creates an order, or updates it when `order.revision` is newer than the
    /// stored one. The same order again changes nothing, also when two central
    /// processes receive it at the same moment; different content at the same
    /// or an older revision is a conflict.
    pub fn submit_order(&self, order: OrderRecord, now_ms: i64) -> Result<(OrderRecord, Submitted), OrderError> {
        self.write(|tx| submit(tx, order.clone(), now_ms, None))
    }

    /// Submits many orders in one transaction, each on its own: an order the
    /// store refuses (a conflict) leaves nothing behind and the others commit.
    pub fn submit_orders(
        &self,
        orders: &[(u64, OrderRecord)],
        now_ms: i64,
    ) -> Result<Vec<Result<Submitted, OrderError>>, StoreError> {
        // One lock order for every writer: order rows by number, then the
        // sites' revision counters by site (appended last), so two imports of
        // overlapping sites never wait on each other in a circle.
        let mut by_number: Vec<usize> = (0..orders.len()).collect();
        by_number.sort_by(|a, b| orders[*a].1.order_number.cmp(&orders[*b].1.order_number));
        self.write(|tx| {
            let mut outcomes: Vec<Option<Result<Submitted, OrderError>>> = (0..orders.len()).map(|_| None).collect();
            let mut pending: Vec<(String, String)> = Vec::new();
            for &i in &by_number {
                let order = &orders[i].1;
                let mark = pending.len();
                tx.batch("SAVEPOINT submit_order")?;
                match submit(tx, order.clone(), now_ms, Some(&mut pending)) {
                    Ok((_, done)) => {
                        tx.batch("RELEASE SAVEPOINT submit_order")?;
                        outcomes[i] = Some(Ok(done));
                    }
                    Err(OrderError::Store(e)) => return Err(e),
                    Err(refused) => {
                        tx.batch("ROLLBACK TO SAVEPOINT submit_order; RELEASE SAVEPOINT submit_order")?;
                        pending.truncate(mark);
                        outcomes[i] = Some(Err(refused));
                    }
                }
            }
            pending.sort();
            for (site, number) in &pending {
                append_revision(tx, site, number)?;
            }
            Ok(outcomes
                .into_iter()
                .map(|o| o.unwrap_or_else(|| Err(OrderError::NotFound(String::new()))))
                .collect())
        })
    }

    /// Cancels the order, or one of its shipments. Cancelling again changes nothing.
    pub fn cancel_order(
        &self,
        number: &str,
        shipment: Option<&str>,
        now_ms: i64,
    ) -> Result<(OrderRecord, bool), OrderError> {
        self.write(|tx| {
            let old = lock_order(tx, number)?.ok_or_else(|| OrderError::NotFound(number.to_string()))?;
            let mut new = old.clone();
            match shipment {
                None => new.cancelled = true,
                Some(id) => {
                    let s = new.shipments.iter_mut().find(|s| s.shipment_id == id).ok_or_else(|| {
                        OrderError::NoShipment {
                            order: number.to_string(),
                            shipment: id.to_string(),
                        }
                    })?;
                    s.cancelled = true;
                    if new.shipments.iter().all(|s| s.cancelled) {
                        new.cancelled = true;
                    }
                }
            }
            if new == old {
                return Ok((old, false));
            }
            new.updated_ms = now_ms;
            write_order(tx, Some(&old), &new)?;
            super::status::refresh(tx, &new, now_ms)?;
            Ok((new, true))
        })
    }

    pub fn order(&self, number: &str) -> Result<Option<OrderRecord>, StoreError> {
        self.read(|tx| load_order(tx, number, false))
    }

    /// The order owning a parcel identifier (SSCC, EPC, tracking number) or
    /// named by a parcel id of the form the order gave it.
    pub fn order_by_identifier(&self, identifier: &str) -> Result<Option<OrderRecord>, StoreError> {
        self.read(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT order_number FROM order_identifiers WHERE identifier = $1",
                &[identifier.into()],
            )?
            else {
                return Ok(None);
            };
            load_order(tx, &row.text(0)?, false)
        })
    }

    /// Up to `limit` revisions of `site` after `cursor`, each with the order
    /// as the site sees it now.
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
                    order: Some(decode_order(r.bytes(1)?)?.site_view(site)),
                })
            })
            .collect()
        })
    }
}

/// `defer` collects the (site, order) revisions to append instead of
/// appending them (a batch appends them last, in site order).
fn submit(
    tx: &mut Tx<'_>,
    mut order: OrderRecord,
    now_ms: i64,
    mut defer: Option<&mut Vec<(String, String)>>,
) -> Result<(OrderRecord, Submitted), OrderError> {
    let Some(old) = lock_order(tx, &order.order_number)? else {
        order.created_ms = now_ms;
        order.updated_ms = now_ms;
        let inserted = tx.execute(
            "INSERT INTO orders (order_number, site_id, created_ms, body, revision, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_number) DO NOTHING",
            &[
                order.order_number.as_str().into(),
                order.sites().next().unwrap_or_default().into(),
                now_ms.into(),
                (&encode_order(&order)).into(),
                seq_param(order.revision),
                now_ms.into(),
            ],
        )?;
        if inserted == 0 {
            // Another central process created it a moment ago: judge against theirs.
            return submit(tx, order, now_ms, defer);
        }
        write_order_rows(tx, None, &order, Write::Insert, defer.as_deref_mut())?;
        // A new order has no site events yet: a gateway matches a milestone
        // or an exception to an order only once it holds it.
        super::status::refresh_new(tx, &order, now_ms)?;
        return Ok((order, Submitted::Created));
    };
    carry_cancellations(&old, &mut order);
    if old.same_content(&order) {
        return Ok((old, Submitted::Unchanged));
    }
    if order.revision <= old.revision {
        return Err(if order.revision == old.revision {
            OrderError::Conflict(order.order_number)
        } else {
            OrderError::StaleRevision {
                number: order.order_number,
                stored: old.revision,
                sent: order.revision,
            }
        });
    }
    if old.cancelled {
        return Err(OrderError::Cancelled(order.order_number));
    }
    order.created_ms = old.created_ms;
    order.updated_ms = now_ms;
    write_order_rows(tx, Some(&old), &order, Write::Change, defer)?;
    super::status::refresh(tx, &order, now_ms)?;
    Ok((order, Submitted::Updated))
}

/// A submission never says what was cancelled here: a cancelled order or
/// shipment stays cancelled, also when an update leaves the shipment out (its
/// site keeps hearing of the cancellation and its identifiers stay owned).
fn carry_cancellations(old: &OrderRecord, new: &mut OrderRecord) {
    new.cancelled = old.cancelled;
    for s in &mut new.shipments {
        s.cancelled = old
            .shipments
            .iter()
            .any(|o| o.shipment_id == s.shipment_id && o.cancelled);
    }
    for gone in old.shipments.iter().filter(|o| o.cancelled) {
        if !new.shipments.iter().any(|s| s.shipment_id == gone.shipment_id) {
            new.shipments.push(gone.clone());
        }
    }
}

/// Reads an order for a change: locked until the commit on PostgreSQL (the
/// single writer already holds SQLite).
fn lock_order(tx: &mut Tx<'_>, number: &str) -> Result<Option<OrderRecord>, StoreError> {
    load_order(tx, number, true)
}

/// In `tx`: order `number`, if there is one (for reads that take more in the
/// same transaction, as the tracking page does).
pub(crate) fn order_in(tx: &mut Tx<'_>, number: &str) -> Result<Option<OrderRecord>, StoreError> {
    load_order(tx, number, false)
}

fn load_order(tx: &mut Tx<'_>, number: &str, for_update: bool) -> Result<Option<OrderRecord>, StoreError> {
    let sql = match (tx.engine(), for_update) {
        (Engine::Postgres, true) => "SELECT body FROM orders WHERE order_number = $1 FOR UPDATE",
        _ => "SELECT body FROM orders WHERE order_number = $1",
    };
    tx.query_opt(sql, &[number.into()])?
        .map(|r| decode_order(r.bytes(0)?))
        .transpose()
}

/// Writes `new` over `old` (already in `orders` when `old` is `None`):
/// identifiers, shipment and parcel rows, and a downlink revision for every
/// site whose view of the order changed.
fn write_order(tx: &mut Tx<'_>, old: Option<&OrderRecord>, new: &OrderRecord) -> Result<(), OrderError> {
    write_order_rows(tx, old, new, Write::Change, None)
}

/// How [`write_order_rows`] finds the order's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// The `orders` row was just inserted whole; nothing else exists yet.
    Insert,
    /// A change to an order: its sites hear of it.
    Change,
    /// Schema 2's upgrade of a schema-1 order: the sites hold it already.
    Upgrade,
}

fn write_order_rows(
    tx: &mut Tx<'_>,
    old: Option<&OrderRecord>,
    new: &OrderRecord,
    how: Write,
    mut defer: Option<&mut Vec<(String, String)>>,
) -> Result<(), OrderError> {
    let number = new.order_number.as_str();
    if how != Write::Insert {
        update_order_row(tx, new)?;
    }
    write_identifiers(tx, old, new)?;
    if how != Write::Insert {
        tx.execute("DELETE FROM shipments WHERE order_number = $1", &[number.into()])?;
    }
    for s in &new.shipments {
        tx.execute(
            "INSERT INTO shipments (order_number, shipment_id, site_id, carrier, tracking_number, cancelled) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                number.into(),
                s.shipment_id.as_str().into(),
                s.site_id.as_str().into(),
                s.carrier.as_deref().unwrap_or_default().into(),
                s.tracking_number.as_deref().unwrap_or_default().into(),
                i64::from(s.cancelled || new.cancelled).into(),
            ],
        )?;
    }
    if how != Write::Insert {
        drop_gone_parcels(tx, new)?;
    }
    for (s, p) in new.parcels() {
        tx.execute(
            "INSERT INTO parcels (order_number, parcel_id, shipment_id, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (order_number, parcel_id) DO UPDATE SET shipment_id = excluded.shipment_id",
            &[
                number.into(),
                p.parcel_id.as_str().into(),
                s.shipment_id.as_str().into(),
                new.updated_ms.into(),
            ],
        )?;
    }
    if how == Write::Upgrade {
        return Ok(());
    }
    let mut sites: Vec<&str> = new
        .sites()
        .chain(old.into_iter().flat_map(OrderRecord::sites))
        .collect();
    sites.sort_unstable();
    sites.dedup();
    for site in sites {
        if !old.is_some_and(|o| o.site_view(site) == new.site_view(site)) {
            match defer.as_deref_mut() {
                Some(pending) => pending.push((site.to_string(), number.to_string())),
                None => append_revision(tx, site, number)?,
            }
        }
    }
    Ok(())
}

fn update_order_row(tx: &mut Tx<'_>, new: &OrderRecord) -> Result<(), StoreError> {
    let number = new.order_number.as_str();
    tx.execute(
        "UPDATE orders SET body = $2, revision = $3, updated_ms = $4, site_id = $5 WHERE order_number = $1",
        &[
            number.into(),
            (&encode_order(new)).into(),
            seq_param(new.revision),
            new.updated_ms.into(),
            new.sites().next().unwrap_or_default().into(),
        ],
    )?;
    tx.execute(
        "UPDATE order_overlays SET updated_ms = $2 WHERE order_number = $1",
        &[number.into(), new.updated_ms.into()],
    )?;
    Ok(())
}

/// Parcels keep their status row (the status engine rewrites it); parcels no
/// longer in the order leave.
fn drop_gone_parcels(tx: &mut Tx<'_>, new: &OrderRecord) -> Result<(), StoreError> {
    let number = new.order_number.as_str();
    let keep: Vec<&str> = new.parcels().map(|(_, p)| p.parcel_id.as_str()).collect();
    for row in tx.query(
        "SELECT parcel_id FROM parcels WHERE order_number = $1",
        &[number.into()],
    )? {
        let id = row.text(0)?;
        if !keep.contains(&id.as_str()) {
            tx.execute(
                "DELETE FROM parcels WHERE order_number = $1 AND parcel_id = $2",
                &[number.into(), id.as_str().into()],
            )?;
        }
    }
    Ok(())
}

fn write_identifiers(tx: &mut Tx<'_>, old: Option<&OrderRecord>, new: &OrderRecord) -> Result<(), OrderError> {
    let number = new.order_number.as_str();
    let mut mine: Vec<&str> = new.identifiers().collect();
    mine.sort_unstable();
    mine.dedup();
    for gone in old
        .into_iter()
        .flat_map(OrderRecord::identifiers)
        .filter(|i| !mine.contains(i))
    {
        tx.execute(
            "DELETE FROM order_identifiers WHERE identifier = $1 AND order_number = $2",
            &[gone.into(), number.into()],
        )?;
    }
    for ident in mine {
        let taken = tx.execute(
            "INSERT INTO order_identifiers (identifier, order_number) VALUES ($1, $2) \
             ON CONFLICT (identifier) DO NOTHING",
            &[ident.into(), number.into()],
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
            if owner != number {
                // The transaction rolls back: nothing of the order is written.
                return Err(OrderError::IdentifierTaken {
                    identifier: ident.to_string(),
                    order: owner,
                });
            }
        }
    }
    // Carrier events that arrived before the order count for it now.
    crate::carriers::store::claim_held(tx, new)?;
    Ok(())
}

fn append_revision(tx: &mut Tx<'_>, site: &str, number: &str) -> Result<(), StoreError> {
    let revision = tx
        .query_opt(
            "INSERT INTO site_revision_counters (site_id, last_revision) VALUES ($1, 1) \
             ON CONFLICT (site_id) DO UPDATE SET last_revision = site_revision_counters.last_revision + 1 \
             RETURNING last_revision",
            &[site.into()],
        )?
        .ok_or_else(|| StoreError::Corrupt("revision counter returned no row".into()))?
        .i64(0)?;
    tx.execute(
        "INSERT INTO order_revisions (site_id, revision, order_number) VALUES ($1, $2, $3)",
        &[site.into(), revision.into(), number.into()],
    )?;
    Ok(())
}

fn encode_order(order: &OrderRecord) -> Vec<u8> {
    // Serializing a struct of strings and numbers cannot fail.
    serde_json::to_vec(order).unwrap_or_default()
}

/// Orders are JSON from schema 2 on; a body that is not JSON (it starts with
/// protobuf's first field tag, never `{`) is an order written by schema 1.
pub(super) fn decode_order(bytes: &[u8]) -> Result<OrderRecord, StoreError> {
    if bytes.first() == Some(&b'{') {
        return serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("stored order: {e}")));
    }
    Order::decode(bytes)
        .map(|o| OrderRecord::from_legacy(&o))
        .map_err(|e| StoreError::Corrupt(format!("stored order: {e}")))
}

/// In `tx`: the order owning `identifier` (a parcel or shipment identifier).
/// Not locked: callers that change the order lock it through
/// [`refresh_numbers`], in order-number order, so two writers never wait on
/// each other in opposite orders.
pub(crate) fn order_owning(tx: &mut Tx<'_>, identifier: &str) -> Result<Option<OrderRecord>, StoreError> {
    let Some(row) = tx.query_opt(
        "SELECT order_number FROM order_identifiers WHERE identifier = $1",
        &[identifier.into()],
    )?
    else {
        return Ok(None);
    };
    load_order(tx, &row.text(0)?, false)
}

/// In `tx`: recomputes the status of the orders `numbers` (in their order,
/// which callers keep sorted so that row locks are taken in one order).
pub(crate) fn refresh_numbers(tx: &mut Tx<'_>, numbers: &[String], now_ms: i64) -> Result<(), StoreError> {
    for number in numbers {
        if let Some(order) = load_order(tx, number, true)? {
            super::status::refresh(tx, &order, now_ms)?;
        }
    }
    Ok(())
}

/// Refreshes the status of the orders `events` name (they are in the timeline already).
pub(crate) fn refresh_orders_of(tx: &mut Tx<'_>, events: &[Event], now_ms: i64) -> Result<(), StoreError> {
    for number in super::status::orders_touched(events) {
        if let Some(order) = load_order(tx, &number, true)? {
            super::status::refresh(tx, &order, now_ms)?;
        }
    }
    Ok(())
}

/// Schema 2's data step: every order written by schema 1 becomes one
/// shipment with its parcels, stored as JSON, with its shipment and parcel rows.
pub fn upgrade_schema1_orders(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    for row in tx.query("SELECT body FROM orders", &[])? {
        let order = decode_order(row.bytes(0)?)?;
        // The sites hold these orders already: no new revisions.
        write_order_rows(tx, None, &order, Write::Upgrade, None).map_err(|e| match e {
            OrderError::Store(e) => e,
            other => StoreError::Corrupt(format!("upgrading order {}: {other}", order.order_number)),
        })?;
        super::status::refresh(tx, &order, order.updated_ms)?;
    }
    Ok(())
}

/// An operator's correction of a parcel's milestone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub parcel_id: String,
    /// `true` asserts the milestone, `false` retracts it.
    pub assert: bool,
    pub milestone: crate::status::Milestone,
    pub reason: String,
    /// The API token's name.
    pub actor: String,
    pub event_time_ms: i64,
}

impl CentralStore {
    /// Records an audited correction and recomputes the order's status.
    pub fn correct_parcel(&self, number: &str, c: &Correction, now_ms: i64) -> Result<OrderRecord, OrderError> {
        let id = correction_id(number, c, now_ms);
        self.write(|tx| {
            let order = lock_order(tx, number)?.ok_or_else(|| OrderError::NotFound(number.to_string()))?;
            if !order.parcels().any(|(_, p)| p.parcel_id == c.parcel_id) {
                return Err(OrderError::NoParcel {
                    order: number.to_string(),
                    parcel: c.parcel_id.clone(),
                });
            }
            tx.execute(
                "INSERT INTO corrections (correction_id, order_number, parcel_id, milestone, assert_milestone, \
                 reason, actor, event_time_ms, recorded_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (correction_id) DO NOTHING",
                &[
                    id.as_str().into(),
                    number.into(),
                    c.parcel_id.as_str().into(),
                    c.milestone.as_str().into(),
                    i64::from(c.assert).into(),
                    c.reason.as_str().into(),
                    c.actor.as_str().into(),
                    c.event_time_ms.into(),
                    now_ms.into(),
                ],
            )?;
            super::status::refresh(tx, &order, now_ms)?;
            Ok(order.clone())
        })
    }
}

/// Stable for the same correction sent twice in the same millisecond (a retry).
fn correction_id(number: &str, c: &Correction, now_ms: i64) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!(
        "{number}\n{}\n{}\n{}\n{}\n{}\n{}\n{now_ms}",
        c.parcel_id,
        c.assert,
        c.milestone.as_str(),
        c.reason,
        c.actor,
        c.event_time_ms
    ));
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("cor_{hex}")
}

impl CentralStore {
    /// The status clock: recomputes up to `limit` orders whose time-driven
    /// overlays may have changed by `now_ms` with no new event (a promise
    /// passed, a carrier that never took a loaded parcel). Returns how many.
    pub fn recheck_due(&self, now_ms: i64, limit: usize) -> Result<usize, StoreError> {
        // A read first: the writer (SQLite's only one) is taken only when
        // there is something to do.
        let any =
            self.read(|tx| tx.query_opt("SELECT 1 FROM orders WHERE recheck_ms <= $1 LIMIT 1", &[now_ms.into()]))?;
        if any.is_none() {
            return Ok(0);
        }
        self.write(|tx| {
            let sql = match tx.engine() {
                Engine::Sqlite => "SELECT body FROM orders WHERE recheck_ms <= $1 ORDER BY recheck_ms LIMIT $2",
                Engine::Postgres => {
                    "SELECT body FROM orders WHERE recheck_ms <= $1 ORDER BY recheck_ms LIMIT $2 FOR UPDATE SKIP LOCKED"
                }
            };
            let due = tx.query(sql, &[now_ms.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()])?;
            for row in &due {
                super::status::refresh(tx, &decode_order(row.bytes(0)?)?, now_ms)?;
            }
            Ok(due.len())
        })
    }
}
