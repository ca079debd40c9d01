//! Carrier webhooks end to end over real processes and real HTTP: signed the
//! way each provider signs, verified on the raw bytes, stored before they are
//! acknowledged, normalized from storage, matched to their parcels, and fed
//! to a status that does not lie (a resend changes nothing, a late scan does
//! not move it back, a label is never possession).

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use waymark_sync::carriers::Provider;
use waymark_sync::carriers::signature::sign;
use waymark_tests::carrier_sim::fixtures::{AT_HUB, DELIVERED, LABEL, PICKED_UP, easypost_event};
use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::mqtt::Publisher;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);
const SECRET: &str = "sécret-for-tests";
const SSCC: &str = "106141412345678908";

struct Central {
    h: Harness,
    node: Node,
}

impl Central {
    fn api(&self, path: &str) -> anyhow::Result<String> {
        Ok(format!("http://{}{path}", self.node.ready.addr("http")?))
    }

    async fn add_account(&self, provider: &str, name: &str) -> anyhow::Result<()> {
        let (code, v) = self
            .h
            .post_json(
                self.api("/api/v1/carriers/accounts")?,
                &json!({"provider": provider, "name": name, "secret": SECRET}),
            )
            .await?;
        anyhow::ensure!(code == 201, "add account: {code} {v}");
        Ok(())
    }

    async fn create_order(&self, number: &str, tracking: &str, sscc: Option<&str>) -> anyhow::Result<()> {
        let mut parcel = json!({"items": [{"sku": "TENT-2P", "quantity": 1}]});
        match sscc {
            Some(s) => parcel["sscc"] = json!(s),
            None => parcel["tracking_number"] = json!(tracking),
        }
        let body = json!({
            "order_number": number,
            "shipments": [{"site_id": "dc-north", "carrier": "fedex", "tracking_number": tracking,
                           "parcels": [parcel]}]
        });
        let (code, v) = self.h.post_json(self.api("/api/v1/orders")?, &body).await?;
        anyhow::ensure!(code == 201, "create order: {code} {v}");
        Ok(())
    }

