//! Normalization from storage: each step claims webhooks that are due
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so every central process can run
//! it and no two take the same webhook), normalizes them (pure), keeps each
//! new canonical event once by its provider key, matches it to its order and
//! refreshes that order's status, all in one transaction with the webhook
//! marked done. A crash anywhere rolls the step back and the webhook is taken
//! again: normalized exactly once. A body the normalizer refuses is retried
//! with backoff (a fixed normalizer may read it), then listed as failed.

use std::collections::BTreeMap;

use super::store::belongs_to;
use super::{DecodeError, Provider, normalize};
use crate::store::{CentralStore, Engine, StoreError, Tx};

/// Webhooks one step takes at most.
pub const STEP_WEBHOOKS: usize = 200;
/// Attempts before a webhook is listed as failed (and left until retried by hand).
pub const MAX_ATTEMPTS: i64 = 5;

/// The wait before attempt `n + 1` after `n` failures: 1 min, 2, 4, 8 ...
pub fn backoff_ms(failures: i64) -> i64 {
    60_000 * (1_i64 << failures.clamp(1, 10).saturating_sub(1))
}

/// What one step did, for metrics and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOutcome {
    pub webhooks: usize,
    /// Per provider: (new events, already known, unmapped among the new, held).
    pub events: BTreeMap<Provider, EventCounts>,
    /// Per provider, the failures by reason.
    pub failures: Vec<(Provider, &'static str, String, i64)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub new: u64,
    pub known: u64,
    pub unmapped: u64,
    /// New events whose tracking number matches no order yet.
    pub held: u64,
}

impl CentralStore {
    /// Normalizes up to `max` due webhooks; `webhooks == 0` when none is due.
    pub fn normalize_step(&self, max: usize, now_ms: i64) -> Result<StepOutcome, StoreError> {
        self.write(|tx| {
            let claim = match tx.engine() {
                Engine::Sqlite => {
                    "SELECT id, provider, account, body, attempts FROM carrier_webhooks \
                     WHERE state = 'pending' AND next_attempt_ms <= $1 ORDER BY id LIMIT $2"
                }
                Engine::Postgres => {
                    "SELECT id, provider, account, body, attempts FROM carrier_webhooks \
                     WHERE state = 'pending' AND next_attempt_ms <= $1 ORDER BY id LIMIT $2 \
                     FOR UPDATE SKIP LOCKED"
                }
            };
            let rows = tx.query(claim, &[now_ms.into(), i64::try_from(max).unwrap_or(i64::MAX).into()])?;
            let mut out = StepOutcome {
                webhooks: rows.len(),
                ..StepOutcome::default()
            };
            let mut touched: Vec<String> = Vec::new();
            for row in &rows {
                let (id, provider_name, account) = (row.i64(0)?, row.text(1)?, row.text(2)?);
                let attempts = row.i64(4)? + 1;
                let decoded = match Provider::parse(&provider_name) {
                    Some(p) => normalize(p, row.bytes(3)?).map(|events| (p, events)),
                    None => Err(DecodeError::shape("", format!("unknown provider {provider_name}"))),
                };
                match decoded {
                    Ok((provider, events)) => {
                        let counts = out.events.entry(provider).or_default();
                        let (new, known) = keep_events(tx, id, &events, now_ms, counts, &mut touched)?;
                        tx.execute(
                            "UPDATE carrier_webhooks SET state = 'done', attempts = $2, error = NULL, \
                             events_new = $3, events_known = $4, done_ms = $5 WHERE id = $1",
                            &[id.into(), attempts.into(), new.into(), known.into(), now_ms.into()],
                        )?;
                    }
                    Err(e) => {
                        let provider = Provider::parse(&provider_name).unwrap_or(Provider::Waymark);
                        let state = if attempts >= MAX_ATTEMPTS { "failed" } else { "pending" };
                        let message = e.to_string();
                        tx.execute(
                            "UPDATE carrier_webhooks SET state = $2, attempts = $3, error = $4, next_attempt_ms = $5 \
                             WHERE id = $1",
                            &[
                                id.into(),
                                state.into(),
                                attempts.into(),
                                message.as_str().into(),
                                (now_ms + backoff_ms(attempts)).into(),
                            ],
                        )?;
                        tx.execute(
                            "INSERT INTO carrier_account_stats (provider, name, failed, last_error, last_error_ms) \
                             VALUES ($1, $2, 1, $3, $4) ON CONFLICT (provider, name) DO UPDATE SET \
                             failed = carrier_account_stats.failed + 1, last_error = $3, last_error_ms = $4",
                            &[
                                provider_name.as_str().into(),
                                account.as_str().into(),
                                message.as_str().into(),
                                now_ms.into(),
                            ],
                        )?;
                        out.failures.push((provider, e.reason(), account, id));
                    }
                }
            }
            touched.sort_unstable();
            touched.dedup();
            crate::orders::refresh_numbers(tx, &touched, now_ms)?;
            Ok(out)
        })
    }
}

/// Keeps the events not seen before (by provider and key) and matches each
/// to its order; returns (new, known).
fn keep_events(
    tx: &mut Tx<'_>,
    webhook_id: i64,
    events: &[super::CarrierEvent],
    now_ms: i64,
    counts: &mut EventCounts,
    touched: &mut Vec<String>,
) -> Result<(i64, i64), StoreError> {
    let (mut new, mut known) = (0, 0);
    for e in events {
        if e.tracking_number.is_empty() || e.event_key.is_empty() {
            // Nothing to match or dedupe it by: counted, not kept.
            counts.unmapped += 1;
            continue;
        }
        let order = crate::orders::order_owning(tx, &e.tracking_number)?.filter(|o| belongs_to(o, e));
        let number = order.as_ref().map(|o| o.order_number.as_str());
        let body = serde_json::to_string(e).map_err(|err| StoreError::Corrupt(format!("carrier event: {err}")))?;
        let inserted = tx.execute(
            "INSERT INTO carrier_events (provider, event_key, tracking_number, carrier, milestone, event_time_ms, \
             webhook_id, recorded_ms, order_number, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (provider, event_key) DO NOTHING",
            &[
                e.provider.as_str().into(),
                e.event_key.as_str().into(),
                e.tracking_number.as_str().into(),
                e.carrier.as_str().into(),
                e.milestone.map(|m| m.as_str()).unwrap_or_default().into(),
                e.event_time_ms.into(),
                webhook_id.into(),
                now_ms.into(),
                number.into(),
                body.as_str().into(),
            ],
        )? == 1;
        if !inserted {
            known += 1;
            counts.known += 1;
            continue;
        }
        new += 1;
        counts.new += 1;
        if e.is_unmapped() {
            counts.unmapped += 1;
        }
        match number {
            Some(n) => touched.push(n.to_string()),
            None => counts.held += 1,
        }
    }
    Ok((new, known))
}
