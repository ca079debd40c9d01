//! The link to central disappears (silently, then with resets) while the site
//! keeps scanning: the backlog grows, reads still match the orders the site holds,
//! and on heal the backlog drains in per-site order with exactly-once effect.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use waymark_tests::harness::{GatewaySpec, Harness, Node};
use waymark_tests::mqtt::{Publisher, publish_tag_reads};
use waymark_tests::proxy::Proxy;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);
const SSCC: &str = "106141412345678908";

/// Waits until the gateway has recorded `n` events and says the link is down.
async fn wait_offline_with(h: &Harness, gw: &Node, n: u64) -> anyhow::Result<Value> {
    wait::until("the backlog recorded with the link down", TIMEOUT, || async {
        let s = h.status(gw).await?;
        (s["last_sequence"].as_u64()? == n && s["link"] != "connected").then_some(s)
    })
    .await
}

async fn wait_drained(h: &Harness, gw: &Node, central: &Node, n: u64) -> anyhow::Result<()> {
    let http = central.ready.addr("http")?;
    wait::until("the backlog drained to central", TIMEOUT, || async {
        let s = h.status(gw).await?;
        let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
        let hwm =
            sites["sites"].as_array()?.iter().find(|s| s["site_id"] == "dc-north")?["high_water_mark"].as_u64()?;
        (hwm == n && s["backlog_events"].as_u64()? == 0).then_some(())
    })
    .await
}

#[tokio::test]
async fn partition_then_heal_drains_in_order_exactly_once() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let proxy = Proxy::start(central.ready.addr("grpc")?).await?;
    let gw = h.start_gateway(&GatewaySpec::site("dc-north").recording_unmatched(), proxy.addr, None)?;
    let http = central.ready.addr("http")?;
    let order = json!({ "order_number": "SO-1001", "site_id": "dc-north", "parcels": [{ "sscc": SSCC }] });
    let (code, _) = h.post_json(format!("http://{http}/api/v1/orders"), &order).await?;
    assert_eq!(code, 201);
    wait::until("the order at the gateway", TIMEOUT, || async {
        (h.status(&gw).await?["orders_held"].as_u64()? == 1).then_some(())
    })
    .await?;
    let p = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 0, 500, 50).await?;
    wait_drained(&h, &gw, &central, 500).await?;

    // A silent partition: connections stay open, nothing passes. Keepalives notice.
    proxy.blackhole();
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 500, 3000, 50).await?;
    // The site still matches reads to the orders it holds while offline.
    let pack = json!({ "id": SSCC, "time": "2026-11-21T07:30:00+01:00" });
    p.publish("waymark/dc-north/pack-1/reads", pack.to_string().into_bytes())
        .await?;
    let offline = wait_offline_with(&h, &gw, 3501).await?;
    assert_eq!(offline["acked_sequence"], 500, "{offline}");
    assert_eq!(offline["backlog_events"], 3001, "{offline}");
    proxy.heal();
    wait_drained(&h, &gw, &central, 3501).await?;

    // A loud partition: every connection reset, new ones refused.
    proxy.cut();
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 3500, 1000, 50).await?;
    wait_offline_with(&h, &gw, 4501).await?;
    proxy.heal();
    wait_drained(&h, &gw, &central, 4501).await?;

    let events = h.central_events(http, "dc-north").await?;
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(
        seqs,
        (1..=4501).collect::<Vec<_>>(),
        "applied in per-site order, each once"
    );
    let ids: HashSet<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(ids.len(), 4501);
    let (_, order) = h.get_json(format!("http://{http}/api/v1/orders/SO-1001")).await?;
    let matched = &order["timeline"][0];
    assert_eq!(
        matched["order_number"], "SO-1001",
        "matched offline at the site: {order}"
    );
    assert_eq!(matched["event_time"], "2026-11-21T07:30:00.000+01:00", "{order}");
    Ok(())
}
