//! EasyPost: a `tracker.created` / `tracker.updated` Event whose `result` is
//! the whole Tracker, every `tracking_details[]` entry so far each time
//! (EasyPost/examples `official/fixtures/event-body.json`; notes/carriers.md
//! §1). The `weight` is a float written `136.0`, which a JSON library
//! re-serializing the body would turn into `136`.
//!
//! | step | `status` / `status_detail` |
//! |---|---|
//! | label | `pre_transit` / `label_created` |
//! | pickup | `in_transit` / `received_at_origin_facility` ("Origin Scan") |
//! | departure, arrival | `in_transit` / `departed_facility`, `arrived_at_facility` |
//! | out for delivery | `out_for_delivery` / `out_for_delivery` |
//! | failed attempt | `failure` / `delivery_exception` ("Delivery attempted ... notice left") |
//! | delivered | `delivered` / `arrived_at_destination`, Tracker `signed_by` |
//! | returned | `return_to_sender` / `return` |

use serde_json::{Value, json};
use waymark_sync::carriers::Provider;

use super::journey::{Journey, Kind, Step};
use super::utc_time;

fn status(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::Label => ("pre_transit", "label_created", "MP"),
        Kind::Accepted => ("in_transit", "received_at_origin_facility", "OR"),
        Kind::Departure => ("in_transit", "departed_facility", "DP"),
        Kind::Arrival => ("in_transit", "arrived_at_facility", "AR"),
        Kind::OutForDelivery => ("out_for_delivery", "out_for_delivery", "OT"),
        Kind::Attempt => ("failure", "delivery_exception", "48"),
        Kind::Delivered => ("delivered", "arrived_at_destination", "FS"),
        Kind::Returned => ("return_to_sender", "return", "RS"),
    }
}

fn message(kind: Kind) -> &'static str {
    match kind {
        Kind::Accepted => "Origin Scan",
        k => k.description(),
    }
}

/// EasyPost's carrier names ("UPS", "FedEx", "USPS", "DHLExpress").
fn carrier_name(carrier: &str) -> String {
    match carrier {
        "ups" => "UPS".into(),
        "fedex" => "FedEx".into(),
        "usps" => "USPS".into(),
        "dhl" | "dhl_express" => "DHLExpress".into(),
        other => other.to_string(),
    }
}

fn detail(s: &Step, carrier: &str) -> Value {
    let (status, status_detail, code) = status(s.kind);
    json!({
        "object": "TrackingDetail",
        "message": message(s.kind),
        "description": "",
        "status": status,
        "status_detail": status_detail,
        "datetime": utc_time(s.at),
        "source": carrier,
        "carrier_code": code,
        "tracking_location": {
            "object": "TrackingLocation",
            "city": s.place.city.to_uppercase(),
            "state": s.place.state,
            "country": s.place.country,
            "zip": s.place.postal_code,
        },
        "est_delivery_date": null,
    })
}

pub fn body(journey: &Journey, step: usize) -> Value {
    let steps = &journey.steps[..(step + 1).min(journey.steps.len())];
    let Some(last) = steps.last() else {
        return json!({});
    };
    let first = steps.first().unwrap_or(last);
    let carrier = carrier_name(&journey.carrier);
    let (status, status_detail, _) = status(last.kind);
    let previous = steps
        .len()
        .checked_sub(2)
        .and_then(|i| steps.get(i))
        .map(|s| self::status(s.kind).0);
    let estimate = journey.estimate.format("%Y-%m-%d").to_string();
    let delivered = last.kind == Kind::Delivered;
    let tracker = json!({
        "id": format!("trk_{}", journey.id),
        "object": "Tracker",
        "mode": "test",
        "tracking_code": journey.tracking_number,
        "status": status,
        "status_detail": status_detail,
        "created_at": utc_time(first.at),
        "updated_at": utc_time(last.at),
        "signed_by": if delivered { journey.signed_by } else { None },
        "weight": 136.0,
        "est_delivery_date": format!("{estimate}T00:00:00Z"),
        "shipment_id": format!("shp_{}", journey.id),
        "carrier": carrier,
        "tracking_details": steps.iter().map(|s| detail(s, &carrier)).collect::<Vec<_>>(),
        "carrier_detail": {
            "object": "CarrierDetail",
            "service": "Ground",
            "container_type": null,
            "est_delivery_date_local": estimate,
            "est_delivery_time_local": null,
            "origin_location": format!("{} {} {}", journey.origin.city.to_uppercase(), journey.origin.state, journey.origin.country),
            "destination_location": format!("{} {} {}", journey.destination.city.to_uppercase(), journey.destination.state, journey.destination.country),
            "guaranteed_delivery_date": null,
            "alternate_identifier": null,
            "initial_delivery_attempt": steps.iter().find(|s| matches!(s.kind, Kind::Attempt | Kind::Delivered)).map(|s| utc_time(s.at)),
        },
        "finalized": true,
        "is_return": false,
        "public_url": format!("https://track.easypost.com/djE6{}", journey.id),
        "fees": [],
    });
    json!({
        "id": super::event_id(Provider::EasyPost, journey, step),
        "object": "Event",
        "description": if step == 0 { "tracker.created" } else { "tracker.updated" },
        "mode": "test",
        "previous_attributes": previous.map_or(json!({}), |p| json!({ "status": p })),
        "pending_urls": [],
        "completed_urls": [],
        "created_at": utc_time(last.at),
        "updated_at": utc_time(last.at),
        "user_id": "user_0123456789abcdef",
        "status": "pending",
        "result": tracker,
    })
}
