//! The carrier path the demo takes, in one central over real HTTP: every
//! provider's simulated journeys, posted signed, with duplicates and
//! out-of-order deliveries, take their orders to `delivered`; a wrong secret
//! gets 401 and changes nothing.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use waymark_sync::carriers::Provider;
use waymark_sync::carriers::config::{RawCarrierAccount, RawCarriers};
use waymark_tests::carrier_sim::{self, Scenario};
use waymark_tests::wait;

const SECRET: &str = "carrier-test-secret";

/// The shipment's carrier for each provider's order: FedEx's webhooks say
/// `fedex`, the others carry the scenario's `ups` (17TRACK names carriers by
/// number, `17track:100002`, which matching takes as unknown, so it agrees).
fn shipment_carrier(p: Provider) -> Option<&'static str> {
    match p {
        Provider::FedEx => Some("fedex"),
        _ => Some("ups"),
    }
}

#[tokio::test]
async fn every_provider_takes_its_orders_to_delivered() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let accounts = Provider::ALL
        .iter()
        .map(|p| RawCarrierAccount {
            provider: p.as_str().into(),
            name: "test".into(),
            secret: Some(SECRET.into()),
            secret_file: None,
        })
        .collect();
    let central = waymark_sync::start(
        waymark_sync::config::RawConfig {
            data_dir: Some(dir.path().join("central")),
            grpc_listen: Some("127.0.0.1:0".into()),
            http_listen: Some("127.0.0.1:0".into()),
            ops_listen: Some("127.0.0.1:0".into()),
            carriers: RawCarriers {
                accounts,
                ..Default::default()
            },
            ..Default::default()
        }
        .validate()?,
        shutdown.clone(),
    )
    .await?;
    let api = format!("http://{}", central.http_addr);
    let token = std::fs::read_to_string(&central.admin_token_file)?.trim().to_string();
    let http = reqwest::Client::new();

    let tracking = |p: Provider, n: usize| format!("TN{}{n}", p.as_str().to_uppercase());
    for p in Provider::ALL {
        let parcels: Vec<_> = (0..2).map(|n| json!({ "tracking_number": tracking(p, n) })).collect();
        let order = json!({
            "order_number": format!("SO-{p}"),
            "shipments": [{ "site_id": "dc-north", "carrier": shipment_carrier(p),
                            "parcels": parcels }],
        });
        let resp = http
            .post(format!("{api}/api/v1/orders"))
            .bearer_auth(&token)
            .json(&order)
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "creating the {p} order: {}",
            resp.text().await?
        );
    }

    // The journeys ended an hour ago; every webhook goes at once, some twice,
    // some swapped with the next.
    let scenario = Scenario {
        start: chrono::Utc::now() - chrono::Duration::hours(3),
        journey: Duration::from_secs(2 * 3600),
        duplicates_percent: 30.0,
        out_of_order_percent: 30.0,
        failed_attempts_percent: 50.0,
        seed: 11,
        ..Scenario::default()
    };
    for p in Provider::ALL {
        let numbers = vec![tracking(p, 0), tracking(p, 1)];
        let summary = carrier_sim::deliver(&api, p, "test", SECRET, &numbers, &scenario).await?;
        assert!(summary.all_accepted(), "{p}: {summary}");
        assert_eq!(summary.delivered, 2, "{p}: {summary}");
        assert!(summary.posted > 2 * 5, "{p}: {summary}");

        let wrong = carrier_sim::deliver(&api, p, "test", "not the secret", &[tracking(p, 0)], &scenario).await?;
        assert_eq!(wrong.accepted, 0, "{p}: {wrong}");
        assert_eq!(wrong.refused.get(&401), Some(&wrong.posted), "{p}: {wrong}");
    }

    for p in Provider::ALL {
        let url = format!("{api}/api/v1/orders/SO-{p}");
        let last = std::sync::Mutex::new(serde_json::Value::Null);
        let delivered = wait::until(
            &format!("SO-{p} to read delivered"),
            Duration::from_secs(10),
            || async {
                let v: serde_json::Value = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let done = v["status"] == "delivered";
                *last.lock().ok()? = v;
                done.then_some(())
            },
        )
        .await;
        if let Err(e) = delivered {
            let seen = last.lock().map(|v| v.to_string()).unwrap_or_default();
            return Err(e.context(format!("provider {p}: the order reads {seen}")));
        }
    }
    shutdown.cancel();
    central.wait(Duration::from_secs(5)).await;
    Ok(())
}
