//! Priority and bandwidth on a thin site link: with a bandwidth cap and a backlog
//! of bulk observations, a milestone recorded after the backlog reaches central
//! before the backlog has drained; the link never carries more than the cap; and
//! once drained every event is at central exactly once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waymark_tests::harness::{GatewaySpec, Harness, metric};
use waymark_tests::mqtt::{Publisher, publish_tag_reads};
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const SSCC: &str = "106141412345678908";
const BACKLOG: usize = 4000;
const CAP_BYTES_PER_SEC: f64 = 60_000.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_milestone_overtakes_a_backlog_on_a_capped_link() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let order = json!({ "order_number": "SO-7", "site_id": "dc-north", "parcels": [{ "sscc": SSCC }] });
    let (code, body) = h.post_json(format!("http://{http}/api/v1/orders"), &order).await?;
    assert_eq!(code, 201, "{body}");

    let mut spec = GatewaySpec::site("dc-north").recording_unmatched();
    spec.reconcile.push_str("\n[reconcile.prerequisites]\nloaded = []\n");
    spec.replication = format!("max_kbytes_per_sec = {}\n", CAP_BYTES_PER_SEC as u64 / 1000);
    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    let ops = gw.ready.addr("ops")?;
    wait::until("the order at the gateway", Duration::from_secs(20), || async {
        (h.status(&gw).await?["orders_held"] == 1).then_some(())
    })
    .await?;

    // A backlog of bulk observations (unknown tags at the pack station)...
    let mut p = Publisher::connect(gw.ready.addr("mqtt")?, "pack-1");
    publish_tag_reads(&p, "waymark/dc-north/pack-1/reads", 0, BACKLOG, 50).await?;
    p.wait_acked((BACKLOG / 50) as u64, Duration::from_secs(30)).await?;
    wait::until("the backlog recorded", Duration::from_secs(30), || async {
        (h.status(&gw).await?["last_sequence"].as_u64()? >= BACKLOG as u64).then_some(())
    })
    .await?;

    // ...then the pallet of SO-7 is loaded at the door: a milestone.
    let mut door = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    let read = json!({ "id": SSCC, "time": "2026-11-21T06:30:00.000+01:00" });
    door.publish("waymark/dc-north/door-3/reads", read.to_string().into_bytes())
        .await?;
    door.wait_acked(1, Duration::from_secs(10)).await?;

    let (milestone, hwm_then) = wait::until("the milestone at central", Duration::from_secs(30), || async {
        let (_, o) = h.get_json(format!("http://{http}/api/v1/orders/SO-7")).await.ok()?;
        let e = o["timeline"].as_array()?.first()?.clone();
        let hwm = site_hwm(&h, http).await?;
        Some((e, hwm))
    })
    .await?;
    assert_eq!(milestone["milestone"], "loaded", "{milestone}");
    let seq = milestone["sequence"].as_u64().expect("sequence");
    assert!(seq > BACKLOG as u64, "recorded after the backlog: {milestone}");
    assert!(
        hwm_then < seq,
        "the milestone (sequence {seq}) must arrive before the ordered stream reaches it (central at {hwm_then})"
    );
    let metrics = h.get_text(format!("http://{ops}/metrics")).await?;
    assert!(
        metric(&metrics, "waymark_events_expedited_total", &[]) >= 1.0,
        "{metrics}"
    );

    // The cap holds while the backlog drains: bytes sent over a few seconds stay
    // within the rate (plus one batch of at most a second's worth).
    let bytes = |text: &str| metric(text, "waymark_replicated_bytes_total", &[]);
    let (t0, b0) = (
        Instant::now(),
        bytes(&h.get_text(format!("http://{ops}/metrics")).await?),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let b1 = bytes(&h.get_text(format!("http://{ops}/metrics")).await?);
    let allowed = CAP_BYTES_PER_SEC * (t0.elapsed().as_secs_f64() + 1.0);
    assert!(
        b1 - b0 <= allowed,
        "{} bytes in {:?} exceeds the cap",
        b1 - b0,
        t0.elapsed()
    );
    assert!(b1 > b0, "the backlog keeps draining under the cap");

    // Everything arrives, once: the milestone is not applied a second time when
    // the ordered stream reaches it.
    let last = h
        .status(&gw)
        .await
        .and_then(|s| s["last_sequence"].as_u64())
        .unwrap_or(0);
    wait::until("the backlog drained", Duration::from_secs(90), || async {
        (site_hwm(&h, http).await? >= last).then_some(())
    })
    .await?;
    let events = h.central_events(http, "dc-north").await?;
    assert_eq!(events.len() as u64, last, "every event once");
    let (_, o) = h.get_json(format!("http://{http}/api/v1/orders/SO-7")).await?;
    assert_eq!(o["timeline"].as_array().map(Vec::len), Some(1), "{o}");
    Ok(())
}

async fn site_hwm(h: &Harness, http: std::net::SocketAddr) -> Option<u64> {
    let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
    let sites: &Vec<Value> = sites["sites"].as_array()?;
    Some(
        sites
            .iter()
            .find(|s| s["site_id"] == "dc-north")
            .and_then(|s| s["high_water_mark"].as_u64())
            .unwrap_or(0),
    )
}
