//! Orders split across sites, end to end over real processes: each site's
//! gateway receives only its shipment by downlink, scans at both sites land
//! under the right parcels, and the order's status follows them truthfully;
//! a cancelled shipment leaves its gateway, and a later scan of it is an
//! exception, never a silent match.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use waymark_tests::harness::{GatewaySpec, Harness, Node};
use waymark_tests::mqtt::Publisher;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const SSCC_A: &str = "106141412345678908";
const SSCC_B: &str = "106141412345678915";
const TIMEOUT: Duration = Duration::from_secs(30);

async fn orders_held(h: &Harness, gw: &Node) -> Option<u64> {
    h.status(gw).await?["orders_held"].as_u64()
}

async fn wait_held(h: &Harness, gw: &Node, n: u64) -> anyhow::Result<()> {
    wait::until("the gateway to hold its orders", TIMEOUT, || async {
        (orders_held(h, gw).await? == n).then_some(())
    })
    .await
}

async fn order(h: &Harness, central: &Node, number: &str) -> anyhow::Result<Value> {
    let (code, v) = h
        .get_json(format!("http://{}/api/v1/orders/{number}", central.ready.addr("http")?))
        .await?;
    anyhow::ensure!(code == 200, "get order: {code} {v}");
    Ok(v)
}

async fn wait_status(h: &Harness, central: &Node, number: &str, status: &str) -> anyhow::Result<Value> {
    wait::until(&format!("order {number} to read {status}"), TIMEOUT, || async {
        let v = order(h, central, number).await.ok()?;
        (v["status"] == status).then_some(v)
    })
    .await
}

async fn scan_at_door(gw: &Node, site: &str, id: &str, time: &str) -> anyhow::Result<()> {
    let mut publisher = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    let read = json!({ "id": id, "time": time, "antenna": 2, "rssi": -48.5 });
    publisher
        .publish(&format!("waymark/{site}/door-3/reads"), read.to_string().into_bytes())
        .await?;
    publisher.wait_acked(1, TIMEOUT).await
}

fn parcel(order: &Value, shipment: usize) -> &Value {
    &order["shipments"][shipment]["parcels"][0]
}

#[tokio::test]
async fn a_split_order_ships_from_two_sites_and_its_status_follows_both() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let grpc = central.ready.addr("grpc")?;
    let north = h.start_gateway(&GatewaySpec::site("dc-north"), grpc, None)?;
    let south = h.start_gateway(&GatewaySpec::site("dc-south"), grpc, None)?;
    let body = json!({
        "order_number": "SO-2001", "order_type": "routine", "brand": "Acme Outdoor",
        "customer": {"email": "kim@example.com", "postal_code": "10115", "time_zone": "Europe/Berlin", "language": "de"},
        "shipments": [
            {"site_id": "dc-north", "carrier": "ups", "service_level": "ground", "tracking_number": "1ZNORTH",
             "promised_delivery": "2026-11-25",
             "parcels": [{"sscc": SSCC_A, "items": [{"sku": "TENT-2P", "quantity": 1}]}]},
            {"site_id": "dc-south", "carrier": "dhl", "tracking_number": "JDSOUTH",
             "promised_delivery": {"earliest": "2026-11-24", "latest": "2026-11-26"},
             "parcels": [{"sscc": SSCC_B, "items": [{"sku": "MAT", "quantity": 2}]}]}
        ]
    });
    let url = format!("http://{}/api/v1/orders", central.ready.addr("http")?);
    let (code, created) = h.post_json(url.clone(), &body).await?;
    anyhow::ensure!(code == 201, "create: {code} {created}");
    assert_eq!(created["status"], "ordered");
    let (code, again) = h.post_json(url, &body).await?;
    assert_eq!(
        code, 200,
        "the same order again is accepted and changes nothing: {again}"
    );
    wait_held(&h, &north, 1).await?;
    wait_held(&h, &south, 1).await?;

    // dc-south's parcel read at dc-north's door is not dc-north's: no match there.
    scan_at_door(&north, "dc-north", SSCC_B, "2026-11-21T06:00:00.000+01:00").await?;
    scan_at_door(&north, "dc-north", SSCC_A, "2026-11-21T06:02:11.250+01:00").await?;
    let v = wait_status(&h, &central, "SO-2001", "partially_shipped").await?;
    assert_eq!(parcel(&v, 0)["status"]["milestone"], "loaded", "{v}");
    assert_eq!(parcel(&v, 0)["status"]["customer"], "handed_to_carrier", "{v}");
    assert!(parcel(&v, 1)["status"]["milestone"] != "loaded", "{v}");
    assert_eq!(v["shipments"][0]["status"], "shipped");
    assert_eq!(v["shipments"][1]["status"], "ordered");
    let north_timeline = parcel(&v, 0)["timeline"].as_array().context("timeline")?;
    assert!(
        north_timeline
            .iter()
            .all(|e| e["site_id"] == "dc-north" && e["source"] == "site"),
        "{north_timeline:?}"
    );
    assert!(
        parcel(&v, 1)["timeline"]
            .as_array()
            .context("timeline")?
            .iter()
            .all(|e| e["milestone"] != "loaded"),
        "dc-south's parcel was never matched at dc-north: {v}"
    );

    scan_at_door(&south, "dc-south", SSCC_B, "2026-11-21T07:15:00.000+01:00").await?;
    let v = wait_status(&h, &central, "SO-2001", "shipped").await?;
    let south_loaded = parcel(&v, 1)["timeline"]
        .as_array()
        .context("timeline")?
        .iter()
        .find(|e| e["milestone"] == "loaded")
        .cloned()
        .context("dc-south's load is in its parcel's timeline")?;
    assert_eq!(south_loaded["site_id"], "dc-south");
    assert_eq!(south_loaded["parcel_id"], "SO-2001-2");
    let provenance = &parcel(&v, 1)["status"]["milestones"]
        .as_array()
        .context("milestones")?
        .iter()
        .find(|m| m["milestone"] == "loaded")
        .context("loaded milestone")?["provenance"];
    assert_eq!(provenance["source"], "site");
    assert_eq!(
        provenance["evidence"]
            .as_str()
            .map(|e| e.starts_with("site/dc-south/seq/")),
        Some(true)
    );

    // Found by any identifier; listed by site with its status.
    let (code, found) = h
        .get_json(format!("http://{}/api/v1/parcels/JDSOUTH", central.ready.addr("http")?))
        .await?;
    assert_eq!((code, &found["order"]["order_number"]), (200, &json!("SO-2001")));
    let (code, list) = h
        .get_json(format!(
            "http://{}/api/v1/orders?site=dc-south&status=shipped",
            central.ready.addr("http")?
        ))
        .await?;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["orders"][0]["order_number"], "SO-2001");
    Ok(())
}

