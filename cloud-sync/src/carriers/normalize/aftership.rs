//! AfterShip Tracking: a `tracking_update` / `edd_revise` webhook whose `msg`
//! is the whole Tracking (a snapshot: every `checkpoints[]` entry, every
//! time), to canonical events.
//!
//! Sources:
//! - [A1] Body (`event`, `event_id`, `ts`, `is_tracking_first_tag`, `msg`)
//!   and the three event codes: <https://www.aftership.com/docs/tracking/2025-01/webhook/webhook-specifications>;
//!   the docs' trimmed example body as quoted in hookdeck/webhook-skills
//!   `skills/aftership-webhooks/references/overview.md` @441d4a1 (our
//!   `tests/data/carriers/aftership/tracking-update-docs-example.json`).
//! - [A2] Tags: <https://www.aftership.com/docs/tracking/2025-01/enum/delivery-statuses>
//!   (InfoReceived "about to pick up"; InTransit "accepted or picked up";
//!   OutForDelivery "about to deliver, or ready to pickup"; AttemptFail;
//!   Delivered; AvailableForPickup; Exception "custom hold, undelivered,
//!   returned shipment to sender or any shipping exceptions"; Expired;
//!   Pending).
//! - [A3] Subtags: <https://www.aftership.com/docs/tracking/enum/delivery-sub-statuses>
//!   (Exception_001..013) and <https://support.aftership.com/en/article/learn-about-delivery-sub-statuses-1b0hdlx/>
//!   (Exception_016 processing delay, 017 extreme weather, 018 missing
//!   documents, new 2026-03-27).
//! - [A4] `checkpoints[].hash` "for deduplication", `proof_of_delivery`
//!   (2026-07), `zip` → `postal_code` (2026-01): AfterShip webhook changelog
//!   (notes/carriers.md §2(a)).
//! - [A5] The trap in [A1]'s own example: an InTransit checkpoint "Departed
//!   Shipping Partner Facility, USPS Awaiting Item" — USPS does not hold it
//!   yet (notes/carriers.md §2(d)).
//!
//! | checkpoint `tag` (`subtag`, message) | milestone | possession | exception (party) |
//! |---|---|---|---|
//! | `InfoReceived` | `label_created` | no | – |
//! | any tag, message "awaiting item" [A5] | `label_created` | no | – |
//! | `InTransit`, message "picked up"/"origin scan"/"accepted at usps origin"/"usps in possession"/"shipment accepted" | `carrier_accepted` | yes | – |
//! | `InTransit` (other) | `in_transit` | yes | – |
//! | `OutForDelivery` | `out_for_delivery` | yes | – |
//! | `AttemptFail` | `delivery_attempted` | yes | – |
//! | `AvailableForPickup` | `available_for_pickup` | yes | – |
//! | `Delivered` | `delivered` (proof: `signed_by` / `proof_of_delivery`) | yes | – |
//! | `Exception_010` returning, `_011` returned to sender | `returned_to_sender` | yes | `returned_to_sender` (carrier) |
//! | `Exception_002` customer moved | none | no | `customer_moved` (customer) |
//! | `Exception_003` refused | none | no | `refused` (customer) |
//! | `Exception_004` customs clearance | none | no | `customs_delay` (customs) |
//! | `Exception_005` external factors | none | no | `external_delay` (carrier) |
//! | `Exception_006` held for payment (from the customer) | none | no | `held_for_payment` (customer) |
//! | `Exception_007` incorrect address | none | no | `address_problem` (customer) |
//! | `Exception_008` pickup missed (by the customer) | none | no | `pickup_missed` (customer) |
//! | `Exception_009` rejected by carrier (non-compliance) | none | no | `rejected_by_carrier` (merchant) |
//! | `Exception_012` damaged, `_013` lost, `_016` processing delay | none | no | `damaged`/`lost`/`processing_delay` (carrier) |
//! | `Exception_017` extreme weather | none | no | `weather_delay` (weather) |
//! | `Exception_018` incorrect/missing documents | none | no | `missing_documents` (merchant) |
//! | `Exception` (`_001`, others) | none | no | the subtag, lowercased (carrier; customs/weather when the message says so) |
//! | `Pending`, `Expired`, unknown | none (code kept) | no | – |
//!
//! Keys: `tracking_id|hash:<hash>` when the checkpoint has a `hash` [A4],
//! else `tracking_id|checkpoint_time|tag|subtag|message`. Estimate: one
//! estimate-only event keyed `tracking_id|estimate|from|to` from
//! `aftership_estimated_delivery_date` (object with `estimated_delivery_date`
//! and optional `_min`/`_max`, or a date), else `latest_estimated_delivery`
//! (`datetime` or `datetime_min`/`datetime_max`), else
//! `courier_estimated_delivery_date`, else `expected_delivery`. The
//! precedence among these is ours, not AfterShip's. `checkpoint_time` is
//! usually local time without an offset; it is read as UTC with the offset
//! unknown.
//!
//! `tracking_pending_time` and any other event code give no events.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use super::fields::{clean, join_code, text};
use super::{DecodeError, parse, time};
use crate::carriers::{CarrierEvent, Estimate, ExceptionInfo, Location, Provider};
use crate::status::{Milestone, Party};

