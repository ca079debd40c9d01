//! Normalization from storage: each step claims webhooks that are due
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so every central process can run
//! it and no two take the same webhook), normalizes them (pure), keeps each
//! new canonical event once by its provider key, matches it to its order and
//! refreshes that order's status, all in one transaction with the webhook
//! marked done. A crash anywhere rolls the step back and the webhook is taken
//! again: normalized exactly once. A body the normalizer refuses is retried
//! with backoff (a fixed normalizer may read it), then listed as failed.

use std::collections::{BTreeMap, HashMap};

use super::store::belongs_to;
use super::{DecodeError, Provider, normalize};
use crate::store::{CentralStore, Engine, StoreError, Tx};

/// Webhooks one step takes at most on PostgreSQL.
pub const STEP_WEBHOOKS: usize = 200;
/// On SQLite, where a step holds the one writer the receivers' inbox also
/// needs: small, so an acknowledgement never waits long behind it.
pub const STEP_WEBHOOKS_SQLITE: usize = 12;

/// Webhooks one step takes on `engine`.
pub fn step_webhooks(engine: Engine) -> usize {
    match engine {
        Engine::Sqlite => STEP_WEBHOOKS_SQLITE,
        Engine::Postgres => STEP_WEBHOOKS,
    }
}
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
    /// Webhooks that did not normalize this step.
    pub failures: Vec<Failure>,
}

/// A webhook the normalizer refused this step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub provider: Provider,
    pub reason: &'static str,
    pub account: String,
    pub webhook: i64,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub new: u64,
    pub known: u64,
    pub unmapped: u64,
    /// New events whose tracking number matches no order yet.
    pub held: u64,
}

/// A claimed webhook, decoded (outside the writer, on SQLite).
#[derive(Clone)]
struct Claimed {
    id: i64,
    provider_name: String,
    account: String,
    attempts: i64,
    decoded: Result<(Provider, Vec<super::CarrierEvent>), DecodeError>,
    /// Events of the body found already kept before the writer (most of a
    /// full snapshot): counted, not carried to it.
    known: i64,
}

const CLAIM: &str = "SELECT w.id, w.provider, w.account, b.body, w.attempts \
                     FROM carrier_webhooks w JOIN carrier_webhook_bodies b ON b.id = w.id \
                     WHERE w.state = 'pending' AND w.next_attempt_ms <= $1 AND w.id > $3 ORDER BY w.id LIMIT $2";

fn claimed(rows: &[crate::store::Row]) -> Result<Vec<Claimed>, StoreError> {
    rows.iter()
        .map(|row| {
            let provider_name = row.text(1)?;
            let account = row.text(2)?;
            let decoded = match Provider::parse(&provider_name) {
                Some(p) => normalize(p, row.bytes(3)?).map(|mut events| {
                    if p == Provider::Waymark {
                        // Its senders choose the event ids: unique per sender only.
                        for e in &mut events {
                            e.event_key = format!("{account}|{}", e.event_key);
                        }
                    }
                    (p, events)
                }),
                None => Err(DecodeError::shape("", format!("unknown provider {provider_name}"))),
            };
            Ok(Claimed {
                id: row.i64(0)?,
                account,
                attempts: row.i64(4)? + 1,
                provider_name,
                decoded,
                known: 0,
            })
        })
        .collect()
}

/// Drops from each decoded body the events kept already (one key lookup
/// each): a full snapshot repeats the tracker's whole history. On SQLite this
/// runs on a reader, outside the writer; an event kept meanwhile is caught
/// by the insert's conflict and counted known there.
fn filter_known(tx: &mut Tx<'_>, work: &mut [Claimed]) -> Result<(), StoreError> {
    for c in work {
        let Ok((_, events)) = &mut c.decoded else {
            continue;
        };
        let mut kept = Vec::with_capacity(events.len());
        for e in events.drain(..) {
            // Without a number or a key it is counted unmapped by the writer.
            let keyed = !e.tracking_number.is_empty() && !e.event_key.is_empty();
            if keyed
                && tx
                    .query_opt(
                        "SELECT 1 FROM carrier_events WHERE provider = $1 AND event_key = $2",
                        &[e.provider.as_str().into(), e.event_key.as_str().into()],
                    )?
                    .is_some()
            {
                c.known += 1;
            } else {
                kept.push(e);
            }
        }
        *events = kept;
    }
    Ok(())
}

/// Webhooks read and decoded for a step, not yet kept.
#[derive(Default)]
struct Prepared {
    work: Vec<Claimed>,
}

