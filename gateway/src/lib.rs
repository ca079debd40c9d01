//! Waymark site gateway: devices publish reads over MQTT; the gateway decodes them,
//! derives business events, records them durably in its store and replicates them
//! to central, while keeping the site's orders for offline matching.
//!
//! Pipeline: `mqtt_front` -> embedded `broker` -> `ingest` -> (bounded channel)
//! -> `recorder` (group commit) -> `store` <- `replicate`; `downlink` fills the
//! store's orders; `ops` serves metrics, health and status.

pub mod backoff;
pub mod broker;
pub mod central_link;
pub mod cli;
pub mod config;
pub mod decode_cmd;
pub mod device_auth;
pub mod downlink;
pub mod enroll;
pub mod inflight;
pub mod ingest;
pub mod link_status;
pub mod metrics;
pub mod mqtt_connect;
pub mod mqtt_external;
pub mod mqtt_frame;
pub mod mqtt_front;
pub mod mqtt_hold;
pub mod mqtt_settle;
pub mod mqtt_tls;
pub mod ops;
pub mod reconcile;
pub mod recorder;
pub mod replicate;
pub mod serial_ingest;
pub mod stage;
pub mod status;
pub mod status_cmd;
pub mod store;
pub mod topic;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::config::GatewayConfig;
use crate::metrics::GatewayMetrics;
use crate::status::{DeviceBoard, StatusSource};
use crate::store::Store;

/// Capacity, in payloads, of the channels from ingest to reconciliation and from
/// there to the recorder. When they are full ingest waits, the in-flight budget runs
/// out and devices are slowed: memory stays bounded (64 payloads of at most
/// `mqtt.max_payload_bytes` per channel) while the group commit still takes many
/// payloads at once.
const QUEUE_PAYLOADS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot open the store in {path}: {source}")]
    Store { path: String, source: store::StoreError },
    #[error(transparent)]
    Broker(#[from] broker::BrokerError),
    #[error("cannot listen on {addr} for {what}: {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Link(#[from] central_link::LinkError),
    #[error("cannot start the recorder thread: {0}")]
    Thread(std::io::Error),
}

/// A started gateway: where it listens, and the tasks to wait for.
/// Where devices publish: our own listener, or the site broker we subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttEndpoint {
    /// The plaintext and TLS listeners; either may be off (`None`).
    Embedded {
        plain: Option<SocketAddr>,
        tls: Option<SocketAddr>,
    },
    External(String),
}

/// The plaintext listener's address (`off` when disabled), or `external:host:port`.
impl std::fmt::Display for MqttEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded { plain: Some(a), .. } => write!(f, "{a}"),
            Self::Embedded { plain: None, .. } => f.write_str(config::LISTENER_OFF),
            Self::External(a) => write!(f, "external:{a}"),
        }
    }
}

impl MqttEndpoint {
    /// The embedded plaintext listener's address; `None` when off or in external mode.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Embedded { plain, .. } => *plain,
            Self::External(_) => None,
        }
    }

    /// The embedded TLS listener's address; `None` when off or in external mode.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Embedded { tls, .. } => *tls,
            Self::External(_) => None,
        }
    }
}

pub struct RunningGateway {
    pub mqtt: MqttEndpoint,
    pub ops_addr: SocketAddr,
    pub store: Arc<Store>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    recorder: std::thread::JoinHandle<()>,
}

impl std::fmt::Debug for RunningGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningGateway")
            .field("mqtt", &self.mqtt)
            .field("ops_addr", &self.ops_addr)
            .finish_non_exhaustive()
    }
}

