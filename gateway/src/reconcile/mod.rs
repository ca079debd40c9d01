//! From decoded reads to business events. Pure: reads, a clock and a matcher in,
//! events out; no I/O, no runtime.
//!
//! [`Engine`] is the reconciliation state machine: it smooths reads into stays per
//! (identity, read point) ([`presence`]), tells the direction of portal passes
//! ([`direction`]), drops cross-reads between adjacent read points ([`cross_read`]),
//! matches stays to parcels or quarantines them ([`matching`], [`quarantine`]), and
//! turns them into milestones, late events and exceptions ([`milestones`]), with ids
//! that are the same whenever the same reads are derived again ([`event`]). Scan
//! stations skip the smoothing: a scan is decided at once, repeats fold ([`scans`]).

pub mod config;
pub mod cross_read;
pub mod direction;
pub mod engine;
pub mod event;
pub mod matching;
pub mod milestones;
pub mod presence;
pub mod quarantine;
pub mod scans;
pub mod sim;

mod as_vec;
#[cfg(test)]
mod engine_tests;

pub use config::{Capture, ConfigError, ReadPointConfig, ReconcileConfig, ReconcileSettings};
pub use direction::Direction;
pub use engine::{Engine, EngineState, ReconcileError, Stats};
pub use event::{BusinessEvent, ExceptionReason, Release, StayReport};
pub use matching::{Identity, Lookup, LookupFn, Matcher, ParcelRef};
pub use milestones::Milestone;

use waymark_devices::IdentifierKind;
use waymark_proto::v1::Identifier;

/// The read's identifier, plus the GS1 key an EPC encodes when it names a parcel:
/// an SSCC-96 tag on a pallet is the same thing as the SSCC on the order.
pub(crate) fn identifiers(id: &waymark_devices::Identifier) -> Vec<Identifier> {
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

    #[test]
    fn an_sscc_tag_also_names_the_sscc_it_encodes() {
        // SSCC-96 3114257BF4499602D2000000 (GS1 TDS example identity) read by a Zebra portal.
        let payload = br#"{"type":"SIMPLE","timestamp":"2026-11-21T06:02:11.250+0100","data":{"idHex":"3114257BF4499602D2000000","antenna":1,"peakRssi":-51,"reads":7,"format":"epc"}}"#;
        let reads = waymark_devices::zebra::decode(payload).expect("decodes");
        let ids = identifiers(&reads[0].identifier);
        let values: Vec<_> = ids.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(values, ["urn:epc:id:sscc:0614141.1234567890", "106141412345678908"]);
        assert_eq!(ids[1].kind, waymark_proto::IdentifierKind::Sscc as i32);
    }
}
