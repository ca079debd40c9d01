//! The ingest scenario: full gateway vs. the embedded broker alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use waymark_gateway::metrics::GatewayMetrics;
use waymark_gateway::mqtt_settle::PublishKey;
use waymark_gateway::{broker, mqtt_front};
use waymark_tests::harness::{GatewaySpec, metric};
use waymark_tests::mqtt::Publisher;

pub struct Plan {
    pub reads: u64,
    pub publishers: usize,
    pub batch: usize,
    pub paced_rate: u64,
    pub paced_secs: u64,
}

/// One payload per publisher, reused: decode cost is per payload, not per content.
fn payloads(publishers: usize, batch: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    use waymark_devices::sim::portal::{PassShape, pass};
    let mut rng = fastrand::Rng::with_seed(9);
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-21T14:00:00+01:00")?;
    (0..publishers)
        .map(|p| {
            let mut reads = Vec::new();
            let mut n = 0;
            while reads.len() < batch {
                let tag =
                    waymark_tests::devsim::sscc_tag(&waymark_devices::sim::sscc("0614141", (p * 10_000 + n) as u64))?;
                reads.extend(pass(&tag, t0, &PassShape::default(), &mut rng));
                n += 1;
            }
            reads.truncate(batch);
            Ok(waymark_devices::sim::zebra_payload(
                &reads,
                waymark_devices::zebra::ZebraMode::Portal,
            )?)
        })
        .collect()
}

