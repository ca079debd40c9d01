//! Shippo: a `track_updated` webhook whose `data` is the Track, with the
//! latest `tracking_status` and the whole `tracking_history` so far
//! (goshippo/shippo-javascript-sdk `docs/models/components/track.md`,
//! `trackingstatus.md`; substatus codes from docs.goshippo.com "Tracking
//! event definitions"; notes/carriers.md §3).
//!
//! | step | `status` / `substatus.code` |
//! |---|---|
//! | label | `PRE_TRANSIT` / `information_received` |
//! | pickup | `TRANSIT` / `package_accepted` |
//! | departure, arrival | `TRANSIT` / `package_departed`, `package_arrived` |
//! | out for delivery | `TRANSIT` / `out_for_delivery` |
//! | failed attempt | `FAILURE` / `delivery_attempted` |
//! | delivered | `DELIVERED` / `delivered` |
//! | returned | `RETURNED` / `return_to_sender` |

use serde_json::{Value, json};

use super::journey::{Journey, Kind, Step, stable_id};
use super::utc_time;

fn status(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Label => ("PRE_TRANSIT", "information_received"),
        Kind::Accepted => ("TRANSIT", "package_accepted"),
        Kind::Departure => ("TRANSIT", "package_departed"),
        Kind::Arrival => ("TRANSIT", "package_arrived"),
        Kind::OutForDelivery => ("TRANSIT", "out_for_delivery"),
        Kind::Attempt => ("FAILURE", "delivery_attempted"),
        Kind::Delivered => ("DELIVERED", "delivered"),
        Kind::Returned => ("RETURNED", "return_to_sender"),
    }
}

fn tracking_status(journey: &Journey, s: &Step) -> Value {
    let (status, code) = status(s.kind);
    json!({
        "object_created": utc_time(s.at),
        "object_updated": utc_time(s.at),
        "object_id": stable_id(&[&journey.id, "shippo", &utc_time(s.at), code]),
        "status": status,
        "status_details": s.kind.description(),
        "status_date": utc_time(s.at),
        "substatus": {
            "code": code,
            "text": s.kind.description(),
            "action_required": s.kind == Kind::Attempt,
        },
        "location": {
            "city": s.place.city,
            "state": s.place.state,
            "zip": s.place.postal_code,
            "country": s.place.country,
        },
    })
}

fn address(p: &super::journey::Place) -> Value {
    json!({ "city": p.city, "state": p.state, "zip": p.postal_code, "country": p.country })
}

pub fn body(journey: &Journey, step: usize) -> Value {
    let steps = &journey.steps[..(step + 1).min(journey.steps.len())];
    let Some(last) = steps.last() else {
        return json!({});
    };
    let eta = format!("{}T18:00:00Z", journey.estimate.format("%Y-%m-%d"));
    json!({
        "event": "track_updated",
        "test": true,
        "data": {
            "messages": [],
            "carrier": journey.carrier,
            "tracking_number": journey.tracking_number,
            "address_from": address(&journey.origin),
            "address_to": address(&journey.destination),
            "eta": eta,
            "original_eta": eta,
            "servicelevel": { "token": format!("{}_ground", journey.carrier), "name": "Ground" },
            "metadata": null,
            "transaction": null,
            "tracking_status": tracking_status(journey, last),
            "tracking_history": steps.iter().map(|s| tracking_status(journey, s)).collect::<Vec<_>>(),
        },
    })
}
