//! Vendor formats end to end over real MQTT: a simulated Zebra portal (with a
//! neighbouring door catching some passes) and an Impinj R700 whose buffer
//! overflows. Every read is recorded against the pallet's order; the overflow
//! surfaces as a device alarm with the purged count.

use std::time::Duration;

use serde_json::json;
use waymark_tests::devsim::{self, PortalFormat, PortalSim};
use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::mqtt::Publisher;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);

fn spec(kind: &str) -> GatewaySpec {
    let device = |id: &str| {
        format!(
            "\n[[devices]]\nid = \"{id}\"\nkind = \"{kind}\"\nread_point = \"dock-{id}\"\nbusiness_step = \"loading\"\n"
        )
    };
    GatewaySpec {
        devices: Vec::new(),
        extra_devices: device("door-3") + &device("door-4"),
        max_payload_bytes: 256 * 1024,
        ..GatewaySpec::site("dc-north")
    }
}

async fn device_reads(h: &Harness, gw: &Node, id: &str) -> Option<u64> {
    let (_, s) = h
        .get_json(format!("http://{}/status", gw.ready.addr("ops").ok()?))
        .await
        .ok()?;
    s["devices"].as_array()?.iter().find(|d| d["id"] == id)?["reads_total"].as_u64()
}

/// Two adjacent dock doors, each a Zebra portal with antennas 1-2 inside and 3-4 outside.
fn two_doors() -> GatewaySpec {
    let door = |n: u8, adjacent: &str| {
        format!(
            "\n[[reconcile.read_points]]\nid = \"dock-door-{n}\"\ndevice = \"door-{n}\"\nbusiness_step = \"loading\"\n\
             inside = [1, 2]\noutside = [3, 4]\nadjacent = [{adjacent}]\n"
        )
    };
    let mut spec = spec("zebra");
    // A pass of 20 reads over 1.5 s can pause for a few hundred ms: a stay needs a
    // quiet interval longer than that (the production default is 2 s).
    spec.reconcile = "quiet_ms = 1000\nlateness_ms = 100\n".into();
    // Loading is the only step here: no pack station, so no pack prerequisite.
    spec.reconcile.push_str("[reconcile.prerequisites]\nloaded = []\n");
    spec.reconcile.push_str(&door(3, "\"dock-door-4\""));
    spec.reconcile.push_str(&door(4, ""));
    spec
}

