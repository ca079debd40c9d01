//! Zebra IoT Connector tag data events (FX7500, FX9600, ATR7000): one event object or a
//! batch (JSON array) of them, decoded to reads plus the per-tag metadata Zebra adds.
//!
//! The event envelope is `{"type": <operating mode>, "timestamp": ..., "data": {...}}`;
//! `data.idHex` is the EPC. It becomes a pure-identity URN when it is a supported
//! 96-bit GS1 encoding and the TDS raw URN (`urn:epc:raw:96.x...`) otherwise, so a tag
//! with a non-GS1 EPC is still recorded, and distinguishably so. Like the generic
//! format, a payload is accepted or rejected whole.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use crate::epc::{self, Epc, Gs1Key};
use crate::read::{DecodeError, Read};
use crate::timestamp;

/// Most events one payload may carry (a 256 KiB batch holds about 2,500).
pub const MAX_EVENTS_PER_PAYLOAD: usize = 10_000;
/// Longest TID or USER bank accepted, in hex digits.
pub const MAX_BANK_HEX: usize = 2048;

/// The IoT Connector operating mode named by an event's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZebraMode {
    Simple,
    Inventory,
    Portal,
    Conveyor,
    Directionality,
    Custom,
}

impl ZebraMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "SIMPLE",
            Self::Inventory => "INVENTORY",
            Self::Portal => "PORTAL",
            Self::Conveyor => "CONVEYOR",
            Self::Directionality => "DIRECTIONALITY",
            Self::Custom => "CUSTOM",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Simple,
            Self::Inventory,
            Self::Portal,
            Self::Conveyor,
            Self::Directionality,
            Self::Custom,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// Tag metadata Zebra reports beside the read (each only when enabled in the mode's
/// `tagMetaData`). Hex banks are upper-cased.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZebraExtras {
    /// `None` when the event carried no `type`.
    pub mode: Option<ZebraMode>,
    pub event_num: Option<u64>,
    /// Channel frequency in MHz.
    pub channel_mhz: Option<f64>,
    /// Phase in degrees.
    pub phase_deg: Option<f64>,
    pub pc: Option<String>,
    pub xpc: Option<String>,
    pub crc: Option<String>,
    pub tid: Option<String>,
    pub user: Option<String>,
    /// The reader's MAC address.
    pub mac: Option<String>,
    pub hostname: Option<String>,
    /// The EPC decoded, when it is a supported 96-bit GS1 encoding.
    pub epc: Option<Epc>,
}

impl ZebraExtras {
    /// The GS1 key the EPC encodes (AI `00` and the SSCC for an SSCC-96 tag, ...), so a
    /// tagged pallet can be matched to the SSCC on its order. Made on demand: ingest
    /// does not need it for every read.
    pub fn gs1_key(&self) -> Option<Gs1Key> {
        self.epc.as_ref().map(Epc::gs1_key)
    }
}

/// One tag report: the normalized read and Zebra's extras.
#[derive(Debug, Clone, PartialEq)]
pub struct ZebraRead {
    pub read: Read,
    pub extras: ZebraExtras,
}

/// One event as sent. Strings are borrowed: from the payload on the fast path
/// (which gives up on a string with escapes), from a parsed `Value` otherwise.
#[derive(Debug, Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type")]
    mode: Option<&'a str>,
    timestamp: Option<&'a str>,
    #[serde(borrow)]
    data: Option<WireData<'a>>,
}

#[derive(Debug, Deserialize)]
struct WireData<'a> {
    #[serde(rename = "idHex")]
    id_hex: Option<&'a str>,
    format: Option<&'a str>,
    antenna: Option<u16>,
    #[serde(rename = "peakRssi")]
    peak_rssi: Option<f32>,
    #[serde(alias = "seenCount")]
    reads: Option<u32>,
    #[serde(rename = "eventNum")]
    event_num: Option<u64>,
    channel: Option<f64>,
    phase: Option<f64>,
    #[serde(rename = "PC")]
    pc: Option<&'a str>,
    #[serde(rename = "XPC")]
    xpc: Option<&'a str>,
    #[serde(rename = "CRC")]
    crc: Option<&'a str>,
    #[serde(rename = "TID")]
    tid: Option<&'a str>,
    #[serde(rename = "USER")]
    user: Option<&'a str>,
    #[serde(rename = "MAC")]
    mac: Option<&'a str>,
    #[serde(rename = "hostName")]
    hostname: Option<&'a str>,
}

/// Decodes a tag data payload into reads; signature parallel to `generic::decode`.
pub fn decode(payload: &[u8]) -> Result<Vec<Read>, DecodeError> {
    Ok(decode_events(payload)?.into_iter().map(|z| z.read).collect())
}

/// Decodes a tag data payload into reads with Zebra's metadata.
///
/// The fast path deserializes the events straight from the payload. Anything it
/// does not take (an error of any kind, a string with escapes, an empty batch)
/// goes through `decode_via_value`, which parses the whole payload first and so
/// reports a broken payload as malformed however far in the break is. Both paths
/// validate with the same code; a proptest holds them to the same result.
pub fn decode_events(payload: &[u8]) -> Result<Vec<ZebraRead>, DecodeError> {
    match decode_direct(payload) {
        Some(reads) => Ok(reads),
        None => decode_via_value(payload),
    }
}

