//! Central's store: how fast the projections follow a catch-up, the raw
//! PostgreSQL bulk-load rate of the same rows (the yardstick for the apply),
//! and order timeline reads with millions of events stored.

use std::time::{Duration, Instant};

use waymark_proto::IdentifierKind;
use waymark_proto::v1::{Event, Identifier};
use waymark_sync::projection::Projection;
use waymark_sync::store::{CentralStore, StoreOptions};
use waymark_tests::harness::{Harness, metric};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Waits for central's timeline projection to catch up, printing the lag as
/// it goes; returns the seconds from `since`.
pub async fn projection_caught_up(h: &Harness, ops: std::net::SocketAddr, since: Instant) -> anyhow::Result<f64> {
    let mut last_print = Instant::now();
    loop {
        let text = h.get_text(format!("http://{ops}/metrics")).await?;
        let lag = metric(&text, "waymark_projection_lag_events", &["projection=\"timeline\""]);
        let projected = metric(&text, "waymark_projection_events_total", &["projection=\"timeline\""]);
        if lag == 0.0 && projected > 0.0 {
            return Ok(since.elapsed().as_secs_f64());
        }
        if last_print.elapsed() >= Duration::from_secs(2) {
            println!(
                "  timeline projection: {projected:.0} projected, lag {lag:.0} events at {:.1} s",
                since.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(3600),
            "projection stalled at lag {lag}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One binary COPY in one transaction of `site`'s stored rows into a new
/// table shaped like `events` (same columns, keys and indexes): the raw
/// bulk-load rate the apply is measured against. Returns (rows, seconds).
pub fn raw_copy(url: &str, site: &str) -> anyhow::Result<(u64, f64)> {
    use postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutIter};
    use postgres::fallible_iterator::FallibleIterator;
    use postgres::types::Type;
    waymark_sync::store::testing::off_runtime(|| {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        client.batch_execute("DROP TABLE IF EXISTS events_raw; CREATE TABLE events_raw (LIKE events INCLUDING ALL)")?;
        let types = [Type::TEXT, Type::INT8, Type::INT8, Type::TEXT, Type::BYTEA];
        // Read first, so that only the load is timed.
        let mut rows: Vec<(String, i64, i64, String, Vec<u8>)> = Vec::new();
        {
            let reader = client.copy_out(&*format!(
                "COPY (SELECT site_id, seq, event_time_ms, event_id, body FROM events WHERE site_id = '{site}' ORDER BY seq) TO STDOUT BINARY"
            ))?;
            let mut it = BinaryCopyOutIter::new(reader, &types);
            while let Some(r) = it.next()? {
                rows.push((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)));
            }
        }
        let started = Instant::now();
        let mut tx = client.transaction()?;
        {
            let sink = tx.copy_in("COPY events_raw (site_id, seq, event_time_ms, event_id, body) FROM STDIN BINARY")?;
            let mut w = BinaryCopyInWriter::new(sink, &types);
            for (s, seq, t, id, body) in &rows {
                w.write(&[s, seq, t, id, body])?;
            }
            w.finish()?;
        }
        tx.commit()?;
        let secs = started.elapsed().as_secs_f64();
        client.batch_execute("DROP TABLE events_raw")?;
        Ok((rows.len() as u64, secs))
    })
}

/// An event naming parcel `parcel` of order `order`.
fn event(site: &str, seq: u64, parcel: u64, order: u64) -> Event {
    Event {
        site_id: site.into(),
        sequence: seq,
        event_id: format!("{:032x}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        event_time_ms: 1_795_237_331_250 + seq as i64,
        identifiers: vec![Identifier {
            kind: IdentifierKind::Sscc as i32,
            value: format!("0061414{:011}", parcel),
        }],
        order_number: format!("SO-{order}"),
        read_point: "dock-door-3".into(),
        device_id: "door-3".into(),
        business_step: "loading".into(),
        read_count: 12,
        ..Event::default()
    }
}

/// Order timeline reads with `events` stored: loads them straight through the
/// store (10 sites, 20 events per parcel, 2 parcels per order), projects them,
/// then times `reads` timeline reads of random orders.
pub fn timeline(engine: Engine, events: u64, reads: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db;
    let options = match engine {
        Engine::Sqlite => StoreOptions::sqlite_in(dir.path()),
        Engine::Postgres => {
            db = waymark_sync::store::testing::TestDatabase::create()?;
            StoreOptions::postgres(&db.url)
        }
    };
    let store = CentralStore::open(&options)?;
    let sites = 10u64;
    let per_site = events / sites;
    let started = Instant::now();
    let batch = 10_000u64;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..2u64)
            .map(|half| {
                let store = &store;
                scope.spawn(move || -> anyhow::Result<()> {
                    for s in (half..sites).step_by(2) {
                        let site = format!("site-{s}");
                        let lease = store.open_stream(&site, "bench", 0)?;
                        let mut seq = 1;
                        while seq <= per_site {
                            let n = batch.min(per_site - seq + 1);
                            let events: Vec<Event> = (seq..seq + n)
                                .map(|q| {
                                    let global = s * per_site + q;
                                    let parcel = global / 20;
                                    event(&site, q, parcel, parcel / 2)
                                })
                                .collect();
                            store.apply(&lease, &events)?;
                            seq += n;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("loader panicked"))??;
        }
        Ok(())
    })?;
    let load_secs = started.elapsed().as_secs_f64();
    println!(
        "loaded {} events in {load_secs:.1} s ({:.0} events/s)",
        per_site * sites,
        (per_site * sites) as f64 / load_secs
    );
    let started = Instant::now();
    store.catch_up(Projection::Timeline, |_| {})?;
    let project_secs = started.elapsed().as_secs_f64();
    println!(
        "timeline projected in {project_secs:.1} s ({:.0} events/s)",
        (per_site * sites) as f64 / project_secs
    );
    let orders = (per_site * sites) / 40;
    let mut latencies = Vec::with_capacity(reads);
    let mut found = 0;
    for i in 0..reads as u64 {
        let order = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) % orders.max(1);
        let (p1, p2) = (
            format!("0061414{:011}", order * 2),
            format!("0061414{:011}", order * 2 + 1),
        );
        let number = format!("SO-{order}");
        let asked = Instant::now();
        found += store.timeline(&[&p1, &p2, &number])?.len();
        latencies.push(asked.elapsed());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{reads} order timeline reads ({:.1} events each): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        found as f64 / reads as f64,
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
    println!(
        "| timeline read ({engine:?}) | {} events stored | p99 {:.2} ms | p50 {:.2} ms |",
        per_site * sites,
        at(0.99).as_secs_f64() * 1e3,
        at(0.5).as_secs_f64() * 1e3
    );
    Ok(())
}
