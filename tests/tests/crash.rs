//! Crash harness, external site broker mode: a device publishes to the site's
//! Mosquitto while the gateway is killed with SIGKILL again and again. The gateway
//! acknowledges a message only once its events are recorded, so the broker
//! redelivers the rest: every published read must reach central exactly once.
//!
//! CI runs 3 kills; the long run is
//! `WAYMARK_CRASH_KILLS=200 cargo test --release -p waymark-tests --test crash -- --nocapture`.
//! Starts its own Mosquitto on a free port (`waymark_tests::mosquitto`), keeping every
//! queued message; says SKIPPED when Mosquitto is not installed (CI installs it).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::mosquitto::Mosquitto;
use waymark_tests::mqtt::Publisher;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(60);
const READS_PER_PAYLOAD: usize = 10;

/// Redelivered reads this gateway process absorbed as duplicates.
async fn duplicates(h: &Harness, gw: &Node) -> f64 {
    let Ok(ops) = gw.ready.addr("ops") else { return 0.0 };
    let text = h.get_text(format!("http://{ops}/metrics")).await.unwrap_or_default();
    metric(&text, "waymark_events_duplicate_total", &[])
}

async fn wait_subscribed(h: &Harness, gw: &Node) -> anyhow::Result<()> {
    let url = format!("http://{}/readyz", gw.ready.addr("ops")?);
    wait::until("the gateway subscribed to the site broker", TIMEOUT, || async {
        let (code, _) = h.get_json(url.clone()).await.ok()?;
        (code == 200).then_some(())
    })
    .await
}

async fn central_hwm(h: &Harness, http: SocketAddr, site: &str) -> Option<u64> {
    let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
    sites["sites"].as_array()?.iter().find(|s| s["site_id"] == site)?["high_water_mark"].as_u64()
}

#[tokio::test]
async fn kill_dash_nine_loses_nothing_with_an_external_broker() -> anyhow::Result<()> {
    let kills: usize = std::env::var("WAYMARK_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let Some(mosquitto) = Mosquitto::start()? else {
        anyhow::ensure!(std::env::var_os("CI").is_none(), "mosquitto is not installed in CI");
        eprintln!("SKIPPED: mosquitto is not installed (apt-get install mosquitto)");
        return Ok(());
    };
    let broker = mosquitto.addr;
    let site = "dc-crash".to_string();
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let spec = GatewaySpec {
        external_broker: Some(broker.to_string()),
        ..GatewaySpec::site(&site).recording_unmatched()
    };
    let mut gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    wait_subscribed(&h, &gw).await?;

    // The device publishes paced payloads until told to stop.
    let published = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let device = {
        let (published, stop, topic) = (published.clone(), stop.clone(), format!("waymark/{site}/door-3/reads"));
        tokio::spawn(async move {
            let mut p = Publisher::connect(broker, &format!("{topic}-device").replace('/', "-"));
            let mut payloads = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let from = published.load(Ordering::SeqCst);
                let reads: Vec<Value> = (from..from + READS_PER_PAYLOAD)
                    .map(|k| json!({ "id": format!("urn:epc:id:sgtin:0614141.812345.{k}"), "time": "2026-11-21T06:00:00Z" }))
                    .collect();
                p.publish(&topic, serde_json::to_vec(&reads)?).await?;
                payloads += 1;
                published.store(from + READS_PER_PAYLOAD, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            p.wait_acked(payloads, TIMEOUT).await?;
            anyhow::Ok(())
        })
    };

    let mut absorbed = 0.0;
    for k in 0..kills {
        tokio::time::sleep(Duration::from_millis(100 + (k as u64 * 37) % 300)).await;
        let recorded = h
            .status(&gw)
            .await
            .and_then(|s| s["last_sequence"].as_u64())
            .unwrap_or(0);
        absorbed += duplicates(&h, &gw).await;
        gw.kill();
        gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
        wait_subscribed(&h, &gw).await?;
        // Everything the gateway had reported as recorded reaches central.
        wait::until("recorded events to reach central after a restart", TIMEOUT, || async {
            (central_hwm(&h, http, &site).await? >= recorded).then_some(())
        })
        .await
        .with_context(|| format!("after kill {}", k + 1))?;
    }
    stop.store(true, Ordering::SeqCst);
    device.await??;
    let total = published.load(Ordering::SeqCst);

    let last = wait::until("every published read recorded and replicated", TIMEOUT, || async {
        let s = h.status(&gw).await?;
        let last = s["last_sequence"].as_u64()?;
        let done = last as usize >= total && s["backlog_events"].as_u64()? == 0;
        (done && central_hwm(&h, http, &site).await? == last).then_some(last)
    })
    .await
    .with_context(|| format!("mosquitto's log:\n{}", mosquitto.log()))?;
    absorbed += duplicates(&h, &gw).await;
    let events = h.central_events(http, &site).await?;
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "central's sequences");
    let reads: HashSet<&str> = events
        .iter()
        .filter_map(|e| e["identifiers"][0]["value"].as_str())
        .collect();
    assert_eq!(reads.len(), events.len(), "a read was recorded twice");
    assert_eq!(
        reads.len(),
        total,
        "published {total} reads, central holds {}",
        reads.len()
    );
    eprintln!(
        "{kills} kills: {total} reads published, each recorded and applied at central exactly once; \
         {absorbed} redelivered reads absorbed as duplicates"
    );
    // A restart replays the journal only since the last snapshot, and each start
    // snapshots after its replay: a read is re-derived at most a few times
    // (replayed once, redelivered by the broker, that replayed once), however many
    // times the gateway dies. Before the start snapshot a crash loop replayed
    // everything on every start (20 kills: 10x the reads).
    assert!(
        absorbed <= 3.0 * total as f64,
        "{absorbed} duplicates for {total} reads: restarts replay more than they should"
    );
    Ok(())
}
