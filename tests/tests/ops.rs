//! What site IT and central ops look at: the status command, Prometheus metrics,
//! readiness on both daemons, and central's view of every gateway.

use std::time::Duration;

use serde_json::{Value, json};
use waymark_tests::harness::{GatewaySpec, Harness, metric};
use waymark_tests::mqtt::Publisher;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn status_command_metrics_and_readiness_tell_the_truth() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let gw = h.start_gateway(
        &GatewaySpec::site("dc-north").recording_unmatched(),
        central.ready.addr("grpc")?,
        None,
    )?;
    let (ops, mqtt) = (gw.ready.addr("ops")?, gw.ready.addr("mqtt")?);
    let mut p = Publisher::connect(mqtt, "door-3");
    let reads: Vec<Value> = (0..40)
        .map(|k| json!({ "id": format!("urn:epc:id:sgtin:0614141.812345.{k}") }))
        .collect();
    p.publish("waymark/dc-north/door-3/reads", serde_json::to_vec(&reads)?)
        .await?;
    p.publish("waymark/dc-north/door-3/reads", b"{oops".to_vec()).await?;
    p.wait_acked(2, TIMEOUT).await?;
    wait::until("the reads replicated", TIMEOUT, || async {
        let (_, s) = h.get_json(format!("http://{ops}/status")).await.ok()?;
        (s["acked_sequence"] == 40).then_some(())
    })
    .await?;

    // The one-screen status, as site IT would run it on the box.
    let out = std::process::Command::new(NODE)
        .args(["gateway", "status", "--ops", &ops.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("gateway dc-north"), "{text}");
    assert!(text.contains("link         connected"), "{text}");
    assert!(text.contains("backlog      0 events"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("door-3") && l.contains(" 40 ") && l.contains("s ago")),
        "{text}"
    );

    let m = h.get_text(format!("http://{ops}/metrics")).await?;
    for name in [
        "waymark_reads_total",
        "waymark_rejected_total",
        "waymark_events_recorded_total",
        "waymark_device_events_recorded_total",
        "waymark_backlog_events",
        "waymark_backlog_bytes",
        "waymark_recorded_bytes_total",
        "waymark_replicated_bytes_total",
        "waymark_replication_lag_seconds",
        "waymark_last_ack_timestamp_seconds",
        "waymark_device_last_read_age_seconds",
        "waymark_store_size_bytes",
        "waymark_store_log_bytes",
        "waymark_store_budget_bytes",
        "waymark_read_to_recorded_seconds_count",
        "waymark_link_connected",
    ] {
        assert!(
            m.lines().any(|l| l.starts_with(name)),
            "{name} missing from /metrics:\n{m}"
        );
    }
    assert_eq!(
        metric(&m, "waymark_device_events_recorded_total", &["device=\"door-3\""]),
        40.0
    );
    assert_eq!(
        metric(&m, "waymark_rejected_total", &["reason=\"malformed_json\""]),
        1.0
    );
    assert_eq!(metric(&m, "waymark_backlog_events", &[]), 0.0);
    assert_eq!(metric(&m, "waymark_replication_lag_seconds", &[]), 0.0);
    assert_eq!(metric(&m, "waymark_link_connected", &[]), 1.0);
    let (rec, rep) = (
        metric(&m, "waymark_recorded_bytes_total", &[]),
        metric(&m, "waymark_replicated_bytes_total", &[]),
    );
    assert!(rec > 0.0 && rep > 0.0, "{m}");
    assert!(metric(&m, "waymark_last_ack_timestamp_seconds", &[]) > 1.7e9, "{m}");

    let (code, ready) = h.get_json(format!("http://{ops}/readyz")).await?;
    assert_eq!(
        (code, &ready["link"], &ready["broker"]),
        (200, &json!("connected"), &json!("up")),
        "{ready}"
    );

    // Central: its own ops port, and every site's last gateway report.
    let cops = central.ready.addr("ops")?;
    let cm = h.get_text(format!("http://{cops}/metrics")).await?;
    assert_eq!(
        metric(&cm, "waymark_sync_events_applied_total", &["site=\"dc-north\""]),
        40.0,
        "{cm}"
    );
    let (code, _) = h.get_json(format!("http://{cops}/readyz")).await?;
    assert_eq!(code, 200);
    let http = central.ready.addr("http")?;
    let site = wait::until("a status report at central", TIMEOUT, || async {
        let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
        let s = sites["sites"]
            .as_array()?
            .iter()
            .find(|s| s["site_id"] == "dc-north")?
            .clone();
        (s["gateway"]["acked_sequence"] == 40).then_some(s)
    })
    .await?;
    assert_eq!(site["high_water_mark"], 40, "{site}");
    assert_eq!(site["gateway"]["link"], "LINK_STATE_CONNECTED", "{site}");
    assert_eq!(site["gateway"]["devices"][0]["reads_total"], 40, "{site}");
    // The ops lead's view of a site: is it reporting, how far behind, and when does
    // its certificate run out.
    assert!(
        site["gateway"]["report_age_secs"].as_i64().is_some_and(|a| a <= 5),
        "{site}"
    );
    assert_eq!(site["gateway"]["lag_secs"], 0.0, "caught up: {site}");
    assert!(
        site["gateway"]["certificate_days_left"].as_i64().is_some_and(|d| d > 0),
        "{site}"
    );

    // Pointed at nothing, the command says so and fails.
    drop(gw);
    let out = std::process::Command::new(NODE)
        .args(["gateway", "status", "--ops", &ops.to_string()])
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"), "{out:?}");
    Ok(())
}
