//! Projections follow the acknowledged events from a cursor per (projection,
//! site), so ingest never waits for them: each step claims one site whose
//! cursor is behind its mark (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so every
//! central process can run the projector and no two take the same site),
//! projects the events past the cursor and moves the cursor in the same
//! transaction. Projecting is idempotent, so a step retried after a crash, or
//! a projection rebuilt from the events, ends in the same state.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::metrics::SyncMetrics;
use crate::store::{CentralStore, Engine, StoreError, seq_param};

/// Every projection central keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// Every identifier's events; its step then recomputes the status of the
    /// orders those events name (one pass over the events, which a catch-up
    /// competes with for the writer and the CPU).
    Timeline,
}

impl Projection {
    pub const ALL: [Projection; 1] = [Projection::Timeline];

    pub fn name(self) -> &'static str {
        match self {
            Self::Timeline => crate::timeline::PROJECTION,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Orders the status clock recomputes in one step at most.
const RECHECK_BATCH: usize = 500;
/// How often the status clock looks for due orders (overlays by time need no
/// finer grain; a catch-up should not meet it on every step).
const RECHECK_EVERY: Duration = Duration::from_secs(5);
/// Events one step projects at most.
pub const STEP_EVENTS: u64 = 5_000;
/// How often the projector looks for work nobody woke it for (events another
/// central process applied).
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub site: String,
    pub events: usize,
    pub position: u64,
}

impl CentralStore {
    /// Projects the next events of one site that is behind; `None` when every
    /// site is caught up (or claimed by another process).
    pub fn projection_step(&self, projection: Projection, max_events: u64) -> Result<Option<Progress>, StoreError> {
        let name = projection.name();
        // Derived from events already committed, with the cursor in the same
        // transaction: a step a power cut loses is projected again.
        self.write_derived(|tx| {
            tx.execute(
                "INSERT INTO projection_cursors (projection, site_id, position) \
                 SELECT $1, site_id, 0 FROM site_streams WHERE true ON CONFLICT DO NOTHING",
                &[name.into()],
            )?;
            let pick = match tx.engine() {
                Engine::Sqlite => {
                    "SELECT c.site_id, c.position, s.high_water_mark FROM projection_cursors c \
                     JOIN site_streams s ON s.site_id = c.site_id \
                     WHERE c.projection = $1 AND c.position < s.high_water_mark \
                     ORDER BY s.high_water_mark - c.position DESC LIMIT 1"
                }
                Engine::Postgres => {
                    "SELECT c.site_id, c.position, s.high_water_mark FROM projection_cursors c \
                     JOIN site_streams s ON s.site_id = c.site_id \
                     WHERE c.projection = $1 AND c.position < s.high_water_mark \
                     ORDER BY s.high_water_mark - c.position DESC LIMIT 1 FOR UPDATE OF c SKIP LOCKED"
                }
            };
            let Some(row) = tx.query_opt(pick, &[name.into()])? else {
                return Ok(None);
            };
            let (site, position, hwm) = (row.text(0)?, row.u64(1)?, row.u64(2)?);
            let upto = hwm.min(position.saturating_add(max_events.max(1)));
            let events = match projection {
                Projection::Timeline => {
                    let events = crate::timeline::project_range(tx, &site, position, upto)?;
                    crate::orders::refresh_orders_of(tx, &events, chrono::Utc::now().timestamp_millis())?;
                    events.len()
                }
            };
            tx.execute(
                "UPDATE projection_cursors SET position = $3 WHERE projection = $1 AND site_id = $2",
                &[name.into(), site.as_str().into(), seq_param(upto)],
            )?;
            Ok(Some(Progress {
                site,
                events,
                position: upto,
            }))
        })
    }

