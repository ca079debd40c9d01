//! `waymark-devsim`: simulated RFID portals, barcode scanners and carriers.
//!
//! waymark-devsim portal --broker 127.0.0.1:1883 --site dc-north --device door-3 --format zebra --parcels 100
//! waymark-devsim scanner --path /dev/pts/5 --codes 50
//! waymark-devsim carrier --url http://127.0.0.1:8080 --provider ups --account main --tracking 1Z1,1Z2

use std::net::SocketAddr;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use waymark_sync::carriers::Provider;
use waymark_tests::carrier_sim::{self, Scenario};
use waymark_tests::devsim::{self, PortalFormat, PortalSim, Symbology};

#[derive(Debug, Parser)]
#[command(about = "Simulated RFID portals (MQTT), barcode scanners (serial) and carriers (signed webhooks)")]
struct Args {
    #[command(subcommand)]
    device: Device,
}

#[derive(Debug, Subcommand)]
enum Device {
    /// A dock-door portal: each pallet's SSCC-96 tag read 20-200 times on 4 antennas.
    Portal {
        /// The gateway's MQTT listener (or the site broker), host:port.
        #[arg(long)]
        broker: SocketAddr,
        #[arg(long)]
        site: String,
        #[arg(long)]
        device: String,
        #[arg(long, value_enum, default_value = "zebra")]
        format: PortalFormat,
        #[arg(long, default_value_t = 100)]
        parcels: u64,
        /// Serial number of the first pallet's SSCC (company prefix 0614141).
        #[arg(long, default_value_t = 1)]
        first: u64,
        /// Pallets per second.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// The neighbouring door's device id; it catches some passes weakly.
        #[arg(long)]
        neighbour: Option<String>,
        #[arg(long, default_value_t = 2.0)]
        cross_read_percent: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// outbound (inside antennas 1-2, then outside 3-4), inbound, or unknown (random).
        #[arg(long, value_enum, default_value = "outbound")]
        direction: DirectionArg,
        /// The devices' MQTT password (username = device id); anonymous without it.
        #[arg(long, env = "WAYMARK_DEVSIM_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// A scanner writing framed codes (CR LF) to a serial path.
    Scanner {
        #[arg(long)]
        path: String,
        #[arg(long, default_value_t = 9600)]
        baud: u32,
        #[arg(long, value_enum, default_value = "gs1-128")]
        symbology: Symbology,
        #[arg(long, default_value_t = 20)]
        codes: u64,
        #[arg(long, default_value_t = 1)]
        first: u64,
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        #[arg(long, default_value_t = 0.0)]
        noise_percent: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A carrier or tracking aggregator: signed webhooks in the provider's own
    /// format telling each tracking number's journey, label to delivery.
    Carrier(CarrierArgs),
}

#[derive(Debug, clap::Args)]
struct CarrierArgs {
    /// Central's HTTP API, http://host:port.
    #[arg(long)]
    url: String,
    /// easypost, aftership, shippo, 17track, ups, fedex, karrio or waymark.
    #[arg(long, value_parser = parse_provider)]
    provider: Provider,
    /// The account's name in central's `[[carriers.accounts]]`.
    #[arg(long)]
    account: String,
    /// The account's webhook secret.
    #[arg(long, env = "WAYMARK_DEVSIM_CARRIER_SECRET", hide_env_values = true)]
    secret: String,
    /// Tracking numbers, comma-separated.
    #[arg(long, value_delimiter = ',', required_unless_present = "tracking_file")]
    tracking: Vec<String>,
    /// A file of tracking numbers, one a line (`#` starts a comment).
    #[arg(long)]
    tracking_file: Option<PathBuf>,
    /// The carrier moving the parcels, as aggregators name it.
    #[arg(long, default_value = "ups")]
    carrier: String,
    /// When the labels are created (RFC 3339); two days ago by default.
    #[arg(long)]
    start: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Label to last step, in seconds (44 h by default).
    #[arg(long, default_value_t = carrier_sim::scenario::DEFAULT_JOURNEY.as_secs())]
    journey_secs: u64,
    /// Percent of webhooks sent twice.
    #[arg(long, default_value_t = 0.0)]
    duplicates: f64,
    /// Percent of webhooks swapped with the tracking number's next one.
    #[arg(long, default_value_t = 0.0)]
    out_of_order: f64,
    /// Percent of parcels with a failed delivery attempt before delivery.
    #[arg(long, default_value_t = 0.0)]
    failed_attempts: f64,
    /// Percent of parcels returned to sender instead of delivered.
    #[arg(long, default_value_t = 0.0)]
    return_to_sender: f64,
    /// Pause between posts, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Post each webhook no earlier than its event's time.
    #[arg(long)]
    real_time: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    Provider::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        format!("one of {}", all.join(", "))
    })
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DirectionArg {
    Outbound,
    Inbound,
    Unknown,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().device {
        Device::Portal {
            broker,
            site,
            device,
            format,
            parcels,
            first,
            rate,
            neighbour,
            cross_read_percent,
            seed,
            direction,
            password,
        } => {
            let sim = PortalSim {
                broker,
                site,
                device,
                format,
                parcels: devsim::parcels(first, parcels),
                rate_per_sec: rate,
                neighbour,
                cross_read_percent,
                seed,
                direction: match direction {
                    DirectionArg::Outbound => devsim::Direction::Outbound,
                    DirectionArg::Inbound => devsim::Direction::Inbound,
                    DirectionArg::Unknown => devsim::Direction::Unknown,
                },
                password,
            };
            let r = sim.run().await?;
            println!(
                "{} passes, {} reads in {} payloads; {} passes also read by the neighbour ({} reads)",
                r.passes, r.reads, r.payloads, r.cross_read_passes, r.cross_reads
            );
        }
        Device::Scanner {
            path,
            baud,
            symbology,
            codes,
            first,
            rate,
            noise_percent,
            seed,
        } => {
            let ssccs = devsim::parcels(first, codes);
            let n = devsim::scanner(&path, baud, symbology, &ssccs, rate, noise_percent, seed).await?;
            println!("{n} codes written to {path}");
        }
        Device::Carrier(args) => carrier(args).await?,
    }
    Ok(())
}

async fn carrier(args: CarrierArgs) -> anyhow::Result<()> {
    let filter = std::env::var("WAYMARK_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    for (name, v) in [
        ("--duplicates", args.duplicates),
        ("--out-of-order", args.out_of_order),
        ("--failed-attempts", args.failed_attempts),
        ("--return-to-sender", args.return_to_sender),
    ] {
        anyhow::ensure!((0.0..=100.0).contains(&v), "{name} is a percentage (0-100), not {v}");
    }
    let mut numbers = args.tracking;
    if let Some(path) = &args.tracking_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        numbers.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    numbers.retain(|n| !n.trim().is_empty());
    anyhow::ensure!(
        !numbers.is_empty(),
        "no tracking numbers (--tracking or --tracking-file)"
    );
    let scenario = Scenario {
        carrier: args.carrier,
        start: args.start.map_or(Scenario::default().start, |t| t.to_utc()),
        journey: Duration::from_secs(args.journey_secs),
        duplicates_percent: args.duplicates,
        out_of_order_percent: args.out_of_order,
        failed_attempts_percent: args.failed_attempts,
        return_to_sender_percent: args.return_to_sender,
        delay: Duration::from_millis(args.delay_ms),
        real_time: args.real_time,
        seed: args.seed,
    };
    let url = carrier_sim::post::webhook_url(&args.url, args.provider, &args.account);
    println!(
        "posting {} webhooks for {} tracking numbers to {url}",
        args.provider,
        numbers.len()
    );
    let summary = carrier_sim::deliver(
        &args.url,
        args.provider,
        &args.account,
        &args.secret,
        &numbers,
        &scenario,
    )
    .await?;
    println!("{summary}");
    anyhow::ensure!(summary.all_accepted(), "not every webhook was accepted");
    Ok(())
}
