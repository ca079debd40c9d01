//! Shippo: a `track_updated` webhook whose `data` is the whole Track (a
//! snapshot: `tracking_status` plus every `tracking_history[]` entry), to
//! canonical events.
//!
//! Sources:
//! - [S1] Body (`event`, `test`, `data`) and the Track / TrackingStatus /
//!   Substatus / location fields: goshippo/shippo-javascript-sdk
//!   `docs/models/components/{webhookpayloadtrack,track,trackingstatus,trackingstatussubstatus,trackingstatuslocationbase}.md`
//!   and `src/models/components/track.ts` (wire names, snake_case) @51b9793.
//!   Its example (our `tests/data/carriers/shippo/track-updated-sdk-docs-example.json`)
//!   is generated: `status: DELIVERED` with substatus `information_received`.
//! - [S2] `status` enum and meanings: `docs/models/components/trackingstatusenum.md`
//!   @51b9793 and <https://docs.goshippo.com/docs/tracking/tracking/> "Event
//!   definitions" (PRE_TRANSIT "label is created but before the package is
//!   dropped off or picked up"; TRANSIT "scanned by the carrier"; DELIVERED;
//!   RETURNED "en route to be returned to the sender, or has been returned";
//!   FAILURE "an issue with the delivery"; UNKNOWN "not found").
//! - [S3] Substatus codes: the same page's substatus table. Only
//!   `information_received` was confirmed from a primary source in this pass
//!   (notes/carriers.md §3(a)); the other codes below are that table's names as
//!   known, and are inert if Shippo never sends them.
//! - [S4] `eta` (may change), `original_eta` (first promise), `eta` may be null
//!   for regional carriers: [S1] track.md; goshippo/ai
//!   `providers/codex/plugin/skills/tracking/SKILL.md` @cf8e965.
//! - [S5] Other events (`transaction_created`, `transaction_updated`,
//!   `batch_created`, `batch_purchased`): [S1] `webhookeventtypeenum.md`.
//!
//! | `status` (+ `substatus.code`, `status_details`) | milestone | possession | exception (party) |
//! |---|---|---|---|
//! | `PRE_TRANSIT` (any substatus) | `label_created` | no | – |
//! | `TRANSIT` + `package_accepted`, or details "picked up"/"origin scan"/"accepted at usps origin"/"usps in possession" | `carrier_accepted` | yes | – |
//! | `TRANSIT` + `out_for_delivery` | `out_for_delivery` | yes | – |
//! | `TRANSIT`/`FAILURE` + `delivery_attempted` / `notice_left` | `delivery_attempted` | yes | – |
//! | `TRANSIT` + `pickup_available` | `available_for_pickup` | yes | – |
//! | `TRANSIT`/`FAILURE` + `return_to_sender` / `package_returned`; `RETURNED` | `returned_to_sender` | yes | – |
//! | `TRANSIT` (other) | `in_transit` | yes | – |
//! | `DELIVERED` (any substatus: status wins over a contradicting substatus, [S1]) | `delivered` | yes | – |
//! | any + `address_issue` / `location_inaccessible` | (status's) | | `address_problem` / `location_inaccessible` (customer) |
//! | any + `package_damaged` / `package_lost` / `package_held` / `delayed` / `package_undeliverable` / `package_disposed` / `contact_carrier` | (status's) | | `damaged`/`lost`/`held`/`delayed`/`undeliverable`/`disposed`/`contact_carrier` (carrier) |
//! | … when `status_details` says "customs" / "weather" | | | party customs / weather |
//! | `FAILURE` (other substatus or none) | none | no | the substatus code, or `failure` (carrier) |
//! | `UNKNOWN`, anything else | none (code kept) | no | – |
//!
//! Keys: Shippo gives each TrackingStatus an `object_id`, but does not say it
//! survives a re-fetch, so each entry is keyed by content:
//! `carrier|tracking_number|status_date|status|substatus|status_details`
//! (the latest `tracking_status` then dedupes against its history entry).
//! Estimate: `eta`, else `original_eta`, as a day; one estimate-only event
//! keyed `carrier|tracking_number|estimate|from|to`.
//!
//! Events other than `track_updated` give no events; a body without `event`
//! is read as a Track ([S1]: `event` is optional in the SDK's model).

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use super::fields::{clean, join_code, text, weather_or_customs};
use super::{DecodeError, parse, time};
use crate::carriers::{CarrierEvent, Estimate, ExceptionInfo, Location, Provider};
use crate::status::{Milestone, Party};

