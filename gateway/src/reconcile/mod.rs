//! From decoded reads to business events. Pure: reads, a clock and a matcher in,
//! events out; no I/O, no runtime.
//!
//! [`Engine`] is the reconciliation state machine: it smooths reads into stays per
//! (identity, read point) ([`presence`]), tells the direction of portal passes
//! ([`direction`]), drops cross-reads between adjacent read points ([`cross_read`]),
//! matches stays to parcels or quarantines them ([`matching`], [`quarantine`]), and
//! turns them into milestones, late events and exceptions ([`milestones`]), with ids
//! that are the same whenever the same reads are derived again ([`event`]).
//!
//! [`derive`] is the earlier one-event-per-read path, kept until ingest is wired to the
//! engine; its contract is the same: the same read always yields the same event id.

pub mod config;
pub mod cross_read;
pub mod direction;
pub mod engine;
pub mod event;
pub mod matching;
pub mod milestones;
pub mod presence;
pub mod quarantine;
pub mod sim;

mod as_vec;
#[cfg(test)]
mod engine_tests;

pub use config::{ConfigError, ReadPointConfig, ReconcileConfig, ReconcileSettings};
pub use direction::Direction;
pub use engine::{Engine, EngineState, ReconcileError, Stats};
pub use event::{BusinessEvent, ExceptionReason, Release, StayReport};
pub use matching::{Identity, Matcher, ParcelRef};
pub use milestones::Milestone;

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};
use waymark_devices::{IdentifierKind, Read};
use waymark_proto::v1::{Event, EventKind, Identifier};

use crate::config::DeviceConfig;
use crate::store::EventDraft;

/// Derives one event per read. `received` is the gateway's clock when the
/// payload arrived and stands in for reads that carry no time of their own.
/// `match_order` maps a parcel identifier to the order it belongs to.
pub fn derive(
    site_id: &str,
    device: &DeviceConfig,
    reads: &[Read],
    received: DateTime<FixedOffset>,
    match_order: &mut dyn FnMut(&str) -> Option<String>,
) -> Vec<EventDraft> {
    reads
        .iter()
        .map(|read| {
            let time = read.time.unwrap_or(received);
            let event_time_ms = time.timestamp_millis();
            let antenna = u32::from(read.antenna.unwrap_or(0));
            let event_id = event_id(site_id, device, antenna, read, event_time_ms);
            EventDraft(Event {
                site_id: site_id.to_string(),
                sequence: 0,
                event_id,
                event_time_ms,
                event_time_offset_minutes: time.offset().local_minus_utc() / 60,
                record_time_ms: 0,
                identifiers: identifiers(&read.identifier),
                kind: EventKind::Observation as i32,
                read_point: device.read_point.clone(),
                device_id: device.id.clone(),
                antenna,
                business_step: device.business_step.clone(),
                disposition: device.disposition.clone(),
                order_number: identifiers(&read.identifier)
                    .iter()
                    .find_map(|i| match_order(&i.value))
                    .unwrap_or_default(),
                read_count: read.seen_count,
                peak_rssi_dbm: read.rssi_dbm,
            })
        })
        .collect()
}

/// The read's identifier, plus the GS1 key an EPC encodes when it names a parcel:
/// an SSCC-96 tag on a pallet is the same thing as the SSCC on the order.
fn identifiers(id: &waymark_devices::Identifier) -> Vec<Identifier> {
    let mut out = vec![Identifier {
        kind: proto_kind(id.kind) as i32,
        value: id.value.clone(),
    }];
    if id.kind == IdentifierKind::Epc
        && id.value.starts_with("urn:epc:id:sscc:")
        && let Ok(epc) = waymark_devices::epc::parse_urn(&id.value, 0)
    {
        out.push(Identifier {
            kind: waymark_proto::IdentifierKind::Sscc as i32,
            value: epc.gs1_key().value,
        });
    }
    out
}