/// Publishes `per_publisher` payloads from each publisher; `gap` paces each one.
async fn publish_all(
    addr: std::net::SocketAddr,
    site: &str,
    payloads: &[Vec<u8>],
    per_publisher: u64,
    gap: Option<Duration>,
) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for (i, payload) in payloads.iter().cloned().enumerate() {
        let topic = format!("waymark/{site}/door-{i}/reads");
        tasks.push(tokio::spawn(async move {
            let mut p = Publisher::connect(addr, &format!("bench-{i}"));
            let started = Instant::now();
            for k in 0..per_publisher {
                p.publish(&topic, payload.clone()).await?;
                if let Some(gap) = gap {
                    tokio::time::sleep_until((started + gap * (k as u32 + 1)).into()).await;
                }
            }
            p.wait_acked(per_publisher, Duration::from_secs(600)).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Percentile from a Prometheus histogram's cumulative buckets: the bucket bound
/// at or above which `q` of the observations fall (an upper bound on the value).
fn percentile(text: &str, name: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket")))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    buckets.into_iter().find(|(_, c)| *c >= q * total).map(|(le, _)| le)
}

fn gateway_spec(publishers: usize) -> GatewaySpec {
    let devices: String = (0..publishers)
        .map(|i| format!("\n[[devices]]\nid = \"door-{i}\"\nkind = \"zebra\"\nread_point = \"dock-door-{i}\"\nbusiness_step = \"loading\"\n"))
        .collect();
    GatewaySpec {
        devices: Vec::new(),
        extra_devices: devices,
        max_payload_bytes: 256 * 1024,
        ..GatewaySpec::site("dc-bench")
    }
}

/// What one run through the gateway measured.
struct GatewayRun {
    secs: f64,
    metrics: String,
    peak_rss: u64,
    /// CPU seconds of the gateway process, and of this one (the publishers).
    gateway_cpu: f64,
    publishers_cpu: f64,
}

/// Runs the gateway until `payloads` payloads are committed.
async fn through_gateway(
    plan: &Plan,
    payloads: &[Vec<u8>],
    per_publisher: u64,
    gap: Option<Duration>,
) -> anyhow::Result<GatewayRun> {
    let h = super::harness()?;
    let central = h.start_central(None)?;
    let gw = h.start_gateway(&gateway_spec(plan.publishers), central.ready.addr("grpc")?, None)?;
    let (mqtt, ops) = (gw.ready.addr("mqtt")?, gw.ready.addr("ops")?);
    let expected = per_publisher * payloads.len() as u64;
    let (gateway_cpu0, own_cpu0) = (cpu(gw.pid())?, cpu(std::process::id())?);
    let started = Instant::now();
    publish_all(mqtt, "dc-bench", payloads, per_publisher, gap).await?;
    let metrics = loop {
        let text = h.get_text(format!("http://{ops}/metrics")).await?;
        if metric(&text, "waymark_read_to_recorded_seconds_count", &[]) >= expected as f64 {
            break text;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(900), "gateway stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    Ok(GatewayRun {
        secs,
        metrics,
        peak_rss: waymark_tests::peak_rss_bytes(gw.pid()).context("gateway rss")?,
        gateway_cpu: cpu(gw.pid())? - gateway_cpu0,
        publishers_cpu: cpu(std::process::id())? - own_cpu0,
    })
}

fn cpu(pid: u32) -> anyhow::Result<f64> {
    waymark_tests::cpu_seconds(pid).context("cpu time from /proc")
}

/// The embedded broker behind the same front listener, drained by a bare link
/// consumer; returns (seconds, CPU seconds of this process: publishers and broker).
async fn broker_alone(payloads: &[Vec<u8>], per_publisher: u64) -> anyhow::Result<(f64, f64)> {
    // The same admission as the gateway, so both runs are measured the same way.
    let inflight = Arc::new(waymark_gateway::inflight::InflightBudget::new(32 << 20));
    let b = broker::EmbeddedBroker::start(256 * 1024, 64, inflight.max_bytes()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    // The consumer settles each message as it takes it: the front holds every
    // PUBACK until then, as in the gateway, without a commit behind it.
    let settlements = Arc::new(waymark_gateway::mqtt_settle::Settlements::default());
    let front = Arc::new(mqtt_front::Front::new(
        &b,
        mqtt_front::FrontLimits {
            max_connections: 64,
            max_packet_bytes: 257 * 1024,
            inflight: inflight.clone(),
        },
        // The gateway run's publishers are anonymous too (the harness allows them).
        Arc::new(waymark_gateway::device_auth::DeviceCredentials::new(
            &Default::default(),
            true,
        )),
        Arc::new(GatewayMetrics::default()),
        settlements.clone(),
    ));
    tokio::spawn(mqtt_front::run(front, Some(listener), None, shutdown.clone()));
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let settled = settlements.clone();
    let (_tx, mut rx) = b.link;
    tokio::spawn(async move {
        while let Ok(n) = rx.next().await {
            match n {
                Some(rumqttd::Notification::Forward(f)) => {
                    inflight.release(f.publish.topic.len() + f.publish.payload.len());
                    settled.settle(PublishKey::of(&f.publish.topic, &f.publish.payload), true);
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Some(rumqttd::Notification::Unschedule) if rx.wake().await.is_err() => return,
                _ => {}
            }
        }
    });
    let expected = per_publisher * payloads.len() as u64;
    let cpu0 = cpu(std::process::id())?;
    let started = Instant::now();
    publish_all(addr, "dc-bench", payloads, per_publisher, None).await?;
    while received.load(Ordering::Relaxed) < expected {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "broker stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    shutdown.cancel();
    Ok((secs, cpu(std::process::id())? - cpu0))
}

pub async fn run(plan: Plan) -> anyhow::Result<()> {
    let payloads = payloads(plan.publishers, plan.batch)?;
    let per_payload = plan.batch as u64;
    let per_publisher = (plan.reads / per_payload / plan.publishers as u64).max(1);
    let total = per_publisher * plan.publishers as u64 * per_payload;
    println!(
        "{} publishers, {} Zebra reads per payload ({} KiB), {total} reads",
        plan.publishers,
        plan.batch,
        payloads[0].len() / 1024
    );

    // The broker alone runs before and after the gateway and the ratio takes the
    // mean of the two: this host's speed drifts within minutes.
    let us_per_read = |cpu: f64| cpu * 1e6 / total as f64;
    let broker = |(secs, cpu): (f64, f64)| {
        let rate = total as f64 / secs;
        println!(
            "embedded broker alone (front listener + local link): {rate:.0} reads/s; CPU {:.1} us per read (publishers and broker)",
            us_per_read(cpu)
        );
        rate
    };
    let before = broker(broker_alone(&payloads, per_publisher).await?);

    let run = through_gateway(&plan, &payloads, per_publisher, None).await?;
    let rate = total as f64 / run.secs;
    let p = |q| percentile(&run.metrics, "waymark_read_to_recorded_seconds", q).unwrap_or(f64::NAN) * 1000.0;
    println!(
        "gateway (decode, derive, durable commit): {rate:.0} reads/s; read-to-recorded p50 <= {:.1} ms, p99 <= {:.1} ms at full speed; peak RSS {:.1} MiB",
        p(0.5),
        p(0.99),
        run.peak_rss as f64 / (1 << 20) as f64
    );
    println!(
        "CPU per read: gateway {:.1} us, publishers {:.1} us; {} commits",
        us_per_read(run.gateway_cpu),
        us_per_read(run.publishers_cpu),
        metric(&run.metrics, "waymark_store_commit_seconds_count", &[])
    );
    let after = broker(broker_alone(&payloads, per_publisher).await?);
    let broker_rate = (before + after) / 2.0;
    println!(
        "ratio {:.2} (gateway {rate:.0} reads/s to the broker's mean {broker_rate:.0})",
        rate / broker_rate
    );

    let paced_payloads = (plan.paced_rate * plan.paced_secs / per_payload / plan.publishers as u64).max(1);
    let gap = Duration::from_secs_f64(per_payload as f64 * plan.publishers as f64 / plan.paced_rate as f64);
    let paced = through_gateway(&plan, &payloads, paced_payloads, Some(gap)).await?;
    let p = |q| percentile(&paced.metrics, "waymark_read_to_recorded_seconds", q).unwrap_or(f64::NAN) * 1000.0;
    println!(
        "paced at {} reads/s: read-to-recorded p50 <= {:.1} ms, p99 <= {:.1} ms",
        plan.paced_rate,
        p(0.5),
        p(0.99)
    );
    println!(
        "| ingest | {total} reads, {} publishers | {rate:.0} reads/s, ratio {:.2} to the broker's {broker_rate:.0} | p99 <= {:.1} ms at {} reads/s |",
        plan.publishers,
        rate / broker_rate,
        p(0.99),
        plan.paced_rate
    );
    Ok(())
}
