//! The acknowledged write: a site's events appended in sequence order with its
//! high-water mark, in one transaction, under the site's stream row.
//!
//! Exactly once, whichever central process a gateway reaches: opening a stream
//! bumps the site's fencing epoch; every batch locks the site's row, checks that
//! its epoch is still the latest, appends the contiguous suffix above the mark,
//! moves the mark and commits, and only then is it acknowledged.

use prost::Message;
use waymark_proto::v1::Event;

use crate::store::{CentralStore, Engine, Param, StoreError, Tx, seq_param};
use crate::timeline::decode_event;

/// The right to append to one site's events, until a newer stream opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLease {
    pub site: String,
    pub epoch: i64,
    /// The mark when the stream opened: where the gateway resumes.
    pub high_water_mark: u64,
}

/// Why a batch from a gateway was refused; nothing of it was applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("event {sequence} claims site `{claimed}`, the stream belongs to `{site}`")]
    WrongSite {
        site: String,
        claimed: String,
        sequence: u64,
    },
    #[error("sequence gap: expected {expected}, got {got}; resume from the high-water mark")]
    Gap { expected: u64, got: u64 },
    #[error("event {sequence} is invalid: {problem}")]
    Invalid { sequence: u64, problem: String },
    #[error(
        "site `{site}`: a newer stream (epoch {current}) took over from this one (epoch {epoch}); is a second gateway using this site's identity?"
    )]
    Fenced { site: String, epoch: i64, current: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    pub applied: u64,
    /// Events at or below the high-water mark, or already stored by sequence or id.
    pub duplicates: u64,
    pub high_water_mark: u64,
}

const MAX_IDENTIFIERS_PER_EVENT: usize = 16;
const MAX_FIELD_LEN: usize = 128;

const INSERT_EVENT: &str = "INSERT INTO events (site_id, seq, event_time_ms, event_id, body) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";

impl CentralStore {
    /// Opens a replication stream for `site`: bumps its fencing epoch (any older
    /// stream's next batch is refused) and returns the mark to resume from.
    pub fn open_stream(&self, site: &str, owner: &str, now_ms: i64) -> Result<StreamLease, StoreError> {
        self.write(|tx| {
            let row = tx
                .query_opt(
                    "INSERT INTO site_streams (site_id, epoch, owner, opened_ms) VALUES ($1, 1, $2, $3) \
                     ON CONFLICT (site_id) DO UPDATE SET epoch = site_streams.epoch + 1, owner = $2, opened_ms = $3 \
                     RETURNING epoch, high_water_mark",
                    &[site.into(), owner.into(), now_ms.into()],
                )?
                .ok_or_else(|| StoreError::Corrupt("upsert returned no row".into()))?;
            Ok(StreamLease {
                site: site.to_string(),
                epoch: row.i64(0)?,
                high_water_mark: row.u64(1)?,
            })
        })
    }

