//! Gateway configuration: TOML file, then `WAYMARK_*` environment, then flags,
//! validated once into typed values with every problem reported together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::reconcile::config::BUSINESS_STEPS;

pub const DEFAULT_MQTT_LISTEN: &str = "0.0.0.0:1883";
/// `mqtt.listen = "off"` turns the plaintext listener off.
pub const LISTENER_OFF: &str = "off";
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT_SECS: u64 = 5;
pub const DEFAULT_OPS_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024;
pub const DEFAULT_MAX_MQTT_CONNECTIONS: usize = 256;
pub const DEFAULT_INFLIGHT_BUDGET_MB: usize = 32;
pub const DEFAULT_CACHE_CAPACITY_MB: u64 = 32;
pub const DEFAULT_COMMIT_MAX_EVENTS: usize = 4096;
pub const DEFAULT_DISK_BUDGET_MB: u64 = 4096;
pub const DEFAULT_BUDGET_ALARM_PERCENT: u64 = 80;
pub const DEFAULT_RETENTION_MINUTES: u64 = 72 * 60;
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 1000;
/// Batches sent and not yet acknowledged. Central applies one batch at a time;
/// eight of 1,000 keep it busy through a catch-up (four left it idle part of the
/// time: 93-103k events/s against 107-109k), without holding more decoded
/// events in the gateway's memory than two-thousand-event batches would.
pub const DEFAULT_MAX_INFLIGHT_BATCHES: usize = 8;
pub const DEFAULT_STATUS_INTERVAL_SECS: u64 = 10;
pub const DEFAULT_RECONNECT_MAX_SECS: u64 = 30;
pub const DEFAULT_KEEPALIVE_SECS: u64 = 10;

/// The config file as written; every field optional or defaulted so that
/// validation can name each missing or bad key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub site_id: Option<String>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub mqtt: RawMqtt,
    #[serde(default)]
    pub central: RawCentral,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub replication: RawReplication,
    #[serde(default)]
    pub ops: RawOps,
    #[serde(default)]
    pub devices: Vec<RawDevice>,
    /// Read points, smoothing, cross-reads, prerequisites: see `reconcile::config`.
    #[serde(default)]
    pub reconcile: crate::reconcile::ReconcileConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    /// `embedded` (default): devices connect to the gateway's own broker.
    /// `external`: the gateway subscribes to the site's existing broker.
    pub mode: Option<String>,
    /// The external broker, `host:port`.
    pub broker: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Plaintext listener; `"off"` disables it. Default: 0.0.0.0:1883 without
    /// `tls_listen`, off with it.
    pub listen: Option<String>,
    /// TLS listener (e.g. "0.0.0.0:8883"); needs `tls_cert` and `tls_key`.
    pub tls_listen: Option<String>,
    /// PEM certificate chain, leaf first.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    pub tls_handshake_timeout_secs: Option<u64>,
    /// Let devices without a password connect (development). Default false.
    pub allow_anonymous: Option<bool>,
    pub max_payload_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    /// Publish bytes the embedded broker may hold before devices are slowed down.
    pub inflight_budget_mb: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCentral {
    /// `https://host:port`: mutual TLS with the site certificate from enrollment.
    pub endpoint: Option<String>,
    /// Development only: allows an `http://` endpoint (plaintext, site sent in a header).
    pub insecure_plaintext: Option<bool>,
    /// Central's CA (PEM); default `<data_dir>/tls/ca.crt`, written by `enroll`.
    pub ca_cert: Option<PathBuf>,
    /// This site's certificate and key; default `<data_dir>/tls/site.crt` and `site.key`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The name to check central's certificate against, when it differs from the endpoint's host.
    pub server_name: Option<String>,
    pub status_interval_secs: Option<u64>,
    pub reconnect_max_secs: Option<u64>,
    pub keepalive_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub cache_capacity_mb: Option<u64>,
    pub commit_max_events: Option<usize>,
    pub disk_budget_mb: Option<u64>,
    pub budget_alarm_percent: Option<u64>,
    pub retention_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplication {
    pub batch_max_events: Option<usize>,
    pub max_inflight_batches: Option<usize>,
    /// Bandwidth cap for a thin site link (kilobytes of events per second); none by default.
    pub max_kbytes_per_sec: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOps {
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub id: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    pub read_point: Option<String>,
    pub business_step: Option<String>,
    pub disposition: Option<String>,
    /// Serial scanners: the port, e.g. /dev/serial/by-id/usb-Zebra_DS3678-if00.
    pub path: Option<PathBuf>,
    pub baud: Option<u32>,
    /// `line` (CR, LF or CRLF; default), `cr`, `lf`, `crlf`, `etx`, `stx-etx`, `fixed:N`.
    pub terminator: Option<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub max_frame_len: Option<usize>,
    /// argon2 PHC string of the device's MQTT password (`waymark-gateway hash-password`).
    pub password_hash: Option<String>,
    /// The reader's hostname as its payloads state it (Zebra `hostName`, Impinj
    /// `hostname`); when set, payloads naming another reader are rejected.
    pub hostname: Option<String>,
    /// Makes the device a scanner (serial ones are, with the default window): each
    /// scan is an event at once, and scans of the same label this close to the
    /// previous one fold into it.
    pub repeat_window_ms: Option<u64>,
}

fn default_kind() -> String {
    "generic".into()
}

/// A validated gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub site_id: String,
    pub data_dir: PathBuf,
    pub mqtt: MqttConfig,
    pub central: CentralConfig,
    pub store: StoreConfig,
    pub replication: ReplicationConfig,
    pub ops_listen: SocketAddr,
    pub devices: BTreeMap<String, DeviceConfig>,
    pub reconcile: crate::reconcile::ReconcileSettings,
}

#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// `Some` in external mode; then the listeners, `max_connections` and
    /// `allow_anonymous` are unused (the site broker authenticates devices).
    pub external: Option<ExternalBroker>,
    /// The plaintext listener; `None` when off.
    pub listen: Option<SocketAddr>,
    pub tls: Option<MqttTls>,
    pub allow_anonymous: bool,
    pub max_payload_bytes: usize,
    pub max_connections: usize,
    pub inflight_budget_bytes: usize,
}

