//! The whole system on one machine: central, two site gateways and simulated
//! devices publishing over real MQTT, then simulated carriers posting signed
//! webhooks until every demo order is delivered. Every port is picked by the OS
//! (a broker may already hold 1883); the addresses to look at are printed at
//! start.
//!
//! `cargo run -p waymark-tests --bin waymark-demo` (Ctrl-C stops it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use waymark_sync::carriers::Provider;
use waymark_sync::carriers::config::{RawCarrierAccount, RawCarriers};
use waymark_tests::carrier_sim::{self, Scenario};
use waymark_tests::devsim::{self, PortalFormat, PortalSim};
use waymark_tests::mqtt::Publisher;

#[derive(Debug, Parser)]
#[command(about = "Run central, two site gateways and simulated devices on this machine")]
struct Args {
    /// Where the stores go; a fresh temporary directory by default.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Port for central's HTTP API; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    http_port: u16,
    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Central's store: postgres://USER@HOST/DB for PostgreSQL (default: SQLite
    /// in the data directory, no setup).
    #[arg(long, env = "WAYMARK_STORE_URL")]
    store_url: Option<String>,
    /// Central processes on the one store (PostgreSQL only); the site gateways
    /// are spread over them.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
}

const SITES: [&str; 2] = ["dc-north", "dc-south"];
/// Every simulated device logs in with its id and this password (the gateways
/// allow no anonymous devices, as in production).
const DEVICE_PASSWORD: &str = "demo-device-password";

/// How long a demo parcel takes from label to delivery, once loaded.
const CARRIER_JOURNEY: Duration = Duration::from_secs(20);

/// A carrier account of the demo central and the tracking numbers it reports.
#[derive(Clone)]
struct CarrierRun {
    provider: Provider,
    account: &'static str,
    /// The carrier moving the parcels (a shipment's `carrier`).
    carrier: &'static str,
    secret_file: PathBuf,
    tracking_numbers: Vec<String>,
}

impl CarrierRun {
    /// A fresh secret in a file (printed, never the secret itself), and the
    /// account that reads it.
    fn new(
        data_dir: &std::path::Path,
        provider: Provider,
        account: &'static str,
        carrier: &'static str,
    ) -> anyhow::Result<Self> {
        let dir = data_dir.join("carrier-secrets");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let secret_file = dir.join(format!("{account}.secret"));
        let secret: String = std::iter::repeat_with(fastrand::alphanumeric).take(40).collect();
        std::fs::write(&secret_file, &secret).with_context(|| format!("writing {}", secret_file.display()))?;
        Ok(Self {
            provider,
            account,
            carrier,
            secret_file,
            tracking_numbers: Vec::new(),
        })
    }

    fn raw_account(&self) -> RawCarrierAccount {
        RawCarrierAccount {
            provider: self.provider.as_str().into(),
            name: self.account.into(),
            secret: None,
            secret_file: Some(self.secret_file.clone()),
        }
    }
}