    /// Posts `body` to the account's receiver with `headers`; the status code.
    async fn post(
        &self,
        provider: &str,
        account: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> anyhow::Result<u16> {
        let mut req = self
            .h
            .request(
                reqwest::Method::POST,
                &self.api(&format!("/webhooks/carriers/{provider}/{account}"))?,
            )
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        Ok(req.send().await?.status().as_u16())
    }

    async fn post_signed(&self, provider: Provider, account: &str, body: &str) -> anyhow::Result<u16> {
        let headers = sign(provider, SECRET, body.as_bytes(), chrono::Utc::now().timestamp(), "msg");
        self.post(provider.as_str(), account, body.as_bytes(), &headers).await
    }

    async fn order(&self, number: &str) -> anyhow::Result<Value> {
        let (code, v) = self.h.get_json(self.api(&format!("/api/v1/orders/{number}"))?).await?;
        anyhow::ensure!(code == 200, "get order: {code} {v}");
        Ok(v)
    }

    async fn webhooks(&self) -> anyhow::Result<Vec<Value>> {
        let (code, v) = self.h.get_json(self.api("/api/v1/carriers/webhooks")?).await?;
        anyhow::ensure!(code == 200, "webhooks: {code} {v}");
        v["webhooks"].as_array().cloned().context("webhooks")
    }

    /// Waits until every stored webhook is normalized; returns them.
    async fn settled(&self, count: usize) -> anyhow::Result<Vec<Value>> {
        wait::until(&format!("{count} webhooks normalized"), TIMEOUT, || async {
            let all = self.webhooks().await.ok()?;
            (all.len() == count && all.iter().all(|w| w["state"] == "done")).then_some(all)
        })
        .await
    }
}

fn start() -> anyhow::Result<Central> {
    let h = Harness::new(NODE)?;
    let node = h.start_central(None)?;
    Ok(Central { h, node })
}

fn parcel(order: &Value) -> &Value {
    &order["shipments"][0]["parcels"][0]
}

fn carrier_entries(order: &Value) -> Vec<Value> {
    parcel(order)["timeline"]
        .as_array()
        .map(|t| t.iter().filter(|e| e["source"] == "carrier").cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_signed_easypost_webhook_moves_a_parcel_and_a_resend_or_a_bad_signature_changes_nothing() -> anyhow::Result<()>
{
    let c = start()?;
    c.add_account("easypost", "main").await?;
    c.create_order("SO-3001", "EZ3001", None).await?;

    let body = easypost_event("evt_1", "EZ3001", &[LABEL, PICKED_UP, AT_HUB]);
    assert_eq!(c.post_signed(Provider::EasyPost, "main", &body).await?, 200);
    c.settled(1).await?;
    let v = c.order("SO-3001").await?;
    assert_eq!(parcel(&v)["status"]["milestone"], "in_transit", "{v}");
    assert_eq!(parcel(&v)["status"]["customer"], "in_transit");
    let accepted = parcel(&v)["status"]["milestones"]
        .as_array()
        .context("milestones")?
        .iter()
        .find(|m| m["milestone"] == "carrier_accepted")
        .cloned()
        .context("the pickup scan is carrier_accepted")?;
    assert_eq!(accepted["provenance"]["source"], "carrier");
    assert_eq!(carrier_entries(&v).len(), 4, "three scans and the estimate: {v}");

    // The same body again: stored (the provider gets its 2xx) and changes nothing.
    assert_eq!(c.post_signed(Provider::EasyPost, "main", &body).await?, 200);
    let hooks = c.settled(2).await?;
    assert_eq!(hooks[0]["events_new"], 0, "{hooks:?}");
    assert_eq!(hooks[0]["events_known"], 4, "{hooks:?}");
    let again = c.order("SO-3001").await?;
    assert_eq!(again["updated_at"], v["updated_at"]);
    assert_eq!(carrier_entries(&again), carrier_entries(&v));

    // A wrong secret, no signature, a body re-serialized by a JSON library
    // (136.0 written as 136): 401, nothing stored.
    let delivered = easypost_event("evt_2", "EZ3001", &[LABEL, PICKED_UP, AT_HUB, DELIVERED]);
    let good = sign(Provider::EasyPost, SECRET, delivered.as_bytes(), 0, "");
    let wrong = sign(Provider::EasyPost, "not the secret", delivered.as_bytes(), 0, "");
    assert_eq!(c.post("easypost", "main", delivered.as_bytes(), &wrong).await?, 401);
    assert_eq!(c.post("easypost", "main", delivered.as_bytes(), &[]).await?, 401);
    let reserialized = delivered.replace("136.0", "136");
    assert_ne!(reserialized, delivered);
    assert_eq!(c.post("easypost", "main", reserialized.as_bytes(), &good).await?, 401);
    // Unknown account, oversized body.
    assert_eq!(c.post("easypost", "nobody", delivered.as_bytes(), &good).await?, 404);
    // On a connection of its own: the server answers before reading the body
    // and closes the connection, which a pooled one would then reuse.
    let huge = vec![b' '; 2 << 20];
    let resp = reqwest::Client::new()
        .post(c.api("/webhooks/carriers/easypost/main")?)
        .header("X-Hmac-Signature", good[0].1.clone())
        .body(huge)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(c.webhooks().await?.len(), 2, "refused webhooks are not stored");
    assert_eq!(c.order("SO-3001").await?["updated_at"], v["updated_at"]);

    let metrics = c.h.metrics_of(&c.node).await?;
    let rejected = |reason: &str| {
        metric(
            &metrics,
            "waymark_carrier_webhooks_rejected_total",
            &["provider=\"easypost\"", &format!("reason=\"{reason}\"")],
        )
    };
    assert_eq!(rejected("bad_signature"), 2.0);
    assert_eq!(rejected("missing_signature"), 1.0);
    assert_eq!(rejected("unknown_account"), 1.0);
    assert_eq!(rejected("too_large"), 1.0);
    let (code, overview) = c.h.get_json(c.api("/api/v1/carriers")?).await?;
    assert_eq!(code, 200);
    let account = &overview["accounts"][0];
    assert_eq!(account["name"], "main");
    assert_eq!(account["received"], 2);
    assert!(account["last_received_at"].is_string(), "{overview}");
    Ok(())
}

#[tokio::test]
async fn delivered_arriving_before_in_transit_stays_delivered_and_the_timeline_is_in_event_time_order()
-> anyhow::Result<()> {
    let c = start()?;
    c.add_account("easypost", "main").await?;
    c.create_order("SO-3002", "EZ3002", None).await?;
    assert_eq!(
        c.post_signed(
            Provider::EasyPost,
            "main",
            &easypost_event("evt_a", "EZ3002", &[DELIVERED])
        )
        .await?,
        200
    );
    c.settled(1).await?;
    assert_eq!(c.order("SO-3002").await?["status"], "delivered");
    assert_eq!(
        c.post_signed(
            Provider::EasyPost,
            "main",
            &easypost_event("evt_b", "EZ3002", &[PICKED_UP, AT_HUB])
        )
        .await?,
        200
    );
    c.settled(2).await?;
    let v = c.order("SO-3002").await?;
    assert_eq!(v["status"], "delivered", "a late scan does not move status back: {v}");
    assert_eq!(parcel(&v)["status"]["milestone"], "delivered");
    let entries = carrier_entries(&v);
    let milestones: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["milestone"].as_str())
        .map(|m| if m == "carrier_accepted" { "in_transit" } else { m })
        .collect();
    assert_eq!(milestones, ["in_transit", "in_transit", "delivered"], "{v}");
    let times: Vec<String> = carrier_entries(&v)
        .iter()
        .filter_map(|e| e["event_time"].as_str().map(str::to_string))
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    Ok(())
}

#[tokio::test]
async fn a_label_alone_is_never_handed_to_carrier_our_loaded_scan_is() -> anyhow::Result<()> {
    let c = start()?;
    let grpc = c.node.ready.addr("grpc")?;
    let north = c.h.start_gateway(&GatewaySpec::site("dc-north"), grpc, None)?;
    c.add_account("easypost", "main").await?;
    c.create_order("SO-3003", "EZ3003", Some(SSCC)).await?;
    assert_eq!(
        c.post_signed(Provider::EasyPost, "main", &easypost_event("evt_l", "EZ3003", &[LABEL]))
            .await?,
        200
    );
    c.settled(1).await?;
    let v = c.order("SO-3003").await?;
    let status = &parcel(&v)["status"];
    assert_eq!(status["milestone"], "label_created", "{v}");
    assert_ne!(
        status["customer"], "handed_to_carrier",
        "a label is not possession: {v}"
    );
    assert!(
        carrier_entries(&v).iter().all(|e| e["carrier_possession"] == false),
        "{v}"
    );

    // Through the dock door: our own portal says handed to carrier.
    wait::until("the gateway to hold the order", TIMEOUT, || async {
        (c.h.status(&north).await?["orders_held"].as_u64()? == 1).then_some(())
    })
    .await?;
    let mut portal = Publisher::connect(north.ready.addr("mqtt")?, "door-3");
    let read = json!({ "id": SSCC, "time": "2026-11-20T07:15:00.000+01:00", "antenna": 2, "rssi": -48.5 });
    portal
        .publish("waymark/dc-north/door-3/reads", read.to_string().into_bytes())
        .await?;
    portal.wait_acked(1, TIMEOUT).await?;
    let v = wait::until("the parcel to be handed to the carrier", TIMEOUT, || async {
        let v = c.order("SO-3003").await.ok()?;
        (parcel(&v)["status"]["customer"] == "handed_to_carrier").then_some(v)
    })
    .await?;
    let status = &parcel(&v)["status"];
    assert_eq!(status["milestone"], "loaded");
    let loaded = status["milestones"]
        .as_array()
        .context("milestones")?
        .iter()
        .find(|m| m["milestone"] == "loaded")
        .context("loaded")?;
    assert_eq!(loaded["provenance"]["source"], "site", "from the scan: {v}");
    Ok(())
}

#[tokio::test]
async fn webhooks_stored_before_a_kill_9_are_normalized_exactly_once_after_restart() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    // This process only receives: nothing is normalized before the kill.
    let config = h.path("receive-only.toml");
    std::fs::write(&config, "[carriers]\nnormalizer = false\n")?;
    let extra = ["--config".to_string(), config.display().to_string()];
    let node = h.start_central_with("central", None, &extra)?;
    let mut c = Central { h, node };
    c.add_account("easypost", "main").await?;
    const ORDERS: usize = 20;
    for i in 0..ORDERS {
        c.create_order(&format!("SO-40{i:02}"), &format!("EZ40{i:02}"), None)
            .await?;
    }
    // Each order's tracker twice: in transit, then delivered (a full snapshot).
    for i in 0..ORDERS {
        let tn = format!("EZ40{i:02}");
        let first = easypost_event(&format!("evt_{i}_1"), &tn, &[LABEL, PICKED_UP, AT_HUB]);
        let second = easypost_event(&format!("evt_{i}_2"), &tn, &[LABEL, PICKED_UP, AT_HUB, DELIVERED]);
        assert_eq!(c.post_signed(Provider::EasyPost, "main", &first).await?, 200);
        assert_eq!(c.post_signed(Provider::EasyPost, "main", &second).await?, 200);
    }
    let pending = c.webhooks().await?;
    assert_eq!(pending.len(), 2 * ORDERS);
    assert!(pending.iter().all(|w| w["state"] == "pending"), "{pending:?}");
    c.node.kill();

    c.node = c.h.start_central(None)?;
    let done = c.settled(2 * ORDERS).await?;
    let new: i64 = done.iter().filter_map(|w| w["events_new"].as_i64()).sum();
    // Per tracker: label, pickup, hub, delivery and one estimate, once each.
    assert_eq!(new, 5 * ORDERS as i64, "{done:?}");
    for i in 0..ORDERS {
        let v = c.order(&format!("SO-40{i:02}")).await?;
        assert_eq!(v["status"], "delivered", "{v}");
        assert_eq!(carrier_entries(&v).len(), 5, "each event once: {v}");
    }
    let metrics = c.h.metrics_of(&c.node).await?;
    assert_eq!(
        metric(
            &metrics,
            "waymark_carrier_events_total",
            &["provider=\"easypost\"", "outcome=\"new\""]
        ),
        (5 * ORDERS) as f64
    );
    Ok(())
}