/// The TLS device listener, with its certificate already loaded and checked.
#[derive(Debug, Clone)]
pub struct MqttTls {
    pub listen: SocketAddr,
    pub handshake_timeout: Duration,
    pub server: std::sync::Arc<rustls::ServerConfig>,
}

/// A site broker the gateway subscribes to with a persistent session.
#[derive(Clone)]
pub struct ExternalBroker {
    pub host: String,
    pub port: u16,
    /// Stable across restarts: the broker keeps the session (and unacked messages) under it.
    pub client_id: String,
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for ExternalBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalBroker")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct CentralConfig {
    pub endpoint: String,
    /// `None`: a development plaintext link (`insecure_plaintext = true`, logged as a warning).
    pub tls: Option<CentralTls>,
    pub status_interval: Duration,
    pub reconnect_max: Duration,
    /// HTTP/2 ping interval; a link that stops answering is dropped after twice this.
    pub keepalive: Duration,
}

/// Where the mutual-TLS material of the link to central lives.
#[derive(Debug, Clone)]
pub struct CentralTls {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub server_name: Option<String>,
}

impl CentralTls {
    /// The default files under the data directory, as `enroll` writes them.
    pub fn in_data_dir(data_dir: &std::path::Path) -> Self {
        let dir = data_dir.join("tls");
        Self {
            ca_cert: dir.join("ca.crt"),
            cert: dir.join("site.crt"),
            key: dir.join("site.key"),
            server_name: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub cache_capacity_bytes: u64,
    pub commit_max_events: usize,
    /// Cap on the event log (events and their index), in bytes.
    pub disk_budget_bytes: u64,
    /// Share of the budget at which the alarm is raised (0-1).
    pub budget_alarm_ratio: f64,
    /// How long events central has acknowledged are kept before compaction.
    pub retention: Duration,
}

#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    pub batch_max_events: usize,
    pub max_inflight_batches: usize,
    /// Encoded event bytes per second the replicator may send; `None`: unlimited.
    pub max_bytes_per_sec: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// The generic JSON format over MQTT (docs/generic-read-format.md).
    Generic,
    /// Zebra FX-series IoT Connector tag data events over MQTT.
    Zebra,
    /// Impinj R700 IoT device interface events over MQTT.
    Impinj,
    /// A barcode scanner on a serial line.
    Serial,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Zebra => "zebra",
            Self::Impinj => "impinj",
            Self::Serial => "serial",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub id: String,
    pub kind: DeviceKind,
    pub read_point: String,
    pub business_step: String,
    pub disposition: String,
    /// Set for serial scanners.
    pub serial: Option<SerialPortConfig>,
    pub password_hash: Option<crate::device_auth::PasswordHashPhc>,
    pub hostname: Option<String>,
    /// `Some` for a scanner: its scans are decided at once (`reconcile::Capture::Scan`).
    pub repeat_window_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SerialPortConfig {
    pub path: PathBuf,
    pub baud: u32,
    pub framing: waymark_devices::serial::FramingConfig,
}

/// Every problem found, each with the key it concerns and a hint.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Environment keys that override the file, so a unit can set them without editing it.
pub const ENV_KEYS: &[&str] = &[
    "WAYMARK_SITE_ID",
    "WAYMARK_DATA_DIR",
    "WAYMARK_CENTRAL_ENDPOINT",
    "WAYMARK_MQTT_LISTEN",
    "WAYMARK_MQTT_TLS_LISTEN",
    "WAYMARK_OPS_LISTEN",
];

impl RawConfig {
    /// Parses a config file's text; syntax errors name the line.
    /// Parses the file. A syntax error names its line and column but does not
    /// quote the line: it may hold `[mqtt] password`, and errors go to the log.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let at = e.span().map_or_else(String::new, |span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}: ")
            });
            ConfigError {
                problems: vec![format!("{at}{}", e.message())],
            }
        })
    }

    /// Applies `WAYMARK_*` overrides from a map (the process environment in the binary).
    pub fn apply_env(&mut self, env: &BTreeMap<String, String>) {
        for (key, value) in env {
            let v = Some(value.clone());
            match key.as_str() {
                "WAYMARK_SITE_ID" => self.site_id = v,
                "WAYMARK_DATA_DIR" => self.data_dir = Some(value.into()),
                "WAYMARK_CENTRAL_ENDPOINT" => self.central.endpoint = v,
                "WAYMARK_MQTT_LISTEN" => self.mqtt.listen = v,
                "WAYMARK_MQTT_TLS_LISTEN" => self.mqtt.tls_listen = v,
                "WAYMARK_OPS_LISTEN" => self.ops.listen = v,
                _ => {}
            }
        }
    }

    pub fn validate(self) -> Result<GatewayConfig, ConfigError> {
        let mut problems = Vec::new();
        let site_id = match self.site_id {
            Some(s) if valid_id(&s) => s,
            Some(s) => {
                problems.push(format!(
                    "site_id: `{s}` must be 1-64 characters of a-z, 0-9, '-' or '_'"
                ));
                String::new()
            }
            None => {
                problems.push("site_id: missing (e.g. site_id = \"dc-north\")".into());
                String::new()
            }
        };
        let data_dir = self.data_dir.unwrap_or_else(|| {
            problems.push("data_dir: missing (e.g. data_dir = \"/var/lib/waymark\")".into());
            PathBuf::new()
        });
        let external = external_broker(&mut problems, &self.mqtt, &site_id);
        let (mqtt_listen, mqtt_tls) = listeners(&mut problems, &self.mqtt, external.is_some());
        let ops_listen = addr(&mut problems, "ops.listen", self.ops.listen, DEFAULT_OPS_LISTEN);
        let max_payload_bytes = bounded(
            &mut problems,
            "mqtt.max_payload_bytes",
            self.mqtt.max_payload_bytes,
            DEFAULT_MAX_PAYLOAD_BYTES,
            1024..=16 * 1024 * 1024,
        );
        let max_connections = bounded(
            &mut problems,
            "mqtt.max_connections",
            self.mqtt.max_connections,
            DEFAULT_MAX_MQTT_CONNECTIONS,
            1..=10_000,
        );
        let inflight_mb = bounded(
            &mut problems,
            "mqtt.inflight_budget_mb",
            self.mqtt.inflight_budget_mb,
            DEFAULT_INFLIGHT_BUDGET_MB,
            1..=1024,
        );
        let endpoint = match self.central.endpoint {
            Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                if e.parse::<tonic::transport::Uri>().is_err() {
                    problems.push(format!("central.endpoint: `{e}` is not a valid URI"));
                }
                e
            }
            Some(e) => {
                problems.push(format!(
                    "central.endpoint: `{e}` must start with http:// or https:// (e.g. https://central.example:7443)"
                ));
                e
            }
            None => {
                problems.push("central.endpoint: missing (e.g. endpoint = \"https://central.example:7443\")".into());
                String::new()
            }
        };
        let insecure = self.central.insecure_plaintext.unwrap_or(false);
        let tls = match (endpoint.starts_with("https://"), insecure) {
            (true, true) => {
                problems.push("central.insecure_plaintext: true contradicts an https:// endpoint; remove one".into());
                None
            }
            (false, false) if endpoint.starts_with("http://") => {
                problems.push(format!(
                    "central.endpoint: `{endpoint}` is plaintext; use https:// (mutual TLS), or set central.insecure_plaintext = true for development"
                ));
                None
            }
            (true, false) => {
                let defaults = CentralTls::in_data_dir(&data_dir);
                if let Some(name) = &self.central.server_name
                    && name.parse::<std::net::IpAddr>().is_err()
                    && rustls::pki_types::DnsName::try_from(name.as_str()).is_err()
                {
                    problems.push(format!(
                        "central.server_name: `{name}` is neither a DNS name nor an IP address"
                    ));
                }
                Some(CentralTls {
                    ca_cert: self.central.ca_cert.clone().unwrap_or(defaults.ca_cert),
                    cert: self.central.cert.clone().unwrap_or(defaults.cert),
                    key: self.central.key.clone().unwrap_or(defaults.key),
                    server_name: self.central.server_name.clone(),
                })
            }
            _ => None,
        };
        let status_interval = Duration::from_secs(bounded(
            &mut problems,
            "central.status_interval_secs",
            self.central.status_interval_secs,
            DEFAULT_STATUS_INTERVAL_SECS,
            1..=3600,
        ));
        let reconnect_max = Duration::from_secs(bounded(
            &mut problems,
            "central.reconnect_max_secs",
            self.central.reconnect_max_secs,
            DEFAULT_RECONNECT_MAX_SECS,
            1..=3600,
        ));
        let keepalive = Duration::from_secs(bounded(
            &mut problems,
            "central.keepalive_secs",
            self.central.keepalive_secs,
            DEFAULT_KEEPALIVE_SECS,
            1..=300,
        ));
        let cache_mb = bounded(
            &mut problems,
            "store.cache_capacity_mb",
            self.store.cache_capacity_mb,
            DEFAULT_CACHE_CAPACITY_MB,
            4..=4096,
        );
        let commit_max_events = bounded(
            &mut problems,
            "store.commit_max_events",
            self.store.commit_max_events,
            DEFAULT_COMMIT_MAX_EVENTS,
            1..=100_000,
        );
        let disk_budget_mb = bounded(
            &mut problems,
            "store.disk_budget_mb",
            self.store.disk_budget_mb,
            DEFAULT_DISK_BUDGET_MB,
            1..=1 << 20,
        );
        let alarm_percent = bounded(
            &mut problems,
            "store.budget_alarm_percent",
            self.store.budget_alarm_percent,
            DEFAULT_BUDGET_ALARM_PERCENT,
            1..=100,
        );
        let retention_minutes = bounded(
            &mut problems,
            "store.retention_minutes",
            self.store.retention_minutes,
            DEFAULT_RETENTION_MINUTES,
            0..=365 * 24 * 60,
        );
        let batch_max_events = bounded(
            &mut problems,
            "replication.batch_max_events",
            self.replication.batch_max_events,
            DEFAULT_BATCH_MAX_EVENTS,
            1..=10_000,
        );
        let max_bytes_per_sec = self.replication.max_kbytes_per_sec.map(|kb| {
            bounded(
                &mut problems,
                "replication.max_kbytes_per_sec",
                Some(kb),
                kb,
                1..=10_000_000,
            ) * 1000
        });
        let max_inflight_batches = bounded(
            &mut problems,
            "replication.max_inflight_batches",
            self.replication.max_inflight_batches,
            DEFAULT_MAX_INFLIGHT_BATCHES,
            1..=64,
        );
        let mut devices = BTreeMap::new();
        for (i, d) in self.devices.into_iter().enumerate() {
            let key = format!("devices[{i}]");
            if !valid_id(&d.id) {
                problems.push(format!(
                    "{key}.id: `{}` must be 1-64 characters of a-z, 0-9, '-' or '_'",
                    d.id
                ));
            }
            let kind = match d.kind.as_str() {
                "generic" => DeviceKind::Generic,
                "zebra" => DeviceKind::Zebra,
                "impinj" => DeviceKind::Impinj,
                "serial" => DeviceKind::Serial,
                other => {
                    problems.push(format!(
                        "{key}.kind: `{other}` is not a known device kind (generic, zebra, impinj, serial)"
                    ));
                    DeviceKind::Generic
                }
            };
            let serial = serial_port(&mut problems, &key, kind, &d);
            let password_hash = d.password_hash.as_deref().and_then(|h| {
                if kind == DeviceKind::Serial {
                    problems.push(format!("{key}.password_hash: serial scanners do not connect over MQTT"));
                }
                crate::device_auth::PasswordHashPhc::parse(h)
                    .map_err(|e| problems.push(format!("{key}.password_hash: {e}")))
                    .ok()
            });
            if d.hostname.is_some() && !matches!(kind, DeviceKind::Zebra | DeviceKind::Impinj) {
                problems.push(format!(
                    "{key}.hostname: only zebra and impinj payloads name their reader"
                ));
            }
            let repeat_window_ms = repeat_window(&mut problems, &key, kind, d.repeat_window_ms);
            let read_point = d.read_point.unwrap_or_else(|| d.id.clone());
            let step = d.business_step.unwrap_or_default();
            let default_disposition = BUSINESS_STEPS.iter().find(|(s, _)| *s == step).map(|(_, disp)| *disp);
            if default_disposition.is_none() {
                let known: Vec<_> = BUSINESS_STEPS.iter().map(|(s, _)| *s).collect();
                problems.push(format!(
                    "{key}.business_step: `{step}` is not one of {}",
                    known.join(", ")
                ));
            }
            let disposition = d
                .disposition
                .unwrap_or_else(|| default_disposition.unwrap_or_default().to_string());
            if devices.contains_key(&d.id) {
                problems.push(format!("{key}.id: `{}` is listed twice", d.id));
            }
            devices.insert(
                d.id.clone(),
                DeviceConfig {
                    id: d.id,
                    kind,
                    read_point,
                    business_step: step,
                    disposition,
                    serial,
                    password_hash,
                    hostname: d.hostname,
                    repeat_window_ms,
                },
            );
        }
        // Devices already reported for their step would be reported again as read points.
        let well_formed: BTreeMap<String, DeviceConfig> = devices
            .iter()
            .filter(|(_, d)| BUSINESS_STEPS.iter().any(|(s, _)| *s == d.business_step))
            .map(|(k, d)| (k.clone(), d.clone()))
            .collect();
        let reconcile = match self.reconcile.validate_for(&well_formed) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.extend(e.problems);
                None
            }
        };
        let Some(reconcile) = reconcile.filter(|_| problems.is_empty()) else {
            return Err(ConfigError { problems });
        };
        Ok(GatewayConfig {
            site_id,
            data_dir,
            mqtt: MqttConfig {
                external,
                listen: mqtt_listen,
                tls: mqtt_tls,
                allow_anonymous: self.mqtt.allow_anonymous.unwrap_or(false),
                max_payload_bytes,
                max_connections,
                // Never below one largest payload, or that payload could never be admitted.
                inflight_budget_bytes: (inflight_mb << 20).max(max_payload_bytes + 1024),
            },
            central: CentralConfig {
                endpoint,
                tls,
                status_interval,
                reconnect_max,
                keepalive,
            },
            store: StoreConfig {
                cache_capacity_bytes: cache_mb * 1024 * 1024,
                commit_max_events,
                disk_budget_bytes: disk_budget_mb * 1024 * 1024,
                budget_alarm_ratio: alarm_percent as f64 / 100.0,
                retention: Duration::from_secs(retention_minutes * 60),
            },
            replication: ReplicationConfig {
                batch_max_events,
                max_inflight_batches,
                max_bytes_per_sec,
            },
            ops_listen,
            devices,
            reconcile,
        })
    }
}

