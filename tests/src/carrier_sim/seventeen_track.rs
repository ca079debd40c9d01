//! 17TRACK API v2.2 push: `{"event": "TRACKING_UPDATED", "data": {number,
//! carrier, param, tag, track_info}}`, the whole history in
//! `track_info.tracking.providers[].events[]`, newest first
//! (wksw/17track-golang-sdk `models/v2/track.go`; notes/carriers.md §5).
//!
//! | step | `sub_status` (`stage`) |
//! |---|---|
//! | label | `InfoReceived` (`InfoReceived`) |
//! | pickup | `InTransit_PickedUp` (`PickedUp`) |
//! | departure, arrival | `InTransit_Departure` (`Departure`), `InTransit_Arrival` (`Arrival`) |
//! | out for delivery | `OutForDelivery_Other` (`OutForDelivery`) |
//! | failed attempt | `DeliveryFailure_NoBody` (none) |
//! | delivered | `Delivered_Other` (`Delivered`) |
//! | returned | `Exception_Returned` (`Returned`) |

use serde_json::{Value, json};

use super::journey::{Journey, Kind, Step, stable_id};
use super::{local_time, utc_time};

fn status(kind: Kind) -> (&'static str, &'static str, Option<&'static str>) {
    match kind {
        Kind::Label => ("InfoReceived", "InfoReceived", Some("InfoReceived")),
        Kind::Accepted => ("InTransit", "InTransit_PickedUp", Some("PickedUp")),
        Kind::Departure => ("InTransit", "InTransit_Departure", Some("Departure")),
        Kind::Arrival => ("InTransit", "InTransit_Arrival", Some("Arrival")),
        Kind::OutForDelivery => ("OutForDelivery", "OutForDelivery_Other", Some("OutForDelivery")),
        Kind::Attempt => ("DeliveryFailure", "DeliveryFailure_NoBody", None),
        Kind::Delivered => ("Delivered", "Delivered_Other", Some("Delivered")),
        Kind::Returned => ("Exception", "Exception_Returned", Some("Returned")),
    }
}

/// 17TRACK's carrier keys (its carrier list): 0 when not known here.
fn carrier_key(carrier: &str) -> u32 {
    match carrier {
        "dhl" | "dhl_express" => 100_001,
        "ups" => 100_002,
        "fedex" => 100_003,
        "usps" => 21_051,
        _ => 0,
    }
}

fn event(s: &Step) -> Value {
    let (_, sub_status, stage) = status(s.kind);
    let local = s.local();
    json!({
        "time_iso": local_time(s),
        "time_utc": utc_time(s.at),
        "time_raw": { "date": local.format("%Y-%m-%d").to_string(), "time": local.format("%H:%M:%S").to_string(), "timezone": null },
        "description": s.kind.description(),
        "location": format!("{}, {} {}", s.place.city, s.place.state, s.place.country),
        "stage": stage,
        "sub_status": sub_status,
        "address": {
            "country": s.place.country,
            "state": s.place.state,
            "city": s.place.city,
            "street": null,
            "postal_code": s.place.postal_code,
            "coordinates": { "longitude": null, "latitude": null },
        },
    })
}

pub fn body(journey: &Journey, step: usize) -> Value {
    let steps = &journey.steps[..(step + 1).min(journey.steps.len())];
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return json!({});
    };
    let (status, sub_status, _) = status(last.kind);
    let key = carrier_key(&journey.carrier);
    let events: Vec<Value> = steps.iter().rev().map(event).collect();
    let milestones: Vec<Value> = steps
        .iter()
        .filter_map(|s| {
            self::status(s.kind)
                .2
                .map(|k| json!({ "key_stage": k, "time_iso": local_time(s), "time_utc": utc_time(s.at) }))
        })
        .collect();
    let estimate = journey.estimate.format("%Y-%m-%d").to_string();
    let days = (last.at - first.at).num_days();
    let events_hash = stable_id(&[&journey.id, "17track", &steps.len().to_string()]);
    json!({
        "event": "TRACKING_UPDATED",
        "data": {
            "number": journey.tracking_number,
            "carrier": key,
            "param": null,
            "tag": "",
            "track_info": {
                "shipping_info": {
                    "shipper_address": { "country": journey.origin.country, "state": journey.origin.state, "city": journey.origin.city, "postal_code": journey.origin.postal_code },
                    "recipient_address": { "country": journey.destination.country, "state": journey.destination.state, "city": journey.destination.city, "postal_code": journey.destination.postal_code },
                },
                "latest_status": { "status": status, "sub_status": sub_status, "sub_status_descr": null },
                "latest_event": event(last),
                "time_metrics": {
                    "days_after_order": days,
                    "days_of_transit": days,
                    "days_of_transit_done": days,
                    "days_after_last_update": 0,
                    "estimated_delivery_date": { "source": "Official", "from": format!("{estimate}T09:00:00"), "to": format!("{estimate}T18:00:00") },
                },
                "milestone": milestones,
                "misc_info": { "service_type": "Ground", "weight_raw": null, "pieces": "1" },
                "tracking": {
                    "providers_hash": events_hash,
                    "providers": [{
                        "provider": { "key": key, "name": journey.carrier.to_uppercase(), "alias": journey.carrier.to_uppercase(), "country": "US" },
                        "service_type": "Ground",
                        "latest_sync_status": "Success",
                        "latest_sync_time": utc_time(last.at),
                        "events_hash": events_hash,
                        "events": events,
                    }],
                },
            },
        },
    })
}