impl Prepared {
    fn last_id(&self) -> Option<i64> {
        self.work.last().map(|c| c.id)
    }
}

impl CentralStore {
    /// Works off the due webhooks in steps of `max`, handing each step's
    /// outcome to `after_step` (failures counted already), until none is due
    /// or `after_step` says stop; returns the webhooks taken. On SQLite the
    /// next step is read, decoded and diffed against the known events on a
    /// second thread while the writer keeps the current one.
    pub fn normalize_while(
        &self,
        max: usize,
        now_ms: impl Fn() -> i64,
        mut after_step: impl FnMut(&StepOutcome) -> bool,
    ) -> Result<usize, StoreError> {
        let mut webhooks = 0;
        if self.engine() == Engine::Postgres {
            loop {
                let out = self.normalize_step(max, now_ms())?;
                webhooks += out.webhooks;
                if out.webhooks == 0 || !after_step(&out) {
                    return Ok(webhooks);
                }
            }
        }
        let mut next = self.prepare_sqlite(max, now_ms(), 0)?;
        while let Some(after) = next.last_id() {
            let current = std::mem::take(&mut next);
            let now = now_ms();
            let (kept, prepared) = std::thread::scope(|s| {
                let reader = s.spawn(|| self.prepare_sqlite(max, now, after));
                let kept = self.keep_sqlite(current, now);
                (kept, reader.join())
            });
            let out = kept?;
            if !out.failures.is_empty() {
                self.count_failures(&out.failures, now)?;
            }
            webhooks += out.webhooks;
            if !after_step(&out) {
                break;
            }
            next = prepared.map_err(|_| StoreError::Corrupt("the normalizer's reader panicked".into()))??;
        }
        Ok(webhooks)
    }

