//! Reconciliation in the running gateway: reads that arrive before their order wait
//! in quarantine and are matched when the order comes down, keeping their times; reads
//! of stays still open when the gateway dies are journaled and become their events
//! after the restart, once each.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use waymark_tests::harness::{GatewaySpec, Harness, Node};
use waymark_tests::mqtt::Publisher;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);
const SSCC: &str = "106141412345678908";

#[tokio::test]
async fn reads_before_their_order_are_matched_when_it_arrives() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let mut spec = GatewaySpec::site("dc-north");
    spec.reconcile.push_str("[reconcile.prerequisites]\nloaded = []\n");
    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    let mut p = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    let read = json!({ "id": SSCC, "time": "2026-11-21T05:10:00.000+01:00" });
    p.publish("waymark/dc-north/door-3/reads", read.to_string().into_bytes())
        .await?;
    p.wait_acked(1, TIMEOUT).await?;
    let s = wait::until("the unmatched read in quarantine", TIMEOUT, || async {
        let s = h.status(&gw).await?;
        (s["quarantine"]["count"] == 1).then_some(s)
    })
    .await?;
    assert_eq!(s["quarantine"]["recent"][0][0], SSCC, "{s}");
    assert_eq!(s["last_sequence"], 0, "nothing recorded while unmatched: {s}");

    // The order is created at central hours later; it comes down and the read matches.
    let order = json!({ "order_number": "SO-1001", "site_id": "dc-north", "parcels": [{ "sscc": SSCC }] });
    let (code, _) = h.post_json(format!("http://{http}/api/v1/orders"), &order).await?;
    assert_eq!(code, 201);
    let timeline = wait::until("the matched event at central", TIMEOUT, || async {
        let (_, o) = h.get_json(format!("http://{http}/api/v1/orders/SO-1001")).await.ok()?;
        let t = o["timeline"].as_array()?.clone();
        (!t.is_empty()).then_some(t)
    })
    .await?;
    assert_eq!(timeline.len(), 1, "{timeline:?}");
    let e = &timeline[0];
    assert_eq!(
        (e["milestone"].as_str(), e["rematched"].as_bool()),
        (Some("loaded"), Some(true)),
        "{e}"
    );
    assert_eq!(
        e["event_time"], "2026-11-21T05:10:00.000+01:00",
        "the read's own time: {e}"
    );
    assert_eq!(
        h.status(&gw).await.map(|s| s["quarantine"]["count"].clone()),
        Some(json!(0))
    );
    Ok(())
}

/// Publishes one read for each of `tags` and waits until the gateway has journaled them.
async fn open_stays(h: &Harness, gw: &Node, tags: std::ops::Range<u32>) -> anyhow::Result<()> {
    let mut p = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    let reads: Vec<Value> = tags
        .clone()
        .map(|k| json!({ "id": format!("urn:epc:id:sgtin:0614141.812345.{k}") }))
        .collect();
    p.publish("waymark/dc-north/door-3/reads", serde_json::to_vec(&reads)?)
        .await?;
    p.wait_acked(1, TIMEOUT).await?;
    let ops = gw.ready.addr("ops")?;
    wait::until("the reads journaled", TIMEOUT, || async {
        let m = h.get_text(format!("http://{ops}/metrics")).await.ok()?;
        (waymark_tests::harness::metric(&m, "waymark_read_to_recorded_seconds_count", &[]) >= 1.0).then_some(())
    })
    .await
}

async fn identifiers_at_central(h: &Harness, central: &Node, n: usize) -> anyhow::Result<Vec<String>> {
    let http = central.ready.addr("http")?;
    wait::until("the events at central", TIMEOUT, || async {
        let e = h.central_events(http, "dc-north").await.ok()?;
        (e.len() >= n).then_some(e)
    })
    .await?;
    // Anything spurious would arrive with the others; give it a moment to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = h.central_events(http, "dc-north").await?;
    Ok(events
        .iter()
        .filter_map(|e| e["identifiers"][0]["value"].as_str().map(String::from))
        .collect())
}

#[tokio::test]
async fn open_stays_survive_kill_and_restart_as_one_event_each() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let grpc = central.ready.addr("grpc")?;
    // Stays stay open for 3 s after their last read: long enough to kill the gateway first.
    let mut spec = GatewaySpec::site("dc-north").recording_unmatched();
    spec.reconcile = spec.reconcile.replace("quiet_ms = 300", "quiet_ms = 3000");
    let mut gw = h.start_gateway(&spec, grpc, None)?;
    let mqtt = gw.ready.addr("mqtt")?;
    open_stays(&h, &gw, 0..10).await?;
    assert_eq!(
        h.status(&gw).await.and_then(|s| s["last_sequence"].as_u64()),
        Some(0),
        "stays still open"
    );
    gw.kill();
    let mut gw = h.start_gateway(&spec, grpc, Some(mqtt))?;
    open_stays(&h, &gw, 10..20).await?;
    gw.terminate()?; // a clean stop this time: the stays go into the final snapshot
    let _gw = h.start_gateway(&spec, grpc, Some(mqtt))?;

    let ids = identifiers_at_central(&h, &central, 20).await?;
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (20, 20), "each tag once: {ids:?}");
    Ok(())
}
