//! Central restored from an old backup, after the gateway compacted what central
//! had acknowledged: the events are gone from both sides. The gateway declares
//! the gap, central records and counts it where operators look, and replication
//! goes on, instead of stalling until new reads fill the site's disk.

use std::time::Duration;

use serde_json::Value;
use waymark_tests::harness::{GatewaySpec, Harness, metric};
use waymark_tests::mqtt::{Publisher, publish_tag_reads};
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);

async fn site(h: &Harness, http: std::net::SocketAddr) -> Option<Value> {
    let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
    sites["sites"]
        .as_array()?
        .iter()
        .find(|s| s["site_id"] == "dc-north")
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_central_gets_a_recorded_gap_not_a_stalled_site() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let mut central = h.start_central(None)?;
    let grpc = central.ready.addr("grpc")?;
    // Last night's backup: central before this site sent anything.
    central.terminate()?;
    h.backup_central("backup")?;
    let mut central = h.start_central(Some(grpc))?;

    let spec = GatewaySpec {
        store: "retention_minutes = 0\n".into(),
        ..GatewaySpec::site("dc-north").recording_unmatched()
    };
    let gw = h.start_gateway(&spec, grpc, None)?;
    let ops = gw.ready.addr("ops")?;
    let mut p = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 0, 500, 50).await?;
    p.wait_acked(10, TIMEOUT).await?;
    // Central acknowledged everything and the gateway compacted it (retention 0).
    wait::until("the events acknowledged and compacted", TIMEOUT, || async {
        let text = h.get_text(format!("http://{ops}/metrics")).await.ok()?;
        (metric(&text, "waymark_events_compacted_total", &[]) >= 500.0).then_some(())
    })
    .await?;

    // Central's disk is lost; it comes back from the backup.
    central.kill();
    h.restore_central("backup")?;
    let central = h.start_central(Some(grpc))?;
    let http = central.ready.addr("http")?;
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 500, 100, 50).await?;
    p.wait_acked(12, TIMEOUT).await?;

    let last = wait::until("the gateway's newest events at central", TIMEOUT, || async {
        let last = h.status(&gw).await?["last_sequence"].as_u64()?;
        let s = site(&h, http).await?;
        (last >= 600 && s["high_water_mark"].as_u64()? == last).then_some(last)
    })
    .await?;
    let s = site(&h, http).await.expect("site");
    let gaps = s["lost_sequences"].as_array().cloned().unwrap_or_default();
    assert_eq!(gaps.len(), 1, "one recorded gap: {s}");
    assert_eq!(gaps[0]["first"], 1, "{s}");
    let lost = gaps[0]["last"].as_u64().expect("last");
    assert!(lost >= 500, "at least everything compacted before the restore: {s}");
    assert!(
        gaps[0]["reason"].as_str().is_some_and(|r| r.contains("compacted")),
        "{s}"
    );

    // Everything after the gap arrived, once; both sides count what was lost.
    let events = h.central_events(http, "dc-north").await?;
    assert_eq!(events.len() as u64, last - lost, "every event after the gap, once");
    assert!(events.iter().all(|e| e["sequence"].as_u64() > Some(lost)));
    let central_metrics = h.metrics_of(&central).await?;
    assert_eq!(
        metric(&central_metrics, "waymark_sync_events_lost_total", &["dc-north"]),
        lost as f64
    );
    let gw_metrics = h.get_text(format!("http://{ops}/metrics")).await?;
    assert_eq!(metric(&gw_metrics, "waymark_events_lost_total", &[]), lost as f64);
    Ok(())
}
