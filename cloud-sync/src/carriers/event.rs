//! The canonical carrier event: what every provider's payload becomes, in the
//! milestone vocabulary of DESIGN.md, with the provider's own words kept
//! beside it as evidence.

use serde::{Deserialize, Serialize};

use super::Provider;
use crate::status::{Milestone, Party};

/// One thing a carrier says happened to a tracking number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierEvent {
    pub provider: Provider,
    pub tracking_number: String,
    /// The carrier as the provider names it, lowercased ("ups", "fedex",
    /// "usps", "dhl_express" ...); empty when the payload does not say.
    pub carrier: String,
    /// Unique per provider: the provider's event id, or, where it has none,
    /// a key built from tracking number, event time and code (so the same
    /// event sent twice, or again inside a full snapshot, has the same key).
    pub event_key: String,
    /// The canonical milestone; `None` when the provider's code is unknown
    /// (kept, counted and shown as unmapped, never guessed) or the event is an
    /// estimate change only.
    pub milestone: Option<Milestone>,
    /// The provider's own status, substatus and raw carrier code, joined by
    /// `/` (e.g. `in_transit/arrived_at_facility/AR`): what support reads.
    pub provider_code: String,
    /// The provider's words for the event.
    #[serde(default)]
    pub description: String,
    /// Whether the carrier physically holds the parcel at this event (a label
    /// alone never does).
    pub carrier_possession: bool,
    /// When it happened, unix ms; `None` for an event that carries no time of
    /// its own (an estimate revision).
    pub event_time_ms: Option<i64>,
    /// The UTC offset where it happened, when the provider says.
    #[serde(default)]
    pub offset_minutes: Option<i32>,
    #[serde(default)]
    pub estimated_delivery: Option<Estimate>,
    #[serde(default)]
    pub exception: Option<ExceptionInfo>,
    #[serde(default)]
    pub location: Option<Location>,
    /// Who signed for it, or a proof-of-delivery reference, when given.
    #[serde(default)]
    pub proof_of_delivery: Option<String>,
}

/// A carrier's delivery estimate: one day (`from == to`) or a range of days,
/// as `YYYY-MM-DD` in the destination's calendar, optionally with times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    /// First day (inclusive).
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
}

impl Estimate {
    pub fn day(date: &str) -> Self {
        Self {
            from: date.to_string(),
            to: date.to_string(),
        }
    }

    /// The estimate as `[from_ms, to_ms)` over whole UTC days, as the status
    /// engine reads estimates; `None` when a date does not parse.
    pub fn window_ms(&self) -> Option<(i64, i64)> {
        let day = |s: &str| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
        };
        let (a, b) = (day(&self.from)?, day(&self.to)?);
        Some((a.min(b), a.max(b) + 86_400_000))
    }
}

/// Why a parcel is held up, and whose side it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionInfo {
    /// A short reason code (e.g. `customs_delay`, `address_problem`,
    /// `refused`, `damaged`, `weather_delay`), or the provider's substatus
    /// when nothing better is known.
    pub reason: String,
    pub party: Party,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Location {
    /// `None` when every part is empty.
    pub fn non_empty(self) -> Option<Self> {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        (!(blank(&self.city) && blank(&self.state) && blank(&self.postal_code) && blank(&self.country))).then_some(self)
    }
}

impl CarrierEvent {
    /// A blank event of `provider` for `tracking_number`; normalizers fill it.
    pub fn new(provider: Provider, tracking_number: &str) -> Self {
        Self {
            provider,
            tracking_number: tracking_number.to_string(),
            carrier: String::new(),
            event_key: String::new(),
            milestone: None,
            provider_code: String::new(),
            description: String::new(),
            carrier_possession: false,
            event_time_ms: None,
            offset_minutes: None,
            estimated_delivery: None,
            exception: None,
            location: None,
            proof_of_delivery: None,
        }
    }

    /// Unmapped: the provider said something central has no milestone for and
    /// no estimate; kept and counted, never guessed.
    pub fn is_unmapped(&self) -> bool {
        self.milestone.is_none() && self.estimated_delivery.is_none() && self.exception.is_none()
    }
}

/// One line of `waymark-sync carrier decode`: the fields support reads
/// first, then the rest of the event.
pub fn decode_line(e: &CarrierEvent) -> String {
    let event_time = e.event_time_ms.map(|t| {
        let offset = e.offset_minutes.unwrap_or(0);
        chrono::FixedOffset::east_opt(offset * 60)
            .and_then(|z| chrono::DateTime::from_timestamp_millis(t).map(|d| d.with_timezone(&z).to_rfc3339()))
            .unwrap_or_default()
    });
    serde_json::json!({
        "tracking_number": e.tracking_number,
        "milestone": e.milestone.map(Milestone::as_str),
        "unmapped": e.is_unmapped(),
        "carrier_possession": e.carrier_possession,
        "event_time": event_time,
        "estimated_delivery": e.estimated_delivery,
        "exception_reason": e.exception.as_ref().map(|x| &x.reason),
        "exception_party": e.exception.as_ref().map(|x| x.party),
        "location": e.location,
        "provider_code": e.provider_code,
        "description": e.description,
        "carrier": e.carrier,
        "provider": e.provider,
        "event_key": e.event_key,
        "proof_of_delivery": e.proof_of_delivery,
    })
    .to_string()
}
