//! Karrio (self-hosted multi-carrier server) webhook: `{"event": <type>,
//! "data": <serialized object>}`; tracker events carry the tracker, whose
//! `events[]` is its whole history (Karrio merges new events into the stored
//! ones and fires when the list changes). Karrio has already mapped each
//! carrier's codes to its own `status` and `reason`: those are what is read
//! here, the carrier's raw `code` is kept as evidence.
//!
//! Sources: karrioapi/karrio @deea10f: `modules/events/karrio/server/events/
//! task_definitions/base/webhook.py` (body `dict(event=event, data=data)`),
//! `modules/core/karrio/server/core/serializers.py` (TrackerStatus),
//! `modules/core/karrio/server/core/utils.py` `compute_tracking_status`
//! (no events, or one event with code `CREATED` → pending),
//! `modules/sdk/karrio/core/models.py` (`TrackingEvent{date, description,
//! code, time, timestamp, status, reason, location}`, `TrackingInfo.signed_by`),
//! `modules/sdk/karrio/core/units.py` (`TrackingIncidentReason`),
//! `apps/www/docs/reference/api/add-tracker.api.mdx` (TrackingStatus fields:
//! `estimated_delivery`, `info.expected_delivery`); notes/carriers.md §4.
//!
//! | event `status` | milestone | possession |
//! |---|---|---|
//! | `pending`; no status and the tracker's only event has code `CREATED` | `label_created` | no |
//! | `picked_up` | `carrier_accepted` | yes |
//! | `in_transit` | `in_transit` | yes |
//! | `out_for_delivery` | `out_for_delivery` | yes |
//! | `delivery_failed` | `delivery_attempted` | yes |
//! | `ready_for_pickup` | `available_for_pickup` | yes |
//! | `delivered` | `delivered` (proof of delivery `info.signed_by`) | yes |
//! | `return_to_sender` | `returned_to_sender` | yes |
//! | `on_hold`, `delivery_delayed`, `cancelled`, `unknown`, none, anything else | none (unmapped unless `reason` names a party) | no |
//!
//! | event `reason` (TrackingIncidentReason) | exception party |
//! |---|---|
//! | `carrier_*` | carrier |
//! | `retailer_*` | merchant |
//! | `consignee_*` | customer |
//! | `customs_*` | customs |
//! | `weather_delay`, `natural_disaster` | weather |
//! | `force_majeure`, `parcel_being_researched`, `security_issue`, `regulatory_hold`, `unknown`, other | no exception (kept in `provider_code`) |
//!
//! - Key (no event id): `tracking_number|date|time|code`; an event without a
//!   code gets 16 hex digits of SHA-256 over its status, description and
//!   location instead of the code.
//! - Time: `timestamp` (ISO 8601), else `date` + `time` (`HH:MM AM/PM`), UTC.
//!   Karrio's connectors often write the carrier's local time with a `Z`
//!   (the FedEx fixture: `2024-04-26T09:26:00.000Z` for a scan at 09:26-07:00),
//!   so the instant can be off by the local offset: Karrio's data, kept as is.
//! - Estimate: `estimated_delivery`, else `info.expected_delivery`, as an
//!   estimate-only event keyed `tracking_number|estimate|date`.
//! - Only `tracker_created` and `tracker_updated` carry trackers; every other
//!   event type (`order_created`, `shipment_*`, `batch_*` ...) gives no events.

