//! PostgreSQL's fast path for a batch: one binary COPY inside a savepoint. When
//! a row is already there (an event sent ahead on the priority lane, or one
//! re-derived under a new sequence), the COPY fails as a whole, the savepoint
//! is rolled back, and the batch goes in by one `INSERT ... ON CONFLICT DO
//! NOTHING` that says which rows it stored.

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use prost::Message;
use waymark_proto::v1::Event;

use crate::store::StoreError;

const COPY: &str = "COPY events (site_id, seq, event_time_ms, event_id, body) FROM STDIN BINARY";
const INSERT_MISSING: &str = "INSERT INTO events (site_id, seq, event_time_ms, event_id, body) \
     SELECT $1, s, t, i, b FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::bytea[]) AS u(s, t, i, b) \
     ON CONFLICT DO NOTHING RETURNING seq";

pub(super) fn copy_events(
    tx: &mut postgres::Transaction<'_>,
    site: &str,
    events: &[&Event],
) -> Result<usize, StoreError> {
    let bodies: Vec<Vec<u8>> = events.iter().map(|e| e.encode_to_vec()).collect();
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| i64::try_from(e.sequence).unwrap_or(i64::MAX))
        .collect();
    let copied = {
        let mut savepoint = tx.savepoint("copy_events")?;
        match copy(&mut savepoint, site, events, &seqs, &bodies) {
            Ok(()) => {
                savepoint.commit()?;
                true
            }
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => false,
            Err(e) => return Err(e.into()),
        }
    };
    if copied {
        return Ok(events.len());
    }
    let times: Vec<i64> = events.iter().map(|e| e.event_time_ms).collect();
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    Ok(tx.query(INSERT_MISSING, &[&site, &seqs, &times, &ids, &bodies])?.len())
}

fn copy(
    tx: &mut postgres::Transaction<'_>,
    site: &str,
    events: &[&Event],
    seqs: &[i64],
    bodies: &[Vec<u8>],
) -> Result<(), postgres::Error> {
    let sink = tx.copy_in(COPY)?;
    let mut writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8, Type::INT8, Type::TEXT, Type::BYTEA]);
    for ((e, seq), body) in events.iter().zip(seqs).zip(bodies) {
        writer.write(&[&site, seq, &e.event_time_ms, &e.event_id, body])?;
    }
    writer.finish()?;
    Ok(())
}
