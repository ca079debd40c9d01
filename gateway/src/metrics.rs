//! The gateway's Prometheus metrics. Every rejected or shed input is counted here
//! by reason; the ops endpoint renders the registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeviceLabel {
    pub device: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlarmLabel {
    pub device: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabel {
    pub reason: &'static str,
    /// The registered device id, or "unknown" so that unknown ids cannot grow the series.
    pub device: String,
}

/// Why an exception event was raised: the wire event's `exception` field.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExceptionLabel {
    pub reason: &'static str,
}

pub struct GatewayMetrics {
    registry: Registry,
    pub reads: Family<DeviceLabel, Counter>,
    pub rejected: Family<RejectLabel, Counter>,
    pub events_recorded: Counter,
    pub events_duplicate: Counter,
    pub events_replicated: Counter,
    /// Milestones and exceptions sent ahead of a backlog (priority lane).
    pub events_expedited: Counter,
    /// Events central lost and this store had already compacted (declared gaps).
    pub events_lost: Counter,
    pub backlog_events: Gauge,
    pub commit_seconds: Histogram,
    pub link_connected: Gauge,
    pub link_reconnects: Counter,
    pub orders_held: Gauge,
    pub mqtt_connections: Gauge,
    pub log_bytes: Gauge,
    pub budget_bytes: Gauge,
    pub budget_alarm: Gauge,
    pub events_compacted: Counter,
    pub device_alarms: Family<AlarmLabel, Counter>,
    pub device_reads_purged: Family<DeviceLabel, Counter>,
    pub device_connected: Family<DeviceLabel, Gauge>,
    pub device_events_recorded: Family<DeviceLabel, Counter>,
    pub device_last_read_age: Family<DeviceLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub recorded_bytes: Counter,
    pub replicated_bytes: Counter,
    pub backlog_bytes: Gauge,
    pub replication_lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub last_ack_timestamp_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// When the site certificate for the link to central expires (unix seconds).
    pub certificate_expiry_timestamp_seconds: Gauge,
    pub store_size_bytes: Gauge,
    pub read_to_recorded_seconds: Histogram,
    pub reconcile_cross_reads: Counter,
    pub reconcile_blips: Counter,
    pub reconcile_reads_late: Counter,
    pub reconcile_reads_unmapped: Counter,
    /// By reason: missing_prerequisite, unmatched_expired, unmatched_overflow, scanned_after_cancel.
    pub reconcile_exceptions: Family<ExceptionLabel, Counter>,
    pub reconcile_rematched: Counter,
    pub reconcile_scans_repeated: Counter,
    pub quarantine_size: Gauge,
    pub mqtt_backpressure_waits: Counter,
}

