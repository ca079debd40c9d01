//! Waymark's own carrier format, for local fleets, LTL partners and 3PLs that
//! have no tracking provider: documented in docs/carriers.md ("The waymark
//! format"), signed per Standard Webhooks (`signature.rs`).
//!
//! ```json
//! {"events": [{
//!   "event_id": "evt_01J...",            // required, unique per sender: the dedupe key
//!   "tracking_number": "LF-000123",      // required
//!   "carrier": "Metro Courier",          // lowercased; empty when absent
//!   "milestone": "out_for_delivery",     // one of the table below; others are kept unmapped
//!   "event_time": "2026-05-01T09:30:00+02:00", // RFC 3339 with offset
//!   "location": {"city", "state", "postal_code", "country"},
//!   "estimated_delivery": {"from": "2026-05-02", "to": "2026-05-03"},
//!   "exception": {"reason": "address_problem", "party": "customer"},
//!   "proof_of_delivery": "signed: J. Doe",
//!   "description": "Out with driver 12"
//! }]}
//! ```
//!
//! | `milestone` | milestone | possession |
//! |---|---|---|
//! | `label_created` | `label_created` | no |
//! | `carrier_accepted` | `carrier_accepted` | yes |
//! | `in_transit` | `in_transit` | yes |
//! | `out_for_delivery` | `out_for_delivery` | yes |
//! | `delivery_attempted` | `delivery_attempted` | yes |
//! | `available_for_pickup` | `available_for_pickup` | yes |
//! | `delivered` | `delivered` | yes |
//! | `returned_to_sender` | `returned_to_sender` | yes |
//! | absent | none (an estimate or exception only) | no |
//! | anything else (`picked`, `lost` ...) | none, the name kept in `provider_code` | no |
//!
//! Errors (`Shape`, naming the path): a missing `events` array, a missing or
//! empty `events[i].event_id` or `events[i].tracking_number`, a missing
//! `event_time` on an event with a milestone or an exception (only an
//! estimate may come without one), an `event_time` that is not RFC 3339 with
//! an offset, an estimate date that
//! is not `YYYY-MM-DD`, an exception party other than `carrier`, `merchant`,
//! `customer`, `customs`, `weather`. Source: this module (our format).

use serde::Deserialize;

use super::fields::{clean as some_text, trimmed as text};
use super::{DecodeError, parse};
use crate::carriers::{CarrierEvent, Estimate, ExceptionInfo, Location, Provider};
use crate::status::{Milestone, Party};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    events: Option<Vec<Event>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    event_id: Option<String>,
    tracking_number: Option<String>,
    carrier: Option<String>,
    milestone: Option<String>,
    event_time: Option<String>,
    location: Option<WLocation>,
    estimated_delivery: Option<WEstimate>,
    exception: Option<WException>,
    proof_of_delivery: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WLocation {
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WEstimate {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WException {
    reason: Option<String>,
    party: Option<String>,
}

/// The milestones a carrier may report in this format.
pub const MILESTONES: [Milestone; 8] = [
    Milestone::LabelCreated,
    Milestone::CarrierAccepted,
    Milestone::InTransit,
    Milestone::OutForDelivery,
    Milestone::DeliveryAttempted,
    Milestone::AvailableForPickup,
    Milestone::Delivered,
    Milestone::ReturnedToSender,
];

fn day(s: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

pub fn normalize(body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let b: Body = parse(body)?;
    let events = b.events.ok_or_else(|| DecodeError::shape("events", "missing"))?;
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let path = |field: &str| format!("events[{i}].{field}");
        let event_id = text(&e.event_id);
        if event_id.is_empty() {
            return Err(DecodeError::shape(&path("event_id"), "missing or empty"));
        }
        let tn = text(&e.tracking_number);
        if tn.is_empty() {
            return Err(DecodeError::shape(&path("tracking_number"), "missing or empty"));
        }
        let mut ev = CarrierEvent::new(Provider::Waymark, tn);
        ev.carrier = text(&e.carrier).to_lowercase();
        ev.event_key = event_id.to_string();
        let name = text(&e.milestone);
        ev.milestone = MILESTONES.into_iter().find(|m| m.as_str() == name);
        ev.provider_code = name.to_string();
        ev.carrier_possession = ev.milestone.is_some_and(Milestone::is_carrier_possession);
        ev.description = text(&e.description).to_string();
        let needs_time = !name.is_empty() || e.exception.is_some();
        if needs_time && text(&e.event_time).is_empty() {
            return Err(DecodeError::shape(
                &path("event_time"),
                "required with a milestone or an exception",
            ));
        }
        if let Some(t) = some_text(&e.event_time) {
            let at = chrono::DateTime::parse_from_rfc3339(&t)
                .map_err(|_| DecodeError::shape(&path("event_time"), "not RFC 3339 with an offset"))?;
            ev.event_time_ms = Some(at.timestamp_millis());
            ev.offset_minutes = Some(at.offset().local_minus_utc() / 60);
        }
        if let Some(l) = &e.location {
            ev.location = Location {
                city: some_text(&l.city),
                state: some_text(&l.state),
                postal_code: some_text(&l.postal_code),
                country: some_text(&l.country),
            }
            .non_empty();
        }
        if let Some(est) = &e.estimated_delivery {
            let (from, to) = (text(&est.from), text(&est.to));
            let from_day =
                day(from).ok_or_else(|| DecodeError::shape(&path("estimated_delivery.from"), "not YYYY-MM-DD"))?;
            let to_day = if to.is_empty() {
                from_day.clone()
            } else {
                day(to).ok_or_else(|| DecodeError::shape(&path("estimated_delivery.to"), "not YYYY-MM-DD"))?
            };
            ev.estimated_delivery = Some(Estimate {
                from: from_day,
                to: to_day,
            });
        }
        if let Some(x) = &e.exception {
            let party = match text(&x.party) {
                "carrier" => Party::Carrier,
                "merchant" => Party::Merchant,
                "customer" => Party::Customer,
                "customs" => Party::Customs,
                "weather" => Party::Weather,
                _ => {
                    return Err(DecodeError::shape(
                        &path("exception.party"),
                        "one of carrier, merchant, customer, customs, weather",
                    ));
                }
            };
            let reason = some_text(&x.reason).unwrap_or_else(|| "unspecified".to_string());
            ev.exception = Some(ExceptionInfo { reason, party });
        }
        ev.proof_of_delivery = some_text(&e.proof_of_delivery);
        out.push(ev);
    }
    Ok(out)
}
