//! Vendor formats end to end over real MQTT: a simulated Zebra portal (with a
//! neighbouring door catching some passes) and an Impinj R700 whose buffer
//! overflows. Every read is recorded against the pallet's order; the overflow
//! surfaces as a device alarm with the purged count.

use std::time::Duration;

use serde_json::{Value, json};
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

#[tokio::test]
async fn zebra_portal_reads_land_on_their_orders() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let gw = h.start_gateway(&spec("zebra"), central.ready.addr("grpc")?, None)?;
    let parcels = devsim::parcels(1, 10);
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
        (s["orders_held"].as_u64()? == 10).then_some(())
    })
    .await?;

    let sim = PortalSim {
        broker: gw.ready.addr("mqtt")?,
        site: "dc-north".into(),
        device: "door-3".into(),
        format: PortalFormat::Zebra,
        parcels: parcels.clone(),
        rate_per_sec: 100.0,
        neighbour: Some("door-4".into()),
        cross_read_percent: 30.0,
        seed: 3,
    };
    let report = sim.run().await?;
    assert!(
        report.cross_read_passes > 0,
        "the seed gives some cross-reads: {report:?}"
    );
    wait::until("every read at the gateway", TIMEOUT, || async {
        let door3 = device_reads(&h, &gw, "door-3").await?;
        let door4 = device_reads(&h, &gw, "door-4").await?;
        (door3 == report.reads as u64 && door4 == report.cross_reads as u64).then_some(())
    })
    .await?;

    // Each pallet's order shows its portal reads, matched by the SSCC its tag encodes.
    for (i, sscc) in parcels.iter().enumerate() {
        let tag = devsim::sscc_tag(sscc)?.value;
        let timeline = wait::until("the order's timeline", TIMEOUT, || async {
            let (_, o) = h.get_json(format!("http://{http}/api/v1/orders/SO-{i}")).await.ok()?;
            let t: Vec<Value> = o["timeline"].as_array()?.clone();
            (t.len() >= 20).then_some(t)
        })
        .await?;
        for e in &timeline {
            assert_eq!(e["order_number"], format!("SO-{i}"), "{e}");
            assert_eq!(e["identifiers"][0]["value"], tag, "{e}");
            assert_eq!(e["identifiers"][1]["value"], sscc.as_str(), "{e}");
            assert!(
                e["read_point"] == "dock-door-3" || e["read_point"] == "dock-door-4",
                "{e}"
            );
        }
    }
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
