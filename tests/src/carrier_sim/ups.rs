//! UPS Track Alert: one `TrackingEventRequest` per POST, for the one new
//! event (UPS-API/api-documentation `UPSTrackAlert.yaml`, notes/carriers.md
//! §6). UPS sends no event id; the `credential` header is the whole
//! authentication.
//!
//! | step | `activityStatus` type / code |
//! |---|---|
//! | label | `M` / `MP` "Shipment Ready for UPS" |
//! | pickup | `I` / `OR` "Origin Scan" |
//! | departure, arrival | `I` / `DP`, `AR` |
//! | out for delivery | `I` / `OT` |
//! | failed attempt | `X` / `48` (an exception: UPS has no attempt type) |
//! | delivered | `D` / `FS`, with `actualDeliveryDate` and `receivedBy` |
//! | returned | `X` / `RS` |

use serde_json::{Value, json};

use super::journey::{Journey, Kind};

fn status(kind: Kind) -> (&'static str, &'static str, &'static str, &'static str) {
    match kind {
        Kind::Label => ("M", "MP", "Shipment Ready for UPS", "003"),
        Kind::Accepted => ("I", "OR", "Origin Scan", "005"),
        Kind::Departure => ("I", "DP", "Departed from Facility", "005"),
        Kind::Arrival => ("I", "AR", "Arrived at Facility", "005"),
        Kind::OutForDelivery => ("I", "OT", "Out For Delivery Today", "021"),
        Kind::Attempt => (
            "X",
            "48",
            "The receiver was not available for delivery. We'll make a second attempt the next business day.",
            "048",
        ),
        Kind::Delivered => ("D", "FS", "Delivered", "011"),
        Kind::Returned => ("X", "RS", "Returned to sender", "RS"),
    }
}

/// `-05.00`: UPS's `(-/+)HH.MM`.
fn gmt_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("{sign}{:02}.{:02}", m / 60, m % 60)
}

pub fn body(journey: &Journey, step: usize) -> Value {
    let Some(s) = journey.steps.get(step) else {
        return json!({});
    };
    let (kind, code, description, description_code) = status(s.kind);
    let local = s.local();
    let delivered = s.kind == Kind::Delivered;
    json!({
        "trackingNumber": journey.tracking_number,
        "localActivityDate": local.format("%Y%m%d").to_string(),
        "localActivityTime": local.format("%H%M%S").to_string(),
        "gmtActivityDate": s.at.format("%Y%m%d").to_string(),
        "gmtActivityTime": s.at.format("%H%M%S").to_string(),
        "gmtOffset": gmt_offset(s.place.offset_minutes),
        "activityLocation": {
            "city": s.place.city.to_uppercase(),
            "stateProvince": s.place.state,
            // "blank until delivery" (UPSTrackAlert.yaml)
            "postalCode": if delivered { s.place.postal_code } else { "" },
            "country": s.place.country,
        },
        "activityStatus": {
            "type": kind,
            "code": code,
            "description": description,
            "descriptionCode": description_code,
        },
        "scheduledDeliveryDate": journey.estimate.format("%Y%m%d").to_string(),
        "actualDeliveryDate": if delivered { local.format("%Y%m%d").to_string() } else { String::new() },
        "actualDeliveryTime": if delivered { local.format("%H%M%S").to_string() } else { String::new() },
        "deliveryStartTime": "",
        "deliveryEndTime": "",
        "deliveryTimeDescription": "",
        "receivedBy": if delivered { journey.signed_by.unwrap_or("") } else { "" },
    })
}
