//! The timeline: every identifier an event names (and its order number), so an
//! order's or a parcel's events are found without scanning. A projection of
//! the events: it follows them from a cursor (see `projection`), can be rebuilt
//! from them, and writing it twice changes nothing.

use waymark_proto::v1::Event;

pub mod view;

use crate::store::{CentralStore, Engine, Param, StoreError, Tx, seq_param};
use prost::Message;

pub const PROJECTION: &str = "timeline";

/// Puts `events` of `site` on the timeline (idempotent).
pub(crate) fn project<'e>(
    tx: &mut Tx<'_>,
    site: &str,
    events: impl Iterator<Item = &'e Event>,
) -> Result<usize, StoreError> {
    let mut identifiers: Vec<&str> = Vec::new();
    let mut seqs: Vec<i64> = Vec::new();
    let mut n = 0;
    for e in events {
        n += 1;
        for ident in keys(e) {
            identifiers.push(ident);
            seqs.push(i64::try_from(e.sequence).unwrap_or(i64::MAX));
        }
    }
    match tx {
        Tx::Postgres { tx: pg, .. } => {
            if !identifiers.is_empty() {
                pg.execute(
                    "INSERT INTO timeline (identifier, site_id, seq) \
                     SELECT i, $1, s FROM unnest($2::text[], $3::bigint[]) AS u(i, s) ON CONFLICT DO NOTHING",
                    &[&site, &identifiers, &seqs],
                )?;
            }
        }
        Tx::Sqlite(_) => {
            for (ident, seq) in identifiers.iter().zip(&seqs) {
                tx.execute(
                    "INSERT INTO timeline (identifier, site_id, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[(*ident).into(), site.into(), (*seq).into()],
                )?;
            }
        }
    }
    Ok(n)
}

/// An event is found by each identifier it names and by its order.
fn keys(e: &Event) -> impl Iterator<Item = &str> {
    e.identifiers
        .iter()
        .map(|i| i.value.as_str())
        .chain(std::iter::once(e.order_number.as_str()))
        .filter(|s| !s.is_empty())
}

/// Projects `site`'s events in `(after, upto]` (a projection step); returns
/// them, for the status refresh that follows in the same step.
pub(crate) fn project_range(tx: &mut Tx<'_>, site: &str, after: u64, upto: u64) -> Result<Vec<Event>, StoreError> {
    let events: Vec<Event> = tx
        .query(
            "SELECT body FROM events WHERE site_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
            &[site.into(), seq_param(after), seq_param(upto)],
        )?
        .iter()
        .map(|r| decode_event(r.bytes(0)?))
        .collect::<Result<_, _>>()?;
    project(tx, site, events.iter())?;
    Ok(events)
}

/// Puts back what a rebuild cleared above each site's mark: events sent ahead
/// on the priority lane, which the cursor (at most the mark) does not reach.
pub(crate) fn project_above_marks(tx: &mut Tx<'_>) -> Result<usize, StoreError> {
    let rows = tx.query(
        "SELECT e.site_id, e.body FROM events e JOIN site_streams s ON s.site_id = e.site_id \
         WHERE e.seq > s.high_water_mark",
        &[],
    )?;
    let mut n = 0;
    for r in rows {
        let site = r.text(0)?;
        let event = decode_event(r.bytes(1)?)?;
        n += project(tx, &site, std::iter::once(&event))?;
    }
    Ok(n)
}

pub(crate) fn clear(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    tx.execute("DELETE FROM timeline", &[])?;
    Ok(())
}

/// Most identifiers one timeline read takes (an order's parcels and its number).
const MAX_IDENTIFIERS: usize = 4096;

impl CentralStore {
    /// Every event that names one of `identifiers`, oldest event time first.
    pub fn timeline(&self, identifiers: &[&str]) -> Result<Vec<Event>, StoreError> {
        self.read(|tx| timeline_in(tx, identifiers))
    }
}

/// [`CentralStore::timeline`] inside a transaction.
pub(crate) fn timeline_in(tx: &mut Tx<'_>, identifiers: &[&str]) -> Result<Vec<Event>, StoreError> {
    let identifiers: Vec<&str> = identifiers
        .iter()
        .copied()
        .filter(|i| !i.is_empty())
        .take(MAX_IDENTIFIERS)
        .collect();
    if identifiers.is_empty() {
        return Ok(Vec::new());
    }
    let rows = match tx.engine() {
        Engine::Postgres => {
            let Tx::Postgres { tx: pg, .. } = tx else {
                unreachable!("engine is postgres")
            };
            pg.query(
                "SELECT e.body FROM events e WHERE (e.site_id, e.seq) IN \
                 (SELECT site_id, seq FROM timeline WHERE identifier = ANY($1)) \
                 ORDER BY e.event_time_ms, e.site_id, e.seq",
                &[&identifiers],
            )?
            .iter()
            .map(|r| decode_event(r.get::<_, &[u8]>(0)))
            .collect::<Result<Vec<_>, _>>()?
        }
        Engine::Sqlite => {
            let list: Vec<String> = (1..=identifiers.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT e.body FROM events e WHERE (e.site_id, e.seq) IN \
                 (SELECT site_id, seq FROM timeline WHERE identifier IN ({})) \
                 ORDER BY e.event_time_ms, e.site_id, e.seq",
                list.join(", ")
            );
            let params: Vec<Param<'_>> = identifiers.iter().map(|i| (*i).into()).collect();
            tx.query(&sql, &params)?
                .iter()
                .map(|r| decode_event(r.bytes(0)?))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(rows)
}

/// A stored event, decoded.
pub(crate) fn decode_event(bytes: &[u8]) -> Result<Event, StoreError> {
    Event::decode(bytes).map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))
}