#[tokio::test]
async fn a_cancelled_shipment_leaves_the_gateway_and_a_later_scan_is_an_exception() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let gw = h.start_gateway(&GatewaySpec::site("dc-north"), central.ready.addr("grpc")?, None)?;
    let http = central.ready.addr("http")?;
    let body = json!({
        "order_number": "SO-3001",
        "shipments": [{"site_id": "dc-north", "carrier": "ups", "parcels": [{"sscc": SSCC_A}]}]
    });
    let (code, v) = h.post_json(format!("http://{http}/api/v1/orders"), &body).await?;
    anyhow::ensure!(code == 201, "create: {code} {v}");
    wait_held(&h, &gw, 1).await?;

    let (code, v) = h
        .post_json(
            format!("http://{http}/api/v1/orders/SO-3001/shipments/SO-3001-S1/cancel"),
            &json!({}),
        )
        .await?;
    anyhow::ensure!(code == 200, "cancel: {code} {v}");
    assert_eq!(v["status"], "cancelled", "{v}");
    wait_held(&h, &gw, 0).await?;

    scan_at_door(&gw, "dc-north", SSCC_A, "2026-11-21T08:00:00.000+01:00").await?;
    let v = wait::until("the scan after cancel at central", TIMEOUT, || async {
        let v = order(&h, &central, "SO-3001").await.ok()?;
        let timeline = v["timeline"].as_array()?;
        timeline
            .iter()
            .any(|e| e["exception"] == "scanned_after_cancel")
            .then_some(v)
    })
    .await?;
    let exception = v["timeline"]
        .as_array()
        .context("timeline")?
        .iter()
        .find(|e| e["exception"] == "scanned_after_cancel")
        .cloned()
        .context("exception")?;
    assert_eq!(exception["kind"], "exception");
    assert_eq!(exception["order_number"], "SO-3001");
    assert_eq!(exception["parcel_id"], "SO-3001-1");
    assert!(
        v["timeline"]
            .as_array()
            .context("timeline")?
            .iter()
            .all(|e| e["kind"] != "milestone"),
        "a cancelled parcel is never matched: {v}"
    );
    assert_eq!(v["status"], "cancelled", "{v}");
    let v = wait::until("the exception overlay", TIMEOUT, || async {
        let v = order(&h, &central, "SO-3001").await.ok()?;
        v["overlays"].as_array()?.iter().any(|o| o == "exception").then_some(v)
    })
    .await?;
    assert_eq!(parcel(&v, 0)["status"]["cancelled"], true);
    Ok(())
}