struct Site {
    id: &'static str,
    mqtt: SocketAddr,
    ops: SocketAddr,
    running: waymark_gateway::RunningGateway,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = std::env::var("WAYMARK_LOG").unwrap_or_else(|_| "warn,rumqttd=off".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let temp;
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => {
            temp = tempfile::Builder::new().prefix("waymark-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let shutdown = CancellationToken::new();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // dc-north's UPS shipments report through UPS Track Alert; DHL has no
    // provider here, so its shipment reports in the waymark format.
    let mut ups = CarrierRun::new(&data_dir, Provider::Ups, "demo-ups", "ups")?;
    let mut fleet = CarrierRun::new(&data_dir, Provider::Waymark, "demo-fleet", "dhl")?;

    anyhow::ensure!(
        (1..=8).contains(&args.replicas),
        "--replicas must be 1-8, not {}",
        args.replicas
    );
    anyhow::ensure!(
        args.replicas == 1 || args.store_url.as_deref().is_some_and(|u| u.starts_with("postgres")),
        "--replicas {} needs --store-url postgres://...: central processes share one PostgreSQL",
        args.replicas
    );
    let mut centrals = Vec::new();
    for i in 0..args.replicas {
        let name = if i == 0 {
            "central".to_string()
        } else {
            format!("central-{}", i + 1)
        };
        let central = waymark_sync::start(
            waymark_sync::config::RawConfig {
                data_dir: Some(data_dir.join(name)),
                grpc_listen: Some("127.0.0.1:0".into()),
                http_listen: Some(format!("127.0.0.1:{}", if i == 0 { args.http_port } else { 0 })),
                ops_listen: Some("127.0.0.1:0".into()),
                store: waymark_sync::config::RawStore {
                    url: args.store_url.clone(),
                    ..Default::default()
                },
                carriers: RawCarriers {
                    accounts: vec![ups.raw_account(), fleet.raw_account()],
                    ..Default::default()
                },
                ..Default::default()
            }
            .validate()?,
            shutdown.clone(),
        )
        .await?;
        centrals.push(central);
    }
    let central = &centrals[0];
    let api = format!("http://{}", central.http_addr);
    let http = reqwest::Client::new();
    // The admin token the first central wrote on first start; it is never
    // printed, only its file.
    let token_file = central.admin_token_file.clone();
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading {}", token_file.display()))?
        .trim()
        .to_string();

    let password_hash = waymark_gateway::device_auth::hash_password(DEVICE_PASSWORD.as_bytes())?;
    let mut sites = Vec::new();
    for (n, id) in SITES.into_iter().enumerate() {
        let grpc = centrals[n % centrals.len()].grpc_addr;
        let toml = format!(
            r#"site_id = "{id}"
data_dir = "{dir}"
[mqtt]
listen = "127.0.0.1:0"
[central]
endpoint = "https://{grpc}"
status_interval_secs = 2
reconnect_max_secs = 5
[ops]
listen = "127.0.0.1:0"
[store]
cache_capacity_mb = 16
[[devices]]
id = "pack-1"
read_point = "pack-station-1"
business_step = "packing"
password_hash = "{password_hash}"
[[devices]]
id = "door-3"
kind = "zebra"
read_point = "dock-door-3"
business_step = "loading"
password_hash = "{password_hash}"
[[reconcile.read_points]]
id = "dock-door-3"
device = "door-3"
business_step = "loading"
inside = [1, 2]
outside = [3, 4]
"#,
            dir = data_dir.join(id).display(),
        );
        let config = waymark_gateway::config::RawConfig::from_toml(&toml)?.validate()?;
        // As site IT would: a one-time token from the operator, then `enroll`.
        let enroll_token = enrollment_token(&http, &api, &token, id).await?;
        let enrolled = waymark_gateway::enroll::enroll(&config, &enroll_token, false).await?;
        println!("  {id}: enrolled, site certificate {}", enrolled.cert.display());
        let running = waymark_gateway::start(config, shutdown.clone()).await?;
        sites.push(Site {
            id,
            mqtt: running.mqtt.listen_addr().context("the demo runs embedded brokers")?,
            ops: running.ops_addr,
            running,
        });
    }

    let mut orders = Vec::new();
    // One order shipped from both sites, by two carriers.
    let (north_sscc, south_sscc) = (sscc(100), sscc(101));
    let split = json!({
        "order_number": "SO-1000", "order_type": "routine", "brand": "Acme Outdoor",
        "customer": { "email": "kim@example.com", "postal_code": "10115", "time_zone": "Europe/Berlin", "language": "de" },
        "shipments": [
            { "site_id": SITES[0], "carrier": "ups", "service_level": "ground", "tracking_number": "1ZDEMONORTH",
              "promised_delivery": (chrono::Utc::now() + chrono::Duration::days(3)).format("%Y-%m-%d").to_string(),
              "parcels": [{ "sscc": north_sscc, "items": [{ "sku": "TENT-2P", "quantity": 1 }] }] },
            { "site_id": SITES[1], "carrier": "dhl", "tracking_number": "JDDEMOSOUTH",
              "parcels": [{ "sscc": south_sscc, "items": [{ "sku": "MAT", "quantity": 2 }] }] }
        ]
    });
    let resp = http
        .post(format!("{api}/api/v1/orders"))
        .bearer_auth(&token)
        .json(&split)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "creating SO-1000: {}", resp.text().await?);
    orders.push((SITES[0], "SO-1000".to_string(), north_sscc));
    // The customer's page, as a notification would link it.
    let resp = http
        .post(format!("{api}/api/v1/orders/SO-1000/tracking-link"))
        .bearer_auth(&token)
        .json(&json!({ "ttl_days": 7 }))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "a tracking link for SO-1000: {}",
        resp.text().await?
    );
    let link: serde_json::Value = resp.json().await?;
    let tracking_link = format!("{api}{}", link["url"].as_str().unwrap_or("/track"));
    orders.push((SITES[1], "SO-1000".to_string(), south_sscc));
    ups.tracking_numbers.push("1ZDEMONORTH".into());
    fleet.tracking_numbers.push("JDDEMOSOUTH".into());
    for n in 0..6u64 {
        let site = SITES[(n % 2) as usize];
        let number = format!("SO-{}", 1001 + n);
        let sscc = sscc(n);
        let tracking_number = format!("1ZDEMO{:010}", n);
        let body = json!({ "order_number": number, "site_id": site,
                           "parcels": [{ "sscc": sscc, "tracking_number": tracking_number }] });
        let resp = http
            .post(format!("{api}/api/v1/orders"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "creating {number}: {}", resp.text().await?);
        orders.push((site, number, sscc));
        ups.tracking_numbers.push(tracking_number);
    }
    let carriers = [ups, fleet];

    println!(
        "Waymark demo is running: central ({} on {}), 2 site gateways, simulated scanners and portals.",
        if centrals.len() == 1 {
            "one process".to_string()
        } else {
            format!("{} processes", centrals.len())
        },
        central.store
    );
    println!();
    let bearer = format!("-H \"Authorization: Bearer $(cat {})\"", token_file.display());
    println!("  central API        {api}");
    for (i, c) in centrals.iter().enumerate().skip(1) {
        println!("  central API ({})    http://{}", i + 1, c.http_addr);
    }
    println!("  API token file     {}", token_file.display());
    println!("  an order           curl -s {bearer} {api}/api/v1/orders/SO-1001");
    println!(
        "  a split order      curl -s {bearer} {api}/api/v1/orders/SO-1000   (dc-north and dc-south, ups and dhl)"
    );
    println!("  tracking page      {tracking_link}   (SO-1000 as its customer sees it, in German)");
    println!("  tracking lookup    {api}/track   (order SO-1000 with kim@example.com or 10115; ?lang=fr)");
    println!("  shipped orders     curl -s {bearer} '{api}/api/v1/orders?status=shipped'");
    println!("  EPCIS events       curl -s {bearer} '{api}/epcis/events?perPage=5'");
    println!("  all sites          curl -s {bearer} {api}/api/v1/sites");
    for s in &sites {
        println!(
            "  {:<8} gateway   mqtt {}   status http://{}/status   metrics http://{}/metrics",
            s.id, s.mqtt, s.ops, s.ops
        );
    }
    let north = &sites[0];
    println!(
        "  scan by hand       mosquitto_pub -h {} -p {} -u pack-1 -P {DEVICE_PASSWORD} -t waymark/{}/pack-1/reads -m '{{\"id\":\"{}\"}}'",
        north.mqtt.ip(),
        north.mqtt.port(),
        north.id,
        orders[0].2
    );
    for c in &carriers {
        println!(
            "  carrier webhooks   {}   (provider {}, shipments by {}; secret in {})",
            carrier_sim::post::webhook_url(&api, c.provider, c.account),
            c.provider,
            c.carrier,
            c.secret_file.display()
        );
    }
    if let Some(c) = carriers.first() {
        println!(
            "  a carrier by hand  WAYMARK_DEVSIM_CARRIER_SECRET=$(cat {}) cargo run -p waymark-tests --bin waymark-devsim -- carrier --url {api} --provider {} --account {} --carrier {} --tracking {} --failed-attempts 50 --duplicates 10 --out-of-order 10",
            c.secret_file.display(),
            c.provider,
            c.account,
            c.carrier,
            c.tracking_numbers.first().map_or("1Z...", String::as_str),
        );
    }
    println!("  data               {}", data_dir.display());
    println!();
    println!("Pallets are packed (scanner), then loaded at door 3 (RFID portal), one step every 2 s.");
    println!(
        "Then the carriers' webhooks take every order from label to delivered in about {} s.",
        CARRIER_JOURNEY.as_secs()
    );
    println!("Each order's timeline shows packed, loaded and the carrier's milestones. Ctrl-C stops.");

    let orders_api = OrdersApi {
        http: http.clone(),
        api: api.clone(),
        token: token.clone(),
    };
    let devices = simulate(&sites, orders, carriers.to_vec(), orders_api, shutdown.clone());
    let stop = async {
        match args.duration_secs {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => waymark_gateway::cli::wait_for_signal().await,
        }
    };
    tokio::select! {
        () = stop => {}
        r = devices => r.context("device simulation")??,
    }
    shutdown.cancel();
    for s in sites {
        s.running.wait(Duration::from_secs(5)).await;
    }
    for c in centrals {
        c.wait(Duration::from_secs(5)).await;
    }
    println!("stopped");
    Ok(())
}

/// Issues a one-time enrollment token for `site` through central's API.
async fn enrollment_token(http: &reqwest::Client, api: &str, admin: &str, site: &str) -> anyhow::Result<String> {
    let resp = http
        .post(format!("{api}/api/v1/sites/{site}/enrollment-tokens"))
        .bearer_auth(admin)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "enrollment token for {site}: {}",
        resp.text().await?
    );
    let body: serde_json::Value = resp.json().await?;
    body["token"]
        .as_str()
        .map(String::from)
        .context("no token in the reply")
}

/// A valid SSCC with GS1's example company prefix 0614141.
fn sscc(serial: u64) -> String {
    waymark_devices::sim::sscc("0614141", serial)
}

/// Central's order API, to see the carriers' work arrive.
struct OrdersApi {
    http: reqwest::Client,
    api: String,
    token: String,
}

impl OrdersApi {
    async fn status(&self, order: &str) -> anyhow::Result<String> {
        let resp = self
            .http
            .get(format!("{}/api/v1/orders/{order}", self.api))
            .bearer_auth(&self.token)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "GET {order}: {}", resp.status());
        let body: serde_json::Value = resp.json().await?;
        Ok(body["status"].as_str().unwrap_or_default().to_string())
    }
}

