//! FedEx Advanced Integrated Visibility: the Track API's shape,
//! `output.completeTrackResults[].trackResults[].scanEvents[]`, one scan per
//! push (notes/carriers.md §7; karrioapi/karrio's FedEx fixtures and code
//! table for the `eventType` codes).
//!
//! | step | `eventType` (`derivedStatusCode`) |
//! |---|---|
//! | label | `OC` (`IN`) |
//! | pickup | `PU` (`PU`) |
//! | departure, arrival | `DP`, `AR` (`IT`) |
//! | out for delivery | `OD` (`OD`) |
//! | failed attempt | `DE`, exception `08` "Customer not available or business closed" (`DE`) |
//! | delivered | `DL` (`DL`), `deliveryDetails.receivedByName` |
//! | returned | `RS` (`RS`) "Returning package to shipper" |

use serde_json::{Value, json};

use super::journey::{Journey, Kind};
use super::{local_time, utc_time};

fn codes(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::Label => ("OC", "IN", "Shipment information sent to FedEx"),
        Kind::Accepted => ("PU", "PU", "Picked up"),
        Kind::Departure => ("DP", "IT", "Departed FedEx location"),
        Kind::Arrival => ("AR", "IT", "Arrived at FedEx location"),
        Kind::OutForDelivery => ("OD", "OD", "On FedEx vehicle for delivery"),
        Kind::Attempt => ("DE", "DE", "Delivery exception"),
        Kind::Delivered => ("DL", "DL", "Delivered"),
        Kind::Returned => ("RS", "RS", "Returning package to shipper"),
    }
}

pub fn body(journey: &Journey, step: usize) -> Value {
    let Some(s) = journey.steps.get(step) else {
        return json!({});
    };
    let (event_type, derived, description) = codes(s.kind);
    let (exception_code, exception_description) = if s.kind == Kind::Attempt {
        ("08", "Customer not available or business closed")
    } else {
        ("", "")
    };
    let estimate = journey.estimate.format("%Y-%m-%d").to_string();
    let tn = &journey.tracking_number;
    let mut result = json!({
        "trackingNumberInfo": { "trackingNumber": tn, "trackingNumberUniqueId": format!("12029~{tn}~FDEG"), "carrierCode": "FDXG" },
        "latestStatusDetail": { "code": event_type, "derivedCode": derived, "statusByLocale": description, "description": description },
        "dateAndTimes": [{ "type": "ESTIMATED_DELIVERY", "dateTime": format!("{estimate}T00:00:00") }],
        "estimatedDeliveryTimeWindow": { "window": { "begins": format!("{estimate}T09:00:00"), "ends": format!("{estimate}T18:00:00") } },
        "serviceDetail": { "type": "FEDEX_GROUND", "description": "FedEx Ground" },
        "scanEvents": [{
            "date": local_time(s),
            "eventType": event_type,
            "eventDescription": description,
            "exceptionCode": exception_code,
            "exceptionDescription": exception_description,
            "scanLocation": {
                "streetLines": [""],
                "city": s.place.city.to_uppercase(),
                "stateOrProvinceCode": s.place.state,
                "postalCode": s.place.postal_code,
                "countryCode": s.place.country,
                "residential": false,
            },
            "locationType": if s.kind == Kind::Delivered { "DELIVERY_LOCATION" } else { "FEDEX_FACILITY" },
            "derivedStatusCode": derived,
            "derivedStatus": description,
        }],
    });
    if let (Kind::Delivered, Some(name)) = (s.kind, journey.signed_by) {
        result["deliveryDetails"] = json!({ "receivedByName": name, "signedByName": name });
    }
    json!({
        "transactionId": super::uuid_like(&journey.id, &format!("fedex-{step}")),
        "outputMetaData": [{ "timestamp": utc_time(s.at), "attempt": 1 }],
        "output": { "completeTrackResults": [{ "trackingNumber": tn, "trackResults": [result] }] },
    })
}