/// The reconciliation acceptance run, end to end: 100 pallets through door 3's portal,
/// each read 20-200 times on 4 antennas, 2% also caught by door 4: exactly 100 loaded
/// events, outbound, at door 3, nothing spurious, and the cross-reads counted.
#[tokio::test]
async fn a_hundred_pallets_through_a_portal_are_a_hundred_loaded_events() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let gw = h.start_gateway(&two_doors(), central.ready.addr("grpc")?, None)?;
    let parcels = devsim::parcels(1, 100);
    for (i, sscc) in parcels.iter().enumerate() {
        let order = json!({ "order_number": format!("SO-{i}"), "site_id": "dc-north", "parcels": [{ "sscc": sscc }] });
        let (code, v) = h.post_json(format!("http://{http}/api/v1/orders"), &order).await?;
        anyhow::ensure!(code == 201, "{v}");
    }
    wait::until("orders at the gateway", TIMEOUT, || async {
        let (_, s) = h
            .get_json(format!("http://{}/status", gw.ready.addr("ops").ok()?))
            .await
            .ok()?;
        (s["orders_held"].as_u64()? == 100).then_some(())
    })
    .await?;

    let report = PortalSim {
        broker: gw.ready.addr("mqtt")?,
        site: "dc-north".into(),
        device: "door-3".into(),
        format: PortalFormat::Zebra,
        parcels: parcels.clone(),
        rate_per_sec: 100.0,
        neighbour: Some("door-4".into()),
        cross_read_percent: 2.0,
        seed: 11,
        direction: devsim::Direction::Outbound,
        password: None,
    }
    .run()
    .await?;
    assert!(report.cross_read_passes > 0, "this seed gives cross-reads: {report:?}");
    assert!(report.reads >= 100 * 20, "{report:?}");

    wait::until("100 loaded events at central", TIMEOUT, || async {
        let events = h.central_events(http, "dc-north").await.ok()?;
        (events.len() >= 100).then_some(events)
    })
    .await?;
    // Give a spurious late event the chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = h.central_events(http, "dc-north").await?;
    assert_eq!(events.len(), 100, "one event per pallet, nothing spurious");
    let mut orders = std::collections::BTreeSet::new();
    for e in &events {
        assert_eq!(
            (e["kind"].as_str(), e["milestone"].as_str()),
            (Some("milestone"), Some("loaded")),
            "{e}"
        );
        assert_eq!(e["read_point"], "dock-door-3", "{e}");
        assert_eq!(e["direction"], "outbound", "{e}");
        assert!(
            e["read_count"].as_u64().unwrap_or(0) >= 20,
            "the whole pass in one event: {e}"
        );
        orders.insert(e["order_number"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(orders.len(), 100, "every pallet's order, once");
    let text = h.metrics_of(&gw).await?;
    assert_eq!(
        metric(&text, "waymark_cross_reads_suppressed_total", &[]),
        report.cross_read_passes as f64,
        "{text}"
    );
    // The tracking page view: the pallet's order shows it loaded at door 3.
    let (_, o) = h.get_json(format!("http://{http}/api/v1/orders/SO-0")).await?;
    let tag = devsim::sscc_tag(&parcels[0])?.value;
    assert_eq!(o["timeline"][0]["identifiers"][0]["value"], tag, "{o}");
    assert_eq!(o["timeline"][0]["parcel_id"], "SO-0-1", "{o}");
    Ok(())
}

#[tokio::test]
async fn impinj_reads_and_an_overflow_alarm_with_its_purged_count() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let gw = h.start_gateway(&spec("impinj"), central.ready.addr("grpc")?, None)?;
    let mqtt = gw.ready.addr("mqtt")?;
    let report = PortalSim {
        broker: mqtt,
        site: "dc-north".into(),
        device: "door-3".into(),
        format: PortalFormat::Impinj,
        parcels: devsim::parcels(100, 3),
        rate_per_sec: 100.0,
        neighbour: None,
        cross_read_percent: 0.0,
        seed: 5,
        direction: devsim::Direction::Unknown,
        password: None,
    }
    .run()
    .await?;
    // The reader's event buffer overflowed: it says how many events it purged.
    let mut p = Publisher::connect(mqtt, "r700");
    let overflow = r#"{"timestamp":"2026-11-21T05:01:00Z","eventType":"overflow","overflowEvent":{"eventsPurged":1250,"firstEventTimestamp":"2026-11-21T04:59:00Z","lastEventTimestamp":"2026-11-21T05:00:59Z"}}"#;
    p.publish("waymark/dc-north/door-3/reads", overflow.as_bytes().to_vec())
        .await?;
    p.wait_acked(1, TIMEOUT).await?;

    let ops = gw.ready.addr("ops")?;
    let text = wait::until("the reads and the alarm counted", TIMEOUT, || async {
        let text = h.get_text(format!("http://{ops}/metrics")).await.ok()?;
        let reads = device_reads(&h, &gw, "door-3").await?;
        (reads == report.reads as u64 && text.contains("waymark_device_reads_purged_total")).then_some(text)
    })
    .await?;
    assert_eq!(
        metric(&text, "waymark_device_reads_purged_total", &["device=\"door-3\""]),
        1250.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "waymark_device_alarms_total",
            &["device=\"door-3\"", "kind=\"overflow\""]
        ),
        1.0,
        "{text}"
    );
    let (_, s) = h.get_json(format!("http://{ops}/status")).await?;
    let door = s["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["id"] == "door-3"))
        .cloned();
    assert!(
        door.is_some_and(|d| d["last_alarm"].as_str().is_some_and(|a| a.starts_with("overflow"))),
        "{s}"
    );
    Ok(())
}