/// Each carrier account posts the journeys of its tracking numbers, live
/// (every webhook at its event's time), all accounts at once; then waits for
/// the orders to say `delivered`.
async fn deliver_all(
    carriers: Vec<CarrierRun>,
    api: &OrdersApi,
    order_numbers: Vec<String>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let start = chrono::Utc::now();
    let runs: Vec<_> = carriers
        .into_iter()
        .map(|c| {
            let url = api.api.clone();
            let span = tracing::info_span!("carrier", provider = %c.provider, account = c.account);
            let run = async move {
                let secret = std::fs::read_to_string(&c.secret_file)
                    .with_context(|| format!("reading {}", c.secret_file.display()))?;
                let scenario = Scenario {
                    carrier: c.carrier.into(),
                    start,
                    journey: CARRIER_JOURNEY,
                    real_time: true,
                    seed: 1000,
                    ..Scenario::default()
                };
                let summary = carrier_sim::deliver(
                    &url,
                    c.provider,
                    c.account,
                    secret.trim(),
                    &c.tracking_numbers,
                    &scenario,
                )
                .await?;
                println!("  carrier {}/{}: {summary}", c.provider, c.account);
                anyhow::Ok(())
            };
            tokio::spawn(run.instrument(span))
        })
        .collect();
    for run in runs {
        run.await.context("a carrier task")??;
    }
    // Normalization runs after each webhook is stored: wait for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut pending = order_numbers;
    while !pending.is_empty() && tokio::time::Instant::now() < deadline && !shutdown.is_cancelled() {
        let mut still = Vec::new();
        for o in pending {
            if api.status(&o).await? != "delivered" {
                still.push(o);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    if pending.is_empty() {
        println!("  every demo order is delivered (GET /api/v1/orders/SO-1000 says \"delivered\")");
    } else {
        tracing::warn!(orders = ?pending, "not delivered 30 s after the carriers' last webhook");
        println!("  not delivered yet: {}", pending.join(", "));
    }
    Ok(())
}

/// Packs, then loads, each order's parcel, with a pause between steps; then
/// the carriers take over.
fn simulate(
    sites: &[Site],
    orders: Vec<(&'static str, String, String)>,
    carriers: Vec<CarrierRun>,
    api: OrdersApi,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let addrs: Vec<(&'static str, SocketAddr)> = sites.iter().map(|s| (s.id, s.mqtt)).collect();
    let mut order_numbers: Vec<String> = orders.iter().map(|(_, number, _)| number.clone()).collect();
    order_numbers.dedup();
    tokio::spawn(async move {
        // Each site's pack-station scanner; the portals connect per pallet.
        let scanners: Vec<_> = addrs
            .iter()
            .map(|(site, addr)| {
                let login = Some(("pack-1", DEVICE_PASSWORD));
                (*site, Publisher::connect_with(*addr, &format!("{site}-pack-1"), login))
            })
            .collect();
        let steps = orders
            .iter()
            .flat_map(|o| [(o, "pack-1"), (o, "door-3")])
            .collect::<Vec<_>>();
        for ((site, number, sscc), device) in steps {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            if device == "door-3" {
                // The dock door is a Zebra portal: dozens of reads as the pallet rolls out.
                let Some((_, addr)) = addrs.iter().find(|(s, _)| s == site) else {
                    continue;
                };
                let portal = PortalSim {
                    broker: *addr,
                    site: site.to_string(),
                    device: device.to_string(),
                    format: PortalFormat::Zebra,
                    parcels: vec![sscc.clone()],
                    rate_per_sec: 10.0,
                    neighbour: None,
                    cross_read_percent: 0.0,
                    seed: number.bytes().map(u64::from).sum(),
                    direction: devsim::Direction::Outbound,
                    password: Some(DEVICE_PASSWORD.into()),
                };
                let r = portal.run().await?;
                println!(
                    "  {site}: {device} portal read the pallet of {number} {} times on its way out",
                    r.reads
                );
            } else if let Some((_, p)) = scanners.iter().find(|(s, _)| s == site) {
                let now = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
                let read = json!({ "id": sscc, "time": now });
                p.publish(&format!("waymark/{site}/{device}/reads"), read.to_string().into_bytes())
                    .await?;
                println!("  {site}: {device} scanned the pallet of {number}");
            }
        }
        deliver_all(carriers, &api, order_numbers, &shutdown).await?;
        shutdown.cancelled().await;
        Ok(())
    })
}
