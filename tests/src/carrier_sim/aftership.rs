//! AfterShip Tracking: a `tracking_update` webhook whose `msg` is the whole
//! Tracking, every checkpoint so far each time
//! (aftership.com/docs/tracking/2025-01/webhook/webhook-specifications;
//! notes/carriers.md §2).
//!
//! | step | checkpoint `tag` / `subtag` |
//! |---|---|
//! | label | `InfoReceived` / `InfoReceived_001` |
//! | pickup | `InTransit` / `InTransit_002` "Picked up" (acceptance scan) |
//! | departure, arrival | `InTransit` / `InTransit_007`, `InTransit_003` |
//! | out for delivery | `OutForDelivery` / `OutForDelivery_001` |
//! | failed attempt | `AttemptFail` / `AttemptFail_001` |
//! | delivered | `Delivered` / `Delivered_001`, `signed_by` |
//! | returned | `Exception` / `Exception_011` (returned to sender lives under Exception) |

use serde_json::{Value, json};

use super::journey::{Journey, Kind, Step, stable_id};
use super::{local_time, utc_time, uuid_like};

fn tag(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::Label => ("InfoReceived", "InfoReceived_001", "Info Received"),
        Kind::Accepted => ("InTransit", "InTransit_002", "Acceptance scan"),
        Kind::Departure => ("InTransit", "InTransit_007", "Departure Scan"),
        Kind::Arrival => ("InTransit", "InTransit_003", "Arrival scan"),
        Kind::OutForDelivery => ("OutForDelivery", "OutForDelivery_001", "Out for Delivery"),
        Kind::Attempt => ("AttemptFail", "AttemptFail_001", "Failed Attempt"),
        Kind::Delivered => ("Delivered", "Delivered_001", "Delivered"),
        Kind::Returned => ("Exception", "Exception_011", "Returned to sender"),
    }
}

fn checkpoint(journey: &Journey, s: &Step) -> Value {
    let (tag, subtag, subtag_message) = tag(s.kind);
    json!({
        "slug": journey.carrier,
        "city": s.place.city,
        "created_at": utc_time(s.at),
        "location": format!("{}, {}, {}", s.place.city, s.place.state, s.place.country),
        "country_name": "USA",
        "country_region": "USA",
        "message": s.kind.description(),
        "tag": tag,
        "subtag": subtag,
        "subtag_message": subtag_message,
        "checkpoint_time": local_time(s),
        "coordinates": [],
        "state": s.place.state,
        "postal_code": s.place.postal_code,
        "raw_tag": subtag,
        "hash": stable_id(&[&journey.id, &utc_time(s.at), subtag]),
        "events": [],
    })
}

pub fn body(journey: &Journey, step: usize) -> Value {
    let steps = &journey.steps[..(step + 1).min(journey.steps.len())];
    let Some(last) = steps.last() else {
        return json!({});
    };
    let first = steps.first().unwrap_or(last);
    let (tag, subtag, subtag_message) = tag(last.kind);
    let previous_tag = steps
        .len()
        .checked_sub(2)
        .and_then(|i| steps.get(i))
        .map(|s| self::tag(s.kind).0);
    let estimate = journey.estimate.format("%Y-%m-%d").to_string();
    let delivered = last.kind == Kind::Delivered;
    json!({
        "event": "tracking_update",
        "event_id": uuid_like(&journey.id, &format!("aftership-{step}")),
        "is_tracking_first_tag": previous_tag != Some(tag),
        "ts": last.at.timestamp(),
        "msg": {
            "id": format!("{}{}", journey.id, stable_id(&[&journey.id, "aftership"])),
            "tracking_number": journey.tracking_number,
            "slug": journey.carrier,
            "active": !matches!(last.kind, Kind::Delivered | Kind::Returned),
            "tag": tag,
            "subtag": subtag,
            "subtag_message": subtag_message,
            "title": journey.tracking_number,
            "order_number": null,
            "shipment_type": "Ground",
            "origin_country_region": "USA",
            "destination_country_region": "USA",
            "destination_postal_code": journey.destination.postal_code,
            "signed_by": if delivered { journey.signed_by } else { None },
            "delivery_type": "signature",
            "aftership_estimated_delivery_date": {
                "estimated_delivery_date": estimate,
                "confidence_code": null,
                "estimated_delivery_date_min": estimate,
                "estimated_delivery_date_max": estimate,
            },
            "created_at": utc_time(first.at),
            "updated_at": utc_time(last.at),
            "last_updated_at": utc_time(last.at),
            "checkpoints": steps.iter().map(|s| checkpoint(journey, s)).collect::<Vec<_>>(),
        },
    })
}
