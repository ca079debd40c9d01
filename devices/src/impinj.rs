//! Impinj IoT device interface (R700, R720) reader events: tag reads and the device
//! alarms a site must see (antenna unplugged, inventory stopped, events purged).
//!
//! The reader streams newline-delimited JSON over HTTP and publishes one event per MQTT
//! message; its webhook posts JSON arrays. All three are accepted. Each event is an
//! envelope `{"timestamp", "hostname", "eventType", "<kind>Event": {...}}` with exactly one
//! `...Event` member. The EPC arrives as `epcHex` and/or base64 `epc`, and is decoded like
//! Zebra's: pure-identity URN for supported GS1 encodings, TDS raw URN otherwise.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::epc::{self, Epc, Gs1Key};
use crate::read::{DecodeError, Read};
use crate::timestamp;

pub(crate) mod base64;

/// Most events one payload may carry.
pub const MAX_EVENTS_PER_PAYLOAD: usize = 10_000;

/// Documented reader events that carry nothing Waymark acts on; decoded as
/// [`ImpinjItem::Other`] so a batch mixing them with tag reads is not rejected.
const OTHER_EVENTS: [&str; 8] = [
    "diagnosticEvent",
    "inventoryTerminatedEvent",
    "antennaActivationEvent",
    "gpiTransitionEvent",
    "tagLocationEntryEvent",
    "tagLocationUpdateEvent",
    "tagLocationExitEvent",
    "directionEvent",
];

/// One decoded reader event.
#[derive(Debug, Clone, PartialEq)]
pub enum ImpinjItem {
    Tag(ImpinjTagRead),
    Alarm(DeviceAlarm),
    /// A documented event with no meaning for order tracking, e.g. `diagnosticEvent`.
    Other {
        event_type: String,
        time: Option<DateTime<FixedOffset>>,
    },
}

impl ImpinjItem {
    pub fn into_read(self) -> Option<Read> {
        match self {
            Self::Tag(t) => Some(t.read),
            _ => None,
        }
    }
}

/// A tag read with the reader's extra fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpinjTagRead {
    pub read: Read,
    pub antenna_name: Option<String>,
    pub frequency_khz: Option<u32>,
    pub transmit_power_cdbm: Option<i32>,
    pub phase_angle: Option<f64>,
    /// TID bank, upper-case hex.
    pub tid: Option<String>,
    pub hostname: Option<String>,
    /// The EPC decoded, when it is a supported 96-bit GS1 encoding.
    pub epc: Option<Epc>,
}

impl ImpinjTagRead {
    /// The GS1 key the EPC encodes, made on demand.
    pub fn gs1_key(&self) -> Option<Gs1Key> {
        self.epc.as_ref().map(Epc::gs1_key)
    }
}

/// A reader condition an operator may need to act on.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceAlarm {
    pub time: Option<DateTime<FixedOffset>>,
    pub hostname: Option<String>,
    pub kind: AlarmKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlarmKind {
    AntennaConnected {
        antenna_port: Option<u16>,
        antenna_name: Option<String>,
    },
    AntennaDisconnected {
        antenna_port: Option<u16>,
        antenna_name: Option<String>,
    },
    InventoryStatus {
        status: String,
    },
    /// The reader's event buffer overflowed and it purged events: reads were lost.
    Overflow {
        events_purged: Option<u64>,
        first_event: Option<DateTime<FixedOffset>>,
        last_event: Option<DateTime<FixedOffset>>,
    },
}

