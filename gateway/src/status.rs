//! The gateway's status: one snapshot for the ops endpoint and the periodic
//! report to central, built from the store, the link and the device board.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::debug;
use waymark_proto::v1::{DeviceStatus, GatewayStatus, LinkState};

use crate::central_link::SyncClient;
use crate::config::DeviceConfig;
use crate::link_status::LinkStatus;
use crate::store::Store;

/// Per-device counters kept for the status screen (metrics keep the same counts).
#[derive(Debug, Default)]
pub struct DeviceBoard {
    devices: Mutex<BTreeMap<String, DeviceLine>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceLine {
    pub id: String,
    pub kind: String,
    pub read_point: String,
    pub reads_total: u64,
    pub rejected_total: u64,
    /// Milliseconds since the epoch of the last accepted payload; 0 if none yet.
    pub last_read_ms: i64,
    /// Serial scanners: whether the port is open. `None` for MQTT devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// Serial scanners: bytes received since start, framed or not (is the
    /// scanner sending anything at all?). `None` for MQTT devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_alarm: Option<String>,
}

impl DeviceBoard {
    pub fn new(devices: &BTreeMap<String, DeviceConfig>) -> Self {
        let lines = devices
            .values()
            .map(|d| {
                let line = DeviceLine {
                    id: d.id.clone(),
                    kind: d.kind.as_str().into(),
                    read_point: d.read_point.clone(),
                    connected: d.serial.as_ref().map(|_| false),
                    bytes_total: d.serial.as_ref().map(|_| 0),
                    ..DeviceLine::default()
                };
                (d.id.clone(), line)
            })
            .collect();
        Self {
            devices: Mutex::new(lines),
        }
    }

    fn update(&self, device: &str, f: impl FnOnce(&mut DeviceLine)) {
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(line) = devices.get_mut(device) {
            f(line);
        }
    }

    pub fn accepted(&self, device: &str, reads: u64) {
        let now = Utc::now().timestamp_millis();
        self.update(device, |l| {
            l.reads_total += reads;
            l.last_read_ms = now;
        });
    }

    pub fn received_bytes(&self, device: &str, n: usize) {
        self.update(device, |l| *l.bytes_total.get_or_insert(0) += n as u64);
    }

    pub fn rejected(&self, device: &str) {
        self.update(device, |l| l.rejected_total += 1);
    }

    pub fn alarm(&self, device: &str, alarm: String) {
        self.update(device, |l| l.last_alarm = Some(alarm));
    }

    pub fn connected(&self, device: &str, up: bool) {
        self.update(device, |l| l.connected = Some(up));
    }

