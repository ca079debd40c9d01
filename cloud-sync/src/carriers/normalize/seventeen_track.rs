//! 17TRACK API v2.2 push: `{"event": "TRACKING_UPDATED", "data": {number,
//! carrier, param, tag, track_info}}`. Every push carries the whole history
//! (`track_info.tracking.providers[].events[]`), so each event gets a key made
//! of what it says and the store keeps the new ones.
//!
//! Sources: wksw/17track-golang-sdk `models/v2/track.go` @38a545c (field
//! names of `track_info`, `TrackEvent{time_iso, time_utc, description,
//! location, stage, address}`); notes/carriers.md §5 (status and sub-status
//! names from the "TrackStatusEnum" of a third-party SDK, milestone
//! `key_stage` names, the envelope from jadkll/17track-webhook
//! `webhook_server.py`). 17TRACK's own v2.2 documentation was not in the
//! stored corpus: no full public push payload was found, so the test fixture
//! is built from these documented fields.
//!
//! An event's code is its `sub_status` (v2.2 events carry one; the Go SDK's
//! struct lacks it, so it is optional), else its `stage` (a milestone
//! `key_stage`).
//!
//! | `sub_status` / `stage` | milestone | possession | exception |
//! |---|---|---|---|
//! | `InfoReceived` (both) | `label_created` | no | |
//! | `InTransit_PickedUp`, stage `PickedUp` | `carrier_accepted` | yes | |
//! | `InTransit_Departure`, `_Arrival`, `_CustomsProcessing`, `_CustomsReleased`, `_Other`; stages `Departure`, `Arrival` | `in_transit` | yes | |
//! | `InTransit_CustomsRequiringInformation` | `in_transit` | yes | `customs_information_required`, customs |
//! | `OutForDelivery_Other`, stage `OutForDelivery` | `out_for_delivery` | yes | |
//! | `AvailableForPickup_Other`, stage `AvailableForPickup` | `available_for_pickup` | yes | |
//! | `DeliveryFailure_Other`, `_Security` | `delivery_attempted` | yes | |
//! | `DeliveryFailure_NoBody` | `delivery_attempted` | yes | `recipient_not_available`, customer |
//! | `DeliveryFailure_Rejected` | `delivery_attempted` | yes | `refused`, customer |
//! | `DeliveryFailure_InvalidAddress` | `delivery_attempted` | yes | `address_problem`, customer |
//! | `Delivered_Other`, stage `Delivered` | `delivered` | yes | |
//! | `Exception_Returning`, `_Returned`; stages `Returning`, `Returned` | `returned_to_sender` | yes | |
//! | `Exception_NoBody` | none | no | `recipient_not_available`, customer |
//! | `Exception_Rejected` | none | no | `refused`, customer |
//! | `Exception_Damage` | none | no | `damaged`, carrier |
//! | `Exception_Lost` | none | no | `lost`, carrier |
//! | `Exception_Destroyed` | none | no | `destroyed`, carrier |
//! | `Exception_Delayed` | none | no | `delayed`, carrier |
//! | `Exception_Other`, `_Security`, `_Cancel`, `NotFound_*`, `Expired_Other`, anything else | none (unmapped) | no | |
//!
//! - Key: `number|time_iso|` + 16 hex digits of SHA-256 over the event's
//!   description, stage, sub-status and location: stable across pushes.
//! - Estimate: `time_metrics.estimated_delivery_date{from,to}` (dates of the
//!   start of each text), an estimate-only event keyed `number|estimate|from|to`.
//! - Carrier: the integer carrier code as text, `17track:<code>`.
//! - Other event types (`TRACKING_STOPPED` ...) give no events.

use std::collections::HashSet;

use serde::Deserialize;

