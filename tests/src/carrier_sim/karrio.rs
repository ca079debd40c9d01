//! Karrio: `{"event": "tracker_created" | "tracker_updated", "data":
//! <tracker>}`, the tracker's `events[]` being its whole history, newest
//! first; Karrio has mapped the carrier's codes to its own `status` and
//! `reason` and keeps the raw `code` (karrioapi/karrio
//! `modules/sdk/karrio/core/models.py`, `core/serializers.py`;
//! notes/carriers.md §4). Karrio sends the webhook's secret in `X-Event-Id`.
//!
//! | step | `status` (`reason`) | `code` (UPS's) |
//! |---|---|---|
//! | label | `pending` | `MP` |
//! | pickup | `picked_up` | `OR` |
//! | departure, arrival | `in_transit` | `DP`, `AR` |
//! | out for delivery | `out_for_delivery` | `OT` |
//! | failed attempt | `delivery_failed` (`consignee_not_available`) | `48` |
//! | delivered | `delivered`, `info.signed_by` | `FS` |
//! | returned | `return_to_sender` | `RS` |

use serde_json::{Value, json};

use super::journey::{Journey, Kind, Step};
use super::utc_time;

fn status(kind: Kind) -> (&'static str, Option<&'static str>, &'static str) {
    match kind {
        Kind::Label => ("pending", None, "MP"),
        Kind::Accepted => ("picked_up", None, "OR"),
        Kind::Departure => ("in_transit", None, "DP"),
        Kind::Arrival => ("in_transit", None, "AR"),
        Kind::OutForDelivery => ("out_for_delivery", None, "OT"),
        Kind::Attempt => ("delivery_failed", Some("consignee_not_available"), "48"),
        Kind::Delivered => ("delivered", None, "FS"),
        Kind::Returned => ("return_to_sender", None, "RS"),
    }
}

fn event(s: &Step) -> Value {
    let (status, reason, code) = status(s.kind);
    let local = s.local();
    json!({
        "date": local.format("%Y-%m-%d").to_string(),
        "time": local.format("%I:%M %p").to_string(),
        "timestamp": utc_time(s.at),
        "description": s.kind.description(),
        "location": format!("{}, {}, {}, {}", s.place.city.to_uppercase(), s.place.state, s.place.postal_code, s.place.country),
        "code": code,
        "status": status,
        "reason": reason,
        "latitude": null,
        "longitude": null,
    })
}

pub fn body(journey: &Journey, step: usize) -> Value {
    let steps = &journey.steps[..(step + 1).min(journey.steps.len())];
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return json!({});
    };
    let delivered = last.kind == Kind::Delivered;
    let estimate = journey.estimate.format("%Y-%m-%d").to_string();
    json!({
        "event": if step == 0 { "tracker_created" } else { "tracker_updated" },
        "data": {
            "id": format!("trk_{}", journey.id),
            "object": "tracker",
            "carrier_id": journey.carrier,
            "carrier_name": journey.carrier,
            "tracking_number": journey.tracking_number,
            "test_mode": true,
            "status": status(last.kind).0,
            "delivered": delivered,
            "estimated_delivery": estimate,
            "events": steps.iter().rev().map(event).collect::<Vec<_>>(),
            "info": {
                "carrier_tracking_link": null,
                "expected_delivery": estimate,
                "shipment_origin_country": journey.origin.country,
                "shipment_origin_postal_code": journey.origin.postal_code,
                "shipment_destination_country": journey.destination.country,
                "shipment_destination_postal_code": journey.destination.postal_code,
                "shipment_package_count": 1,
                "shipment_service": "Ground",
                "shipment_pickup_date": steps.get(1).map(|s| s.local().format("%Y-%m-%d").to_string()),
                "signed_by": if delivered { journey.signed_by } else { None },
                "source": "api",
            },
            "messages": [],
            "metadata": {},
            "meta": {},
            "created_at": utc_time(first.at),
            "updated_at": utc_time(last.at),
        },
    })
}