use std::collections::HashSet;

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::fields::{clean as some_text, short_hash, trimmed as text};
use super::{DecodeError, parse, time};
use crate::carriers::{CarrierEvent, Estimate, ExceptionInfo, Location, Provider};
use crate::status::{Milestone, Party};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    event: Option<String>,
    data: Option<Tracker>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tracker {
    carrier_name: Option<String>,
    tracking_number: Option<String>,
    events: Option<Vec<Event>>,
    estimated_delivery: Option<String>,
    info: Option<Info>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Info {
    expected_delivery: Option<String>,
    signed_by: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    date: Option<String>,
    time: Option<String>,
    timestamp: Option<String>,
    description: Option<String>,
    code: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    location: Option<String>,
}

fn milestone(status: &str) -> Option<Milestone> {
    Some(match status {
        "pending" => Milestone::LabelCreated,
        "picked_up" => Milestone::CarrierAccepted,
        "in_transit" => Milestone::InTransit,
        "out_for_delivery" => Milestone::OutForDelivery,
        "delivery_failed" => Milestone::DeliveryAttempted,
        "ready_for_pickup" => Milestone::AvailableForPickup,
        "delivered" => Milestone::Delivered,
        "return_to_sender" => Milestone::ReturnedToSender,
        _ => return None,
    })
}

fn party(reason: &str) -> Option<Party> {
    if reason.starts_with("carrier_") {
        Some(Party::Carrier)
    } else if reason.starts_with("retailer_") {
        Some(Party::Merchant)
    } else if reason.starts_with("consignee_") {
        Some(Party::Customer)
    } else if reason.starts_with("customs_") {
        Some(Party::Customs)
    } else if matches!(reason, "weather_delay" | "natural_disaster") {
        Some(Party::Weather)
    } else {
        None
    }
}

/// `date` (`YYYY-MM-DD`) and `time` (`HH:MM AM/PM`, sometimes `14:29 PM`).
fn date_time(date: &str, t: &str) -> Option<time::At> {
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let t = NaiveTime::parse_from_str(t, "%I:%M %p")
        .or_else(|_| NaiveTime::parse_from_str(t.get(..5).unwrap_or(t), "%H:%M"))
        .unwrap_or(NaiveTime::MIN);
    Some(time::At {
        ms: d.and_time(t).and_utc().timestamp_millis(),
        offset_minutes: None,
    })
}

pub fn normalize(body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let b: Body = parse(body)?;
    if !matches!(text(&b.event), "tracker_created" | "tracker_updated") {
        return Ok(vec![]);
    }
    let data = b.data.ok_or_else(|| DecodeError::shape("data", "missing"))?;
    let tn = some_text(&data.tracking_number)
        .ok_or_else(|| DecodeError::shape("data.tracking_number", "missing or empty"))?;
    let carrier = text(&data.carrier_name).to_lowercase();
    let info = data.info.unwrap_or_default();
    let events = data.events.unwrap_or_default();
    let only_created = events.len() == 1 && events.iter().all(|e| text(&e.code) == "CREATED");
    let mut out = Vec::with_capacity(events.len() + 1);
    let mut seen = HashSet::new();
    for e in &events {
        let (date, t, code) = (text(&e.date), text(&e.time), text(&e.code));
        let (status, reason) = (text(&e.status), text(&e.reason));
        let (description, place) = (text(&e.description), text(&e.location));
        let key = if code.is_empty() {
            format!("{tn}|{date}|{t}|h:{}", short_hash(&[status, description, place]))
        } else {
            format!("{tn}|{date}|{t}|{code}")
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let m = milestone(status).or_else(|| (status.is_empty() && only_created).then_some(Milestone::LabelCreated));
        let at = time::instant(text(&e.timestamp)).or_else(|| date_time(date, t));
        let mut ev = CarrierEvent::new(Provider::Karrio, &tn);
        ev.carrier = carrier.clone();
        ev.event_key = key;
        ev.milestone = m;
        ev.provider_code = [status, reason, code]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        ev.description = description.to_string();
        ev.carrier_possession = m.is_some_and(Milestone::is_carrier_possession);
        ev.event_time_ms = at.map(|a| a.ms);
        ev.offset_minutes = at.and_then(|a| a.offset_minutes);
        ev.exception = party(reason).map(|party| ExceptionInfo {
            reason: reason.to_string(),
            party,
        });
        // Karrio's location is one free-text line ("CLOVIS, CA, 93612, US"):
        // kept whole as the city rather than split by guess.
        ev.location = Location {
            city: (!place.is_empty()).then(|| place.to_string()),
            ..Location::default()
        }
        .non_empty();
        if m == Some(Milestone::Delivered) {
            ev.proof_of_delivery = some_text(&info.signed_by);
        }
        out.push(ev);
    }
    let estimate = time::date(text(&data.estimated_delivery)).or_else(|| time::date(text(&info.expected_delivery)));
    if let Some(day) = estimate {
        let mut ev = CarrierEvent::new(Provider::Karrio, &tn);
        ev.carrier = carrier;
        ev.event_key = format!("{tn}|estimate|{day}");
        ev.provider_code = "estimated_delivery".to_string();
        ev.estimated_delivery = Some(Estimate::day(&day));
        out.push(ev);
    }
    Ok(out)
}