fn external_broker(problems: &mut Vec<String>, m: &RawMqtt, site_id: &str) -> Option<ExternalBroker> {
    match m.mode.as_deref().unwrap_or("embedded") {
        "embedded" => {
            for (key, set) in [("broker", m.broker.is_some()), ("client_id", m.client_id.is_some())] {
                if set {
                    problems.push(format!("mqtt.{key}: only used with mode = \"external\""));
                }
            }
            None
        }
        "external" => {
            let Some(broker) = &m.broker else {
                problems
                    .push("mqtt.broker: required with mode = \"external\" (e.g. broker = \"127.0.0.1:1883\")".into());
                return None;
            };
            let parsed = broker
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok().filter(|p| *p > 0)?)))
                .filter(|(h, _)| !h.is_empty());
            let Some((host, port)) = parsed else {
                problems.push(format!("mqtt.broker: `{broker}` is not host:port"));
                return None;
            };
            let credentials = match (&m.username, &m.password) {
                (Some(u), Some(p)) => Some((u.clone(), p.clone())),
                (None, None) => None,
                _ => {
                    problems.push("mqtt.username and mqtt.password: set both or neither".into());
                    None
                }
            };
            Some(ExternalBroker {
                host,
                port,
                client_id: m
                    .client_id
                    .clone()
                    .unwrap_or_else(|| format!("waymark-gateway-{site_id}")),
                credentials,
            })
        }
        other => {
            problems.push(format!("mqtt.mode: `{other}` is not embedded or external"));
            None
        }
    }
}

