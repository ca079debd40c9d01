//! Simulated devices talking to a gateway the way real ones do: an RFID portal
//! publishing Zebra, Impinj or generic payloads over MQTT, and a barcode scanner
//! writing framed codes to a serial line. Used by `waymark-devsim`, the tests and
//! the benchmarks; the payloads come from `waymark_devices::sim`.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, FixedOffset, Local, Utc};
use tokio::io::AsyncWriteExt;
use waymark_devices::sim::portal::{self, PassShape};
use waymark_devices::sim::{self as payloads, sscc};
use waymark_devices::zebra::ZebraMode;
use waymark_devices::{Identifier, IdentifierKind, Read};

use crate::mqtt::Publisher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PortalFormat {
    Zebra,
    Impinj,
    Generic,
}

/// A door portal that sees `parcels` pallets go by, one every `1/rate` seconds.
#[derive(Debug, Clone)]
pub struct PortalSim {
    pub broker: std::net::SocketAddr,
    pub site: String,
    pub device: String,
    pub format: PortalFormat,
    /// SSCCs of the pallets, each carrying an SSCC-96 tag.
    pub parcels: Vec<String>,
    pub rate_per_sec: f64,
    /// The neighbouring door's device, which catches some passes weakly.
    pub neighbour: Option<String>,
    pub cross_read_percent: f64,
    pub seed: u64,
    /// Which way pallets go: antennas 1-2 face inside, 3-4 outside. `Unknown` picks
    /// antennas at random, as a portal without sides would see it.
    pub direction: Direction,
    /// The devices' MQTT password: each device (and the neighbour) logs in with its
    /// id as username on its own connection. `None`: anonymous.
    pub password: Option<String>,
}

pub use waymark_gateway::reconcile::Direction;

/// What the portal sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalReport {
    pub passes: usize,
    pub reads: usize,
    /// Passes the neighbour also read, and how many reads it sent.
    pub cross_read_passes: usize,
    pub cross_reads: usize,
    pub payloads: u64,
}

/// Parcels numbered from `first` with GS1's example company prefix.
pub fn parcels(first: u64, count: u64) -> Vec<String> {
    (first..first + count).map(|n| sscc("0614141", n)).collect()
}

/// The EPC URN of the SSCC-96 tag on a pallet labelled `sscc`.
pub fn sscc_tag(sscc: &str) -> anyhow::Result<Identifier> {
    let hex = payloads::sscc96_hex_for_sscc(0, sscc, 7)?;
    Ok(Identifier {
        kind: IdentifierKind::Epc,
        value: waymark_devices::epc::decode_hex(&hex)?.urn(),
    })
}

impl PortalSim {
    pub async fn run(&self) -> anyhow::Result<PortalReport> {
        let connect = |device: &str| {
            let login = self.password.as_deref().map(|p| (device, p));
            Publisher::connect_with(self.broker, &format!("devsim-{}-{device}", self.site), login)
        };
        let mut mqtt = connect(&self.device);
        let mut neighbour_mqtt = self.neighbour.as_deref().map(connect);
        let mut neighbour_payloads = 0;
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let shape = PassShape::default();
        let gap = Duration::from_secs_f64(1.0 / self.rate_per_sec.max(0.001));
        let t0: DateTime<FixedOffset> = Utc::now().with_timezone(Local::now().offset());
        let mut report = PortalReport::default();
        for (i, parcel) in self.parcels.iter().enumerate() {
            let tag = sscc_tag(parcel)?;
            let start = t0 + chrono::Duration::from_std(gap * i as u32)?;
            let reads =
                waymark_gateway::reconcile::sim::directional_pass(&tag, start, &shape, self.direction, &mut rng);
            report.passes += 1;
            report.reads += reads.len();
            report.payloads += self.publish(&mqtt, &self.device, &reads).await?;
            if let (Some(neighbour), Some(to_neighbour)) = (&self.neighbour, &neighbour_mqtt)
                && rng.f64() * 100.0 < self.cross_read_percent
            {
                let cross = portal::cross_reads(&tag, start, &shape, &mut rng);
                report.cross_read_passes += 1;
                report.cross_reads += cross.len();
                neighbour_payloads += self.publish(to_neighbour, neighbour, &cross).await?;
            }
            tokio::time::sleep(gap).await;
        }
        mqtt.wait_acked(report.payloads, Duration::from_secs(30)).await?;
        if let Some(n) = &mut neighbour_mqtt {
            n.wait_acked(neighbour_payloads, Duration::from_secs(30)).await?;
        }
        report.payloads += neighbour_payloads;
        Ok(report)
    }

    /// Publishes reads as the reader would batch them; returns the payload count.
    async fn publish(&self, mqtt: &Publisher, device: &str, reads: &[Read]) -> anyhow::Result<u64> {
        let topic = format!("waymark/{}/{device}/reads", self.site);
        let mut n = 0;
        for chunk in reads.chunks(500) {
            let payload = match self.format {
                PortalFormat::Zebra => payloads::zebra_payload(chunk, ZebraMode::Portal)?,
                PortalFormat::Impinj => payloads::impinj_stream(chunk, device)?,
                PortalFormat::Generic => payloads::generic_payload(chunk),
            };
            mqtt.publish(&topic, payload).await?;
            n += 1;
        }
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Symbology {
    /// GS1-128 SSCC shipping labels.
    Gs1_128,
    /// GS1 QR codes with a Digital Link to the SSCC.
    Qr,
    /// EAN-13 item barcodes.
    Ean13,
}

/// Writes `codes` framed scans (CR LF) to a serial path, `rate` per second, with
/// `noise_percent` of the frames replaced by line noise.
pub async fn scanner(
    path: &str,
    baud: u32,
    symbology: Symbology,
    ssccs: &[String],
    rate_per_sec: f64,
    noise_percent: f64,
    seed: u64,
) -> anyhow::Result<usize> {
    use tokio_serial::SerialPortBuilderExt;
    let mut port = tokio_serial::new(path, baud)
        .open_native_async()
        .with_context(|| format!("opening {path}"))?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let framing = waymark_devices::serial::FramingConfig::default();
    let mut valid = 0;
    for (i, s) in ssccs.iter().enumerate() {
        if rng.f64() * 100.0 < noise_percent {
            port.write_all(b"\xff\x00garbage\r\n").await?;
        }
        let text = match symbology {
            Symbology::Gs1_128 => payloads::gs1_128_sscc(s),
            Symbology::Qr => payloads::qr_digital_link_sscc(s),
            Symbology::Ean13 => {
                let body = format!("400638133{:03}", i % 1000);
                payloads::ean13(&format!(
                    "{body}{}",
                    waymark_devices::gs1::compute_check_digit(body.as_bytes())
                ))
            }
        };
        port.write_all(&payloads::frame(&text, &framing)).await?;
        valid += 1;
        tokio::time::sleep(Duration::from_secs_f64(1.0 / rate_per_sec.max(0.001))).await;
    }
    port.flush().await?;
    Ok(valid)
}
