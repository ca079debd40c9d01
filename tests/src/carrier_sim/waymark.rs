//! Waymark's own format (docs/carriers.md, "The waymark format"):
//! `{"events": [...]}`, one event per webhook here, signed per Standard
//! Webhooks with the event id as `webhook-id`.

use serde_json::{Value, json};
use waymark_sync::carriers::Provider;

use super::journey::{Journey, Kind};
use super::local_time;

pub fn body(journey: &Journey, step: usize) -> Value {
    let Some(s) = journey.steps.get(step) else {
        return json!({ "events": [] });
    };
    let mut event = json!({
        "event_id": super::event_id(Provider::Waymark, journey, step),
        "tracking_number": journey.tracking_number,
        "carrier": journey.carrier,
        "milestone": s.kind.milestone().as_str(),
        "event_time": local_time(s),
        "location": {
            "city": s.place.city,
            "state": s.place.state,
            "postal_code": s.place.postal_code,
            "country": s.place.country,
        },
        "description": s.kind.description(),
    });
    if !matches!(s.kind, Kind::Delivered | Kind::Returned) {
        let day = journey.estimate.format("%Y-%m-%d").to_string();
        event["estimated_delivery"] = json!({ "from": day, "to": day });
    }
    if s.kind == Kind::Attempt {
        event["exception"] = json!({ "reason": "recipient_not_available", "party": "customer" });
    }
    if let (Kind::Delivered, Some(name)) = (s.kind, journey.signed_by) {
        event["proof_of_delivery"] = json!(format!("signed: {name}"));
    }
    json!({ "events": [event] })
}