/// The plaintext and TLS device listeners. Plaintext defaults to 0.0.0.0:1883 when
/// there is no TLS listener and to off when there is one; at least one must be on.
fn listeners(problems: &mut Vec<String>, m: &RawMqtt, external: bool) -> (Option<SocketAddr>, Option<MqttTls>) {
    let tls_keys = [
        ("tls_listen", m.tls_listen.is_some()),
        ("tls_cert", m.tls_cert.is_some()),
        ("tls_key", m.tls_key.is_some()),
        ("tls_handshake_timeout_secs", m.tls_handshake_timeout_secs.is_some()),
        ("allow_anonymous", m.allow_anonymous.is_some()),
    ];
    if external {
        for (k, set) in tls_keys {
            if set {
                problems.push(format!(
                    "mqtt.{k}: only used with mode = \"embedded\" (the site broker authenticates devices)"
                ));
            }
        }
        return (None, None);
    }
    let timeout = bounded(
        problems,
        "mqtt.tls_handshake_timeout_secs",
        m.tls_handshake_timeout_secs,
        DEFAULT_TLS_HANDSHAKE_TIMEOUT_SECS,
        1..=60,
    );
    let tls = match (&m.tls_listen, &m.tls_cert, &m.tls_key) {
        (None, None, None) => None,
        (Some(listen), Some(cert), Some(key)) => {
            let listen = addr(problems, "mqtt.tls_listen", Some(listen.clone()), "0.0.0.0:8883");
            match crate::mqtt_tls::server_config(cert, key) {
                Ok(server) => Some(MqttTls {
                    listen,
                    handshake_timeout: Duration::from_secs(timeout),
                    server,
                }),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            }
        }
        _ => {
            problems.push("mqtt.tls_listen, mqtt.tls_cert and mqtt.tls_key: set all three (PEM files) or none".into());
            None
        }
    };
    let plain = match m.listen.as_deref() {
        Some(LISTENER_OFF) => None,
        None if m.tls_listen.is_some() => None,
        other => Some(addr(
            problems,
            "mqtt.listen",
            other.map(str::to_string),
            DEFAULT_MQTT_LISTEN,
        )),
    };
    if plain.is_none() && m.tls_listen.is_none() {
        problems.push("mqtt.listen: is off and there is no mqtt.tls_listen: devices could not connect".into());
    }
    (plain, tls)
}