impl std::fmt::Debug for GatewayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayMetrics").finish_non_exhaustive()
    }
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("waymark");
        let m = Self {
            reads: Family::default(),
            rejected: Family::default(),
            events_recorded: Counter::default(),
            events_duplicate: Counter::default(),
            events_replicated: Counter::default(),
            events_expedited: Counter::default(),
            events_lost: Counter::default(),
            backlog_events: Gauge::default(),
            commit_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
            link_connected: Gauge::default(),
            link_reconnects: Counter::default(),
            orders_held: Gauge::default(),
            mqtt_connections: Gauge::default(),
            log_bytes: Gauge::default(),
            budget_bytes: Gauge::default(),
            budget_alarm: Gauge::default(),
            events_compacted: Counter::default(),
            device_alarms: Family::default(),
            device_reads_purged: Family::default(),
            device_connected: Family::default(),
            device_events_recorded: Family::default(),
            device_last_read_age: Family::default(),
            recorded_bytes: Counter::default(),
            replicated_bytes: Counter::default(),
            backlog_bytes: Gauge::default(),
            replication_lag_seconds: Gauge::default(),
            last_ack_timestamp_seconds: Gauge::default(),
            certificate_expiry_timestamp_seconds: Gauge::default(),
            store_size_bytes: Gauge::default(),
            read_to_recorded_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            reconcile_cross_reads: Counter::default(),
            reconcile_blips: Counter::default(),
            reconcile_reads_late: Counter::default(),
            reconcile_reads_unmapped: Counter::default(),
            reconcile_exceptions: Family::default(),
            reconcile_rematched: Counter::default(),
            reconcile_scans_repeated: Counter::default(),
            quarantine_size: Gauge::default(),
            mqtt_backpressure_waits: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("reads", "Reads decoded from registered devices", m.reads.clone());
        registry.register(
            "rejected",
            "Payloads, packets and connections rejected, by reason",
            m.rejected.clone(),
        );
        registry.register("events_recorded", "Events durably recorded", m.events_recorded.clone());
        registry.register(
            "events_duplicate",
            "Derived events already in the store (redelivered reads)",
            m.events_duplicate.clone(),
        );
        registry.register(
            "events_replicated",
            "Events acknowledged as durable by central",
            m.events_replicated.clone(),
        );
        registry.register(
            "events_expedited",
            "Milestone and exception events sent ahead of a backlog (priority lane)",
            m.events_expedited.clone(),
        );
        registry.register(
            "events_lost",
            "Events central lost after acknowledging them, already compacted here (declared to central as a gap)",
            m.events_lost.clone(),
        );
        registry.register(
            "backlog_events",
            "Recorded events not yet acknowledged by central",
            m.backlog_events.clone(),
        );
        registry.register(
            "store_commit_seconds",
            "Time to write and fdatasync one group commit",
            m.commit_seconds.clone(),
        );
        registry.register(
            "link_connected",
            "1 while the replication stream to central is up",
            m.link_connected.clone(),
        );
        registry.register(
            "link_reconnects",
            "Replication stream (re)connection attempts",
            m.link_reconnects.clone(),
        );
        registry.register(
            "orders_held",
            "Orders of this site in the local store",
            m.orders_held.clone(),
        );
        registry.register(
            "mqtt_connections",
            "Open device connections on the MQTT listener",
            m.mqtt_connections.clone(),
        );
        registry.register(
            "store_log_bytes",
            "Bytes of events and their index in the store (what the disk budget caps)",
            m.log_bytes.clone(),
        );
        registry.register(
            "store_budget_bytes",
            "The configured disk budget",
            m.budget_bytes.clone(),
        );
        registry.register(
            "store_budget_alarm",
            "1 while the store is above the budget alarm threshold",
            m.budget_alarm.clone(),
        );
        registry.register(
            "events_compacted",
            "Acknowledged events removed by retention or to make room",
            m.events_compacted.clone(),
        );
        registry.register(
            "device_alarms",
            "Alarms reported by readers (antenna, inventory status, overflow)",
            m.device_alarms.clone(),
        );
        registry.register(
            "device_reads_purged",
            "Reads a reader reports it purged before sending (overflow): lost at the device",
            m.device_reads_purged.clone(),
        );
        registry.register(
            "device_connected",
            "1 while a serial scanner's port is open",
            m.device_connected.clone(),
        );
        registry.register(
            "device_events_recorded",
            "Events recorded from each device's reads",
            m.device_events_recorded.clone(),
        );
        registry.register(
            "device_last_read_age_seconds",
            "Seconds since each device's last accepted read",
            m.device_last_read_age.clone(),
        );
        registry.register(
            "recorded_bytes",
            "Bytes of events recorded (backlog in)",
            m.recorded_bytes.clone(),
        );
        registry.register(
            "replicated_bytes",
            "Bytes of events acknowledged by central (backlog out)",
            m.replicated_bytes.clone(),
        );
        registry.register(
            "backlog_bytes",
            "Bytes of events not yet acknowledged",
            m.backlog_bytes.clone(),
        );
        registry.register(
            "replication_lag_seconds",
            "Age of the oldest event central has not acknowledged (0 when caught up)",
            m.replication_lag_seconds.clone(),
        );
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "When the site certificate for the link to central expires (alert well before)",
            m.certificate_expiry_timestamp_seconds.clone(),
        );
        registry.register(
            "last_ack_timestamp_seconds",
            "When central last acknowledged a batch (Unix time; 0 before the first)",
            m.last_ack_timestamp_seconds.clone(),
        );
        registry.register(
            "store_size_bytes",
            "The store's size on disk",
            m.store_size_bytes.clone(),
        );
        registry.register(
            "read_to_recorded_seconds",
            "From a payload's arrival to the durable commit of its events",
            m.read_to_recorded_seconds.clone(),
        );
        for (name, help, c) in [
            (
                "cross_reads_suppressed",
                "Stays dropped because an adjacent read point had the better claim",
                &m.reconcile_cross_reads,
            ),
            (
                "blips_ignored",
                "Stays under the minimum read count or duration",
                &m.reconcile_blips,
            ),
            (
                "reads_late",
                "Reads that arrived after their stay was decided",
                &m.reconcile_reads_late,
            ),
            (
                "reads_unmapped",
                "Reads on an antenna no read point covers",
                &m.reconcile_reads_unmapped,
            ),
            (
                "rematched",
                "Quarantined stays matched once their order arrived",
                &m.reconcile_rematched,
            ),
            (
                "scans_repeated",
                "Scans folded into an earlier scan of the same label at the same station",
                &m.reconcile_scans_repeated,
            ),
        ] {
            registry.register(name, help, c.clone());
        }
        registry.register(
            "exceptions",
            "Exception events by reason (missing_prerequisite, unmatched_expired, unmatched_overflow, scanned_after_cancel)",
            m.reconcile_exceptions.clone(),
        );
        registry.register(
            "mqtt_backpressure_waits",
            "Times a device's publish waited for ingest to catch up (devices slowed, nothing dropped)",
            m.mqtt_backpressure_waits.clone(),
        );
        registry.register(
            "quarantine_size",
            "Unmatched stays waiting for their order",
            m.quarantine_size.clone(),
        );
        Self { registry, ..m }
    }
}

impl GatewayMetrics {
    pub fn reject(&self, reason: &'static str, device: Option<&str>) {
        self.rejected
            .get_or_create(&RejectLabel {
                reason,
                device: device.unwrap_or("unknown").to_string(),
            })
            .inc();
    }

    pub fn device_alarm(&self, device: &str, kind: &'static str) {
        self.device_alarms
            .get_or_create(&AlarmLabel {
                device: device.to_string(),
                kind,
            })
            .inc();
    }

    /// Counts `n` exception events of `reason`; with 0 it shows the series at zero.
    pub fn exceptions(&self, reason: &'static str, n: u64) {
        self.reconcile_exceptions
            .get_or_create(&ExceptionLabel { reason })
            .inc_by(n);
    }

    pub fn reads_purged_at_device(&self, device: &str, n: u64) {
        self.device_reads_purged
            .get_or_create(&DeviceLabel {
                device: device.to_string(),
            })
            .inc_by(n);
    }

    pub fn device_recorded(&self, device: &str, n: u64) {
        self.device_events_recorded
            .get_or_create(&DeviceLabel {
                device: device.to_string(),
            })
            .inc_by(n);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_are_counted_by_reason() {
        let m = GatewayMetrics::default();
        m.exceptions("scanned_after_cancel", 2);
        m.exceptions("missing_prerequisite", 0);
        let text = m.render();
        for line in [
            "waymark_exceptions_total{reason=\"scanned_after_cancel\"} 2",
            "waymark_exceptions_total{reason=\"missing_prerequisite\"} 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