/// Opens the store, starts the broker and every task; returns once listening.
pub async fn start(config: GatewayConfig, shutdown: CancellationToken) -> Result<RunningGateway, GatewayError> {
    let data_dir = config.data_dir.clone();
    let (cache, budget) = (config.store.cache_capacity_bytes, config.store.disk_budget_bytes);
    let store = tokio::task::spawn_blocking(move || Store::open(&data_dir.join("store"), cache, budget))
        .await
        .map_err(|e| store::StoreError::Sync(std::io::Error::other(e)))
        .and_then(|r| r)
        .map_err(|source| GatewayError::Store {
            path: config.data_dir.display().to_string(),
            source,
        })?;
    let store = Arc::new(store);
    let metrics = Arc::new(GatewayMetrics::default());
    metrics.orders_held.set(store.orders_held() as i64);
    let link = Arc::new(link_status::LinkStatus::default());
    let board = Arc::new(DeviceBoard::new(&config.devices));
    let (client, cert_not_after_ms) = central_link::connect_lazy(&config.central, &config.site_id)?;

    let ops_listener = bind("ops", config.ops_listen).await?;
    let ops_addr = local_addr("ops", &ops_listener, config.ops_listen)?;

    let (stage, replayed) = {
        let (site, settings, store, metrics) = (
            config.site_id.clone(),
            config.reconcile.clone(),
            store.clone(),
            metrics.clone(),
        );
        replicate::blocking(move || stage::Stage::restore(&site, settings, store, metrics))
            .await
            .map_err(|source| GatewayError::Store {
                path: config.data_dir.display().to_string(),
                source,
            })?
    };
    let quarantine = stage.quarantine_view();
    let orders_arrived = Arc::new(tokio::sync::Notify::new());
    let (reads_tx, reads_rx) = mpsc::channel(QUEUE_PAYLOADS);
    let (drafts_tx, drafts_rx) = mpsc::channel(QUEUE_PAYLOADS);
    let (recorded_tx, recorded_rx) = watch::channel(store.last_sequence());
    let alarm = Arc::new(recorder::BudgetAlarm::new(config.store.budget_alarm_ratio));
    alarm.check(&metrics, store.budget_use());
    let recorder = recorder::Recorder {
        site_id: config.site_id.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        max_events_per_commit: config.store.commit_max_events,
        alarm: alarm.clone(),
        recorded: recorded_tx,
        shutdown: shutdown.clone(),
    }
    .spawn(drafts_rx)
    .map_err(GatewayError::Thread)?;

    let mut tasks = Vec::new();
    let mut spawn = |name: &'static str, fut: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>| {
        tasks.push((name, tokio::spawn(fut.instrument(info_span!("task", source = name)))));
    };
    let ingest = Arc::new(ingest::Ingest {
        site_id: config.site_id.clone(),
        devices: config.devices.clone(),
        max_payload_bytes: config.mqtt.max_payload_bytes,
        metrics: metrics.clone(),
        board: board.clone(),
    });
    // The stage ends when every ingest sender is gone, then the recorder drains.
    spawn(
        "reconcile",
        Box::pin(stage.run(replayed, reads_rx, drafts_tx, orders_arrived.clone())),
    );
    for device in config.devices.values().filter(|d| d.serial.is_some()) {
        let task = serial_ingest::run(ingest.clone(), device.clone(), reads_tx.clone(), shutdown.clone());
        spawn(
            "serial_ingest",
            Box::pin(task.instrument(info_span!("scanner", device = %device.id))),
        );
    }
    let (mqtt, broker_health) = match config.mqtt.external.clone() {
        Some(external) => {
            let connected = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let target = MqttEndpoint::External(format!("{}:{}", external.host, external.port));
            let run = mqtt_external::run(ingest, external, reads_tx, connected.clone(), shutdown.clone());
            spawn("mqtt_external", Box::pin(run));
            (target, ops::BrokerHealth::External(connected))
        }
        None => {
            let inflight = Arc::new(inflight::InflightBudget::new(config.mqtt.inflight_budget_bytes));
            let broker = broker::EmbeddedBroker::start(
                config.mqtt.max_payload_bytes,
                config.mqtt.max_connections,
                config.mqtt.inflight_budget_bytes,
            )
            .await?;
            let (plain, plain_addr) = match config.mqtt.listen {
                Some(a) => {
                    let l = bind("mqtt", a).await?;
                    let addr = local_addr("mqtt", &l, a)?;
                    (Some(l), Some(addr))
                }
                None => (None, None),
            };
            let (tls, tls_addr) = match &config.mqtt.tls {
                Some(t) => {
                    let l = bind("mqtt tls", t.listen).await?;
                    let addr = local_addr("mqtt tls", &l, t.listen)?;
                    let listener = mqtt_front::TlsListener {
                        listener: l,
                        acceptor: tokio_rustls::TlsAcceptor::from(t.server.clone()),
                        handshake_timeout: t.handshake_timeout,
                    };
                    (Some(listener), Some(addr))
                }
                None => (None, None),
            };
            let credentials = Arc::new(device_auth::DeviceCredentials::new(
                &config.devices,
                config.mqtt.allow_anonymous,
            ));
            security_warnings(&config, &credentials);
            let settlements = Arc::new(mqtt_settle::Settlements::default());
            let front = Arc::new(mqtt_front::Front::new(
                &broker,
                mqtt_front::FrontLimits {
                    max_connections: config.mqtt.max_connections,
                    // The payload limit plus room for the topic and packet id.
                    max_packet_bytes: config.mqtt.max_payload_bytes + broker::PACKET_OVERHEAD_BYTES,
                    inflight: inflight.clone(),
                },
                credentials,
                metrics.clone(),
                settlements.clone(),
            ));
            spawn(
                "mqtt_front",
                Box::pin(mqtt_front::run(front, plain, tls, shutdown.clone())),
            );
            let run = ingest::run_embedded(ingest, broker.link, inflight, settlements, reads_tx, shutdown.clone());
            spawn("ingest", Box::pin(run));
            (
                MqttEndpoint::Embedded {
                    plain: plain_addr,
                    tls: tls_addr,
                },
                ops::BrokerHealth::Embedded(broker.internal_addr, broker.login.clone()),
            )
        }
    };
    let replicator = replicate::Replicator {
        site_id: config.site_id.clone(),
        store: store.clone(),
        client: client.clone(),
        batch_max_events: config.replication.batch_max_events,
        max_inflight_batches: config.replication.max_inflight_batches,
        max_bytes_per_sec: config.replication.max_bytes_per_sec,
        reconnect_max: config.central.reconnect_max,
        metrics: metrics.clone(),
        link: link.clone(),
    };
    spawn("replicate", Box::pin(replicator.run(recorded_rx, shutdown.clone())));
    let downlink = downlink::Downlink {
        site_id: config.site_id.clone(),
        store: store.clone(),
        client: client.clone(),
        reconnect_max: config.central.reconnect_max,
        metrics: metrics.clone(),
        orders_arrived,
    };
    spawn("downlink", Box::pin(downlink.run(shutdown.clone())));
    let status = |board: &Arc<DeviceBoard>| StatusSource {
        site_id: config.site_id.clone(),
        store: store.clone(),
        link: link.clone(),
        board: board.clone(),
        quarantine: quarantine.clone(),
        cert_not_after_ms,
    };
    spawn(
        "status_report",
        Box::pin(status(&board).report_loop(client, config.central.status_interval, shutdown.clone())),
    );
    let compaction = compact_loop(
        store.clone(),
        config.store.retention,
        alarm,
        metrics.clone(),
        shutdown.clone(),
    );
    spawn("compaction", Box::pin(compaction));
    let ops_state = Arc::new(ops::OpsState {
        metrics,
        status: status(&board),
        broker: broker_health,
    });
    let ops_shutdown = shutdown.clone();
    spawn(
        "ops",
        Box::pin(async move {
            if let Err(e) = ops::serve(ops_listener, ops_state, ops_shutdown).await {
                warn!(error = %e, "ops server stopped");
            }
        }),
    );
    info!(site = %config.site_id, %mqtt, %ops_addr, devices = config.devices.len(), "gateway started");
    Ok(RunningGateway {
        mqtt,
        ops_addr,
        store,
        tasks,
        recorder,
    })
}

