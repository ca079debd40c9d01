//! FedEx Advanced Integrated Visibility (AIV) webhook: the body is the Track
//! API's shape, `output.completeTrackResults[].trackResults[]`, each with its
//! `scanEvents[]` (notes/carriers.md §7(a)). FedEx may send scans out of order
//! and several payloads may repeat a scan, so every scan is an event keyed by
//! what it says, and the store keeps the new ones.
//!
//! Sources: Track API response example as used by karrioapi/karrio
//! `modules/connectors/fedex/tests/fedex/test_tracking.py` @deea10f
//! (`TrackingResponse`, `DuplicateTrackingResponse`); karrio's FedEx code
//! table `modules/connectors/fedex/karrio/providers/fedex/units.py` @deea10f
//! (`TrackingStatus`, which cites developer.fedex.com
//! api-reference.html#trackingstatuscodes); developer.fedex.com AIV business
//! rules (out-of-order scans).
//!
//! | `eventType` | milestone | possession | source / note |
//! |---|---|---|---|
//! | `OC` | `label_created` | no | "Shipment information sent to FedEx" (DuplicateTrackingResponse); karrio `pending` |
//! | `PU`, `PX` | `carrier_accepted` | yes | karrio `picked_up` ("Picked Up") |
//! | `IT`, `IX`, `AR`, `AF`, `DP`, `OF`, `AP`, `AA`, `AC`, `AX`, `EA`, `EO`, `FD`, `LO`, `PF`, `PL`, `PM`, `SF`, `TR` | `in_transit` | yes | karrio `in_transit` / `picked_up` (`OF` "At FedEx origin facility", `AP` "At pickup" are read as in the network, not as the first scan) |
//! | `OD`, `ED`, `AD` | `out_for_delivery` | yes | karrio `out_for_delivery` |
//! | `DE` | `delivery_attempted` + exception | yes | "Delivery exception"; party from `exceptionCode`: `08` "Customer not available or business closed" → customer, else carrier |
//! | `HP` | `available_for_pickup` | yes | "Ready for recipient pickup" (DuplicateTrackingResponse) |
//! | `DL` | `delivered` | yes | proof of delivery from `deliveryDetails.signedByName` / `receivedByName` |
//! | `SE` | none + exception (`shipment_exception`, carrier) | no | karrio `on_hold` |
//! | `CD` | none + exception (`customs_delay`, customs) | no | karrio `on_hold` "Customs Delay" |
//! | `DY` | none + exception (`delay`, party from `delayDetail.type`: `WEATHER` → weather, `CUSTOMS` → customs, else carrier) | no | "Delay" scan |
//! | `HA` | none (unmapped) | no | "Hold at Location Requested": a request, not yet ready for pickup |
//! | `OX`, `EP`, `MD`, `CA`, `AO`, anything else | none (unmapped) | no | not possession nor a step we can name; `AO` "Shipment arriving On-Time" is informational |
//!
//! A scan without `eventType` falls back to `derivedStatusCode` (`IN` →
//! label_created, `PU`, `IT`, `DL`, `DE` as above).
//!
//! - Key: `trackingNumber|date|eventType|city,state,postal,country`: the same
//!   scan in a later payload (or twice in one, as in
//!   DuplicateTrackingResponse) has the same key; duplicates inside one body
//!   are dropped.
//! - Estimate: `estimatedDeliveryTimeWindow.window{begins,ends}`, else a
//!   `dateAndTimes[]` entry of type `ESTIMATED_DELIVERY`: a separate
//!   estimate-only event keyed `trackingNumber|estimate|from|to`.
//! - `provider_code`: `derivedStatusCode/eventType/exceptionCode` (empty
//!   parts left out), e.g. `DE/DE/08`.
//! - Tracking number: `completeTrackResults[].trackingNumber` (the one
//!   subscribed), else `trackingNumberInfo.trackingNumber`.

use std::collections::HashSet;

use serde::Deserialize;

