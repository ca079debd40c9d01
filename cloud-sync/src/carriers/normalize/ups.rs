//! UPS Track Alert: one `TrackingEventRequest` per POST, one package event in
//! it. UPS sends no event id and promises no retries (an event sent while the
//! endpoint is down is lost: reconcile by polling the Track API, out of scope
//! here).
//!
//! Sources: UPS-API/api-documentation `UPSTrackAlert.yaml` @e6f36df (schema,
//! FAQ "What types of event data does Track Alert provide?", examples
//! "Out for delivery message" and "Delivery message") and
//! `UPSTrackAlertEnhanced.yaml` @fe6ace3 (examples MP, OR, DP, YP, OT, FS);
//! notes/carriers.md §6.
//!
//! | `activityStatus` | milestone | possession | note |
//! |---|---|---|---|
//! | type `M` (any code, e.g. `MP` "Shipment Ready for UPS") | `label_created` | no | "M and MV = manifest information" (FAQ) |
//! | type `MV` | none (unmapped, code kept) | no | manifest void: the label was cancelled; no milestone undoes a label, and nobody is at fault, so no exception either |
//! | type `I`, code `OR` | `carrier_accepted` | yes | example 2 "UPS has your package" |
//! | type `I` or `D`, code `OT` | `out_for_delivery` | yes | example "Out for delivery message" (type I); the FAQ puts "out for delivery" under D too |
//! | type `I`, any other code (`DP`, `AR`, `YP` ...) | `in_transit` | yes | "I = in-progress (on the way or moving normally through the UPS network)" |
//! | type `D`, code `FS`, or any `D` with `actualDeliveryDate` | `delivered` | yes | example "Delivery message"; `actualDeliveryDate` "is blank until the delivery event occurs" |
//! | type `D`, another code, no `actualDeliveryDate` | none (unmapped) | no | the FAQ says D also covers "loaded on delivery vehicle": not read as delivered |
//! | type `X` | none, exception (`ups_exception` + code, party carrier) | no | "something out of the normal happened"; UPS's "Status Codes" document, which would name the cause, was not available, so the party is the reporting carrier |
//! | type `U` | none, estimate only | no | "normally the scheduled delivery has been updated" |
//! | anything else | none (unmapped) | no | |
//!
//! - Event time: `gmtActivityDate` + `gmtActivityTime` (UTC); the offset is
//!   `gmtOffset`, "(-/+)HH.MM" per the schema's pattern, so `-04.00` is -4 h
//!   and `+05.30` is +5 h 30 min (minutes after the dot, not a decimal
//!   fraction of an hour); without it the offset is local minus GMT.
//! - Dedupe key (no event id): `trackingNumber|gmtActivityDate|gmtActivityTime|activityStatus.code`
//!   (notes §6(c)).
//! - Estimate: `scheduledDeliveryDate` (YYYYMMDD) becomes a separate
//!   estimate-only event keyed by the date, from any event but a delivery
//!   (there it is the original date, e.g. `20191014` in the delivery example).
//! - Proof of delivery: `receivedBy` (enhanced subscriptions).

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::fields::{clean as some_text, trimmed as text};
use super::{DecodeError, parse, time};
use crate::carriers::{CarrierEvent, Estimate, ExceptionInfo, Location, Provider};
use crate::status::{Milestone, Party};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Body {
    tracking_number: Option<String>,
    local_activity_date: Option<String>,
    local_activity_time: Option<String>,
    gmt_activity_date: Option<String>,
    gmt_activity_time: Option<String>,
    gmt_offset: Option<String>,
    activity_location: Option<ActivityLocation>,
    activity_status: Option<ActivityStatus>,
    scheduled_delivery_date: Option<String>,
    actual_delivery_date: Option<String>,
    received_by: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ActivityLocation {
    city: Option<String>,
    state_province: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActivityStatus {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    description: Option<String>,
}

/// What a type and code mean: milestone, exception.
fn map(kind: &str, code: &str, delivered: bool) -> (Option<Milestone>, Option<ExceptionInfo>) {
    match (kind, code) {
        ("M", _) => (Some(Milestone::LabelCreated), None),
        ("I" | "D", "OT") => (Some(Milestone::OutForDelivery), None),
        ("I", "OR") => (Some(Milestone::CarrierAccepted), None),
        ("I", _) => (Some(Milestone::InTransit), None),
        ("D", "FS") => (Some(Milestone::Delivered), None),
        ("D", _) if delivered => (Some(Milestone::Delivered), None),
        ("X", _) => {
            let reason = if code.is_empty() {
                "ups_exception".to_string()
            } else {
                format!("ups_exception:{code}")
            };
            (
                None,
                Some(ExceptionInfo {
                    reason,
                    party: Party::Carrier,
                }),
            )
        }
        _ => (None, None),
    }
}

/// `(-/+)HH.MM` to minutes east of UTC.
fn offset_minutes(s: &str) -> Option<i32> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => (1, s),
    };
    let (h, m) = rest.split_once(['.', ':']).unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(sign * (h * 60 + m))
}