/// At most this many checkpoints are read from one tracking.
const MAX_CHECKPOINTS: usize = 1000;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    msg: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Tracking {
    id: Option<String>,
    tracking_number: Option<String>,
    slug: Option<String>,
    signed_by: Option<String>,
    proof_of_delivery: Option<Value>,
    checkpoints: Option<Vec<Checkpoint>>,
    aftership_estimated_delivery_date: Option<Value>,
    latest_estimated_delivery: Option<Value>,
    courier_estimated_delivery_date: Option<Value>,
    expected_delivery: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Checkpoint {
    checkpoint_time: Option<String>,
    message: Option<String>,
    tag: Option<String>,
    subtag: Option<String>,
    raw_tag: Option<String>,
    hash: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    postal_code: Option<String>,
    country_region: Option<String>,
    country_iso3: Option<String>,
    country_name: Option<String>,
}

pub fn normalize(body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let body: Body = parse(body)?;
    if !matches!(body.event.as_deref(), Some("tracking_update" | "edd_revise")) {
        return Ok(vec![]);
    }
    let Some(msg) = body.msg else {
        return Err(DecodeError::shape("msg", "missing"));
    };
    let t: Tracking = serde_json::from_value(msg).map_err(|e| DecodeError::shape("msg", e.to_string()))?;
    let tracking_number = text(&t.tracking_number);
    if tracking_number.is_empty() {
        return Err(DecodeError::shape("msg.tracking_number", "missing"));
    }
    let carrier = text(&t.slug).to_lowercase();
    let tid = match text(&t.id) {
        "" => format!("{carrier}:{tracking_number}"),
        id => id.to_string(),
    };
    let proof = proof_of_delivery(&t);

    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for c in t
        .checkpoints
        .as_deref()
        .unwrap_or_default()
        .iter()
        .take(MAX_CHECKPOINTS)
    {
        let (tag, subtag, raw) = (text(&c.tag), text(&c.subtag), text(&c.raw_tag));
        let (at, message) = (text(&c.checkpoint_time), text(&c.message));
        let key = match text(&c.hash) {
            "" => format!("{tid}|{at}|{tag}|{subtag}|{message}"),
            h => format!("{tid}|hash:{h}"),
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let mut ev = CarrierEvent::new(Provider::AfterShip, tracking_number);
        ev.carrier = carrier.clone();
        ev.event_key = key;
        ev.provider_code = join_code(&[tag, subtag, raw]);
        ev.description = message.to_string();
        let (milestone, exception) = classify(tag, subtag, message);
        ev.milestone = milestone;
        ev.carrier_possession = milestone.is_some_and(Milestone::is_carrier_possession);
        ev.exception = exception;
        if let Some(at) = time::instant(at) {
            ev.event_time_ms = Some(at.ms);
            ev.offset_minutes = at.offset_minutes;
        }
        ev.location = Location {
            city: clean(&c.city),
            state: clean(&c.state),
            postal_code: clean(&c.postal_code).or_else(|| clean(&c.zip)),
            country: clean(&c.country_region)
                .or_else(|| clean(&c.country_iso3))
                .or_else(|| clean(&c.country_name)),
        }
        .non_empty();
        if milestone == Some(Milestone::Delivered) {
            ev.proof_of_delivery.clone_from(&proof);
        }
        out.push(ev);
    }

    if let Some((field, estimate)) = estimate(&t) {
        let key = format!("{tid}|estimate|{}|{}", estimate.from, estimate.to);
        if seen.insert(key.clone()) {
            let mut ev = CarrierEvent::new(Provider::AfterShip, tracking_number);
            ev.carrier = carrier;
            ev.event_key = key;
            ev.provider_code = field.to_string();
            ev.estimated_delivery = Some(estimate);
            out.push(ev);
        }
    }
    Ok(out)
}

fn classify(tag: &str, subtag: &str, message: &str) -> (Option<Milestone>, Option<ExceptionInfo>) {
    let msg = message.to_lowercase();
    if msg.contains("awaiting item") {
        return (Some(Milestone::LabelCreated), None);
    }
    let milestone = match tag {
        "InfoReceived" => Some(Milestone::LabelCreated),
        "InTransit" if is_pickup(&msg) => Some(Milestone::CarrierAccepted),
        "InTransit" => Some(Milestone::InTransit),
        "OutForDelivery" => Some(Milestone::OutForDelivery),
        "AttemptFail" => Some(Milestone::DeliveryAttempted),
        "AvailableForPickup" => Some(Milestone::AvailableForPickup),
        "Delivered" => Some(Milestone::Delivered),
        "Exception" => return exception(subtag, &msg),
        _ => None,
    };
    (milestone, None)
}

fn exception(subtag: &str, msg: &str) -> (Option<Milestone>, Option<ExceptionInfo>) {
    let info = |reason: &str, party: Party| {
        Some(ExceptionInfo {
            reason: reason.to_string(),
            party,
        })
    };
    match subtag {
        "Exception_010" | "Exception_011" => (
            Some(Milestone::ReturnedToSender),
            info("returned_to_sender", Party::Carrier),
        ),
        "Exception_002" => (None, info("customer_moved", Party::Customer)),
        "Exception_003" => (None, info("refused", Party::Customer)),
        "Exception_004" => (None, info("customs_delay", Party::Customs)),
        "Exception_005" => (None, info("external_delay", Party::Carrier)),
        "Exception_006" => (None, info("held_for_payment", Party::Customer)),
        "Exception_007" => (None, info("address_problem", Party::Customer)),
        "Exception_008" => (None, info("pickup_missed", Party::Customer)),
        "Exception_009" => (None, info("rejected_by_carrier", Party::Merchant)),
        "Exception_012" => (None, info("damaged", Party::Carrier)),
        "Exception_013" => (None, info("lost", Party::Carrier)),
        "Exception_016" => (None, info("processing_delay", Party::Carrier)),
        "Exception_017" => (None, info("weather_delay", Party::Weather)),
        "Exception_018" => (None, info("missing_documents", Party::Merchant)),
        other => {
            let party = if msg.contains("customs") {
                Party::Customs
            } else if msg.contains("weather") {
                Party::Weather
            } else {
                Party::Carrier
            };
            let reason = if other.is_empty() {
                "exception".to_string()
            } else {
                other.to_lowercase()
            };
            (None, info(&reason, party))
        }
    }
}

fn is_pickup(msg: &str) -> bool {
    [
        "picked up",
        "pickup scan",
        "origin scan",
        "accepted at usps origin",
        "usps in possession",
        "shipment accepted",
    ]
    .iter()
    .any(|w| msg.contains(w))
}

fn proof_of_delivery(t: &Tracking) -> Option<String> {
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            Value::Object(o) => ["signed_by", "url"].iter().find_map(|k| o.get(*k).and_then(from_value)),
            Value::Array(a) => a.iter().take(8).find_map(from_value),
            _ => None,
        }
    }
    clean(&t.signed_by).or_else(|| t.proof_of_delivery.as_ref().and_then(from_value))
}

