//! Carrier webhooks: how many verified webhooks central stores and
//! acknowledges per second over real HTTP, with what latency, and how fast
//! normalization with its status updates follows.
//!
//! `bench carriers --trackers N --concurrency C [--store sqlite|postgres]`:
//! N orders (one parcel, one tracking number each) are imported; every
//! tracker's EasyPost journey (label to delivery, a full snapshot per
//! webhook, as EasyPost sends them) is signed up front; C clients post them
//! over keep-alive connections to a central process whose normalizer runs
//! alongside (as in production). Reports webhooks/s and acknowledgement
//! latency, then the time until the normalizer has caught up.
//!
//! Then, in process on a fresh store, the same webhooks stored and
//! normalized with nothing else running: canonical events/s through
//! normalize, dedupe, match and status update.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use waymark_sync::carriers::Provider;
use waymark_sync::carriers::signature::sign;
use waymark_sync::carriers::store::NewWebhook;
use waymark_sync::store::{CentralStore, StoreOptions};
use waymark_tests::carrier_sim::{self, Journey, Scenario};

use crate::central::Engine;

const SECRET: &str = "bench-secret";

/// A webhook body with the headers that sign it.
type SignedBody = (Vec<u8>, Vec<(&'static str, String)>);

pub struct Plan {
    pub trackers: usize,
    pub concurrency: usize,
    pub store: Engine,
    /// Central only receives ([carriers] normalizer = false): the ack path alone.
    pub receive_only: bool,
}

fn orders_csv(trackers: usize) -> String {
    let mut csv = String::from("order_number,site_id,carrier,tracking_number,sku,quantity\n");
    for i in 0..trackers {
        csv.push_str(&format!("SO-{i:08},dc-{},fedex,EZ{i:010},SKU-{},1\n", i % 40, i % 97));
    }
    csv
}

fn journeys(trackers: usize) -> Vec<Journey> {
    let scenario = Scenario {
        carrier: "fedex".into(),
        ..Scenario::default()
    };
    (0..trackers)
        .map(|i| Journey::plan(&format!("EZ{i:010}"), &scenario))
        .collect()
}

pub async fn run(plan: Plan) -> anyhow::Result<()> {
    let scenario = Scenario {
        carrier: "fedex".into(),
        ..Scenario::default()
    };
    let journeys = journeys(plan.trackers);
    let hooks = carrier_sim::webhooks(Provider::EasyPost, &journeys, &scenario);
    let bytes: usize = hooks.iter().map(|w| w.body.len()).sum();
    println!(
        "{} trackers, {} EasyPost webhooks ({:.1} MB, {:.0} bytes each on average)",
        plan.trackers,
        hooks.len(),
        bytes as f64 / 1e6,
        bytes as f64 / hooks.len() as f64
    );
    http_ack(&plan, &hooks).await?;
    if plan.receive_only {
        return Ok(());
    }
    // The store's PostgreSQL client blocks: off the async runtime.
    tokio::task::spawn_blocking(move || normalize_in_process(&plan, &hooks)).await?
}

async fn http_ack(plan: &Plan, hooks: &[carrier_sim::Webhook]) -> anyhow::Result<()> {
    let h = match plan.store {
        Engine::Sqlite => crate::harness()?,
        Engine::Postgres => crate::harness()?.with_postgres()?,
    };
    let config = h.path("carriers.toml");
    std::fs::write(&config, format!("[carriers]\nnormalizer = {}\n", !plan.receive_only))?;
    let central = h.start_central_with("central", None, &["--config".into(), config.display().to_string()])?;
    let api = format!("http://{}", central.ready.addr("http")?);
    let (code, v) = h
        .post_json(
            format!("{api}/api/v1/carriers/accounts"),
            &serde_json::json!({"provider": "easypost", "name": "bench", "secret": SECRET}),
        )
        .await?;
    anyhow::ensure!(code == 201, "account: {code} {v}");
    let import = h
        .request(reqwest::Method::POST, &format!("{api}/api/v1/orders/import"))
        .header("content-type", "text/csv")
        .body(orders_csv(plan.trackers))
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    anyhow::ensure!(import.status().is_success(), "import: {}", import.status());
    // Let the orders' status settle before the clock starts.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let now = chrono::Utc::now().timestamp();
    let signed: Arc<Vec<SignedBody>> = Arc::new(
        hooks
            .iter()
            .map(|w| {
                (
                    w.body.clone(),
                    sign(Provider::EasyPost, SECRET, &w.body, now, &w.event_id),
                )
            })
            .collect(),
    );
    let url = format!("{api}/webhooks/carriers/easypost/bench");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..plan.concurrency {
        let (signed, next, client, url) = (signed.clone(), next.clone(), client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, headers)) = signed.get(i) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                for (k, v) in headers {
                    req = req.header(*k, v);
                }
                let sent = Instant::now();
                let status = req.send().await?.status();
                latencies.push(sent.elapsed());
                anyhow::ensure!(status.is_success(), "webhook {i}: {status}");
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.context("poster")??);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    println!(
        "acknowledged {} webhooks in {secs:.2} s: {:.0} webhooks/s with {} clients; ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / secs,
        plan.concurrency,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "| Carrier webhooks stored and acknowledged ({:?}, HTTP, {} clients{}) | {} webhooks | {:.0} webhooks/s | p50 {:.2} ms, p99 {:.2} ms |",
        plan.store,
        plan.concurrency,
        if plan.receive_only {
            ", receive only"
        } else {
            ", normalizer alongside"
        },
        latencies.len(),
        latencies.len() as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
    if plan.receive_only {
        return Ok(());
    }
    // The normalizer ran alongside; how long until it caught up.
    let (code, overview) = h.get_json(format!("{api}/api/v1/carriers")).await?;
    anyhow::ensure!(code == 200, "overview: {code}");
    let mut pending = overview["webhooks_pending"].as_u64().unwrap_or(0);
    while pending > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        pending = h.get_json(format!("{api}/api/v1/carriers")).await?.1["webhooks_pending"]
            .as_u64()
            .unwrap_or(0);
    }
    println!(
        "normalizer caught up {:.2} s after the first webhook",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn normalize_in_process(plan: &Plan, hooks: &[carrier_sim::Webhook]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let _db;
    let store = match plan.store {
        Engine::Sqlite => CentralStore::open(&StoreOptions::sqlite_in(dir.path()))?,
        Engine::Postgres => {
            let db = waymark_sync::store::testing::TestDatabase::create()?;
            let store = CentralStore::open(&StoreOptions::postgres(&db.url))?;
            _db = db;
            store
        }
    };
    store.import_orders_csv(orders_csv(plan.trackers).as_bytes(), |_, _| {})?;
    let now = chrono::Utc::now().timestamp_millis();
    for chunk in hooks.chunks(512) {
        let batch: Vec<NewWebhook> = chunk
            .iter()
            .map(|w| NewWebhook {
                provider: Provider::EasyPost,
                account: "bench".into(),
                body: w.body.clone(),
                received_ms: now,
            })
            .collect();
        store.store_webhooks(&batch)?;
    }
    let started = Instant::now();
    let (mut new, mut known, mut webhooks) = (0u64, 0u64, 0usize);
    let mut failures = Vec::new();
    store.normalize_while(
        waymark_sync::carriers::intake::STEP_WEBHOOKS,
        || now,
        |out| {
            webhooks += out.webhooks;
            for c in out.events.values() {
                new += c.new;
                known += c.known;
            }
            failures.extend(out.failures.iter().cloned());
            true
        },
    )?;
    anyhow::ensure!(failures.is_empty(), "failures: {failures:?}");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "normalized {webhooks} webhooks in {secs:.2} s: {:.0} canonical events/s read ({new} new, {known} already known), {:.0} new events/s with their status updates",
        (new + known) as f64 / secs,
        new as f64 / secs
    );
    println!(
        "| Carrier normalization and status ({:?}, in process) | {webhooks} webhooks, {} events | {:.0} events/s read, {:.0} new events/s | |",
        plan.store,
        new + known,
        (new + known) as f64 / secs,
        new as f64 / secs
    );
    Ok(())
}
