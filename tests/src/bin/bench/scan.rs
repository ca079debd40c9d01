//! Scan latency: a barcode scan written on a serial line (a pty) until the gateway
//! has recorded it (its `/status` shows the new sequence) and until central's order
//! timeline shows it (`GET /api/v1/orders/{n}`), one scan at a time, link up. The
//! gateway runs the default quiet interval and lateness (2 s each), which a scan no
//! longer waits for.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;
use waymark_tests::harness::GatewaySpec;
use waymark_tests::pty::plug_scanner;

pub struct Plan {
    pub scans: u64,
    /// Pause between one scan showing at central and the next scan.
    pub gap: Duration,
}

/// How often the bench asks the gateway and central whether a scan has arrived.
const POLL: Duration = Duration::from_millis(1);
const TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(plan: Plan) -> anyhow::Result<()> {
    let h = super::harness()?;
    let site = "dc-bench";
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let ssccs = waymark_tests::devsim::parcels(1, plan.scans);
    for (i, sscc) in ssccs.iter().enumerate() {
        let order = json!({ "order_number": format!("SO-{i}"), "site_id": site, "parcels": [{ "sscc": sscc }] });
        let (code, body) = h.post_json(format!("http://{http}/api/v1/orders"), &order).await?;
        anyhow::ensure!(code == 201, "order SO-{i} refused: {body}");
    }
    let link = h.path("scanner0");
    let mut scanner = plug_scanner(&link)?;
    let spec = GatewaySpec {
        extra_devices: format!(
            "\n[[devices]]\nid = \"scanner-1\"\nkind = \"serial\"\npath = \"{}\"\nread_point = \"pack-station-1\"\nbusiness_step = \"packing\"\n",
            link.display()
        ),
        // The defaults: RFID stays close after 2 s quiet, decided 2 s late.
        reconcile: String::new(),
        ..GatewaySpec::site(site)
    };
    let gw = h.start_gateway(&spec, central.ready.addr("grpc")?, None)?;
    let ops = gw.ready.addr("ops")?;
    waymark_tests::wait::until("the orders and the scanner at the gateway", TIMEOUT, || async {
        let s = h.status(&gw).await?;
        let scanner_up = s["devices"]
            .as_array()?
            .iter()
            .any(|d| d["id"] == "scanner-1" && d["connected"] == true);
        (s["orders_held"].as_u64()? == plan.scans && scanner_up).then_some(())
    })
    .await?;

    let (mut recorded, mut visible) = (Vec::new(), Vec::new());
    for (i, sscc) in ssccs.iter().enumerate() {
        let before = h
            .status(&gw)
            .await
            .and_then(|s| s["last_sequence"].as_u64())
            .unwrap_or(0);
        let scanned = Instant::now();
        scanner.write_all(format!("]C100{sscc}\r\n").as_bytes())?;
        scanner.flush()?;
        loop {
            let (_, s) = h.get_json(format!("http://{ops}/status")).await?;
            if s["last_sequence"].as_u64().is_some_and(|n| n > before) {
                recorded.push(scanned.elapsed());
                break;
            }
            anyhow::ensure!(scanned.elapsed() < TIMEOUT, "scan {i} not recorded");
            tokio::time::sleep(POLL).await;
        }
        loop {
            let (_, o) = h.get_json(format!("http://{http}/api/v1/orders/SO-{i}")).await?;
            if o["timeline"].as_array().is_some_and(|t| !t.is_empty()) {
                visible.push(scanned.elapsed());
                break;
            }
            anyhow::ensure!(scanned.elapsed() < TIMEOUT, "scan {i} not at central");
            tokio::time::sleep(POLL).await;
        }
        tokio::time::sleep(plan.gap).await;
    }
    let rec = Percentiles::of(recorded);
    let vis = Percentiles::of(visible);
    println!(
        "{} scans, one at a time; polled every {} ms (the figures include up to one poll)",
        plan.scans,
        POLL.as_millis()
    );
    println!("scan -> recorded at the gateway: {rec}");
    println!("scan -> in central's order timeline: {vis}");
    println!(
        "| scan latency | {} scans | recorded p99 {:.1} ms | central timeline p99 {:.1} ms |",
        plan.scans,
        ms(rec.p99),
        ms(vis.p99)
    );
    Ok(())
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
            samples.get(i).copied().unwrap_or_default()
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