/// The tracking's estimate and the field it came from.
fn estimate(t: &Tracking) -> Option<(&'static str, Estimate)> {
    let fields: [(&'static str, &Option<Value>); 4] = [
        (
            "aftership_estimated_delivery_date",
            &t.aftership_estimated_delivery_date,
        ),
        ("latest_estimated_delivery", &t.latest_estimated_delivery),
        ("courier_estimated_delivery_date", &t.courier_estimated_delivery_date),
        ("expected_delivery", &t.expected_delivery),
    ];
    fields
        .into_iter()
        .find_map(|(name, v)| v.as_ref().and_then(estimate_of).map(|e| (name, e)))
}

fn estimate_of(v: &Value) -> Option<Estimate> {
    let date = |v: Option<&Value>| v.and_then(Value::as_str).and_then(time::date);
    match v {
        Value::String(s) => time::date(s).map(|d| Estimate::day(&d)),
        Value::Object(o) => {
            let min = date(o.get("estimated_delivery_date_min")).or_else(|| date(o.get("datetime_min")));
            let max = date(o.get("estimated_delivery_date_max")).or_else(|| date(o.get("datetime_max")));
            let one = date(o.get("estimated_delivery_date")).or_else(|| date(o.get("datetime")));
            match (min, max, one) {
                (Some(from), Some(to), _) => Some(Estimate { from, to }),
                (_, _, Some(d)) => Some(Estimate::day(&d)),
                (Some(d), None, None) | (None, Some(d), None) => Some(Estimate::day(&d)),
                (None, None, None) => None,
            }
        }
        _ => None,
    }
}
