//! Engine tests: the acceptance (portal run, properties, offline matching,
//! missing and late scans) and configuration.

mod cancelled;
mod config;
mod milestones;
mod offline;
mod portal;
mod properties;
mod scans;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset};
use waymark_devices::{Identifier, IdentifierKind, Read};

use super::event::{BusinessEvent, EventKind};
use super::matching::{Identity, ParcelRef};
use super::sim::DeviceRead;

/// 2026-11-21T14:00:00+01:00 plus `ms`.
pub fn at(ms: i64) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-21T14:00:00+01:00").expect("time") + Duration::milliseconds(ms)
}

pub fn sscc(n: u64) -> Identifier {
    Identifier {
        kind: IdentifierKind::Sscc,
        value: waymark_devices::sim::sscc("0614141", n),
    }
}

/// One read of `id` by `device` on `antenna` at `ms`.
pub fn read(device: &str, id: &Identifier, antenna: Option<u16>, ms: i64) -> DeviceRead {
    DeviceRead {
        device: device.to_string(),
        read: Read {
            identifier: id.clone(),
            antenna,
            rssi_dbm: antenna.map(|a| -50.0 - f32::from(a)),
            seen_count: 1,
            time: Some(at(ms)),
        },
    }
}

/// A matcher over identifier value -> parcel.
pub fn orders(pairs: &[(&Identifier, &str, &str)]) -> BTreeMap<String, ParcelRef> {
    pairs
        .iter()
        .map(|(id, order, parcel)| (id.value.clone(), ParcelRef::new(*order, *parcel)))
        .collect()
}

pub fn matcher(orders: &BTreeMap<String, ParcelRef>) -> impl FnMut(&Identity) -> Option<ParcelRef> + '_ {
    |k: &Identity| orders.get(&k.value).cloned()
}

pub fn no_orders(_: &Identity) -> Option<ParcelRef> {
    None
}

pub fn ids(events: &[BusinessEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_id.as_str()).collect()
}

pub fn is_exception(e: &BusinessEvent) -> bool {
    matches!(e.kind, EventKind::Exception { .. })
}
