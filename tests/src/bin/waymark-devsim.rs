//! `waymark-devsim`: simulated RFID portals and barcode scanners.
//!
//! waymark-devsim portal --broker 127.0.0.1:1883 --site dc-north --device door-3 --format zebra --parcels 100
//! waymark-devsim scanner --path /dev/pts/5 --codes 50

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use waymark_tests::devsim::{self, PortalFormat, PortalSim, Symbology};

#[derive(Debug, Parser)]
#[command(about = "Simulated RFID portals (MQTT) and barcode scanners (serial)")]
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
    }
    Ok(())
}
