//! Ingest: checks a publish's topic, device and size, decodes it, derives events
//! and hands them to the recorder. Each rejection is counted by reason and logged
//! with the topic and device. `run_embedded` reads the embedded broker's link;
//! `mqtt_external` subscribes to a site broker and uses the same `Ingest`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rumqttd::Notification;
use rumqttd::local::{LinkRx, LinkTx};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use waymark_devices::Read;
use waymark_devices::impinj::{AlarmKind, ImpinjItem};

use crate::config::{DeviceConfig, DeviceKind};
use crate::inflight::InflightBudget;
use crate::metrics::{DeviceLabel, GatewayMetrics};
use crate::mqtt_settle::{PublishKey, Settlements};
use crate::stage::StageInput;
use crate::status::DeviceBoard;
use crate::store::EventDraft;
use crate::topic;

pub struct Ingest {
    pub site_id: String,
    pub devices: BTreeMap<String, DeviceConfig>,
    pub max_payload_bytes: usize,
    pub metrics: Arc<GatewayMetrics>,
    pub board: Arc<DeviceBoard>,
}

/// Drafts from one or more payloads on their way to the recorder, with what
/// goes in the same commit.
#[derive(Debug, Default)]
pub struct IngestBatch {
    pub drafts: Vec<EventDraft>,
    /// Journal entries and an engine snapshot committed with the drafts.
    pub extras: crate::store::CommitExtras,
    /// Each learns whether the commit that holds its reads succeeded (true) or failed.
    pub recorded: Vec<OnRecorded>,
    /// When each payload whose reads this batch journals reached the gateway:
    /// read-to-recorded latency starts there. Empty when it carries no reads.
    pub arrivals: Vec<std::time::Instant>,
}

impl IngestBatch {
    pub fn new(drafts: Vec<EventDraft>) -> Self {
        Self {
            drafts,
            ..Self::default()
        }
    }

    /// Takes in `more`, which follows this batch.
    pub fn append(&mut self, more: IngestBatch) {
        self.drafts.extend(more.drafts);
        self.extras.journal.extend(more.extras.journal);
        if more.extras.snapshot.is_some() {
            self.extras.snapshot = more.extras.snapshot;
        }
        self.recorded.extend(more.recorded);
        self.arrivals.extend(more.arrivals);
    }

    pub fn is_empty(&self) -> bool {
        self.drafts.is_empty() && self.extras.is_empty() && self.recorded.is_empty()
    }
}

/// Who learns whether a payload's reads were committed.
#[derive(Debug)]
pub enum OnRecorded {
    /// The external broker's acker, which acknowledges in order.
    Channel(oneshot::Sender<bool>),
    /// The embedded broker's front, which holds the device's PUBACK until then.
    Settle(Arc<Settlements>, PublishKey),
}

impl OnRecorded {
    pub fn notify(self, recorded: bool) {
        match self {
            // The receiver is gone when its connection or acker ended: nothing to tell.
            Self::Channel(tx) => drop(tx.send(recorded)),
            Self::Settle(settlements, key) => settlements.settle(key, recorded),
        }
    }
}

/// Why a payload was not turned into events.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Topic(#[from] topic::TopicError),
    #[error("topic names site `{0}`, this gateway serves another site")]
    WrongSite(String),
    #[error("device `{0}` is not in the device registry")]
    UnknownDevice(String),
    #[error("payload of {size} bytes exceeds the limit of {limit}")]
    Oversized { size: usize, limit: usize },
    #[error(transparent)]
    Decode(#[from] waymark_devices::DecodeError),
    #[error("device `{0}` is a serial scanner; it does not publish over MQTT")]
    WrongTransport(String),
    #[error("payload names reader `{found}`, the registry says device `{device}` is `{expected}`")]
    PayloadDevice {
        device: String,
        expected: String,
        found: String,
    },
}

impl IngestError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Topic(_) => "unexpected_topic",
            Self::WrongSite(_) => "wrong_site",
            Self::UnknownDevice(_) => "unknown_device",
            Self::Oversized { .. } => "oversized",
            Self::Decode(e) => e.reason(),
            Self::WrongTransport(_) => "wrong_transport",
            Self::PayloadDevice { .. } => "payload_device_mismatch",
        }
    }
}