    pub fn high_water_mark(&self, site: &str) -> Result<u64, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                "SELECT high_water_mark FROM site_streams WHERE site_id = $1",
                &[site.into()],
            )?
            .map_or(Ok(0), |r| r.u64(0))
        })
    }

    /// Applies an ordered batch of `lease`'s site: events at or below the mark
    /// are skipped, the next ones must follow it without a gap, an event already
    /// stored (sent ahead on the priority lane, or re-derived under a new
    /// sequence) is counted as a duplicate. One transaction.
    pub fn apply(&self, lease: &StreamLease, events: &[Event]) -> Result<Applied, ApplyError> {
        check_site(&lease.site, events)?;
        let site = lease.site.as_str();
        self.write(|tx| {
            let hwm = lock_stream(tx, lease)?;
            let mut out = Applied {
                high_water_mark: hwm,
                ..Applied::default()
            };
            let mut new = Vec::with_capacity(events.len());
            for e in events {
                if e.sequence <= out.high_water_mark {
                    out.duplicates += 1;
                    continue;
                }
                if e.sequence != out.high_water_mark + 1 {
                    return Err(ApplyError::Gap {
                        expected: out.high_water_mark + 1,
                        got: e.sequence,
                    });
                }
                validate(e)?;
                out.high_water_mark = e.sequence;
                new.push(e);
            }
            out.applied = insert_events(tx, site, &new)?;
            out.duplicates += new.len() as u64 - out.applied;
            if out.high_water_mark != hwm {
                tx.execute(
                    "UPDATE site_streams SET high_water_mark = $2 WHERE site_id = $1",
                    &[site.into(), seq_param(out.high_water_mark)],
                )?;
            }
            Ok(out)
        })
    }

    /// Applies events sent ahead of the ordered stream (the priority lane):
    /// stored by sequence and id as `apply` would, and put on the timeline at
    /// once, but the mark does not move; when the ordered stream reaches them,
    /// `apply` finds them stored.
    pub fn apply_expedited(&self, lease: &StreamLease, events: &[Event]) -> Result<Applied, ApplyError> {
        check_site(&lease.site, events)?;
        let site = lease.site.as_str();
        let applied = self.write(|tx| {
            let hwm = lock_stream(tx, lease)?;
            let mut out = Applied {
                high_water_mark: hwm,
                ..Applied::default()
            };
            let mut new = Vec::new();
            for e in events {
                if e.sequence <= hwm {
                    out.duplicates += 1;
                    continue;
                }
                validate(e)?;
                new.push(e);
            }
            let stored: Vec<&Event> = insert_events_one_by_one(tx, site, &new)?
                .into_iter()
                .map(|i| new[i])
                .collect();
            crate::timeline::project(tx, site, stored.iter().copied())?;
            out.applied = stored.len() as u64;
            out.duplicates += new.len() as u64 - out.applied;
            Ok::<_, ApplyError>(out)
        })?;
        // Milestones and exceptions sent ahead show in the status at once, in
        // a transaction of their own after the acknowledged write: a status
        // failure never fails the priority lane, and what is skipped here the
        // status projection does when the ordered stream reaches it.
        if applied.applied > 0 {
            let now = chrono::Utc::now().timestamp_millis();
            if let Err(e) = self.write(|tx| crate::orders::refresh_orders_of(tx, events, now)) {
                tracing::warn!(site, error = %e, "status of expedited events not refreshed now; the projection will");
            }
        }
        Ok(applied)
    }

    /// Records that `first..=last` of the site cannot be delivered (central lost
    /// them, the gateway compacted them) and moves the mark past them.
    pub fn record_gap(
        &self,
        lease: &StreamLease,
        first: u64,
        last: u64,
        reason: &str,
        now_ms: i64,
    ) -> Result<Applied, ApplyError> {
        const MAX_REASON: usize = 200;
        let reason: String = reason.chars().take(MAX_REASON).collect();
        self.write(|tx| {
            let hwm = lock_stream(tx, lease)?;
            if first != hwm + 1 || last < first {
                return Err(ApplyError::Gap {
                    expected: hwm + 1,
                    got: first,
                });
            }
            tx.execute(
                "INSERT INTO site_gaps (site_id, first_seq, last_seq, reason, recorded_ms) VALUES ($1, $2, $3, $4, $5)",
                &[
                    lease.site.as_str().into(),
                    seq_param(first),
                    seq_param(last),
                    reason.as_str().into(),
                    now_ms.into(),
                ],
            )?;
            tx.execute(
                "UPDATE site_streams SET high_water_mark = $2 WHERE site_id = $1",
                &[lease.site.as_str().into(), seq_param(last)],
            )?;
            Ok(Applied {
                applied: 0,
                duplicates: 0,
                high_water_mark: last,
            })
        })
    }

    /// Stores events as they are (an import from an earlier release): no mark,
    /// no gap check; those already stored are skipped. Returns how many were added.
    pub fn import_events(&self, site: &str, events: &[Event]) -> Result<u64, StoreError> {
        let events: Vec<&Event> = events.iter().filter(|e| e.site_id == site).collect();
        self.write(|tx| Ok(insert_events_one_by_one(tx, site, &events)?.len() as u64))
    }

    /// Up to `limit` events of `site` with sequence > `after`, in order.
    pub fn site_events(&self, site: &str, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT body FROM events WHERE site_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[
                    site.into(),
                    seq_param(after),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            )?
            .iter()
            .map(|r| decode_event(r.bytes(0)?))
            .collect()
        })
    }
}

