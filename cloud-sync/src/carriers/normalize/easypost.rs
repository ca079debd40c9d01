//! EasyPost: a `tracker.*` Event whose `result` is the whole Tracker (a
//! snapshot: every `tracking_details[]` entry, every time), to canonical
//! events.
//!
//! Sources:
//! - [E1] Event envelope and Tracker as sent: EasyPost/examples
//!   `official/fixtures/event-body.json` @112a6d1 (our
//!   `tests/data/carriers/easypost/event-body.json`).
//! - [E2] Label-only tracker with the placeholder estimate
//!   (`est_delivery_date == created_at`): EasyPost/examples
//!   `official/docs/responses/trackers/trackers-create.json` @112a6d1.
//! - [E3] A non-tracker event (`batch.created`): EasyPost/examples
//!   `official/guides/webhooks-guide/event/post_json_example.json` @112a6d1.
//! - [E4] `status` enum and its meanings: <https://docs.easypost.com/docs/trackers>
//!   (unknown, pre_transit, in_transit, out_for_delivery, delivered,
//!   available_for_pickup, return_to_sender, failure, cancelled, error).
//! - [E5] `status_detail` values: the fixtures above (label_created,
//!   arrived_at_facility, departed_facility, status_update, unknown) and the
//!   enum as republished at <https://docs.whop.com/api-reference/legacy/shipments/shipment>
//!   (address_correction … received_at_…; the tail of that list is cut).
//! - [E6] notes/carriers.md §1(d): FedEx `PU` ("Picked up") comes tagged
//!   `in_transit/arrived_at_facility`, so possession is read from the raw
//!   `carrier_code` and message too.
//!
//! | EasyPost `status` (`status_detail`, code, message) | milestone | possession | exception (party) |
//! |---|---|---|---|
//! | `pre_transit` (any detail) | `label_created` | no | – |
//! | `in_transit` + `received_at_origin_facility`, FedEx `PU`, or a pickup/origin-scan message ("picked up", "origin scan", "accepted at usps origin", "usps in possession") [E6] | `carrier_accepted` | yes | – |
//! | `in_transit` (other) | `in_transit` | yes | – |
//! | `out_for_delivery` | `out_for_delivery` | yes | – |
//! | `delivered` | `delivered` (proof: Tracker `signed_by`) | yes | – |
//! | `available_for_pickup` | `available_for_pickup` | yes | – |
//! | `return_to_sender`, or `failure` + `return` | `returned_to_sender` | yes | – |
//! | `failure` + an attempt ("attempt" in detail or message, "notice left") | `delivery_attempted` | yes | by detail, below |
//! | `failure` (other), `error` | none | no | by detail, below; default `failure`/`error` (carrier) |
//! | any status + `refused` | (status's) | | `refused` (customer) |
//! | any status + `address_correction` | (status's) | | `address_problem` (customer) |
//! | any status + `awaiting_information` | (status's) | | `awaiting_information` (merchant) |
//! | any status + `damaged`/`lost`/`missorted`/`delayed`/`held`/`delivery_exception` | (status's) | | the detail (carrier) |
//! | … an exception whose message says "customs" / "weather" | | | party customs / weather |
//! | `unknown`, `cancelled`, anything else | none (code kept) | no | – |
//!
//! Keys: `trk_id|datetime|status|status_detail|carrier_code` per detail
//! (EasyPost has no id per detail); the same detail in a later snapshot gives
//! the same key. Estimate: one estimate-only event keyed
//! `trk_id|estimate|from|to`, from `carrier_detail.est_delivery_date_local`
//! when present, else `est_delivery_date` unless it equals the tracker's
//! `created_at` (the placeholder of [E2]). Per-detail `est_delivery_date` and
//! `guaranteed_delivery_date` are not read.
//!
//! Non-`tracker.*` events, and `tracker.*` events without a `result` (the
//! Events API shape of the webhooks guide's `event_example.json`), give no
//! events.

use std::collections::HashSet;

use serde::Deserialize;

use super::fields::{clean, join_code, text, weather_or_customs};
use super::{DecodeError, parse, time};
use crate::carriers::{CarrierEvent, Estimate, ExceptionInfo, Location, Provider};
use crate::status::{Milestone, Party};

