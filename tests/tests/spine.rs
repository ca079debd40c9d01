//! The spine, end to end over real sockets and real processes: orders flow down
//! to a site, reads flow up from MQTT devices to central's timeline, and nothing
//! recorded is lost or applied twice across restarts and outages.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::mqtt::{Publisher, publish_tag_reads};
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const SSCC: &str = "106141412345678908";
const TIMEOUT: Duration = Duration::from_secs(30);

async fn status(h: &Harness, gw: &Node) -> anyhow::Result<Value> {
    h.status(gw).await.context("the gateway's /status did not answer")
}

async fn create_order(h: &Harness, central: &Node, number: &str, site: &str, sscc: &str) -> anyhow::Result<()> {
    let body = json!({
        "order_number": number,
        "site_id": site,
        "parcels": [{ "sscc": sscc, "tracking_number": format!("1Z{number}") }],
    });
    let (code, v) = h
        .post_json(format!("http://{}/api/v1/orders", central.ready.addr("http")?), &body)
        .await?;
    anyhow::ensure!(code == 201, "create order: {code} {v}");
    Ok(())
}

/// Waits until the gateway holds `n` orders, i.e. the downlink delivered them.
async fn wait_orders(h: &Harness, gw: &Node, n: u64) -> anyhow::Result<()> {
    wait::until("orders at the gateway", TIMEOUT, || async {
        let s = status(h, gw).await.ok()?;
        (s["orders_held"].as_u64()? >= n).then_some(())
    })
    .await
}

async fn timeline(h: &Harness, central: &Node, order: &str) -> anyhow::Result<Vec<Value>> {
    let (code, v) = h
        .get_json(format!("http://{}/api/v1/orders/{order}", central.ready.addr("http")?))
        .await?;
    anyhow::ensure!(code == 200, "get order: {code} {v}");
    Ok(v["timeline"].as_array().cloned().unwrap_or_default())
}

async fn wait_timeline(h: &Harness, central: &Node, order: &str, n: usize) -> anyhow::Result<Vec<Value>> {
    wait::until("events in the order timeline", TIMEOUT, || async {
        let t = timeline(h, central, order).await.ok()?;
        (t.len() >= n).then_some(t)
    })
    .await
}

fn read(id: &str, time: &str) -> Vec<u8> {
    json!({ "id": id, "time": time, "antenna": 2, "rssi": -48.5 })
        .to_string()
        .into_bytes()
}

/// The read at the door is one loaded milestone; since nobody packed the parcel,
/// an exception says so (a missing scan is never a silent gap).
fn assert_loaded_without_pack(events: &[Value]) {
    assert_eq!(events.len(), 2, "{events:?}");
    let loaded = events.iter().find(|e| e["kind"] == "milestone").expect("a milestone");
    assert_eq!(loaded["milestone"], "loaded", "{loaded}");
    assert_loaded_at_door(loaded);
    let exception = events.iter().find(|e| e["kind"] == "exception").expect("an exception");
    assert_eq!(exception["exception"], "missing_prerequisite", "{exception}");
    assert_eq!(exception["missing_milestone"], "packed", "{exception}");
    assert_eq!(exception["order_number"], "SO-1001", "{exception}");
}

fn assert_loaded_at_door(event: &Value) {
    assert_eq!(event["business_step"], "loading", "{event}");
    assert_eq!(event["disposition"], "in_transit", "{event}");
    assert_eq!(event["read_point"], "dock-door-3", "{event}");
    assert_eq!(event["site_id"], "dc-north", "{event}");
    // The gateway matched the read against the order it received by downlink.
    assert_eq!(event["order_number"], "SO-1001", "{event}");
    assert_eq!(event["parcel_id"], "SO-1001-1", "{event}");
    assert_eq!(event["event_time"], "2026-11-21T06:02:11.250+01:00", "{event}");
}

#[tokio::test]
async fn order_down_read_up_with_an_mqtt_client() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let gw = h.start_gateway(&GatewaySpec::site("dc-north"), central.ready.addr("grpc")?, None)?;
    create_order(&h, &central, "SO-1001", "dc-north", SSCC).await?;
    wait_orders(&h, &gw, 1).await?;

    let mut publisher = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    publisher
        .publish(
            "waymark/dc-north/door-3/reads",
            read(SSCC, "2026-11-21T06:02:11.250+01:00"),
        )
        .await?;
    publisher.wait_acked(1, TIMEOUT).await?;

    let events = wait_timeline(&h, &central, "SO-1001", 2).await?;
    assert_loaded_without_pack(&events);
    let s = status(&h, &gw).await?;
    assert_eq!(
        (s["last_sequence"].as_u64(), s["link"].as_str()),
        (Some(2), Some("connected"))
    );
    Ok(())
}