/// A scanner's repeat window: its own, the default for serial scanners, none for RFID readers.
fn repeat_window(problems: &mut Vec<String>, key: &str, kind: DeviceKind, window: Option<u64>) -> Option<u64> {
    use crate::reconcile::config::{DEFAULT_REPEAT_WINDOW_MS, MAX_REPEAT_WINDOW_MS};
    match window {
        Some(w) if w > MAX_REPEAT_WINDOW_MS => {
            problems.push(format!(
                "{key}.repeat_window_ms: {w} is outside 0..={MAX_REPEAT_WINDOW_MS} (default {DEFAULT_REPEAT_WINDOW_MS})"
            ));
            Some(DEFAULT_REPEAT_WINDOW_MS)
        }
        Some(w) => Some(w),
        None if kind == DeviceKind::Serial => Some(DEFAULT_REPEAT_WINDOW_MS),
        None => None,
    }
}

fn serial_port(problems: &mut Vec<String>, key: &str, kind: DeviceKind, d: &RawDevice) -> Option<SerialPortConfig> {
    use waymark_devices::serial::{FramingConfig, MAX_FRAME_LEN_LIMIT, Terminator};
    let serial_keys = [
        ("path", d.path.is_some()),
        ("baud", d.baud.is_some()),
        ("terminator", d.terminator.is_some()),
        ("prefix", d.prefix.is_some()),
        ("suffix", d.suffix.is_some()),
        ("max_frame_len", d.max_frame_len.is_some()),
    ];
    if kind != DeviceKind::Serial {
        for (k, set) in serial_keys {
            if set {
                problems.push(format!("{key}.{k}: only for kind = \"serial\""));
            }
        }
        return None;
    }
    let Some(path) = d.path.clone() else {
        problems.push(format!("{key}.path: required for a serial scanner (e.g. /dev/ttyUSB0)"));
        return None;
    };
    let baud = d.baud.unwrap_or(9600);
    if !(300..=921_600).contains(&baud) {
        problems.push(format!("{key}.baud: {baud} is outside 300..=921600"));
    }
    let terminator = match d.terminator.as_deref().unwrap_or("line") {
        "line" => Terminator::Line,
        "cr" => Terminator::Cr,
        "lf" => Terminator::Lf,
        "crlf" => Terminator::CrLf,
        "etx" => Terminator::Etx { require_stx: false },
        "stx-etx" => Terminator::Etx { require_stx: true },
        other => match other.strip_prefix("fixed:").and_then(|n| n.parse().ok()) {
            Some(n) => Terminator::FixedLength(n),
            None => {
                problems.push(format!(
                    "{key}.terminator: `{other}` is not line, cr, lf, crlf, etx, stx-etx or fixed:N (N >= 1)"
                ));
                Terminator::Line
            }
        },
    };
    let max_frame_len = d
        .max_frame_len
        .unwrap_or(waymark_devices::serial::DEFAULT_MAX_FRAME_LEN);
    if !(1..=MAX_FRAME_LEN_LIMIT).contains(&max_frame_len) {
        problems.push(format!(
            "{key}.max_frame_len: {max_frame_len} is outside 1..={MAX_FRAME_LEN_LIMIT}"
        ));
    }
    Some(SerialPortConfig {
        path,
        baud,
        framing: FramingConfig {
            terminator,
            prefix: d.prefix.clone().unwrap_or_default().into_bytes(),
            suffix: d.suffix.clone().unwrap_or_default().into_bytes(),
            max_frame_len,
            ..FramingConfig::default()
        },
    })
}

