//! The disk budget with central unreachable: the alarm goes up, reads that no longer
//! fit wait with the device (their PUBACKs are held; nothing is refused, nothing
//! recorded is dropped), and once central is back and has acknowledged the backlog,
//! compaction makes room and every read the device sent is recorded, once.

use std::time::Duration;

use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::mqtt::{Publisher, publish_tag_reads};
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);

async fn metrics(h: &Harness, gw: &Node) -> String {
    let Ok(ops) = gw.ready.addr("ops") else {
        return String::new();
    };
    h.get_text(format!("http://{ops}/metrics")).await.unwrap_or_default()
}

#[tokio::test]
async fn full_budget_alarms_and_holds_acknowledgements_then_recovers() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let mut central = h.start_central(None)?;
    let grpc = central.ready.addr("grpc")?;
    central.kill();
    let spec = GatewaySpec {
        store: "disk_budget_mb = 1\nbudget_alarm_percent = 50\nretention_minutes = 0\n".into(),
        ..GatewaySpec::site("dc-north").recording_unmatched()
    };
    let gw = h.start_gateway(&spec, grpc, None)?;
    let mut p = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 0, 10_000, 50).await?;

    let text = wait::until("the budget alarm", TIMEOUT, || async {
        let text = metrics(&h, &gw).await;
        (metric(&text, "waymark_store_budget_alarm", &[]) == 1.0).then_some(text)
    })
    .await?;
    let full = wait::until("the recorder waiting for room", TIMEOUT, || async {
        let a = h.status(&gw).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let b = h.status(&gw).await?;
        (a["last_sequence"] == b["last_sequence"]).then_some(b)
    })
    .await?;
    let recorded = full["last_sequence"].as_u64().unwrap_or(0);
    assert!(recorded > 1000 && recorded < 10_000, "{full}");
    assert!(
        full["disk_budget"]["used_percent"].as_f64().unwrap_or(0.0) > 90.0,
        "{full}"
    );
    // Nothing recorded was dropped to make room: nothing had been acknowledged.
    assert_eq!(full["backlog_events"].as_u64(), Some(recorded), "{full}");
    // Nothing was refused either: what did not fit was not acknowledged, so the
    // device still has it.
    assert_eq!(
        metric(&text, "waymark_rejected_total", &["reason=\"disk_budget\""]),
        0.0,
        "{text}"
    );
    let unacked = p.wait_acked(200, Duration::from_millis(500)).await;
    assert!(unacked.is_err(), "every publish acknowledged with the store full");

    // Central returns: the backlog drains, compaction frees the room, the waiting
    // reads are recorded and acknowledged, and new reads flow.
    let central = h.start_central(Some(grpc))?;
    p.wait_acked(200, Duration::from_secs(60)).await?;
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 10_000, 100, 50).await?;
    p.wait_acked(202, TIMEOUT).await?;
    wait::until(
        "every read recorded and replicated",
        Duration::from_secs(60),
        || async {
            let s = h.status(&gw).await?;
            (s["last_sequence"].as_u64()? == 10_100 && s["backlog_events"] == 0).then_some(())
        },
    )
    .await?;
    // The alarm follows the compaction that made room (its own check, a moment later).
    wait::until("the budget alarm cleared", TIMEOUT, || async {
        (metric(&metrics(&h, &gw).await, "waymark_store_budget_alarm", &[]) == 0.0).then_some(())
    })
    .await?;
    let events = h.central_events(central.ready.addr("http")?, "dc-north").await?;
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(
        seqs,
        (1..=10_100).collect::<Vec<_>>(),
        "every read the device sent reached central, once"
    );
    Ok(())
}