    /// SQLite: reads up to `max` due webhooks after id `after`, decodes them
    /// and drops the events known already, on a reader.
    fn prepare_sqlite(&self, max: usize, now_ms: i64, after: i64) -> Result<Prepared, StoreError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.read(|tx| {
            let rows = tx.query(CLAIM, &[now_ms.into(), limit.into(), after.into()])?;
            let mut work = claimed(&rows)?;
            filter_known(tx, &mut work)?;
            Ok(Prepared { work })
        })
    }

    /// SQLite: keeps what `prepared` says, in the writer, for the webhooks
    /// still as they were read (a failed attempt leaves one pending, with
    /// one attempt more).
    fn keep_sqlite(&self, prepared: Prepared, now_ms: i64) -> Result<StepOutcome, StoreError> {
        self.write_derived(|tx| {
            let mut still = Vec::with_capacity(prepared.work.len());
            for c in &prepared.work {
                let pending = tx
                    .query_opt(
                        "SELECT 1 FROM carrier_webhooks WHERE id = $1 AND state = 'pending' AND attempts = $2",
                        &[c.id.into(), (c.attempts - 1).into()],
                    )?
                    .is_some();
                if pending {
                    still.push(c.clone());
                }
            }
            keep(tx, still, now_ms)
        })
    }

    /// Normalizes up to `max` due webhooks; `webhooks == 0` when none is due.
    ///
    /// PostgreSQL: claimed with `FOR UPDATE SKIP LOCKED` and normalized in
    /// the transaction that keeps the result (every replica runs a
    /// normalizer). SQLite: read and decoded outside the single writer, then
    /// kept in a short write transaction that takes only those still
    /// pending, so the inbox's commits are not kept waiting behind decoding.
    pub fn normalize_step(&self, max: usize, now_ms: i64) -> Result<StepOutcome, StoreError> {
        let out = self.normalize_batch(max, now_ms)?;
        if !out.failures.is_empty() {
            self.count_failures(&out.failures, now_ms)?;
        }
        Ok(out)
    }

    /// The accounts' failure counters, after the step and in a transaction of
    /// their own: the inbox updates the same rows, and must not wait for a
    /// step (or meet it in the opposite order).
    fn count_failures(&self, failures: &[Failure], now_ms: i64) -> Result<(), StoreError> {
        let mut sorted: Vec<&Failure> = failures.iter().collect();
        sorted.sort_by(|a, b| (a.provider.as_str(), &a.account).cmp(&(b.provider.as_str(), &b.account)));
        self.write(|tx| {
            for f in &sorted {
                tx.execute(
                    "INSERT INTO carrier_account_stats (provider, name, failed, last_error, last_error_ms) \
                     VALUES ($1, $2, 1, $3, $4) ON CONFLICT (provider, name) DO UPDATE SET \
                     failed = carrier_account_stats.failed + 1, last_error = $3, last_error_ms = $4",
                    &[
                        f.provider.as_str().into(),
                        f.account.as_str().into(),
                        f.message.as_str().into(),
                        now_ms.into(),
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn normalize_batch(&self, max: usize, now_ms: i64) -> Result<StepOutcome, StoreError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        match self.engine() {
            // Derived from webhooks already stored and synced: a commit lost in
            // a power cut leaves its webhooks pending, and they are normalized again.
            Engine::Postgres => self.write_derived(|tx| {
                let rows = tx.query(
                    &format!("{CLAIM} FOR UPDATE OF w SKIP LOCKED"),
                    &[now_ms.into(), limit.into(), 0_i64.into()],
                )?;
                let mut work = claimed(&rows)?;
                filter_known(tx, &mut work)?;
                keep(tx, work, now_ms)
            }),
            Engine::Sqlite => {
                let prepared = self.prepare_sqlite(max, now_ms, 0)?;
                if prepared.work.is_empty() {
                    return Ok(StepOutcome::default());
                }
                self.keep_sqlite(prepared, now_ms)
            }
        }
    }
}

/// In the step's transaction: keeps what the claimed webhooks said, marks
/// each done or failed, refreshes the orders that changed.
fn keep(tx: &mut Tx<'_>, work: Vec<Claimed>, now_ms: i64) -> Result<StepOutcome, StoreError> {
    let mut out = StepOutcome {
        webhooks: work.len(),
        ..StepOutcome::default()
    };
    let mut touched: Vec<String> = Vec::new();
    let mut owners: HashMap<String, Option<crate::orders::OrderRecord>> = HashMap::new();
    for c in work {
        let Claimed {
            id,
            provider_name,
            account,
            attempts,
            decoded,
            known: known_before,
        } = c;
        match decoded {
            Ok((provider, events)) => {
                let counts = out.events.entry(provider).or_default();
                counts.known += u64::try_from(known_before).unwrap_or_default();
                let (new, known) = keep_events(tx, id, &events, now_ms, counts, &mut touched, &mut owners)?;
                let known = known + known_before;
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
                out.failures.push(Failure {
                    provider,
                    reason: e.reason(),
                    account,
                    webhook: id,
                    message,
                });
            }
        }
    }
    touched.sort_unstable();
    touched.dedup();
    match tx.engine() {
        // The one writer: the orders read in this transaction are current.
        Engine::Sqlite => {
            let loaded: HashMap<&str, &crate::orders::OrderRecord> = owners
                .values()
                .flatten()
                .map(|o| (o.order_number.as_str(), o))
                .collect();
            for number in &touched {
                if let Some(order) = loaded.get(number.as_str()) {
                    crate::orders::status::refresh(tx, order, now_ms)?;
                }
            }
        }
        // Locked in sorted order first (another replica may refresh them too).
        Engine::Postgres => crate::orders::refresh_numbers(tx, &touched, now_ms)?,
    }
    Ok(out)
}

/// Keeps the events not seen before (by provider and key; those found known
/// before the writer are gone already, one kept since is a conflict counted
/// known) with the order each matches (one order lookup per tracking number
/// and step); returns (new, known).
fn keep_events(
    tx: &mut Tx<'_>,
    webhook_id: i64,
    events: &[super::CarrierEvent],
    now_ms: i64,
    counts: &mut EventCounts,
    touched: &mut Vec<String>,
    owners: &mut HashMap<String, Option<crate::orders::OrderRecord>>,
) -> Result<(i64, i64), StoreError> {
    let (mut new, mut known) = (0, 0);
    for e in events {
        if e.tracking_number.is_empty() || e.event_key.is_empty() {
            // Nothing to match or dedupe it by: counted, not kept.
            counts.unmapped += 1;
            continue;
        }
        if !owners.contains_key(&e.tracking_number) {
            let owner = crate::orders::order_owning(tx, &e.tracking_number)?;
            owners.insert(e.tracking_number.clone(), owner);
        }
        let number = owners
            .get(&e.tracking_number)
            .and_then(Option::as_ref)
            .filter(|o| belongs_to(o, e))
            .map(|o| o.order_number.clone());
        let body = serde_json::to_string(e).map_err(|err| StoreError::Corrupt(format!("carrier event: {err}")))?;
        let inserted = tx.execute(
            "INSERT INTO carrier_events (provider, event_key, tracking_number, carrier, milestone, event_time_ms, \
             webhook_id, recorded_ms, body, order_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
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
                body.as_str().into(),
                number.as_deref().into(),
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
            Some(n) => touched.push(n),
            None => counts.held += 1,
        }
    }
    Ok((new, known))
}