use super::fields::{clean as some_text, short_hash, trimmed as text};
use super::{DecodeError, parse, time};
use crate::carriers::{CarrierEvent, Estimate, ExceptionInfo, Location, Provider};
use crate::status::{Milestone, Party};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    event: Option<String>,
    data: Option<Data>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Data {
    number: Option<String>,
    carrier: Option<serde_json::Value>,
    track_info: Option<TrackInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TrackInfo {
    time_metrics: Option<TimeMetrics>,
    tracking: Option<Tracking>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TimeMetrics {
    estimated_delivery_date: Option<EstimatedDate>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EstimatedDate {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tracking {
    providers: Vec<ProviderEvents>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProviderEvents {
    events: Vec<Event>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    time_iso: Option<String>,
    time_utc: Option<String>,
    description: Option<String>,
    location: Option<String>,
    stage: Option<String>,
    sub_status: Option<String>,
    address: Option<Address>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Address {
    country: Option<String>,
    state: Option<String>,
    city: Option<String>,
    postal_code: Option<String>,
}

fn exc(reason: &str, party: Party) -> Option<ExceptionInfo> {
    Some(ExceptionInfo {
        reason: reason.to_string(),
        party,
    })
}

/// A sub-status or a stage to milestone and exception.
fn map(code: &str) -> (Option<Milestone>, Option<ExceptionInfo>) {
    use Milestone::*;
    match code {
        "InfoReceived" => (Some(LabelCreated), None),
        "InTransit_PickedUp" | "PickedUp" => (Some(CarrierAccepted), None),
        "InTransit_Departure"
        | "InTransit_Arrival"
        | "InTransit_CustomsProcessing"
        | "InTransit_CustomsReleased"
        | "InTransit_Other"
        | "Departure"
        | "Arrival" => (Some(InTransit), None),
        "InTransit_CustomsRequiringInformation" => {
            (Some(InTransit), exc("customs_information_required", Party::Customs))
        }
        "OutForDelivery_Other" | "OutForDelivery" => (Some(OutForDelivery), None),
        "AvailableForPickup_Other" | "AvailableForPickup" => (Some(AvailableForPickup), None),
        "DeliveryFailure_Other" | "DeliveryFailure_Security" => (Some(DeliveryAttempted), None),
        "DeliveryFailure_NoBody" => (Some(DeliveryAttempted), exc("recipient_not_available", Party::Customer)),
        "DeliveryFailure_Rejected" => (Some(DeliveryAttempted), exc("refused", Party::Customer)),
        "DeliveryFailure_InvalidAddress" => (Some(DeliveryAttempted), exc("address_problem", Party::Customer)),
        "Delivered_Other" | "Delivered" => (Some(Delivered), None),
        "Exception_Returning" | "Exception_Returned" | "Returning" | "Returned" => (Some(ReturnedToSender), None),
        "Exception_NoBody" => (None, exc("recipient_not_available", Party::Customer)),
        "Exception_Rejected" => (None, exc("refused", Party::Customer)),
        "Exception_Damage" => (None, exc("damaged", Party::Carrier)),
        "Exception_Lost" => (None, exc("lost", Party::Carrier)),
        "Exception_Destroyed" => (None, exc("destroyed", Party::Carrier)),
        "Exception_Delayed" => (None, exc("delayed", Party::Carrier)),
        _ => (None, None),
    }
}

pub fn normalize(body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let b: Body = parse(body)?;
    if text(&b.event) != "TRACKING_UPDATED" {
        return Ok(vec![]);
    }
    let data = b.data.ok_or_else(|| DecodeError::shape("data", "missing"))?;
    let number = some_text(&data.number).ok_or_else(|| DecodeError::shape("data.number", "missing or empty"))?;
    let carrier = match &data.carrier {
        Some(serde_json::Value::Number(n)) => format!("17track:{n}"),
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => format!("17track:{}", s.trim().to_lowercase()),
        _ => String::new(),
    };
    let info = data.track_info.unwrap_or_default();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in info.tracking.map(|t| t.providers).unwrap_or_default() {
        for e in p.events {
            let time_iso = text(&e.time_iso);
            let (sub, stage) = (text(&e.sub_status), text(&e.stage));
            let description = text(&e.description);
            let place = text(&e.location);
            let key = format!("{number}|{time_iso}|{}", short_hash(&[description, stage, sub, place]));
            if !seen.insert(key.clone()) {
                continue;
            }
            let (milestone, exception) = if sub.is_empty() { map(stage) } else { map(sub) };
            let at = time::instant(time_iso).or_else(|| time::instant(text(&e.time_utc)));
            let mut ev = CarrierEvent::new(Provider::SeventeenTrack, &number);
            ev.carrier = carrier.clone();
            ev.event_key = key;
            ev.milestone = milestone;
            ev.provider_code = [stage, sub]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("/");
            ev.description = description.to_string();
            ev.carrier_possession = milestone.is_some_and(Milestone::is_carrier_possession);
            ev.event_time_ms = at.map(|a| a.ms);
            ev.offset_minutes = at.and_then(|a| a.offset_minutes);
            ev.exception = exception;
            ev.location = e.address.as_ref().and_then(|a| {
                Location {
                    city: some_text(&a.city),
                    state: some_text(&a.state),
                    postal_code: some_text(&a.postal_code),
                    country: some_text(&a.country),
                }
                .non_empty()
            });
            out.push(ev);
        }
    }
    if let Some(d) = info.time_metrics.and_then(|t| t.estimated_delivery_date) {
        let est = match (time::date(text(&d.from)), time::date(text(&d.to))) {
            (Some(from), Some(to)) => Some(Estimate { from, to }),
            (Some(x), None) | (None, Some(x)) => Some(Estimate::day(&x)),
            (None, None) => None,
        };
        if let Some(est) = est {
            let mut ev = CarrierEvent::new(Provider::SeventeenTrack, &number);
            ev.carrier = carrier;
            ev.event_key = format!("{number}|estimate|{}|{}", est.from, est.to);
            ev.provider_code = "estimated_delivery_date".to_string();
            ev.estimated_delivery = Some(est);
            out.push(ev);
        }
    }
    Ok(out)
}