fn ymd(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y%m%d").ok()
}

fn hms(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H%M%S").ok()
}

pub fn normalize(body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let b: Body = parse(body)?;
    let tracking_number = text(&b.tracking_number);
    if tracking_number.is_empty() {
        return Err(DecodeError::shape("trackingNumber", "missing or empty"));
    }
    let status = b
        .activity_status
        .as_ref()
        .ok_or_else(|| DecodeError::shape("activityStatus", "missing"))?;
    let (kind, code) = (text(&status.kind), text(&status.code));

    let gmt_date = text(&b.gmt_activity_date);
    let gmt_time = text(&b.gmt_activity_time);
    let gmt = match (ymd(gmt_date), hms(gmt_time)) {
        (Some(d), Some(t)) => Some(d.and_time(t)),
        _ => None,
    };
    let local = match (ymd(text(&b.local_activity_date)), hms(text(&b.local_activity_time))) {
        (Some(d), Some(t)) => Some(d.and_time(t)),
        _ => None,
    };
    let offset = offset_minutes(text(&b.gmt_offset)).or_else(|| {
        let minutes = (local? - gmt?).num_minutes();
        (minutes.abs() <= 18 * 60).then_some(minutes as i32)
    });
    let at = match (gmt, local, offset) {
        (Some(g), _, _) => Some(time::At {
            ms: g.and_utc().timestamp_millis(),
            offset_minutes: offset,
        }),
        (None, Some(l), Some(o)) => time::local(l.date(), l.time(), o),
        _ => None,
    };

    let delivered = !text(&b.actual_delivery_date).is_empty();
    let (milestone, exception) = map(kind, code, delivered);

    let mut ev = CarrierEvent::new(Provider::Ups, tracking_number);
    ev.carrier = "ups".to_string();
    ev.event_key = format!(
        "{tracking_number}|{gmt_date}|{gmt_time}|{}",
        if code.is_empty() { kind } else { code }
    );
    ev.milestone = milestone;
    ev.provider_code = [kind, code]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    ev.description = text(&status.description).to_string();
    ev.carrier_possession = milestone.is_some_and(Milestone::is_carrier_possession);
    ev.event_time_ms = at.map(|a| a.ms);
    ev.offset_minutes = at.and_then(|a| a.offset_minutes);
    ev.exception = exception;
    ev.location = b.activity_location.as_ref().and_then(|l| {
        Location {
            city: some_text(&l.city),
            state: some_text(&l.state_province),
            postal_code: some_text(&l.postal_code),
            country: some_text(&l.country),
        }
        .non_empty()
    });
    if milestone == Some(Milestone::Delivered) {
        ev.proof_of_delivery = some_text(&b.received_by);
    }

    let estimate = if kind == "D" {
        None
    } else {
        ymd(text(&b.scheduled_delivery_date)).map(|day| {
            let day = day.format("%Y-%m-%d").to_string();
            let mut est = CarrierEvent::new(Provider::Ups, tracking_number);
            est.carrier = "ups".to_string();
            est.event_key = format!("{tracking_number}|estimate|{day}");
            est.provider_code = "scheduledDeliveryDate".to_string();
            est.estimated_delivery = Some(Estimate::day(&day));
            est
        })
    };
    let mut out = Vec::with_capacity(2);
    // Type U is the estimate revision itself: it gives the estimate alone
    // (and stays an unmapped event when it names no date).
    if kind != "U" || estimate.is_none() {
        out.push(ev);
    }
    out.extend(estimate);
    Ok(out)
}