/// At most this many history entries are read from one track.
const MAX_HISTORY: usize = 1000;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Track {
    carrier: Option<String>,
    tracking_number: Option<String>,
    eta: Option<String>,
    original_eta: Option<String>,
    tracking_status: Option<Status>,
    tracking_history: Option<Vec<Status>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Status {
    status: Option<String>,
    substatus: Option<Substatus>,
    status_details: Option<String>,
    status_date: Option<String>,
    location: Option<Place>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Substatus {
    code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Place {
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    country: Option<String>,
}

pub fn normalize(body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let body: Body = parse(body)?;
    if !matches!(body.event.as_deref(), None | Some("track_updated")) {
        return Ok(vec![]);
    }
    let Some(data) = body.data else {
        return Err(DecodeError::shape("data", "missing"));
    };
    let track: Track = serde_json::from_value(data).map_err(|e| DecodeError::shape("data", e.to_string()))?;
    let tracking_number = text(&track.tracking_number);
    if tracking_number.is_empty() {
        return Err(DecodeError::shape("data.tracking_number", "missing"));
    }
    let carrier = text(&track.carrier).to_lowercase();

    let history = track.tracking_history.as_deref().unwrap_or_default();
    let entries = history.iter().take(MAX_HISTORY).chain(track.tracking_status.as_ref());
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for s in entries {
        let status = text(&s.status);
        let sub = s.substatus.as_ref().map(|x| text(&x.code)).unwrap_or("");
        let (date, details) = (text(&s.status_date), text(&s.status_details));
        let key = format!("{carrier}|{tracking_number}|{date}|{status}|{sub}|{details}");
        if !seen.insert(key.clone()) {
            continue;
        }
        let mut ev = CarrierEvent::new(Provider::Shippo, tracking_number);
        ev.carrier = carrier.clone();
        ev.event_key = key;
        ev.provider_code = join_code(&[status, sub]);
        ev.description = details.to_string();
        let (milestone, exception) = classify(status, sub, details);
        ev.milestone = milestone;
        ev.carrier_possession = milestone.is_some_and(Milestone::is_carrier_possession);
        ev.exception = exception;
        if let Some(at) = time::instant(date) {
            ev.event_time_ms = Some(at.ms);
            ev.offset_minutes = at.offset_minutes;
        }
        ev.location = s.location.as_ref().and_then(|l| {
            Location {
                city: clean(&l.city),
                state: clean(&l.state),
                postal_code: clean(&l.zip),
                country: clean(&l.country),
            }
            .non_empty()
        });
        out.push(ev);
    }

    let estimate = [("eta", &track.eta), ("original_eta", &track.original_eta)]
        .into_iter()
        .find_map(|(field, v)| time::date(text(v)).map(|d| (field, Estimate::day(&d))));
    if let Some((field, estimate)) = estimate {
        let key = format!("{carrier}|{tracking_number}|estimate|{}|{}", estimate.from, estimate.to);
        if seen.insert(key.clone()) {
            let mut ev = CarrierEvent::new(Provider::Shippo, tracking_number);
            ev.carrier = carrier;
            ev.event_key = key;
            ev.provider_code = field.to_string();
            ev.estimated_delivery = Some(estimate);
            out.push(ev);
        }
    }
    Ok(out)
}

fn classify(status: &str, sub: &str, details: &str) -> (Option<Milestone>, Option<ExceptionInfo>) {
    let msg = details.to_lowercase();
    let exception = exception_for(sub, &msg);
    let milestone = match (status, sub) {
        ("PRE_TRANSIT", _) => Some(Milestone::LabelCreated),
        ("DELIVERED", _) => Some(Milestone::Delivered),
        ("RETURNED", _) => Some(Milestone::ReturnedToSender),
        ("TRANSIT" | "FAILURE", "delivery_attempted" | "notice_left") => Some(Milestone::DeliveryAttempted),
        ("TRANSIT" | "FAILURE", "return_to_sender" | "package_returned") => Some(Milestone::ReturnedToSender),
        ("TRANSIT", "package_accepted") => Some(Milestone::CarrierAccepted),
        ("TRANSIT", "out_for_delivery") => Some(Milestone::OutForDelivery),
        ("TRANSIT", "pickup_available") => Some(Milestone::AvailableForPickup),
        ("TRANSIT", _) if is_pickup(&msg) => Some(Milestone::CarrierAccepted),
        ("TRANSIT", _) => Some(Milestone::InTransit),
        _ => None,
    };
    let exception = match status {
        "FAILURE" if exception.is_none() && milestone.is_none() => Some(ExceptionInfo {
            reason: if sub.is_empty() {
                "failure".to_string()
            } else {
                sub.to_string()
            },
            party: weather_or_customs(&msg).unwrap_or(Party::Carrier),
        }),
        _ => exception,
    };
    (milestone, exception)
}

fn exception_for(sub: &str, msg: &str) -> Option<ExceptionInfo> {
    let (reason, party) = match sub {
        "address_issue" => ("address_problem", Party::Customer),
        "location_inaccessible" => ("location_inaccessible", Party::Customer),
        "package_damaged" => ("damaged", Party::Carrier),
        "package_lost" => ("lost", Party::Carrier),
        "package_held" => ("held", Party::Carrier),
        "delayed" => ("delayed", Party::Carrier),
        "package_undeliverable" => ("undeliverable", Party::Carrier),
        "package_disposed" => ("disposed", Party::Carrier),
        "contact_carrier" => ("contact_carrier", Party::Carrier),
        _ => return None,
    };
    Some(ExceptionInfo {
        reason: reason.to_string(),
        party: weather_or_customs(msg).unwrap_or(party),
    })
}

fn is_pickup(msg: &str) -> bool {
    [
        "picked up",
        "pickup scan",
        "origin scan",
        "accepted at usps origin",
        "usps in possession",
    ]
    .iter()
    .any(|w| msg.contains(w))
}