/// At most this many tracking details are read from one tracker.
const MAX_DETAILS: usize = 1000;

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    result: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Tracker {
    id: Option<String>,
    tracking_code: Option<String>,
    signed_by: Option<String>,
    est_delivery_date: Option<String>,
    created_at: Option<String>,
    carrier: Option<String>,
    tracking_details: Option<Vec<Detail>>,
    carrier_detail: Option<CarrierDetail>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Detail {
    message: Option<String>,
    description: Option<String>,
    status: Option<String>,
    status_detail: Option<String>,
    datetime: Option<String>,
    carrier_code: Option<String>,
    tracking_location: Option<TrackingLocation>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TrackingLocation {
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    zip: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CarrierDetail {
    est_delivery_date_local: Option<String>,
}

pub fn normalize(body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let event: Event = parse(body)?;
    let is_tracker = event.description.as_deref().is_some_and(|d| d.starts_with("tracker."));
    let Some(result) = event.result.filter(|_| is_tracker) else {
        return Ok(vec![]);
    };
    let tracker: Tracker = serde_json::from_value(result).map_err(|e| DecodeError::shape("result", e.to_string()))?;
    let tracking_number = text(&tracker.tracking_code);
    if tracking_number.is_empty() {
        return Err(DecodeError::shape("result.tracking_code", "missing"));
    }
    let carrier = text(&tracker.carrier).to_lowercase();
    let trk = match text(&tracker.id) {
        "" => tracking_number,
        id => id,
    };
    let signed_by = Some(text(&tracker.signed_by).trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string);

    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let details = tracker.tracking_details.as_deref().unwrap_or_default();
    for d in details.iter().take(MAX_DETAILS) {
        let (status, detail, code) = (text(&d.status), text(&d.status_detail), text(&d.carrier_code));
        let datetime = text(&d.datetime);
        let key = format!("{trk}|{datetime}|{status}|{detail}|{code}");
        if !seen.insert(key.clone()) {
            continue;
        }
        let message = match text(&d.message) {
            "" => text(&d.description),
            m => m,
        };
        let mut ev = CarrierEvent::new(Provider::EasyPost, tracking_number);
        ev.carrier = carrier.clone();
        ev.event_key = key;
        ev.provider_code = join_code(&[status, detail, code]);
        ev.description = message.to_string();
        let (milestone, exception) = classify(status, detail, code, message);
        ev.milestone = milestone;
        ev.carrier_possession = milestone.is_some_and(Milestone::is_carrier_possession);
        ev.exception = exception;
        if let Some(at) = time::instant(datetime) {
            ev.event_time_ms = Some(at.ms);
            ev.offset_minutes = at.offset_minutes;
        }
        ev.location = d.tracking_location.as_ref().and_then(|l| {
            Location {
                city: clean(&l.city),
                state: clean(&l.state),
                postal_code: clean(&l.zip),
                country: clean(&l.country),
            }
            .non_empty()
        });
        if milestone == Some(Milestone::Delivered) {
            ev.proof_of_delivery.clone_from(&signed_by);
        }
        out.push(ev);
    }

    if let Some((field, estimate)) = estimate(&tracker) {
        let key = format!("{trk}|estimate|{}|{}", estimate.from, estimate.to);
        if seen.insert(key.clone()) {
            let mut ev = CarrierEvent::new(Provider::EasyPost, tracking_number);
            ev.carrier = carrier;
            ev.event_key = key;
            ev.provider_code = field.to_string();
            ev.estimated_delivery = Some(estimate);
            out.push(ev);
        }
    }
    Ok(out)
}

/// The tracker's estimate and the field it came from; placeholders dropped.
fn estimate(t: &Tracker) -> Option<(&'static str, Estimate)> {
    let local = t
        .carrier_detail
        .as_ref()
        .map(|c| text(&c.est_delivery_date_local))
        .unwrap_or("");
    if let Some(day) = time::date(local) {
        return Some(("est_delivery_date_local", Estimate::day(&day)));
    }
    let est = text(&t.est_delivery_date);
    let created = text(&t.created_at);
    let placeholder = !est.is_empty()
        && (est == created
            || matches!((time::instant(est), time::instant(created)), (Some(a), Some(b)) if a.ms == b.ms));
    if placeholder {
        return None;
    }
    time::date(est).map(|day| ("est_delivery_date", Estimate::day(&day)))
}

/// Milestone and exception of one tracking detail (see the module's table).
fn classify(status: &str, detail: &str, code: &str, message: &str) -> (Option<Milestone>, Option<ExceptionInfo>) {
    let msg = message.to_lowercase();
    let exception = exception_for(detail, &msg);
    let attempt = detail.contains("attempt") || msg.contains("attempt") || msg.contains("notice left");
    let milestone = match status {
        "pre_transit" => Some(Milestone::LabelCreated),
        "in_transit" if is_pickup(detail, code, &msg) => Some(Milestone::CarrierAccepted),
        "in_transit" => Some(Milestone::InTransit),
        "out_for_delivery" => Some(Milestone::OutForDelivery),
        "delivered" => Some(Milestone::Delivered),
        "available_for_pickup" => Some(Milestone::AvailableForPickup),
        "return_to_sender" => Some(Milestone::ReturnedToSender),
        "failure" if detail == "return" => Some(Milestone::ReturnedToSender),
        "failure" if attempt => Some(Milestone::DeliveryAttempted),
        _ => None,
    };
    let exception = match status {
        "failure" | "error" if exception.is_none() && milestone != Some(Milestone::ReturnedToSender) => {
            let reason = if detail.is_empty() || detail == "unknown" {
                status
            } else {
                detail
            };
            Some(ExceptionInfo {
                reason: reason.to_string(),
                party: weather_or_customs(&msg).unwrap_or(Party::Carrier),
            })
        }
        _ => exception,
    };
    (milestone, exception)
}

/// The first possession scan: EasyPost's origin-facility detail, FedEx's raw
/// `PU`, or the carrier's own pickup words.
fn is_pickup(detail: &str, code: &str, msg: &str) -> bool {
    detail == "received_at_origin_facility"
        || code.eq_ignore_ascii_case("PU")
        || [
            "picked up",
            "pickup scan",
            "origin scan",
            "accepted at usps origin",
            "usps in possession",
        ]
        .iter()
        .any(|w| msg.contains(w))
}

fn exception_for(detail: &str, msg: &str) -> Option<ExceptionInfo> {
    let (reason, party) = match detail {
        "refused" => ("refused", Party::Customer),
        "address_correction" => ("address_problem", Party::Customer),
        "awaiting_information" => ("awaiting_information", Party::Merchant),
        "damaged" | "lost" | "missorted" | "delayed" | "held" | "delivery_exception" => (detail, Party::Carrier),
        _ => return None,
    };
    Some(ExceptionInfo {
        reason: reason.to_string(),
        party: weather_or_customs(msg).unwrap_or(party),
    })
}