    pub fn lines(&self) -> Vec<DeviceLine> {
        let devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        devices.values().cloned().collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub site_id: String,
    pub version: &'static str,
    pub link: &'static str,
    pub last_sequence: u64,
    pub acked_sequence: u64,
    pub backlog_events: u64,
    /// Age of the oldest event central has not acknowledged; 0 when caught up.
    pub lag_secs: f64,
    /// Seconds since central last acknowledged a batch; `None` before the first ack.
    pub last_ack_age_secs: Option<f64>,
    pub orders_held: u64,
    pub store_bytes: u64,
    pub disk_budget: BudgetView,
    pub quarantine: crate::stage::QuarantineView,
    pub devices: Vec<DeviceLine>,
    /// The site certificate for the link to central; `None` on a plaintext link.
    pub certificate: Option<CertificateView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateView {
    pub expires_at: String,
    pub days_left: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetView {
    pub used_bytes: u64,
    pub budget_bytes: u64,
    pub used_percent: f64,
}

pub struct StatusSource {
    pub site_id: String,
    pub store: Arc<Store>,
    pub link: Arc<LinkStatus>,
    pub board: Arc<DeviceBoard>,
    pub quarantine: Arc<Mutex<crate::stage::QuarantineView>>,
    /// When the site certificate expires; `None` on a development plaintext link.
    pub cert_not_after_ms: Option<i64>,
}

impl StatusSource {
    pub fn snapshot(&self) -> StatusView {
        let last = self.store.last_sequence();
        let acked = self.store.acked_sequence().unwrap_or(0).min(last);
        let last_ack = self.link.last_ack_ms();
        let now_ms = Utc::now().timestamp_millis();
        let oldest_unacked = (last > acked)
            .then(|| {
                self.store
                    .events_from(acked + 1, 1)
                    .ok()?
                    .first()
                    .map(|e| e.record_time_ms)
            })
            .flatten();
        StatusView {
            site_id: self.site_id.clone(),
            version: env!("CARGO_PKG_VERSION"),
            link: link_name(self.link.state()),
            last_sequence: last,
            acked_sequence: acked,
            backlog_events: last - acked,
            lag_secs: oldest_unacked.map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0),
            last_ack_age_secs: (last_ack > 0).then(|| (now_ms - last_ack).max(0) as f64 / 1000.0),
            orders_held: self.store.orders_held(),
            store_bytes: self.store.size_on_disk(),
            disk_budget: {
                let b = self.store.budget_use();
                BudgetView {
                    used_bytes: b.log_bytes,
                    budget_bytes: b.budget_bytes,
                    used_percent: (b.ratio() * 1000.0).round() / 10.0,
                }
            },
            quarantine: self.quarantine.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            devices: self.board.lines(),
            certificate: self.cert_not_after_ms.map(|ms| CertificateView {
                expires_at: chrono::DateTime::from_timestamp_millis(ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                days_left: (ms - now_ms).div_euclid(86_400_000),
            }),
        }
    }

    /// Sets the gauges that are cheapest to compute when scraped.
    pub fn refresh_metrics(&self, metrics: &crate::metrics::GatewayMetrics) -> StatusView {
        let v = self.snapshot();
        metrics.backlog_events.set(v.backlog_events as i64);
        metrics.replication_lag_seconds.set(v.lag_secs);
        metrics
            .last_ack_timestamp_seconds
            .set(self.link.last_ack_ms() as f64 / 1000.0);
        metrics.store_size_bytes.set(v.store_bytes as i64);
        if let Some(ms) = self.cert_not_after_ms {
            metrics.certificate_expiry_timestamp_seconds.set(ms / 1000);
        }
        // Estimated from the average size of the events the log holds.
        let retained = self
            .store
            .first_sequence()
            .ok()
            .flatten()
            .map_or(0, |first| v.last_sequence + 1 - first);
        let per_event = v.disk_budget.used_bytes.checked_div(retained).unwrap_or(0);
        metrics.backlog_bytes.set((per_event * v.backlog_events) as i64);
        let now_ms = Utc::now().timestamp_millis();
        for d in v.devices.iter().filter(|d| d.last_read_ms > 0) {
            let label = crate::metrics::DeviceLabel { device: d.id.clone() };
            metrics
                .device_last_read_age
                .get_or_create(&label)
                .set((now_ms - d.last_read_ms).max(0) as f64 / 1000.0);
        }
        v
    }

    fn report(&self) -> GatewayStatus {
        let v = self.snapshot();
        GatewayStatus {
            site_id: v.site_id,
            gateway_version: v.version.into(),
            reported_ms: Utc::now().timestamp_millis(),
            last_sequence: v.last_sequence,
            acked_sequence: v.acked_sequence,
            backlog_events: v.backlog_events,
            link: self.link.state() as i32,
            devices: v
                .devices
                .into_iter()
                .map(|d| DeviceStatus {
                    device_id: d.id,
                    kind: d.kind,
                    reads_total: d.reads_total,
                    rejected_total: d.rejected_total,
                    last_read_ms: d.last_read_ms,
                })
                .collect(),
            orders_held: v.orders_held,
            lag_secs: v.lag_secs,
            certificate_not_after_ms: self.cert_not_after_ms.unwrap_or(0),
        }
    }

    /// Sends a status report every `interval` until shutdown; failures are only
    /// logged, since the replication stream already reports the link.
    pub async fn report_loop(self, client: SyncClient, interval: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = client.clone().report_status(self.report()).await {
                debug!(error = %e.message(), "status report not delivered");
            }
        }
    }
}

pub fn link_name(state: LinkState) -> &'static str {
    match state {
        LinkState::Connected => "connected",
        LinkState::Connecting => "connecting",
        LinkState::Disconnected => "disconnected",
        LinkState::Unspecified => "starting",
    }
}