#[tokio::test]
async fn order_down_read_up_with_mosquitto_pub() -> anyhow::Result<()> {
    // A third-party client. CI installs it (.ci/run) and must run this test; on a
    // bare developer machine it says loudly that it did not run.
    let installed = std::process::Command::new("mosquitto_pub")
        .arg("--help")
        .output()
        .is_ok();
    if !installed {
        anyhow::ensure!(std::env::var_os("CI").is_none(), "mosquitto_pub is missing in CI");
        eprintln!("SKIPPED: mosquitto_pub is not installed (apt-get install mosquitto-clients)");
        return Ok(());
    }
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let gw = h.start_gateway(&GatewaySpec::site("dc-north"), central.ready.addr("grpc")?, None)?;
    create_order(&h, &central, "SO-1001", "dc-north", SSCC).await?;
    wait_orders(&h, &gw, 1).await?;

    let mqtt = gw.ready.addr("mqtt")?;
    let payload = String::from_utf8(read(SSCC, "2026-11-21T06:02:11.250+01:00"))?;
    let out = tokio::process::Command::new("mosquitto_pub")
        .args(["-h", &mqtt.ip().to_string(), "-p", &mqtt.port().to_string()])
        .args([
            "-i",
            "door-3",
            "-q",
            "1",
            "-t",
            "waymark/dc-north/door-3/reads",
            "-m",
            &payload,
        ])
        .output()
        .await
        .context("running mosquitto_pub")?;
    anyhow::ensure!(
        out.status.success(),
        "mosquitto_pub: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let events = wait_timeline(&h, &central, "SO-1001", 2).await?;
    assert_loaded_without_pack(&events);
    Ok(())
}

/// Central holds exactly the gateway's log: sequences 1..=last, each once, every
/// event id and every read identifier once.
async fn assert_central_mirrors_gateway(h: &Harness, central: &Node, last_sequence: u64) -> anyhow::Result<()> {
    let events = h.central_events(central.ready.addr("http")?, "dc-north").await?;
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(seqs, (1..=last_sequence).collect::<Vec<_>>(), "central's sequences");
    let ids: HashSet<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(ids.len(), events.len(), "an event id appears twice at central");
    let reads: HashSet<&str> = events
        .iter()
        .filter_map(|e| e["identifiers"][0]["value"].as_str())
        .collect();
    assert_eq!(reads.len(), events.len(), "a read was recorded twice");
    Ok(())
}

async fn wait_drained(h: &Harness, gw: &Node, central: &Node) -> anyhow::Result<u64> {
    let http = central.ready.addr("http")?;
    wait::until(
        "central's high-water mark to reach the gateway's last sequence",
        TIMEOUT,
        || async {
            let s = status(h, gw).await.ok()?;
            let last = s["last_sequence"].as_u64()?;
            let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
            let hwm =
                sites["sites"].as_array()?.iter().find(|s| s["site_id"] == "dc-north")?["high_water_mark"].as_u64()?;
            (last > 0 && hwm == last && s["backlog_events"].as_u64()? == 0).then_some(last)
        },
    )
    .await
}

#[tokio::test]
async fn gateway_killed_mid_stream_loses_nothing_and_duplicates_nothing() -> anyhow::Result<()> {
    const TOTAL: usize = 6000;
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let spec = GatewaySpec::site("dc-north").recording_unmatched();
    let mut gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    let mqtt: SocketAddr = gw.ready.addr("mqtt")?;

    // A device that keeps publishing, paced, through the kill and the restart.
    let published = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let device = {
        let published = published.clone();
        tokio::spawn(async move {
            let publisher = Publisher::connect(mqtt, "door-3");
            for from in (0..TOTAL).step_by(20) {
                publish_tag_reads(&publisher, "waymark/dc-north/door-3/reads", from, 20, 20).await?;
                published.store(from + 20, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            // Keep the client alive until its in-flight publishes are through.
            tokio::time::sleep(Duration::from_secs(2)).await;
            anyhow::Ok(())
        })
    };
    let recorded_before = wait::until("some reads recorded", TIMEOUT, || async {
        let s = status(&h, &gw).await.ok()?;
        let last = s["last_sequence"].as_u64()?;
        (last >= 500).then_some(last)
    })
    .await?;
    gw.kill();
    let at_kill = published.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        at_kill < TOTAL,
        "the device had finished before the kill: not mid-stream"
    );
    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, Some(mqtt))?;
    device.await??;

    let last = wait_drained(&h, &gw, &central).await?;
    assert!(
        last >= recorded_before,
        "the gateway lost recorded events: {last} < {recorded_before}"
    );
    assert!(
        last as usize > at_kill.min(TOTAL / 2),
        "reads after the restart were not recorded"
    );
    assert_central_mirrors_gateway(&h, &central, last).await?;
    Ok(())
}

#[tokio::test]
async fn central_down_backlog_drains_when_it_returns() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let mut central = h.start_central(None)?;
    let grpc = central.ready.addr("grpc")?;
    let gw = h.start_gateway(&GatewaySpec::site("dc-north").recording_unmatched(), grpc, None)?;
    create_order(&h, &central, "SO-1001", "dc-north", SSCC).await?;
    wait_orders(&h, &gw, 1).await?;

    central.kill();
    let mut publisher = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    publish_tag_reads(&publisher, "waymark/dc-north/door-3/reads", 0, 2000, 50).await?;
    publisher.wait_acked(40, TIMEOUT).await?;
    // Offline is normal: the site keeps recording and says the link is down.
    let offline = wait::until("the backlog to be recorded offline", TIMEOUT, || async {
        let s = status(&h, &gw).await.ok()?;
        (s["last_sequence"].as_u64()? == 2000).then_some(s)
    })
    .await?;
    assert_eq!(offline["backlog_events"], 2000, "{offline}");
    assert_ne!(offline["link"], "connected", "{offline}");

    let central = h.start_central(Some(grpc))?;
    let last = wait_drained(&h, &gw, &central).await?;
    assert_eq!(last, 2000);
    assert_central_mirrors_gateway(&h, &central, last).await?;
    Ok(())
}

