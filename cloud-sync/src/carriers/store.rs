//! The carriers' tables: webhooks as received (the durable inbox), their
//! canonical events once each, accounts added through the API, per-account
//! counters. Blocking, like every store call.

use super::{CarrierEvent, Provider};
use crate::orders::OrderRecord;
use crate::store::{CentralStore, StoreError, Tx};

/// A verified webhook, to be stored before it is acknowledged.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub provider: Provider,
    pub account: String,
    pub body: Vec<u8>,
    pub received_ms: i64,
}

/// A stored webhook as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WebhookRecord {
    pub id: i64,
    pub provider: String,
    pub account: String,
    pub received_ms: i64,
    /// `pending`, `done` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub events_new: i64,
    pub events_known: i64,
    pub bytes: i64,
}

/// Per account: what an integration engineer checks first.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct AccountStats {
    pub received: i64,
    pub last_received_ms: Option<i64>,
    /// Webhooks whose normalization failed (each attempt counts).
    pub failed: i64,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
}

/// Tracking numbers with carrier events that match no order yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HeldTracking {
    pub provider: String,
    pub tracking_number: String,
    pub carrier: String,
    pub events: i64,
    pub first_recorded_ms: i64,
    pub last_recorded_ms: i64,
}

/// A carrier event as the status engine reads it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event: CarrierEvent,
    pub webhook_id: i64,
    pub recorded_ms: i64,
}

/// Carrier events older than this before an order was created belong to an
/// earlier use of a recycled tracking number, not to the order.
pub const RECYCLE_GUARD_MS: i64 = 60 * 86_400_000;

