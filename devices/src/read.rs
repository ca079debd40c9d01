//! The normalized read every decoder produces, and the errors they report.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

/// Longest identifier accepted from any device; anything longer is an input error.
pub const MAX_IDENTIFIER_LEN: usize = 128;

/// What kind of thing an identifier names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// GS1 Serial Shipping Container Code: 18 digits with a check digit.
    Sscc,
    /// An RFID tag's EPC: its pure-identity URN (`urn:epc:id:sgtin:...`), or the TDS raw
    /// URN (`urn:epc:raw:96.x...`) when it is not a supported GS1 encoding.
    Epc,
    /// A carrier tracking number.
    TrackingNumber,
    /// A merchant order number printed as a barcode.
    OrderNumber,
    /// Any other barcode content.
    Barcode,
}

impl IdentifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sscc => "sscc",
            Self::Epc => "epc",
            Self::TrackingNumber => "tracking_number",
            Self::OrderNumber => "order_number",
            Self::Barcode => "barcode",
        }
    }
}

/// A validated identifier: kind plus its canonical text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Identifier {
    pub kind: IdentifierKind,
    pub value: String,
}

/// One observation of one identifier by one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Read {
    pub identifier: Identifier,
    /// Antenna or scanner channel; `None` when the device does not say.
    pub antenna: Option<u16>,
    pub rssi_dbm: Option<f32>,
    /// How many raw reads the device folded into this one (at least 1).
    pub seen_count: u32,
    /// Event time as the device reported it, with its zone offset; `None` means
    /// the device gave no time and the receiver's clock applies.
    pub time: Option<DateTime<FixedOffset>>,
}

/// Why a payload was rejected. `reason()` is the stable label used in metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("payload is not a read object or an array of read objects: {0}")]
    InvalidShape(String),
    #[error("payload holds no reads")]
    EmptyBatch,
    #[error("payload holds {count} reads, more than the limit of {limit}")]
    TooManyReads { count: usize, limit: usize },
    #[error("read {index}: field `{field}` {problem}")]
    InvalidField {
        index: usize,
        field: &'static str,
        problem: String,
    },
    /// A well-formed vendor event of a type this decoder does not handle.
    #[error("event {index}: type `{event_type}` is not supported")]
    UnsupportedEvent { index: usize, event_type: String },
}

impl DecodeError {
    /// Metric label for this rejection reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidShape(_) => "invalid_shape",
            Self::EmptyBatch => "empty_batch",
            Self::TooManyReads { .. } => "too_many_reads",
            Self::InvalidField { .. } => "invalid_field",
            Self::UnsupportedEvent { .. } => "unsupported_event",
        }
    }
}
