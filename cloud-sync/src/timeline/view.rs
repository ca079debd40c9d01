//! How an event reads in the API: times in the zone they happened in, kinds
//! and identifiers by name.

use chrono::{DateTime, FixedOffset, Offset, SecondsFormat, Utc};
use serde::Serialize;
use waymark_proto::v1::Event;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub event_id: String,
    pub site_id: String,
    pub sequence: u64,
    /// When it happened, in the zone it happened in.
    pub event_time: String,
    pub record_time: String,
    pub business_step: String,
    pub disposition: String,
    pub read_point: String,
    pub device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub antenna: Option<u32>,
    /// `{"kind", "value"}` each.
    #[schema(value_type = Vec<Object>)]
    pub identifiers: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parcel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    pub read_count: u32,
    /// observation, milestone or exception.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// When the tag was last seen at the read point (the end of the stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rematched: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_milestone: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolves: Vec<String>,
}

impl EventView {
    pub fn new(e: &Event, parcel_id: Option<String>) -> Self {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Self {
            event_id: e.event_id.clone(),
            site_id: e.site_id.clone(),
            sequence: e.sequence,
            event_time: format_with_offset(e.event_time_ms, e.event_time_offset_minutes),
            record_time: format_utc(e.record_time_ms),
            business_step: e.business_step.clone(),
            disposition: e.disposition.clone(),
            read_point: e.read_point.clone(),
            device_id: e.device_id.clone(),
            antenna: (e.antenna > 0).then_some(e.antenna),
            identifiers: e
                .identifiers
                .iter()
                .map(|i| {
                    let kind = i
                        .kind()
                        .as_str_name()
                        .trim_start_matches("IDENTIFIER_KIND_")
                        .to_lowercase();
                    serde_json::json!({ "kind": kind, "value": i.value })
                })
                .collect(),
            parcel_id: some(&e.parcel_id).or(parcel_id),
            order_number: some(&e.order_number),
            read_count: e.read_count,
            kind: e.kind().as_str_name().trim_start_matches("EVENT_KIND_").to_lowercase(),
            milestone: some(&e.milestone),
            direction: some(&e.direction),
            last_seen: (e.last_seen_ms > 0).then(|| format_with_offset(e.last_seen_ms, e.event_time_offset_minutes)),
            late: e.late,
            rematched: e.rematched,
            exception: some(&e.exception),
            missing_milestone: some(&e.missing_milestone),
            resolves: e.resolves_event_ids.clone(),
        }
    }
}

pub(crate) fn format_utc(ms: i64) -> String {
    format_with_offset(ms, 0)
}

pub(crate) fn format_with_offset(ms: i64, offset_minutes: i32) -> String {
    let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap_or_else(|| Utc.fix());
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}