impl CentralStore {
    /// Stores verified webhooks in one transaction (the receiver's group
    /// commit) and counts them per account; returns their ids in order.
    pub fn store_webhooks(&self, batch: &[NewWebhook]) -> Result<Vec<i64>, StoreError> {
        self.write(|tx| {
            let mut ids = Vec::with_capacity(batch.len());
            for w in batch {
                let id = tx
                    .query_opt(
                        "INSERT INTO carrier_webhooks (provider, account, received_ms, bytes) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                        &[
                            w.provider.as_str().into(),
                            w.account.as_str().into(),
                            w.received_ms.into(),
                            i64::try_from(w.body.len()).unwrap_or(i64::MAX).into(),
                        ],
                    )?
                    .ok_or_else(|| StoreError::Corrupt("insert returned no id".into()))?
                    .i64(0)?;
                tx.execute(
                    "INSERT INTO carrier_webhook_bodies (id, body) VALUES ($1, $2)",
                    &[id.into(), w.body.as_slice().into()],
                )?;
                ids.push(id);
            }
            let mut per_account: Vec<(&str, &str, i64, i64)> = Vec::new();
            for w in batch {
                match per_account
                    .iter_mut()
                    .find(|(p, a, _, _)| *p == w.provider.as_str() && *a == w.account)
                {
                    Some(entry) => {
                        entry.2 += 1;
                        entry.3 = entry.3.max(w.received_ms);
                    }
                    None => per_account.push((w.provider.as_str(), &w.account, 1, w.received_ms)),
                }
            }
            per_account.sort_unstable();
            for (provider, account, n, last) in per_account {
                tx.execute(
                    "INSERT INTO carrier_account_stats (provider, name, received, last_received_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (provider, name) DO UPDATE SET \
                     received = carrier_account_stats.received + $3, last_received_ms = $4",
                    &[provider.into(), account.into(), n.into(), last.into()],
                )?;
            }
            Ok(ids)
        })
    }

    pub fn carrier_webhook_body(&self, id: i64) -> Result<Option<(Provider, Vec<u8>)>, StoreError> {
        self.read(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT w.provider, b.body FROM carrier_webhooks w JOIN carrier_webhook_bodies b ON b.id = w.id \
                 WHERE w.id = $1",
                &[id.into()],
            )?
            else {
                return Ok(None);
            };
            let provider = Provider::parse(&row.text(0)?)
                .ok_or_else(|| StoreError::Corrupt(format!("webhook {id}: unknown provider")))?;
            Ok(Some((provider, row.bytes(1)?.to_vec())))
        })
    }

    /// Webhooks by state (all when `None`), newest first, below `before_id`.
    pub fn carrier_webhooks(
        &self,
        state: Option<&str>,
        before_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<WebhookRecord>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT id, provider, account, received_ms, state, attempts, error, events_new, events_known, \
                 bytes FROM carrier_webhooks \
                 WHERE ($1 = '' OR state = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
                &[
                    state.unwrap_or("").into(),
                    before_id.unwrap_or(i64::MAX).into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(WebhookRecord {
                        id: r.i64(0)?,
                        provider: r.text(1)?,
                        account: r.text(2)?,
                        received_ms: r.i64(3)?,
                        state: r.text(4)?,
                        attempts: r.i64(5)?,
                        error: r.opt_text(6)?,
                        events_new: r.i64(7)?,
                        events_known: r.i64(8)?,
                        bytes: r.i64(9)?,
                    })
                })
                .collect()
        })
    }

    /// Puts a failed webhook back in the queue (after a fix or an upgrade);
    /// whether there was one to put back.
    pub fn retry_carrier_webhook(&self, id: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE carrier_webhooks SET state = 'pending', next_attempt_ms = 0, attempts = 0 \
                 WHERE id = $1 AND state = 'failed'",
                &[id.into()],
            )? == 1)
        })
    }

    /// Webhooks received and not normalized yet, and failed ones.
    pub fn carrier_backlog(&self) -> Result<(u64, u64), StoreError> {
        self.read(|tx| {
            let count = |tx: &mut Tx<'_>, state: &str| -> Result<u64, StoreError> {
                tx.query_opt(
                    "SELECT COUNT(*) FROM carrier_webhooks WHERE state = $1",
                    &[state.into()],
                )?
                .map_or(Ok(0), |r| r.u64(0))
            };
            Ok((count(tx, "pending")?, count(tx, "failed")?))
        })
    }

    pub fn carrier_account_stats(&self) -> Result<Vec<(String, String, AccountStats)>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT provider, name, received, last_received_ms, failed, last_error, last_error_ms \
                 FROM carrier_account_stats ORDER BY provider, name",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.text(0)?,
                    r.text(1)?,
                    AccountStats {
                        received: r.i64(2)?,
                        last_received_ms: r.opt_i64(3)?,
                        failed: r.i64(4)?,
                        last_error: r.opt_text(5)?,
                        last_error_ms: r.opt_i64(6)?,
                    },
                ))
            })
            .collect()
        })
    }

    /// Accounts added through the API: (provider, name, secret).
    pub fn stored_carrier_accounts(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT provider, name, secret FROM carrier_accounts ORDER BY provider, name",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
            .collect()
        })
    }

    /// Adds or replaces an account; whether it was new.
    pub fn put_carrier_account(
        &self,
        provider: Provider,
        name: &str,
        secret: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let existed = tx
                .query_opt(
                    "SELECT 1 FROM carrier_accounts WHERE provider = $1 AND name = $2",
                    &[provider.as_str().into(), name.into()],
                )?
                .is_some();
            tx.execute(
                "INSERT INTO carrier_accounts (provider, name, secret, created_ms, created_by) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, name) DO UPDATE SET \
                 secret = $3, created_ms = $4, created_by = $5",
                &[
                    provider.as_str().into(),
                    name.into(),
                    secret.into(),
                    now_ms.into(),
                    by.into(),
                ],
            )?;
            Ok(!existed)
        })
    }

    pub fn delete_carrier_account(&self, provider: Provider, name: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM carrier_accounts WHERE provider = $1 AND name = $2",
                &[provider.as_str().into(), name.into()],
            )? == 1)
        })
    }

    /// Tracking numbers whose carrier events match no order yet, oldest first.
    pub fn held_tracking(&self, limit: usize) -> Result<Vec<HeldTracking>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT provider, tracking_number, MIN(carrier), COUNT(*), MIN(recorded_ms), MAX(recorded_ms) \
                 FROM carrier_events WHERE order_number IS NULL \
                 GROUP BY provider, tracking_number ORDER BY MIN(recorded_ms), tracking_number LIMIT $1",
                &[i64::try_from(limit).unwrap_or(i64::MAX).into()],
            )?
            .iter()
            .map(|r| {
                Ok(HeldTracking {
                    provider: r.text(0)?,
                    tracking_number: r.text(1)?,
                    carrier: r.text(2)?,
                    events: r.i64(3)?,
                    first_recorded_ms: r.i64(4)?,
                    last_recorded_ms: r.i64(5)?,
                })
            })
            .collect()
        })
    }

    /// Held events of a tracking number, and every event matched to an order:
    /// what support looks at.
    pub fn carrier_events_of_tracking(&self, tracking_number: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(|tx| {
            read_events(
                tx,
                "SELECT body, webhook_id, recorded_ms FROM carrier_events WHERE tracking_number = $1",
                tracking_number,
            )
        })
    }
}

/// In `tx`: the carrier events matched to order `number`.
pub(crate) fn events_of_order(tx: &mut Tx<'_>, number: &str) -> Result<Vec<StoredEvent>, StoreError> {
    read_events(
        tx,
        "SELECT body, webhook_id, recorded_ms FROM carrier_events WHERE order_number = $1",
        number,
    )
}