#[tokio::test]
async fn bad_input_is_rejected_counted_and_the_gateway_keeps_running() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let spec = GatewaySpec {
        max_payload_bytes: 2048,
        ..GatewaySpec::site("dc-north").recording_unmatched()
    };
    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    let mqtt = gw.ready.addr("mqtt")?;
    let mut p = Publisher::connect(mqtt, "door-3");
    let good = || read(SSCC, "2026-11-21T06:02:11.250+01:00");
    p.publish("waymark/dc-north/door-3/reads", b"{\"id\": 106141412345678908".to_vec())
        .await?;
    p.publish(
        "waymark/dc-north/door-3/reads",
        br#"{"id":"x","colour":"red"}"#.to_vec(),
    )
    .await?;
    p.publish("waymark/dc-north/door-3/status", good()).await?;
    p.publish("somewhere/else", good()).await?;
    p.publish("waymark/dc-north/ghost/reads", good()).await?;
    p.publish("waymark/dc-south/door-3/reads", good()).await?;
    // Over the payload limit but inside the packet allowance: refused by ingest.
    p.publish("waymark/dc-north/door-3/reads", vec![b' '; 2500]).await?;
    p.wait_acked(7, TIMEOUT).await?;
    // Far over the limit: refused by the listener, which closes that connection.
    let big = Publisher::connect(mqtt, "door-3-big");
    big.publish("waymark/dc-north/door-3/reads", vec![b' '; 8000]).await?;

    let ops = gw.ready.addr("ops")?;
    let text = wait::until("every rejection counted", TIMEOUT, || async {
        let text = h.get_text(format!("http://{ops}/metrics")).await.ok()?;
        (metric(&text, "waymark_rejected_total", &["reason=\"oversized\""]) >= 2.0).then_some(text)
    })
    .await?;
    let count = |labels: &[&str]| metric(&text, "waymark_rejected_total", labels);
    assert_eq!(
        count(&["reason=\"malformed_json\"", "device=\"door-3\""]),
        1.0,
        "{text}"
    );
    assert_eq!(count(&["reason=\"invalid_shape\"", "device=\"door-3\""]), 1.0, "{text}");
    assert_eq!(count(&["reason=\"unexpected_topic\""]), 2.0, "{text}");
    assert_eq!(count(&["reason=\"unknown_device\""]), 1.0, "{text}");
    assert_eq!(count(&["reason=\"wrong_site\""]), 1.0, "{text}");
    assert_eq!(count(&["reason=\"oversized\"", "device=\"door-3\""]), 1.0, "{text}");
    assert_eq!(count(&["reason=\"oversized\"", "device=\"unknown\""]), 1.0, "{text}");

    // Still running, and a good read right after is recorded.
    p.publish("waymark/dc-north/door-3/reads", good()).await?;
    let s = wait::until("the good read recorded", TIMEOUT, || async {
        let s = status(&h, &gw).await.ok()?;
        (s["last_sequence"].as_u64()? == 1).then_some(s)
    })
    .await?;
    assert_eq!(s["devices"][0]["id"], "door-3", "{s}");
    assert_eq!(s["devices"][0]["rejected_total"], 3, "{s}");
    Ok(())
}

#[tokio::test]
async fn sigterm_drains_the_pipeline_and_restart_resumes_where_it_stopped() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let spec = GatewaySpec::site("dc-north").recording_unmatched();
    let mut gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    let mqtt = gw.ready.addr("mqtt")?;
    let mut publisher = Publisher::connect(mqtt, "door-3");
    publish_tag_reads(&publisher, "waymark/dc-north/door-3/reads", 0, 2000, 10).await?;
    publisher.wait_acked(200, TIMEOUT).await?;

    // SIGTERM while reads are still flowing: the process must exit cleanly,
    // having committed what reached the recorder.
    let started = std::time::Instant::now();
    gw.terminate()?;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown overran its grace period"
    );
    let log = std::fs::read_to_string(h.path("dc-north.log"))?;
    let stopped_at: u64 = log
        .lines()
        .rev()
        .find(|l| l.contains("gateway stopped"))
        .and_then(|l| l.split("last_sequence=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .context("no 'gateway stopped last_sequence=' line")?
        .parse()?;

    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, Some(mqtt))?;
    let s = status(&h, &gw).await?;
    assert_eq!(s["last_sequence"].as_u64(), Some(stopped_at), "{s}");
    let last = wait_drained(&h, &gw, &central).await?;
    assert_central_mirrors_gateway(&h, &central, last).await?;
    Ok(())
}