/// Locks the site's stream row (PostgreSQL; SQLite's writer is exclusive),
/// checks the lease is still the latest, and returns the mark.
fn lock_stream(tx: &mut Tx<'_>, lease: &StreamLease) -> Result<u64, ApplyError> {
    let sql = match tx.engine() {
        Engine::Sqlite => "SELECT epoch, high_water_mark FROM site_streams WHERE site_id = $1",
        Engine::Postgres => "SELECT epoch, high_water_mark FROM site_streams WHERE site_id = $1 FOR UPDATE",
    };
    let Some(row) = tx.query_opt(sql, &[lease.site.as_str().into()])? else {
        return Err(ApplyError::Fenced {
            site: lease.site.clone(),
            epoch: lease.epoch,
            current: 0,
        });
    };
    let current = row.i64(0)?;
    if current != lease.epoch {
        return Err(ApplyError::Fenced {
            site: lease.site.clone(),
            epoch: lease.epoch,
            current,
        });
    }
    Ok(row.u64(1)?)
}

fn check_site(site: &str, events: &[Event]) -> Result<(), ApplyError> {
    match events.iter().find(|e| e.site_id != site) {
        Some(e) => Err(ApplyError::WrongSite {
            site: site.into(),
            claimed: e.site_id.clone(),
            sequence: e.sequence,
        }),
        None => Ok(()),
    }
}

/// Stores `events` (consecutive, above the mark); returns how many were
/// stored. Those not stored were there already by sequence or by id.
fn insert_events(tx: &mut Tx<'_>, site: &str, events: &[&Event]) -> Result<u64, StoreError> {
    let stored = match tx {
        Tx::Postgres { tx: pg, .. } if !events.is_empty() => super::bulk::copy_events(pg, site, events)?,
        _ => insert_events_one_by_one(tx, site, events)?.len(),
    };
    Ok(stored as u64)
}

/// Stores each of `events` that is not there already (by sequence or by id);
/// returns the positions in `events` of those stored.
fn insert_events_one_by_one(tx: &mut Tx<'_>, site: &str, events: &[&Event]) -> Result<Vec<usize>, StoreError> {
    let mut stored = Vec::with_capacity(events.len());
    let mut body = Vec::new();
    for (i, e) in events.iter().enumerate() {
        body.clear();
        e.encode(&mut body)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let n = tx.execute(
            INSERT_EVENT,
            &[
                site.into(),
                seq_param(e.sequence),
                e.event_time_ms.into(),
                e.event_id.as_str().into(),
                Param::Bytes(&body),
            ],
        )?;
        if n > 0 {
            stored.push(i);
        }
    }
    Ok(stored)
}

fn validate(e: &Event) -> Result<(), ApplyError> {
    match event_problem(e) {
        Some(problem) => Err(ApplyError::Invalid {
            sequence: e.sequence,
            problem,
        }),
        None => Ok(()),
    }
}

/// What makes an event unfit to store, if anything: ids, identifiers and
/// fields of bounded size without NUL.
pub(crate) fn event_problem(e: &Event) -> Option<String> {
    if e.event_id.is_empty() || e.event_id.len() > 64 {
        return Some(format!("event_id must be 1-64 bytes, is {}", e.event_id.len()));
    }
    if e.identifiers.is_empty() || e.identifiers.len() > MAX_IDENTIFIERS_PER_EVENT {
        return Some(format!(
            "must name 1-{MAX_IDENTIFIERS_PER_EVENT} identifiers, names {}",
            e.identifiers.len()
        ));
    }
    let mut fields = e.identifiers.iter().map(|i| i.value.as_str()).chain([
        e.read_point.as_str(),
        e.device_id.as_str(),
        e.business_step.as_str(),
        e.disposition.as_str(),
        e.order_number.as_str(),
    ]);
    fields
        .any(|f| f.len() > MAX_FIELD_LEN || f.contains('\0'))
        .then(|| format!("a field is longer than {MAX_FIELD_LEN} bytes or holds NUL"))
}
