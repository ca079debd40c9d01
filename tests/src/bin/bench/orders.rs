//! Order intake and order lists, straight against central's store.
//!
//! `bench orders-csv --orders N --store sqlite|postgres`: a CSV file of N
//! orders (one parcel each, 40 sites) through the import (parse, check,
//! commit), then the same file again (every order unchanged).
//!
//! `bench order-list --orders N --reads R --store sqlite|postgres`: N orders
//! loaded, then R list requests of the kinds a merchant's sync job and an ops
//! screen make (first page, page at a cursor, by site, by status, by carrier,
//! by overlay, updated since), latency percentiles.

use std::time::{Duration, Instant};

use waymark_sync::orders::list::OrderFilter;
use waymark_sync::store::{CentralStore, StoreOptions};

use crate::central::Engine;

fn open(
    engine: Engine,
    dir: &std::path::Path,
) -> anyhow::Result<(CentralStore, Option<waymark_sync::store::testing::TestDatabase>)> {
    Ok(match engine {
        Engine::Sqlite => (CentralStore::open(&StoreOptions::sqlite_in(dir))?, None),
        Engine::Postgres => {
            let db = waymark_sync::store::testing::TestDatabase::create()?;
            (CentralStore::open(&StoreOptions::postgres(&db.url))?, Some(db))
        }
    })
}

fn csv(orders: u64, from: u64) -> String {
    let mut csv = String::from(
        "order_number,order_type,email,site_id,carrier,shipment_tracking_number,promised_delivery,tracking_number,sku,quantity\n",
    );
    for i in from..from + orders {
        let carrier = ["ups", "dhl", "fedex", "dpd"][(i % 4) as usize];
        csv.push_str(&format!(
            "SO-{i:08},routine,buyer{i}@example.com,dc-{},{carrier},1Z{i:010},2026-12-10,P{i:010},SKU-{},1\n",
            i % 40,
            i % 97
        ));
    }
    csv
}

pub fn csv_intake(engine: Engine, orders: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _db) = open(engine, dir.path())?;
    let file = csv(orders, 0);
    let started = Instant::now();
    let report = store.import_orders_csv(file.as_bytes(), |_, _| {})?;
    let first = started.elapsed().as_secs_f64();
    anyhow::ensure!(report.created == orders, "created {} of {orders}", report.created);
    let started = Instant::now();
    let again = store.import_orders_csv(file.as_bytes(), |_, _| {})?;
    let second = started.elapsed().as_secs_f64();
    anyhow::ensure!(again.unchanged == orders, "unchanged {} of {orders}", again.unchanged);
    println!(
        "{orders} orders from CSV ({:.1} MB): imported in {first:.2} s ({:.0} orders/s); again (unchanged) in {second:.2} s ({:.0} orders/s)",
        file.len() as f64 / 1e6,
        orders as f64 / first,
        orders as f64 / second
    );
    println!(
        "| CSV intake ({engine:?}) | {orders} orders | {:.0} orders/s | re-import {:.0} orders/s |",
        orders as f64 / first,
        orders as f64 / second
    );
    Ok(())
}

pub fn list(engine: Engine, orders: u64, reads: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _db) = open(engine, dir.path())?;
    let started = Instant::now();
    let chunk = 100_000;
    let mut loaded = 0;
    while loaded < orders {
        let n = chunk.min(orders - loaded);
        let report = store.import_orders_csv(csv(n, loaded).as_bytes(), |_, _| {})?;
        anyhow::ensure!(report.created == n, "created {} of {n}", report.created);
        loaded += n;
        eprintln!("loaded {loaded} orders");
    }
    println!("loaded {orders} orders in {:.0} s", started.elapsed().as_secs_f64());
    store.refresh_statistics()?;
    // Every order's updated_ms, to put cursors at random places.
    let first = store.list_orders(&OrderFilter {
        limit: 1,
        ..OrderFilter::default()
    })?;
    let start_ms = chrono::DateTime::parse_from_rfc3339(&first.orders[0].updated_at)?.timestamp_millis();
    let end_ms = chrono::Utc::now().timestamp_millis();
    let mut by_kind: Vec<(&str, Vec<Duration>)> = Vec::new();
    let kinds = [
        "first page",
        "at a cursor",
        "by site",
        "by status",
        "by carrier",
        "by overlay",
        "updated since",
    ];
    for k in kinds {
        by_kind.push((k, Vec::with_capacity(reads / kinds.len() + 1)));
    }
    let mut all = Vec::with_capacity(reads);
    let mut listed = 0;
    for i in 0..reads as u64 {
        let r = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11;
        let at = start_ms + (r % (end_ms - start_ms).max(1) as u64) as i64;
        let kind = (i % kinds.len() as u64) as usize;
        let filter = OrderFilter {
            limit: 50,
            after: (kind == 1 || kind == 2).then(|| (at, String::new())),
            site: (kind == 2).then(|| format!("dc-{}", r % 40)),
            status: (kind == 3).then(|| "ordered".to_string()),
            carrier: (kind == 4).then(|| "dhl".to_string()),
            overlay: (kind == 5).then(|| "delayed".to_string()),
            updated_since_ms: (kind == 6).then_some(at),
        };
        let asked = Instant::now();
        listed += store.list_orders(&filter)?.orders.len();
        let took = asked.elapsed();
        by_kind[kind].1.push(took);
        all.push(took);
    }
    let pct = |v: &mut Vec<Duration>, q: f64| {
        v.sort();
        v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e3
    };
    for (kind, v) in &mut by_kind {
        println!("  {kind:>14}: p50 {:.2} ms, p99 {:.2} ms", pct(v, 0.5), pct(v, 0.99));
    }
    println!(
        "{reads} list requests over {orders} orders ({:.1} orders each): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        listed as f64 / reads as f64,
        pct(&mut all, 0.5),
        pct(&mut all, 0.99),
        pct(&mut all, 1.0)
    );
    println!(
        "| order list ({engine:?}) | {orders} orders | p99 {:.2} ms | p50 {:.2} ms |",
        pct(&mut all, 0.99),
        pct(&mut all, 0.5)
    );
    Ok(())
}
