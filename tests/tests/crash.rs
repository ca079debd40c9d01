//! Crash harness: the gateway is killed with SIGKILL again and again while devices
//! publish, in both broker modes.
//!
//! - External site broker: a device publishes to the site's Mosquitto. The gateway
//!   acknowledges a message only once its events are recorded, so the broker
//!   redelivers the rest: every published read must reach central exactly once.
//! - Embedded broker: QoS 1 devices publish to the gateway itself and resend what
//!   was not acknowledged when they reconnect. The front holds each PUBACK until the
//!   reads are recorded: every read a device saw acknowledged must reach central,
//!   exactly once.
//!
//! CI runs 3 kills of each; the long run is
//! `WAYMARK_CRASH_KILLS=200 cargo test --release -p waymark-tests --test crash -- --nocapture`.
//! Starts its own Mosquitto on a free port (`waymark_tests::mosquitto`), keeping every
//! queued message; says SKIPPED when Mosquitto is not installed (CI installs it).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::watch;
use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::mosquitto::Mosquitto;
use waymark_tests::mqtt::Publisher;
use waymark_tests::mqtt_resend::{self, Tally};
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(60);
const READS_PER_PAYLOAD: usize = 10;

/// Redelivered reads this gateway process absorbed as duplicates.
async fn duplicates(h: &Harness, gw: &Node) -> f64 {
    let Ok(ops) = gw.ready.addr("ops") else { return 0.0 };
    let text = h.get_text(format!("http://{ops}/metrics")).await.unwrap_or_default();
    metric(&text, "waymark_events_duplicate_total", &[])
}

async fn wait_subscribed(h: &Harness, gw: &Node) -> anyhow::Result<()> {
    let url = format!("http://{}/readyz", gw.ready.addr("ops")?);
    wait::until("the gateway subscribed to the site broker", TIMEOUT, || async {
        let (code, _) = h.get_json(url.clone()).await.ok()?;
        (code == 200).then_some(())
    })
    .await
}