fn read_events(tx: &mut Tx<'_>, sql: &str, key: &str) -> Result<Vec<StoredEvent>, StoreError> {
    tx.query(sql, &[key.into()])?
        .iter()
        .map(|r| {
            Ok(StoredEvent {
                event: serde_json::from_str(&r.text(0)?)
                    .map_err(|e| StoreError::Corrupt(format!("stored carrier event: {e}")))?,
                webhook_id: r.i64(1)?,
                recorded_ms: r.i64(2)?,
            })
        })
        .collect()
}

/// Whether a carrier event for `tracking_number` belongs to `order`: one of its
/// shipments or parcels has that number, with a carrier that agrees (or is not
/// known on one side), and the event is not from long before the order (a
/// recycled number).
pub fn belongs_to(order: &OrderRecord, event: &CarrierEvent) -> bool {
    if let Some(t) = event.event_time_ms
        && t < order.created_ms - RECYCLE_GUARD_MS
    {
        return false;
    }
    order.shipments.iter().any(|s| {
        let named = s.tracking_number.as_deref() == Some(event.tracking_number.as_str())
            || s.parcels
                .iter()
                .any(|p| p.tracking_number.as_deref() == Some(event.tracking_number.as_str()));
        named && same_carrier(s.carrier.as_deref().unwrap_or(""), &event.carrier)
    })
}

/// Carrier names as merchants and providers write them: `UPS`, `ups`,
/// `dhl_express`, `DHL Express`, `FedEx Ground`. Unknown on either side
/// agrees, and so does a provider's own numeric code (17TRACK's
/// `17track:100002`), which names a carrier central cannot read.
pub fn same_carrier(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        if s.contains(':') {
            return String::new();
        }
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let (a, b) = (norm(a), norm(b));
    a.is_empty() || b.is_empty() || a.starts_with(&b) || b.starts_with(&a)
}

/// In the transaction writing `order`: claims the held carrier events of its
/// tracking numbers, so they count for it from now on.
pub(crate) fn claim_held(tx: &mut Tx<'_>, order: &OrderRecord) -> Result<usize, StoreError> {
    let number = order.order_number.as_str();
    let mut claimed = 0;
    let mut numbers: Vec<&str> = order
        .shipments
        .iter()
        .flat_map(|s| {
            s.tracking_number
                .as_deref()
                .into_iter()
                .chain(s.parcels.iter().filter_map(|p| p.tracking_number.as_deref()))
        })
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    for tn in numbers {
        let held = read_events(
            tx,
            "SELECT body, webhook_id, recorded_ms FROM carrier_events \
             WHERE tracking_number = $1 AND order_number IS NULL",
            tn,
        )?;
        for e in held.iter().filter(|e| belongs_to(order, &e.event)) {
            claimed += tx.execute(
                "UPDATE carrier_events SET order_number = $3 \
                 WHERE provider = $1 AND event_key = $2 AND order_number IS NULL",
                &[
                    e.event.provider.as_str().into(),
                    e.event.event_key.as_str().into(),
                    number.into(),
                ],
            )? as usize;
        }
    }
    Ok(claimed)
}

impl CentralStore {
    /// Claims held events whose tracking number an order now owns. An order
    /// written while a normalizer was keeping its events can miss them on
    /// PostgreSQL (each transaction saw the other's work uncommitted); the
    /// normalizer runs this when idle, so none stays held for good.
    pub fn claim_held_sweep(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.write(|tx| {
            let rows = tx.query(
                "SELECT DISTINCT c.tracking_number FROM carrier_events c \
                 JOIN order_identifiers i ON i.identifier = c.tracking_number \
                 WHERE c.order_number IS NULL LIMIT 100",
                &[],
            )?;
            let mut claimed = 0;
            let mut touched = Vec::new();
            for row in rows {
                if let Some(order) = crate::orders::order_owning(tx, &row.text(0)?)? {
                    let n = claim_held(tx, &order)?;
                    if n > 0 {
                        claimed += n;
                        touched.push(order.order_number);
                    }
                }
            }
            touched.sort_unstable();
            touched.dedup();
            crate::orders::refresh_numbers(tx, &touched, now_ms)?;
            Ok(claimed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::same_carrier;

    #[test]
    fn carriers_agree_across_spellings_and_unknowns_but_not_across_carriers() {
        assert!(same_carrier("UPS", "ups"));
        assert!(same_carrier("dhl", "DHL Express"));
        assert!(same_carrier("FedEx Ground", "fedex"));
        assert!(same_carrier("", "usps"));
        assert!(same_carrier("ups", "17track:100002"));
        assert!(!same_carrier("ups", "fedex"));
        assert!(!same_carrier("dhl", "dpd"));
    }
}