/// Site and device ids appear in topics, keys, metric labels and certificates:
/// keep them plain (the same rule as central's site ids).
pub fn valid_id(s: &str) -> bool {
    waymark_proto::identity::valid_site(s)
}

fn addr(problems: &mut Vec<String>, key: &str, v: Option<String>, default: &str) -> SocketAddr {
    let text = v.unwrap_or_else(|| default.to_string());
    text.parse().unwrap_or_else(|_| {
        problems.push(format!(
            "{key}: `{text}` is not an address:port (e.g. {default}; port 0 picks a free port)"
        ));
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

fn bounded<T>(problems: &mut Vec<String>, key: &str, v: Option<T>, default: T, range: std::ops::RangeInclusive<T>) -> T
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    let v = v.unwrap_or(default);
    if !range.contains(&v) {
        problems.push(format!(
            "{key}: {v} is outside {}..={} (default {default})",
            range.start(),
            range.end()
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::tests_support::MINIMAL_SITE as MINIMAL;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = RawConfig::from_toml(MINIMAL)
            .and_then(RawConfig::validate)
            .expect("valid");
        assert_eq!(c.mqtt.listen.map(|a| a.port()), Some(1883));
        assert!(c.mqtt.tls.is_none());
        assert!(!c.mqtt.allow_anonymous, "secure by default");
        assert_eq!(c.mqtt.max_payload_bytes, DEFAULT_MAX_PAYLOAD_BYTES);
        let door = &c.devices["door-3"];
        assert_eq!(door.read_point, "door-3");
        assert_eq!(door.disposition, "in_transit");
        let tls = c.central.tls.expect("https means mutual TLS");
        assert_eq!(tls.cert, PathBuf::from("/tmp/x/tls/site.crt"));
    }

    #[test]
    fn plaintext_to_central_needs_the_development_flag() {
        let plain = MINIMAL.replace("https://", "http://");
        let err = RawConfig::from_toml(&plain)
            .and_then(RawConfig::validate)
            .expect_err("plaintext without the flag");
        assert!(err.to_string().contains("insecure_plaintext"), "{err}");
        let dev = plain.replace("[central]", "[central]\ninsecure_plaintext = true");
        let c = RawConfig::from_toml(&dev)
            .and_then(RawConfig::validate)
            .expect("development link");
        assert!(c.central.tls.is_none());
        let both = MINIMAL.replace("[central]", "[central]\ninsecure_plaintext = true");
        assert!(RawConfig::from_toml(&both).and_then(RawConfig::validate).is_err());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            site_id = "DC North"
            [mqtt]
            listen = "localhost"
            max_payload_bytes = 10
            [central]
            endpoint = "central.example:7443"
            [[devices]]
            id = "door-3"
            kind = "laser"
            business_step = "teleporting"
            [[devices]]
            id = "scanner-1"
            kind = "serial"
            business_step = "packing"
            terminator = "semicolon"
        "#;
        let err = RawConfig::from_toml(text)
            .and_then(RawConfig::validate)
            .expect_err("invalid");
        let all = err.to_string();
        for key in [
            "site_id",
            "data_dir",
            "mqtt.listen",
            "mqtt.max_payload_bytes",
            "central.endpoint",
            "devices[0].kind",
            "devices[0].business_step",
            "devices[1].path",
        ] {
            assert!(all.contains(key), "{key} not reported in:\n{all}");
        }
        assert_eq!(err.problems.len(), 8, "{all}");
    }

    #[test]
    fn a_syntax_error_names_the_line_without_quoting_it() {
        let text = "site_id = \"a\"\n[mqtt]\npassword = \"s3cret\" oops\n";
        let err = RawConfig::from_toml(text).expect_err("syntax error");
        let all = err.to_string();
        assert!(all.contains("line 3"), "{all}");
        assert!(
            !all.contains("s3cret"),
            "a secret on the bad line must not be echoed: {all}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = RawConfig::from_toml("site_id = \"a\"\nsiteid = \"b\"\n").expect_err("typo");
        assert!(err.to_string().contains("siteid"), "{err}");
    }

    #[test]
    fn external_broker_mode_needs_a_broker_and_hides_the_password() {
        let text = MINIMAL.replace("[central]", "[mqtt]\nmode = \"external\"\nbroker = \"10.0.0.5:1883\"\nusername = \"gw\"\npassword = \"s3cret\"\n[central]");
        let c = RawConfig::from_toml(&text)
            .and_then(RawConfig::validate)
            .expect("valid");
        let ext = c.mqtt.external.expect("external");
        assert_eq!(
            (ext.host.as_str(), ext.port, ext.client_id.as_str()),
            ("10.0.0.5", 1883, "waymark-gateway-dc-north")
        );
        assert!(!format!("{ext:?}").contains("s3cret"));
        let text = MINIMAL.replace("[central]", "[mqtt]\nmode = \"external\"\n[central]");
        let err = RawConfig::from_toml(&text)
            .and_then(RawConfig::validate)
            .expect_err("no broker");
        assert!(err.to_string().contains("mqtt.broker"), "{err}");
    }

    #[test]
    fn environment_overrides_file() {
        let mut raw = RawConfig::from_toml(MINIMAL).expect("parses");
        let env = BTreeMap::from([
            ("WAYMARK_MQTT_LISTEN".to_string(), "127.0.0.1:0".to_string()),
            ("WAYMARK_SITE_ID".to_string(), "dc-south".to_string()),
        ]);
        raw.apply_env(&env);
        let c = raw.validate().expect("valid");
        assert_eq!(c.site_id, "dc-south");
        assert_eq!(c.mqtt.listen.map(|a| a.port()), Some(0));
    }
}

#[cfg(test)]
mod security_tests {
    use super::tests_support::*;
    use super::*;

    pub(super) fn tls_files(dir: &std::path::Path) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["gw".into()])
            .and_then(|p| p.self_signed(&key))
            .expect("cert");
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        (c.display().to_string(), k.display().to_string())
    }

    #[test]
    fn tls_listener_turns_plaintext_off_unless_asked_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = tls_files(dir.path());
        let tls = format!("tls_listen = \"127.0.0.1:8883\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n");
        let c = with_mqtt(&tls).expect("valid");
        assert_eq!(c.mqtt.listen, None);
        let t = c.mqtt.tls.expect("tls");
        assert_eq!((t.listen.port(), t.handshake_timeout.as_secs()), (8883, 5));
        let c = with_mqtt(&format!("{tls}listen = \"127.0.0.1:1883\"\n")).expect("valid");
        assert!(c.mqtt.listen.is_some() && c.mqtt.tls.is_some());
        let e = with_mqtt("listen = \"off\"\n").expect_err("no listener");
        assert!(e.to_string().contains("devices could not connect"), "{e}");
    }

    #[test]
    fn tls_problems_name_the_file() {
        let e = with_mqtt(
            "tls_listen = \"0.0.0.0:8883\"\ntls_cert = \"/nonexistent/gw.pem\"\ntls_key = \"/nonexistent/gw.key\"\n",
        )
        .expect_err("missing files");
        assert!(e.to_string().contains("/nonexistent/gw.pem"), "{e}");
        let e = with_mqtt("tls_listen = \"0.0.0.0:8883\"\n").expect_err("no cert");
        assert!(e.to_string().contains("set all three"), "{e}");
    }

    #[test]
    fn password_hashes_are_checked_and_never_shown() {
        let phc = crate::device_auth::hash_password(b"pw").expect("hash");
        let text = MINIMAL_SITE.replace("business_step", &format!("password_hash = \"{phc}\"\nbusiness_step"));
        let c = RawConfig::from_toml(&text)
            .and_then(RawConfig::validate)
            .expect("valid");
        assert!(c.devices["door-3"].password_hash.is_some());
        assert!(!format!("{c:?}").contains(&phc));
        let text = MINIMAL_SITE.replace("business_step", "password_hash = \"hunter2\"\nbusiness_step");
        let e = RawConfig::from_toml(&text)
            .and_then(RawConfig::validate)
            .expect_err("not a PHC string");
        assert!(e.to_string().contains("devices[0].password_hash"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;

    pub const MINIMAL_SITE: &str = r#"
        site_id = "dc-north"
        data_dir = "/tmp/x"
        [central]
        endpoint = "https://127.0.0.1:7443"
        [[devices]]
        id = "door-3"
        business_step = "loading"
    "#;

    pub fn with_mqtt(mqtt: &str) -> Result<GatewayConfig, ConfigError> {
        let text = MINIMAL_SITE.replace("[central]", &format!("[mqtt]\n{mqtt}\n[central]"));
        RawConfig::from_toml(&text).and_then(RawConfig::validate)
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_example_config_is_valid() {
        // The example's certificate paths are the site's; point them at real files.
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = super::security_tests::tls_files(dir.path());
        let text = include_str!("../../deploy/gateway.example.toml")
            .replace("/etc/waymark/mqtt-tls.pem", &cert)
            .replace("/etc/waymark/mqtt-tls.key", &key);
        let c = RawConfig::from_toml(&text)
            .and_then(RawConfig::validate)
            .expect("deploy/gateway.example.toml must stay valid");
        assert_eq!(c.devices.len(), 3);
        assert!(c.mqtt.tls.is_some() && c.mqtt.listen.is_none() && !c.mqtt.allow_anonymous);
        assert!(c.devices["door-3"].password_hash.is_some());
    }
}