/// The last lines of a gateway's log (all its lifetimes), for a failure message.
fn log_tail(h: &Harness, site: &str) -> String {
    let log = std::fs::read_to_string(h.path(&format!("{site}.log"))).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

async fn central_hwm(h: &Harness, http: SocketAddr, site: &str) -> Option<u64> {
    let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
    sites["sites"].as_array()?.iter().find(|s| s["site_id"] == site)?["high_water_mark"].as_u64()
}

/// A resending device: its tags' item reference, what it counted, its task.
type Device = (u32, Arc<Mutex<Tally>>, tokio::task::JoinHandle<anyhow::Result<()>>);

fn kills() -> usize {
    std::env::var("WAYMARK_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Reads of distinct SGTIN tags, `READS_PER_PAYLOAD` to a payload, all read at one
/// fixed time (generic format); `item` keeps devices' tags apart.
fn tag_reads(item: u32, from: usize) -> Vec<u8> {
    let reads: Vec<Value> = (from..from + READS_PER_PAYLOAD)
        .map(|k| json!({ "id": format!("urn:epc:id:sgtin:0614141.{item}.{k}"), "time": "2026-11-21T06:00:00Z" }))
        .collect();
    serde_json::to_vec(&reads).unwrap_or_default()
}

#[tokio::test]
async fn kill_dash_nine_loses_nothing_with_an_external_broker() -> anyhow::Result<()> {
    let kills = kills();
    let Some(mosquitto) = Mosquitto::start()? else {
        anyhow::ensure!(std::env::var_os("CI").is_none(), "mosquitto is not installed in CI");
        eprintln!("SKIPPED: mosquitto is not installed (apt-get install mosquitto)");
        return Ok(());
    };
    let broker = mosquitto.addr;
    let site = "dc-crash".to_string();
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let spec = GatewaySpec {
        external_broker: Some(broker.to_string()),
        ..GatewaySpec::site(&site).recording_unmatched()
    };
    let mut gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    wait_subscribed(&h, &gw).await?;

    // The device publishes paced payloads until told to stop.
    let published = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let device = {
        let (published, stop, topic) = (published.clone(), stop.clone(), format!("waymark/{site}/door-3/reads"));
        tokio::spawn(async move {
            let mut p = Publisher::connect(broker, &format!("{topic}-device").replace('/', "-"));
            let mut payloads = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let from = published.load(Ordering::SeqCst);
                p.publish(&topic, tag_reads(812345, from)).await?;
                payloads += 1;
                published.store(from + READS_PER_PAYLOAD, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            p.wait_acked(payloads, TIMEOUT).await?;
            anyhow::Ok(())
        })
    };

    let mut absorbed = 0.0;
    for k in 0..kills {
        tokio::time::sleep(Duration::from_millis(100 + (k as u64 * 37) % 300)).await;
        let recorded = h
            .status(&gw)
            .await
            .and_then(|s| s["last_sequence"].as_u64())
            .unwrap_or(0);
        absorbed += duplicates(&h, &gw).await;
        gw.kill();
        gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
        wait_subscribed(&h, &gw)
            .await
            .with_context(|| format!("after kill {}; the gateway's log ends:\n{}", k + 1, log_tail(&h, &site)))?;
        // Everything the gateway had reported as recorded reaches central.
        wait::until("recorded events to reach central after a restart", TIMEOUT, || async {
            (central_hwm(&h, http, &site).await? >= recorded).then_some(())
        })
        .await
        .with_context(|| format!("after kill {}", k + 1))?;
    }
    stop.store(true, Ordering::SeqCst);
    device.await??;
    let total = published.load(Ordering::SeqCst);

    let last = wait::until("every published read recorded and replicated", TIMEOUT, || async {
        let s = h.status(&gw).await?;
        let last = s["last_sequence"].as_u64()?;
        let done = last as usize >= total && s["backlog_events"].as_u64()? == 0;
        (done && central_hwm(&h, http, &site).await? == last).then_some(last)
    })
    .await
    .with_context(|| format!("mosquitto's log:\n{}", mosquitto.log()))?;
    absorbed += duplicates(&h, &gw).await;
    let events = h.central_events(http, &site).await?;
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "central's sequences");
    let reads: HashSet<&str> = events
        .iter()
        .filter_map(|e| e["identifiers"][0]["value"].as_str())
        .collect();
    assert_eq!(reads.len(), events.len(), "a read was recorded twice");
    assert_eq!(
        reads.len(),
        total,
        "published {total} reads, central holds {}",
        reads.len()
    );
    eprintln!(
        "{kills} kills: {total} reads published, each recorded and applied at central exactly once; \
         {absorbed} redelivered reads absorbed as duplicates"
    );
    // A restart replays the journal only since the last snapshot, and each start
    // snapshots after its replay: a read is re-derived at most a few times
    // (replayed once, redelivered by the broker, that replayed once), however many
    // times the gateway dies. Before the start snapshot a crash loop replayed
    // everything on every start (20 kills: 10x the reads).
    assert!(
        absorbed <= 3.0 * total as f64,
        "{absorbed} duplicates for {total} reads: restarts replay more than they should"
    );
    Ok(())
}

#[tokio::test]
async fn kill_dash_nine_loses_no_acknowledged_read_with_the_embedded_broker() -> anyhow::Result<()> {
    let kills = kills();
    let site = "dc-crash";
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let spec = GatewaySpec::site(site).recording_unmatched();
    let mut gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;

    // Two devices publish paced QoS 1 payloads until told to stop, then keep
    // reconnecting until all they published is acknowledged.
    let (addr_tx, addr_rx) = watch::channel(gw.ready.addr("mqtt")?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let devices: Vec<Device> = [(812345, "door-3"), (812346, "pack-1")]
        .into_iter()
        .map(|(item, device)| {
            let tally = Arc::new(Mutex::new(Tally::default()));
            let plan = mqtt_resend::Plan {
                client_id: format!("{device}-device"),
                topic: format!("waymark/{site}/{device}/reads"),
                window: 16,
                pace: Duration::from_millis(3),
            };
            let payload = move |n: u64| tag_reads(item, n as usize * READS_PER_PAYLOAD);
            let run = mqtt_resend::run(plan, addr_rx.clone(), payload, stop_rx.clone(), tally.clone());
            (item, tally, tokio::spawn(run))
        })
        .collect();

    let acked = |devices: &[Device]| -> usize {
        devices
            .iter()
            .map(|(_, t, _)| t.lock().map_or(0, |t| t.acked.len()))
            .sum()
    };
    for k in 0..kills {
        tokio::time::sleep(Duration::from_millis(100 + (k as u64 * 37) % 300)).await;
        gw.kill();
        gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
        addr_tx.send(gw.ready.addr("mqtt")?)?;
        if k % 20 == 19 {
            eprintln!("{} kills, {} payloads acknowledged so far", k + 1, acked(&devices));
        }
    }
    stop_tx.send(true)?;
    let mut expected = HashSet::new();
    let (mut published, mut resent) = (0, 0);
    for (item, tally, task) in devices {
        tokio::time::timeout(TIMEOUT, task)
            .await
            .context("a device's publishes were never all acknowledged")???;
        let t = tally.lock().map_err(|_| anyhow::anyhow!("tally poisoned"))?.clone();
        assert_eq!(
            t.acked.len() as u64,
            t.published,
            "every publish acknowledged in the end"
        );
        for n in &t.acked {
            let from = *n as usize * READS_PER_PAYLOAD;
            expected.extend((from..from + READS_PER_PAYLOAD).map(|k| format!("urn:epc:id:sgtin:0614141.{item}.{k}")));
        }
        published += t.published;
        resent += t.resent;
    }

    let caught_up = wait::until("every acknowledged read recorded and replicated", TIMEOUT, || async {
        let s = h.status(&gw).await?;
        let last = s["last_sequence"].as_u64()?;
        let done = last as usize >= expected.len() && s["backlog_events"].as_u64()? == 0;
        (done && central_hwm(&h, http, site).await? == last).then_some(last)
    })
    .await;
    let events = h.central_events(http, site).await?;
    let at_central: HashSet<&str> = events
        .iter()
        .filter_map(|e| e["identifiers"][0]["value"].as_str())
        .collect();
    let lost = expected.iter().filter(|r| !at_central.contains(r.as_str())).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} acknowledged reads never reached central",
        expected.len()
    );
    let last = caught_up?;
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "central's sequences");
    let reads: Vec<String> = events
        .iter()
        .filter_map(|e| e["identifiers"][0]["value"].as_str().map(str::to_string))
        .collect();
    let distinct: HashSet<String> = reads.iter().cloned().collect();
    assert_eq!(distinct.len(), reads.len(), "a read was recorded twice");
    let missing: Vec<&String> = expected.difference(&distinct).take(5).collect();
    assert!(
        missing.is_empty(),
        "acknowledged reads missing at central, e.g. {missing:?}"
    );
    assert_eq!(distinct, expected, "central holds reads nobody published");
    eprintln!(
        "{kills} kills: {published} payloads ({} reads) acknowledged, each read recorded and applied at central \
         exactly once; {resent} publishes resent after reconnects",
        expected.len()
    );
    Ok(())
}