use super::fields::{clean as some_text, trimmed as text};
use super::{DecodeError, parse, time};
use crate::carriers::{CarrierEvent, Estimate, ExceptionInfo, Location, Provider};
use crate::status::{Milestone, Party};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    output: Option<Output>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Output {
    complete_track_results: Option<Vec<Complete>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Complete {
    tracking_number: Option<String>,
    track_results: Vec<TrackResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TrackResult {
    tracking_number_info: Option<TrackingNumberInfo>,
    scan_events: Vec<ScanEvent>,
    estimated_delivery_time_window: Option<TimeWindow>,
    date_and_times: Vec<DateAndTime>,
    delivery_details: Option<DeliveryDetails>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TrackingNumberInfo {
    tracking_number: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ScanEvent {
    date: Option<String>,
    event_type: Option<String>,
    event_description: Option<String>,
    exception_code: Option<String>,
    exception_description: Option<String>,
    derived_status_code: Option<String>,
    scan_location: Option<Address>,
    delay_detail: Option<DelayDetail>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Address {
    city: Option<String>,
    state_or_province_code: Option<String>,
    postal_code: Option<String>,
    country_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DelayDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TimeWindow {
    window: Option<Window>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Window {
    begins: Option<String>,
    ends: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DateAndTime {
    date_time: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DeliveryDetails {
    received_by_name: Option<String>,
    signed_by_name: Option<String>,
}

fn milestone(event_type: &str, derived: &str) -> Option<Milestone> {
    let by_type = match event_type {
        "OC" => Some(Milestone::LabelCreated),
        "PU" | "PX" => Some(Milestone::CarrierAccepted),
        "IT" | "IX" | "AR" | "AF" | "DP" | "OF" | "AP" | "AA" | "AC" | "AX" | "EA" | "EO" | "FD" | "LO" | "PF"
        | "PL" | "PM" | "SF" | "TR" => Some(Milestone::InTransit),
        "OD" | "ED" | "AD" => Some(Milestone::OutForDelivery),
        "DE" => Some(Milestone::DeliveryAttempted),
        "HP" => Some(Milestone::AvailableForPickup),
        "DL" => Some(Milestone::Delivered),
        _ => None,
    };
    if !event_type.is_empty() {
        return by_type;
    }
    match derived {
        "IN" => Some(Milestone::LabelCreated),
        "PU" => Some(Milestone::CarrierAccepted),
        "IT" => Some(Milestone::InTransit),
        "DE" => Some(Milestone::DeliveryAttempted),
        "DL" => Some(Milestone::Delivered),
        _ => None,
    }
}

fn exception(event_type: &str, exception_code: &str, delay_type: &str) -> Option<ExceptionInfo> {
    let (reason, party) = match event_type {
        "DE" if exception_code == "08" => ("recipient_not_available".to_string(), Party::Customer),
        "DE" if exception_code.is_empty() => ("delivery_exception".to_string(), Party::Carrier),
        "DE" => (format!("delivery_exception:{exception_code}"), Party::Carrier),
        "SE" => ("shipment_exception".to_string(), Party::Carrier),
        "CD" => ("customs_delay".to_string(), Party::Customs),
        "DY" => (
            "delay".to_string(),
            match delay_type {
                "WEATHER" => Party::Weather,
                "CUSTOMS" => Party::Customs,
                _ => Party::Carrier,
            },
        ),
        _ => return None,
    };
    Some(ExceptionInfo { reason, party })
}

fn estimate(r: &TrackResult) -> Option<Estimate> {
    if let Some(w) = r
        .estimated_delivery_time_window
        .as_ref()
        .and_then(|w| w.window.as_ref())
    {
        let from = time::date(text(&w.begins));
        let to = time::date(text(&w.ends));
        match (from, to) {
            (Some(from), Some(to)) => return Some(Estimate { from, to }),
            (Some(d), None) | (None, Some(d)) => return Some(Estimate::day(&d)),
            (None, None) => {}
        }
    }
    r.date_and_times
        .iter()
        .filter(|d| text(&d.kind) == "ESTIMATED_DELIVERY")
        .find_map(|d| time::date(text(&d.date_time)))
        .map(|d| Estimate::day(&d))
}

pub fn normalize(body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let b: Body = parse(body)?;
    let results = b
        .output
        .and_then(|o| o.complete_track_results)
        .ok_or_else(|| DecodeError::shape("output.completeTrackResults", "missing"))?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for c in &results {
        for r in &c.track_results {
            let tn = some_text(&c.tracking_number).or_else(|| {
                r.tracking_number_info
                    .as_ref()
                    .and_then(|i| some_text(&i.tracking_number))
            });
            let Some(tn) = tn else { continue };
            let pod = r
                .delivery_details
                .as_ref()
                .and_then(|d| some_text(&d.signed_by_name).or_else(|| some_text(&d.received_by_name)));
            for s in &r.scan_events {
                let event_type = text(&s.event_type);
                let derived = text(&s.derived_status_code);
                let date = text(&s.date);
                let location = s.scan_location.as_ref().and_then(|l| {
                    Location {
                        city: some_text(&l.city),
                        state: some_text(&l.state_or_province_code),
                        postal_code: some_text(&l.postal_code),
                        country: some_text(&l.country_code),
                    }
                    .non_empty()
                });
                let place = location
                    .as_ref()
                    .map(|l| {
                        [&l.city, &l.state, &l.postal_code, &l.country]
                            .map(|p| p.as_deref().unwrap_or(""))
                            .join(",")
                    })
                    .unwrap_or_default();
                let code = if event_type.is_empty() { derived } else { event_type };
                let key = format!("{tn}|{date}|{code}|{place}");
                if !seen.insert(key.clone()) {
                    continue;
                }
                let m = milestone(event_type, derived);
                let at = time::instant(date);
                let mut ev = CarrierEvent::new(Provider::FedEx, &tn);
                ev.carrier = "fedex".to_string();
                ev.event_key = key;
                ev.milestone = m;
                ev.provider_code = [derived, event_type, text(&s.exception_code)]
                    .iter()
                    .filter(|p| !p.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/");
                let desc = text(&s.event_description);
                let detail = text(&s.exception_description);
                ev.description = match (desc.is_empty(), detail.is_empty()) {
                    (false, false) => format!("{desc}: {detail}"),
                    (false, true) => desc.to_string(),
                    _ => detail.to_string(),
                };
                ev.carrier_possession = m.is_some_and(Milestone::is_carrier_possession);
                ev.event_time_ms = at.map(|a| a.ms);
                ev.offset_minutes = at.and_then(|a| a.offset_minutes);
                let delay_type = s.delay_detail.as_ref().map(|d| text(&d.kind)).unwrap_or("");
                ev.exception = exception(code, text(&s.exception_code), delay_type);
                ev.location = location;
                if m == Some(Milestone::Delivered) {
                    ev.proof_of_delivery = pod.clone();
                }
                out.push(ev);
            }
            if let Some(e) = estimate(r) {
                let key = format!("{tn}|estimate|{}|{}", e.from, e.to);
                if seen.insert(key.clone()) {
                    let mut ev = CarrierEvent::new(Provider::FedEx, &tn);
                    ev.carrier = "fedex".to_string();
                    ev.event_key = key;
                    ev.provider_code = "estimated_delivery".to_string();
                    ev.estimated_delivery = Some(e);
                    out.push(ev);
                }
            }
        }
    }
    Ok(out)
}