#[derive(Debug, Deserialize)]
struct WireEnvelope {
    timestamp: Option<String>,
    hostname: Option<String>,
    #[serde(rename = "eventType")]
    event_type: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct WireTag {
    epc: Option<String>,
    #[serde(rename = "epcHex")]
    epc_hex: Option<String>,
    tid: Option<String>,
    #[serde(rename = "tidHex")]
    tid_hex: Option<String>,
    #[serde(rename = "antennaPort")]
    antenna_port: Option<u16>,
    #[serde(rename = "antennaName")]
    antenna_name: Option<String>,
    #[serde(rename = "peakRssiCdbm")]
    peak_rssi_cdbm: Option<i32>,
    frequency: Option<u32>,
    #[serde(rename = "transmitPowerCdbm")]
    transmit_power_cdbm: Option<i32>,
    #[serde(rename = "lastSeenTime")]
    last_seen_time: Option<String>,
    #[serde(rename = "phaseAngle")]
    phase_angle: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct WireAntenna {
    #[serde(rename = "antennaPort")]
    antenna_port: Option<u16>,
    #[serde(rename = "antennaName")]
    antenna_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireStatus {
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireOverflow {
    #[serde(rename = "eventsPurged")]
    events_purged: Option<u64>,
    #[serde(rename = "firstEventTimestamp")]
    first_event_timestamp: Option<String>,
    #[serde(rename = "lastEventTimestamp")]
    last_event_timestamp: Option<String>,
}

/// Decodes one payload (an event, an array of events or newline-delimited events).
pub fn decode(payload: &[u8]) -> Result<Vec<ImpinjItem>, DecodeError> {
    let events = split_events(payload)?;
    if events.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    events
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            let envelope: WireEnvelope = from_value(index, v)?;
            decode_event(index, envelope)
        })
        .collect()
}

/// The tag reads of a payload, dropping alarms: for callers that only record reads.
pub fn decode_reads(payload: &[u8]) -> Result<Vec<Read>, DecodeError> {
    Ok(decode(payload)?.into_iter().filter_map(ImpinjItem::into_read).collect())
}

fn split_events(payload: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let malformed = |e: serde_json::Error| DecodeError::MalformedJson(e.to_string());
    if payload.trim_ascii_start().starts_with(b"[") {
        return match serde_json::from_slice(payload).map_err(malformed)? {
            Value::Array(items) if items.len() > MAX_EVENTS_PER_PAYLOAD => Err(DecodeError::TooManyReads {
                count: items.len(),
                limit: MAX_EVENTS_PER_PAYLOAD,
            }),
            Value::Array(items) => Ok(items),
            _ => Err(DecodeError::InvalidShape("expected an array of events".into())),
        };
    }
    let mut events = Vec::new();
    let mut count = 0;
    for value in serde_json::Deserializer::from_slice(payload).into_iter::<Value>() {
        let value = value.map_err(malformed)?;
        count += 1;
        if count <= MAX_EVENTS_PER_PAYLOAD {
            events.push(value);
        }
    }
    if count > MAX_EVENTS_PER_PAYLOAD {
        return Err(DecodeError::TooManyReads {
            count,
            limit: MAX_EVENTS_PER_PAYLOAD,
        });
    }
    Ok(events)
}

fn from_value<T: serde::de::DeserializeOwned>(index: usize, v: Value) -> Result<T, DecodeError> {
    serde_json::from_value(v).map_err(|e| DecodeError::InvalidShape(format!("event {index}: {e}")))
}

fn invalid(index: usize, field: &'static str, problem: impl Into<String>) -> DecodeError {
    DecodeError::InvalidField {
        index,
        field,
        problem: problem.into(),
    }
}

fn decode_event(index: usize, envelope: WireEnvelope) -> Result<ImpinjItem, DecodeError> {
    let mut members = envelope.rest.into_iter().filter(|(k, _)| k.ends_with("Event"));
    let (name, body) = match (members.next(), members.next()) {
        (Some(member), None) => member,
        (Some(_), Some(_)) => return Err(DecodeError::InvalidShape(format!("event {index}: more than one event"))),
        (None, _) => {
            return Err(match envelope.event_type {
                Some(t) => DecodeError::UnsupportedEvent {
                    index,
                    event_type: t.chars().take(64).collect(),
                },
                None => DecodeError::InvalidShape(format!("event {index}: no event member")),
            });
        }
    };
    let time = parse_time(index, "timestamp", envelope.timestamp.as_deref())?;
    let hostname = envelope.hostname;
    let alarm = |kind| {
        Ok(ImpinjItem::Alarm(DeviceAlarm {
            time,
            hostname: hostname.clone(),
            kind,
        }))
    };
    match name.as_str() {
        "tagInventoryEvent" => tag_read(index, from_value(index, body)?, time, hostname.clone()).map(ImpinjItem::Tag),
        "antennaConnectedEvent" | "antennaDisconnectedEvent" => {
            let a: WireAntenna = from_value(index, body)?;
            let (antenna_port, antenna_name) = (a.antenna_port, a.antenna_name);
            alarm(if name == "antennaConnectedEvent" {
                AlarmKind::AntennaConnected {
                    antenna_port,
                    antenna_name,
                }
            } else {
                AlarmKind::AntennaDisconnected {
                    antenna_port,
                    antenna_name,
                }
            })
        }
        "inventoryStatusEvent" => {
            let s: WireStatus = from_value(index, body)?;
            let status = s
                .status
                .ok_or_else(|| invalid(index, "inventoryStatusEvent.status", "is missing"))?;
            alarm(AlarmKind::InventoryStatus {
                status: status.chars().take(32).collect(),
            })
        }
        "overflowEvent" => {
            let o: WireOverflow = from_value(index, body)?;
            alarm(AlarmKind::Overflow {
                events_purged: o.events_purged,
                first_event: parse_time(
                    index,
                    "overflowEvent.firstEventTimestamp",
                    o.first_event_timestamp.as_deref(),
                )?,
                last_event: parse_time(
                    index,
                    "overflowEvent.lastEventTimestamp",
                    o.last_event_timestamp.as_deref(),
                )?,
            })
        }
        other if OTHER_EVENTS.contains(&other) => Ok(ImpinjItem::Other {
            event_type: other.to_string(),
            time,
        }),
        other => Err(DecodeError::UnsupportedEvent {
            index,
            event_type: other.chars().take(64).collect(),
        }),
    }
}

fn tag_read(
    index: usize,
    tag: WireTag,
    envelope_time: Option<DateTime<FixedOffset>>,
    hostname: Option<String>,
) -> Result<ImpinjTagRead, DecodeError> {
    let epc_hex = bank_hex(
        index,
        "tagInventoryEvent.epc",
        tag.epc.as_deref(),
        tag.epc_hex.as_deref(),
    )?
    .ok_or_else(|| invalid(index, "tagInventoryEvent.epcHex", "is missing (enable epcHex or epc)"))?;
    let (identifier, epc) =
        epc::identifier_for_hex(&epc_hex).map_err(|e| invalid(index, "tagInventoryEvent.epcHex", e.to_string()))?;
    let tid = bank_hex(
        index,
        "tagInventoryEvent.tid",
        tag.tid.as_deref(),
        tag.tid_hex.as_deref(),
    )?;
    let rssi_dbm = tag.peak_rssi_cdbm.map(|c| c as f32 / 100.0);
    if let Some(rssi) = rssi_dbm.filter(|v| !(-150.0..=20.0).contains(v)) {
        return Err(invalid(
            index,
            "tagInventoryEvent.peakRssiCdbm",
            format!("{rssi} dBm is outside -150..=20"),
        ));
    }
    if tag.antenna_port == Some(0) {
        return Err(invalid(index, "tagInventoryEvent.antennaPort", "must be 1 or more"));
    }
    let last_seen = parse_time(index, "tagInventoryEvent.lastSeenTime", tag.last_seen_time.as_deref())?;
    Ok(ImpinjTagRead {
        read: Read {
            identifier,
            antenna: tag.antenna_port,
            rssi_dbm,
            // The interface reports each sighting separately; it has no folded count.
            seen_count: 1,
            time: last_seen.or(envelope_time),
        },
        antenna_name: tag.antenna_name,
        frequency_khz: tag.frequency,
        transmit_power_cdbm: tag.transmit_power_cdbm,
        phase_angle: tag.phase_angle,
        tid,
        hostname,
        epc,
    })
}

/// A memory bank as upper-case hex from its hex and/or base64 field; both must agree.
fn bank_hex(
    index: usize,
    field: &'static str,
    b64: Option<&str>,
    hex: Option<&str>,
) -> Result<Option<String>, DecodeError> {
    let from_b64 = b64
        .map(|s| {
            base64::decode(s)
                .map(|bytes| bytes.iter().map(|b| format!("{b:02X}")).collect::<String>())
                .ok_or_else(|| invalid(index, field, "is not base64"))
        })
        .transpose()?;
    let from_hex = hex
        .map(|h| {
            if h.len() <= base64::MAX_DECODED_BYTES * 2 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(h.to_ascii_uppercase())
            } else {
                Err(invalid(index, field, "hex form is not hex or is too long"))
            }
        })
        .transpose()?;
    match (from_b64, from_hex) {
        (Some(a), Some(b)) if a != b => Err(invalid(index, field, "base64 and hex forms disagree")),
        (a, b) => Ok(b.or(a)),
    }
}

fn parse_time(
    index: usize,
    field: &'static str,
    t: Option<&str>,
) -> Result<Option<DateTime<FixedOffset>>, DecodeError> {
    t.map(|t| {
        timestamp::parse(t).ok_or_else(|| {
            let shown: String = t.chars().take(40).collect();
            invalid(index, field, format!("`{shown}` is not RFC 3339 with a zone offset"))
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests;