    /// Events applied but not yet projected, over all sites.
    pub fn projection_lag(&self, projection: Projection) -> Result<u64, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                "SELECT CAST(COALESCE(SUM(s.high_water_mark - COALESCE(c.position, 0)), 0) AS BIGINT) \
                 FROM site_streams s LEFT JOIN projection_cursors c \
                 ON c.site_id = s.site_id AND c.projection = $1",
                &[projection.name().into()],
            )?
            .map_or(Ok(0), |r| r.u64(0))
        })
    }

    /// Clears a projection and sets its cursors back to the start; the
    /// projector then builds it again from the events.
    pub fn reset_projection(&self, projection: Projection) -> Result<(), StoreError> {
        self.write(|tx| {
            match projection {
                Projection::Timeline => {
                    crate::timeline::clear(tx)?;
                    crate::timeline::project_above_marks(tx)?;
                }
            }
            tx.execute(
                "UPDATE projection_cursors SET position = 0 WHERE projection = $1",
                &[projection.name().into()],
            )?;
            Ok(())
        })
    }

    /// Runs steps until `projection` has caught up; `progress` hears the lag
    /// after each. For the `rebuild-projection` command and tests.
    pub fn catch_up(&self, projection: Projection, mut progress: impl FnMut(u64)) -> Result<(), StoreError> {
        let mut projected = 0;
        while let Some(step) = self.projection_step(projection, STEP_EVENTS)? {
            projected += step.events as u64;
            progress(self.projection_lag(projection)?);
        }
        if projected >= ANALYZE_AFTER_EVENTS {
            self.refresh_statistics()?;
        }
        Ok(())
    }

    /// Refreshes the planner's statistics of the tables that grow with the
    /// events. PostgreSQL plans a timeline read as a sequential scan of 20
    /// million rows (seconds) instead of an index lookup (under a millisecond)
    /// when its statistics predate a bulk load, and autovacuum may be off or
    /// not have come by yet; SQLite gets `PRAGMA optimize`.
    pub fn refresh_statistics(&self) -> Result<(), StoreError> {
        self.write(|tx| match tx.engine() {
            Engine::Postgres => tx.batch("ANALYZE events; ANALYZE timeline"),
            Engine::Sqlite => tx.batch("PRAGMA optimize"),
        })
    }
}

/// Events projected since the last statistics refresh that make it worth another.
const ANALYZE_AFTER_EVENTS: u64 = 100_000;

/// The projector task: steps every projection while there is work, sleeps
/// until woken (an apply in this process) or the poll interval passes, and
/// publishes each projection's lag.
pub async fn run(store: Arc<CentralStore>, metrics: Arc<SyncMetrics>, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut failing = false;
    // Projected since the statistics were last refreshed; refreshed once the
    // projector has caught up after a large batch of work (a catch-up).
    let mut unanalyzed = 0;
    let mut last_recheck = std::time::Instant::now() - RECHECK_EVERY;
    loop {
        let (st, m) = (store.clone(), metrics.clone());
        let analyze = unanalyzed >= ANALYZE_AFTER_EVENTS;
        let recheck = last_recheck.elapsed() >= RECHECK_EVERY;
        if recheck {
            last_recheck = std::time::Instant::now();
        }
        let step = tokio::task::spawn_blocking(move || {
            let mut projected = 0;
            for p in Projection::ALL {
                if let Some(progress) = st.projection_step(p, STEP_EVENTS)? {
                    projected += progress.events as u64;
                    m.projected(p.name(), progress.events as u64);
                }
                m.projection_lag(p.name(), st.projection_lag(p)?);
            }
            // The status clock: orders whose promise or acceptance window
            // passed since their last event.
            if recheck {
                projected += st.recheck_due(chrono::Utc::now().timestamp_millis(), RECHECK_BATCH)? as u64;
            }
            if projected == 0 && analyze {
                st.refresh_statistics()?;
            }
            Ok::<_, StoreError>(projected)
        })
        .await;
        let worked = match step {
            Ok(Ok(projected)) => {
                if projected == 0 && analyze {
                    unanalyzed = 0;
                }
                unanalyzed += projected;
                let worked = projected > 0;
                if failing {
                    info!("projector: the store answers again");
                    failing = false;
                }
                worked
            }
            Ok(Err(e)) => {
                if !failing {
                    warn!(error = %e, "projector: store unavailable; retrying");
                    failing = true;
                }
                false
            }
            Err(e) => {
                warn!(error = %e, "projector step failed");
                false
            }
        };
        if worked {
            if shutdown.is_cancelled() {
                return;
            }
            continue;
        }
        let pause = if failing { POLL * 4 } else { POLL };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}