impl RunningGateway {
    /// Waits for every task after shutdown was requested, at most `grace`; names
    /// any task still running then. The recorder commits what it holds first.
    pub async fn wait(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for (name, handle) in self.tasks {
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                warn!(task = name, "task still running at the shutdown deadline");
            }
        }
        let recorder = self.recorder;
        let joined = tokio::task::spawn_blocking(move || recorder.join());
        if tokio::time::timeout_at(deadline, joined).await.is_err() {
            warn!(task = "recorder", "recorder still committing at the shutdown deadline");
        }
        info!(last_sequence = self.store.last_sequence(), "gateway stopped");
    }
}

/// Settings that work but weaken device security, said once at start.
fn security_warnings(config: &GatewayConfig, credentials: &device_auth::DeviceCredentials) {
    if config.mqtt.allow_anonymous {
        warn!("mqtt.allow_anonymous is on: devices without a password may connect (development only)");
    }
    if let Some(a) = config.mqtt.listen
        && !config.mqtt.allow_anonymous
    {
        warn!(listen = %a, "plaintext mqtt listener is on: device passwords cross the network unencrypted");
    }
    for device in credentials.locked_out() {
        warn!(%device, "device has no password_hash and mqtt.allow_anonymous is off: it cannot connect over mqtt");
    }
}

/// Removes acknowledged events past their retention, now and then.
async fn compact_loop(
    store: Arc<Store>,
    retention: Duration,
    alarm: Arc<recorder::BudgetAlarm>,
    metrics: Arc<GatewayMetrics>,
    shutdown: CancellationToken,
) {
    let every = (retention / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let cutoff = chrono::Utc::now().timestamp_millis() - retention.as_millis() as i64;
        let (s, a, m) = (store.clone(), alarm.clone(), metrics.clone());
        // The alarm is checked on the same thread as soon as compaction is done.
        let compacted = replicate::blocking(move || {
            let c = s.compact_expired(cutoff);
            a.check(&m, s.budget_use());
            c
        });
        match compacted.await {
            Ok(c) if c.events > 0 => {
                metrics.events_compacted.inc_by(c.events);
                tracing::debug!(events = c.events, bytes = c.bytes, "compacted acknowledged events");
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "compaction failed"),
        }
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<tokio::net::TcpListener, GatewayError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| GatewayError::Listen { what, addr, source })
}

fn local_addr(what: &'static str, l: &tokio::net::TcpListener, addr: SocketAddr) -> Result<SocketAddr, GatewayError> {
    l.local_addr()
        .map_err(|source| GatewayError::Listen { what, addr, source })
}