fn decode_direct(payload: &[u8]) -> Option<Vec<ZebraRead>> {
    use serde::de::Deserializer as _;
    // serde_json checks UTF-8 only in what it reads, not in what it skips; the
    // full parse checks it everywhere, so check it here first too.
    let text = std::str::from_utf8(payload).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    // A Zebra event takes ~180 bytes: room for all of them up front, rather than
    // moving every read each time the vector grows.
    let mut reads = Vec::with_capacity((payload.len() / 150).clamp(1, MAX_EVENTS_PER_PAYLOAD));
    de.deserialize_any(EventsVisitor { reads: &mut reads }).ok()?;
    de.end().ok()?;
    (!reads.is_empty()).then_some(reads)
}

/// The fast path's visitor: an event object or an array of them, each validated
/// as it is read. Its errors carry no detail: the slow path reports them.
struct EventsVisitor<'r> {
    reads: &'r mut Vec<ZebraRead>,
}

impl<'de> serde::de::Visitor<'de> for EventsVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a tag data event or an array of them")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let event = WireEvent::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.reads
            .push(validate(0, event).map_err(|_| serde::de::Error::custom("invalid event"))?);
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(event) = seq.next_element::<WireEvent<'de>>()? {
            let index = self.reads.len();
            if index == MAX_EVENTS_PER_PAYLOAD {
                return Err(serde::de::Error::custom("too many events"));
            }
            self.reads
                .push(validate(index, event).map_err(|_| serde::de::Error::custom("invalid event"))?);
        }
        Ok(())
    }
}

fn decode_via_value(payload: &[u8]) -> Result<Vec<ZebraRead>, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| DecodeError::MalformedJson(e.to_string()))?;
    let events = match &value {
        serde_json::Value::Object(_) => std::slice::from_ref(&value),
        serde_json::Value::Array(items) if items.len() > MAX_EVENTS_PER_PAYLOAD => {
            return Err(DecodeError::TooManyReads {
                count: items.len(),
                limit: MAX_EVENTS_PER_PAYLOAD,
            });
        }
        serde_json::Value::Array(items) => items.as_slice(),
        _ => {
            return Err(DecodeError::InvalidShape(
                "expected a tag data event or an array of them".into(),
            ));
        }
    };
    if events.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    events
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let event =
                WireEvent::deserialize(v).map_err(|e| DecodeError::InvalidShape(format!("event {index}: {e}")))?;
            validate(index, event)
        })
        .collect()
}

fn invalid(index: usize, field: &'static str, problem: impl Into<String>) -> DecodeError {
    DecodeError::InvalidField {
        index,
        field,
        problem: problem.into(),
    }
}

fn validate(index: usize, event: WireEvent) -> Result<ZebraRead, DecodeError> {
    let mode = match event.mode {
        None => None,
        Some(m) => Some(ZebraMode::parse(m).ok_or_else(|| DecodeError::UnsupportedEvent {
            index,
            event_type: m.chars().take(64).collect(),
        })?),
    };
    let data = event.data.ok_or_else(|| invalid(index, "data", "is missing"))?;
    if let Some(format) = data.format.filter(|f| *f != "epc") {
        return Err(invalid(
            index,
            "data.format",
            format!(
                "`{}` is not supported; report the EPC as idHex",
                format.chars().take(16).collect::<String>()
            ),
        ));
    }
    let id_hex = data.id_hex.ok_or_else(|| invalid(index, "data.idHex", "is missing"))?;
    let (identifier, epc) = epc::identifier_for_hex(id_hex).map_err(|e| invalid(index, "data.idHex", e.to_string()))?;
    let time = parse_time(index, event.timestamp)?;
    if let Some(rssi) = data.peak_rssi.filter(|v| !(-150.0..=20.0).contains(v)) {
        return Err(invalid(
            index,
            "data.peakRssi",
            format!("{rssi} dBm is outside -150..=20"),
        ));
    }
    if data.antenna == Some(0) {
        return Err(invalid(index, "data.antenna", "must be 1 or more"));
    }
    let seen_count = data.reads.unwrap_or(1);
    if seen_count == 0 {
        return Err(invalid(index, "data.reads", "must be 1 or more"));
    }
    let extras = ZebraExtras {
        mode,
        event_num: data.event_num,
        channel_mhz: data.channel,
        phase_deg: data.phase,
        pc: hex_bank(index, "data.PC", data.pc)?,
        xpc: hex_bank(index, "data.XPC", data.xpc)?,
        crc: hex_bank(index, "data.CRC", data.crc)?,
        tid: hex_bank(index, "data.TID", data.tid)?,
        user: hex_bank(index, "data.USER", data.user)?,
        mac: data.mac.map(str::to_string),
        hostname: data.hostname.map(str::to_string),
        epc,
    };
    Ok(ZebraRead {
        read: Read {
            identifier,
            antenna: data.antenna,
            rssi_dbm: data.peak_rssi,
            seen_count,
            time,
        },
        extras,
    })
}

fn parse_time(index: usize, t: Option<&str>) -> Result<Option<DateTime<FixedOffset>>, DecodeError> {
    t.map(|t| {
        timestamp::parse(t).ok_or_else(|| {
            invalid(
                index,
                "timestamp",
                format!(
                    "`{}` is not ISO 8601 with a zone offset",
                    t.chars().take(40).collect::<String>()
                ),
            )
        })
    })
    .transpose()
}

fn hex_bank(index: usize, field: &'static str, value: Option<&str>) -> Result<Option<String>, DecodeError> {
    let Some(v) = value else { return Ok(None) };
    if v.len() > MAX_BANK_HEX {
        return Err(invalid(
            index,
            field,
            format!("is {} hex digits, more than {MAX_BANK_HEX}", v.len()),
        ));
    }
    if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(index, field, "is not hex"));
    }
    Ok(Some(v.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests;