/// How long the link must stay empty before admitted-but-never-forwarded bytes are
/// given back to the in-flight budget.
const IDLE_REFILL: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads the embedded broker's link until shutdown or until the recorder is gone.
/// The broker has acknowledged what arrives here, but the front holds each QoS 1
/// PUBACK until the message is settled here: at once when it is rejected (a resend
/// would change nothing), by the recorder once its reads are committed otherwise.
pub async fn run_embedded(
    ingest: Arc<Ingest>,
    link: (LinkTx, LinkRx),
    inflight: Arc<InflightBudget>,
    settlements: Arc<Settlements>,
    out: mpsc::Sender<StageInput>,
    shutdown: CancellationToken,
) {
    let (_tx, mut rx) = link;
    // On shutdown the listener stops taking device data; what the broker already
    // acknowledged is still drained off the link, until it has been quiet a while.
    let mut draining = false;
    loop {
        let note = tokio::select! {
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                continue;
            }
            n = tokio::time::timeout(IDLE_REFILL, rx.next()) => match n {
                Ok(n) => n,
                Err(_) if draining => break,
                Err(_) => {
                    inflight.refill();
                    continue;
                }
            },
        };
        match note {
            Ok(Some(Notification::Forward(f))) => {
                inflight.release(f.publish.topic.len() + f.publish.payload.len());
                let key = PublishKey::of(&f.publish.topic, &f.publish.payload);
                let topic = String::from_utf8_lossy(&f.publish.topic);
                let Some((device, reads)) = ingest.process(&topic, &f.publish.payload) else {
                    settlements.settle(key, true);
                    continue;
                };
                let recorded = OnRecorded::Settle(settlements.clone(), key);
                if out.send(StageInput::new(&device, reads, Some(recorded))).await.is_err() {
                    break;
                }
            }
            // The router parks a link that has drained its queue; without this
            // wake-up delivery stops after a few hundred messages (rumqtt#582).
            Ok(Some(Notification::Unschedule)) => {
                if let Err(e) = rx.wake().await {
                    error!(error = %e, "mqtt ingest link lost");
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                error!(error = %e, "mqtt ingest link lost");
                break;
            }
        }
    }
    debug!("mqtt ingest stopped");
}

/// With `hostname` in its registry entry, every reader hostname a device's payload
/// states must be that one: a payload relayed under another device's topic (a
/// misconfigured reader, or a forged one) is rejected whole. Events without a
/// hostname pass, as do all payloads of devices without one configured.
fn check_reader<'a>(
    device: &DeviceConfig,
    hostnames: impl Iterator<Item = Option<&'a str>>,
) -> Result<(), IngestError> {
    let Some(expected) = &device.hostname else {
        return Ok(());
    };
    match hostnames.flatten().find(|h| h != expected) {
        Some(found) => Err(IngestError::PayloadDevice {
            device: device.id.clone(),
            expected: expected.clone(),
            found: found.chars().take(64).collect(),
        }),
        None => Ok(()),
    }
}

fn impinj_hostname(item: &ImpinjItem) -> Option<&str> {
    match item {
        ImpinjItem::Tag(t) => t.hostname.as_deref(),
        ImpinjItem::Alarm(a) => a.hostname.as_deref(),
        ImpinjItem::Other { .. } => None,
    }
}

impl Ingest {
    /// The device and decoded reads of one payload, or `None` after counting and
    /// logging why not.
    pub fn process(&self, topic: &str, payload: &[u8]) -> Option<(String, Vec<Read>)> {
        match self.decode(topic, payload) {
            Ok(decoded) => Some(decoded),
            Err((e, device)) => {
                self.metrics.reject(e.reason(), device.as_deref());
                if let Some(d) = &device {
                    self.board.rejected(d);
                }
                warn!(%topic, device = device.as_deref().unwrap_or("unknown"), reason = e.reason(), error = %e, "read rejected");
                None
            }
        }
    }

