//! Devices publishing faster than the gateway consumes: the listener admits at most
//! the in-flight budget ahead of ingest, so the embedded broker never holds more than
//! that (rumqttd would drop its oldest segments, silently, if it ran past them).
//! Beyond the budget, devices are slowed by TCP backpressure; nothing is dropped.
//! No PUBACK reaches a device before ingest has settled its message.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use waymark_gateway::broker::EmbeddedBroker;
use waymark_gateway::device_auth::DeviceCredentials;
use waymark_gateway::inflight::InflightBudget;
use waymark_gateway::metrics::GatewayMetrics;
use waymark_gateway::mqtt_front::{self, FrontLimits};
use waymark_gateway::mqtt_settle::{PublishKey, Settlements};
use waymark_tests::mqtt::Publisher;

const PAYLOAD: usize = 20 * 1024;
const BUDGET: usize = 256 * 1024;
const PAYLOADS: u64 = 40;

#[tokio::test]
async fn the_broker_never_holds_more_than_the_budget_and_loses_nothing() -> anyhow::Result<()> {
    let budget = Arc::new(InflightBudget::new(BUDGET));
    let broker = EmbeddedBroker::start(64 * 1024, 16, BUDGET).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(GatewayMetrics::default());
    let settlements = Arc::new(Settlements::default());
    let front = Arc::new(mqtt_front::Front::new(
        &broker,
        FrontLimits {
            max_connections: 8,
            max_packet_bytes: 65 * 1024,
            inflight: budget.clone(),
        },
        // No registry, anonymous devices: this test is about backpressure.
        Arc::new(DeviceCredentials::new(&Default::default(), true)),
        metrics.clone(),
        settlements.clone(),
    ));
    tokio::spawn(mqtt_front::run(front, Some(listener), None, shutdown.clone()));

    // Nobody consumes yet: a device sends 800 KiB against a 256 KiB budget.
    let mut device = Publisher::connect(addr, "door-3");
    for _ in 0..PAYLOADS {
        device
            .publish("waymark/dc-north/door-3/reads", vec![b'x'; PAYLOAD])
            .await?;
    }
    // Admission is per chunk read off the socket (up to three of these packets), so
    // the front stops a few packets short of the budget, never past it.
    let admitted = BUDGET / PAYLOAD;
    waymark_tests::wait::until("the front waiting for budget", Duration::from_secs(10), || async {
        metrics
            .render()
            .contains("waymark_mqtt_backpressure_waits_total 1")
            .then_some(())
    })
    .await?;
    // Registered before forwarding: what the broker has, plus one chunk awaiting admission.
    let forwarded = settlements.len();
    assert!(
        forwarded > admitted / 2 && forwarded <= admitted + 3,
        "{forwarded} publishes forwarded against a budget of {admitted}"
    );
    let early = device.wait_acked(1, Duration::from_millis(200)).await;
    assert!(early.is_err(), "a PUBACK before ingest settled anything");

    // Ingest starts taking messages off the link: every one arrives, in order.
    let (_tx, mut rx) = broker.link;
    let mut received = 0u64;
    while received < PAYLOADS {
        match tokio::time::timeout(Duration::from_secs(10), rx.next()).await?? {
            Some(rumqttd::Notification::Forward(f)) => {
                budget.release(f.publish.topic.len() + f.publish.payload.len());
                assert_eq!(f.publish.payload.len(), PAYLOAD);
                settlements.settle(PublishKey::of(&f.publish.topic, &f.publish.payload), true);
                received += 1;
            }
            Some(rumqttd::Notification::Unschedule) => rx.wake().await?,
            _ => {}
        }
    }
    device.wait_acked(PAYLOADS, Duration::from_secs(10)).await?;
    shutdown.cancel();
    Ok(())
}