/// A hash of what makes the event this event: who saw what, where, doing what, when.
/// Re-deriving it from the same read after a restart gives the same id.
fn event_id(site_id: &str, device: &DeviceConfig, antenna: u32, read: &Read, event_time_ms: i64) -> String {
    let mut h = Sha256::new();
    for part in [
        site_id,
        &device.id,
        &device.read_point,
        &device.business_step,
        read.identifier.kind.as_str(),
        &read.identifier.value,
    ] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(antenna.to_be_bytes());
    h.update(event_time_ms.to_be_bytes());
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn proto_kind(kind: IdentifierKind) -> waymark_proto::IdentifierKind {
    use waymark_proto::IdentifierKind as P;
    match kind {
        IdentifierKind::Sscc => P::Sscc,
        IdentifierKind::Epc => P::Epc,
        IdentifierKind::TrackingNumber => P::TrackingNumber,
        IdentifierKind::OrderNumber => P::OrderNumber,
        IdentifierKind::Barcode => P::Barcode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeviceKind;
    use waymark_devices::generic;

    fn door() -> DeviceConfig {
        DeviceConfig {
            id: "door-3".into(),
            kind: DeviceKind::Generic,
            read_point: "dock-door-3".into(),
            business_step: "loading".into(),
            disposition: "in_transit".into(),
            serial: None,
        }
    }

    fn received() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-11-21T06:00:00+01:00").expect("time")
    }

    #[test]
    fn same_read_same_id_and_different_reads_differ() {
        let reads = generic::decode(
            br#"[{"id":"106141412345678908","time":"2026-11-21T06:02:11.250+01:00","antenna":1},
                 {"id":"106141412345678908","time":"2026-11-21T06:02:11.250+01:00","antenna":2},
                 {"id":"106141412345678908","time":"2026-11-21T06:02:12.250+01:00","antenna":1}]"#,
        )
        .expect("decodes");
        let mut none = |_: &str| None;
        let a = derive("dc-1", &door(), &reads, received(), &mut none);
        let b = derive("dc-1", &door(), &reads, received(), &mut none);
        assert_eq!(a, b);
        let ids: std::collections::HashSet<_> = a.iter().map(|d| d.0.event_id.clone()).collect();
        assert_eq!(ids.len(), 3);
        let other_site = derive("dc-2", &door(), &reads[..1], received(), &mut none);
        assert!(!ids.contains(&other_site[0].0.event_id));
    }

    #[test]
    fn event_carries_where_why_when_and_the_matched_order() {
        let reads =
            generic::decode(br#"{"id":"106141412345678908","time":"2026-11-21T06:02:11.250+01:00"}"#).expect("decodes");
        let mut matcher = |id: &str| (id == "106141412345678908").then(|| "SO-1".to_string());
        let e = &derive("dc-1", &door(), &reads, received(), &mut matcher)[0].0;
        assert_eq!(e.read_point, "dock-door-3");
        assert_eq!(e.business_step, "loading");
        assert_eq!(e.disposition, "in_transit");
        assert_eq!(e.event_time_offset_minutes, 60);
        assert_eq!(e.order_number, "SO-1");
        assert_eq!(e.identifiers[0].kind, waymark_proto::IdentifierKind::Sscc as i32);
    }

    #[test]
    fn an_sscc_tag_is_matched_by_the_sscc_it_encodes() {
        // SSCC-96 3114257BF4499602D2000000 (GS1 TDS example identity) read by a Zebra portal.
        let payload = br#"{"type":"SIMPLE","timestamp":"2026-11-21T06:02:11.250+0100","data":{"idHex":"3114257BF4499602D2000000","antenna":1,"peakRssi":-51,"reads":7,"format":"epc"}}"#;
        let reads = waymark_devices::zebra::decode(payload).expect("decodes");
        let mut matcher = |id: &str| (id == "106141412345678908").then(|| "SO-1".to_string());
        let e = &derive("dc-1", &door(), &reads, received(), &mut matcher)[0].0;
        let values: Vec<_> = e.identifiers.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(values, ["urn:epc:id:sscc:0614141.1234567890", "106141412345678908"]);
        assert_eq!(e.order_number, "SO-1");
        assert_eq!(e.read_count, 7);
    }

    #[test]
    fn read_without_time_takes_the_receive_time() {
        let reads = generic::decode(br#"{"id":"SO-1"}"#).expect("decodes");
        let e = &derive("dc-1", &door(), &reads, received(), &mut |_| None)[0].0;
        assert_eq!(e.event_time_ms, received().timestamp_millis());
        assert_eq!(e.event_time_offset_minutes, 60);
    }
}