    fn decode(&self, topic: &str, payload: &[u8]) -> Result<(String, Vec<Read>), (IngestError, Option<String>)> {
        let t = topic::parse(topic).map_err(|e| (e.into(), None))?;
        if t.site_id != self.site_id {
            return Err((IngestError::WrongSite(t.site_id.to_string()), None));
        }
        let Some(device) = self.devices.get(t.device_id) else {
            return Err((IngestError::UnknownDevice(t.device_id.to_string()), None));
        };
        let fail = |e: IngestError| (e, Some(device.id.clone()));
        if payload.len() > self.max_payload_bytes {
            return Err(fail(IngestError::Oversized {
                size: payload.len(),
                limit: self.max_payload_bytes,
            }));
        }
        let reads = match device.kind {
            DeviceKind::Generic => waymark_devices::generic::decode(payload).map_err(|e| fail(e.into()))?,
            DeviceKind::Zebra => {
                let events = waymark_devices::zebra::decode_events(payload).map_err(|e| fail(e.into()))?;
                check_reader(device, events.iter().map(|z| z.extras.hostname.as_deref())).map_err(fail)?;
                events.into_iter().map(|z| z.read).collect()
            }
            DeviceKind::Impinj => {
                let items = waymark_devices::impinj::decode(payload).map_err(|e| fail(e.into()))?;
                check_reader(device, items.iter().map(impinj_hostname)).map_err(fail)?;
                self.device_alarms(device, &items);
                items.into_iter().filter_map(ImpinjItem::into_read).collect()
            }
            DeviceKind::Serial => return Err(fail(IngestError::WrongTransport(device.id.clone()))),
        };
        self.accepted(&device.id, reads.len());
        Ok((device.id.clone(), reads))
    }

    /// Counts reads that passed their device's decoder.
    pub fn accepted(&self, device: &str, reads: usize) {
        self.metrics
            .reads
            .get_or_create(&DeviceLabel {
                device: device.to_string(),
            })
            .inc_by(reads as u64);
        self.board.accepted(device, reads as u64);
    }

    /// Reader alarms: counted and logged; an overflow means the reader lost reads.
    fn device_alarms(&self, device: &DeviceConfig, items: &[ImpinjItem]) {
        for item in items {
            let ImpinjItem::Alarm(alarm) = item else { continue };
            let kind = match &alarm.kind {
                AlarmKind::AntennaConnected { .. } => "antenna_connected",
                AlarmKind::AntennaDisconnected { .. } => "antenna_disconnected",
                AlarmKind::InventoryStatus { .. } => "inventory_status",
                AlarmKind::Overflow { .. } => "overflow",
            };
            self.metrics.device_alarm(&device.id, kind);
            self.board.alarm(&device.id, format!("{kind}: {:?}", alarm.kind));
            match &alarm.kind {
                AlarmKind::Overflow { events_purged, .. } => {
                    let purged = events_purged.unwrap_or(0);
                    self.metrics.reads_purged_at_device(&device.id, purged);
                    error!(device = %device.id, purged, "reader overflow: the reader purged events before sending them");
                }
                AlarmKind::AntennaDisconnected { .. } => {
                    warn!(device = %device.id, alarm = ?alarm.kind, "reader antenna disconnected")
                }
                _ => info!(device = %device.id, alarm = ?alarm.kind, "reader status"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMPINJ: &str = r#"{"timestamp":"2026-11-21T05:02:11.251Z","hostname":"impinj-14-46-36","eventType":"tagInventory","tagInventoryEvent":{"epcHex":"3074257BF7194E4000001A85","antennaPort":1}}"#;

    fn ingest(hostname: Option<&str>) -> Ingest {
        let door = DeviceConfig {
            id: "door-4".into(),
            kind: DeviceKind::Impinj,
            read_point: "door-4".into(),
            business_step: "loading".into(),
            disposition: "in_transit".into(),
            serial: None,
            password_hash: None,
            hostname: hostname.map(str::to_string),
            repeat_window_ms: None,
        };
        let devices = BTreeMap::from([(door.id.clone(), door)]);
        Ingest {
            site_id: "dc-1".into(),
            board: Arc::new(DeviceBoard::new(&devices)),
            devices,
            max_payload_bytes: 1 << 20,
            metrics: Arc::new(GatewayMetrics::default()),
        }
    }

    #[test]
    fn a_payload_from_another_reader_is_rejected_and_counted() {
        let topic = "waymark/dc-1/door-4/reads";
        assert!(
            ingest(None).process(topic, IMPINJ.as_bytes()).is_some(),
            "no hostname configured"
        );
        assert!(
            ingest(Some("impinj-14-46-36"))
                .process(topic, IMPINJ.as_bytes())
                .is_some()
        );
        let other = ingest(Some("impinj-door-4"));
        assert!(other.process(topic, IMPINJ.as_bytes()).is_none());
        let text = other.metrics.render();
        assert!(
            text.contains(r#"waymark_rejected_total{reason="payload_device_mismatch",device="door-4"} 1"#),
            "{text}"
        );
    }
}
