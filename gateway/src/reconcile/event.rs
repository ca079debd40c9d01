//! The business events the engine emits, their deterministic ids, and how they map
//! onto the wire `Event` until the protocol carries every field.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use waymark_proto::v1::{Event, EventKind as WireKind};

use super::direction::Direction;
use super::matching::{Identity, ParcelRef};
use super::milestones::Milestone;
use crate::store::EventDraft;

/// A decided stay: one identity at one read point for one uninterrupted period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StayReport {
    /// Hash of site, identity, read point, business step and first read time: the
    /// same reads give the same id after a restart or a re-match.
    pub stay_id: String,
    pub identity: Identity,
    pub read_point: String,
    pub device_id: String,
    /// The antenna that saw the tag best.
    pub antenna: u16,
    pub business_step: String,
    pub disposition: String,
    pub milestone: Option<Milestone>,
    /// Portals only.
    pub direction: Option<Direction>,
    pub first_ms: i64,
    pub last_ms: i64,
    pub offset_minutes: i32,
    pub read_count: u32,
    pub peak_rssi_dbm: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// Seen at a read point whose step marks no milestone (or an inbound pass through
    /// an outbound door), or seen without a known order.
    Observation,
    Milestone {
        milestone: Milestone,
    },
    Exception {
        reason: ExceptionReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ExceptionReason {
    /// `milestone` was recorded for a parcel that never had `missing` (e.g. loaded, not packed).
    MissingPrerequisite { milestone: Milestone, missing: Milestone },
    /// Seen at a business read point and never matched to an order.
    Unmatched { release: Release },
    /// Its identifier names a parcel of a cancelled shipment: not matched, not
    /// quarantined. `milestone` on the wire names the step the read point marks.
    ScannedAfterCancel,
}

impl ExceptionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingPrerequisite { .. } => "missing_prerequisite",
            Self::Unmatched {
                release: Release::Expired,
            } => "unmatched_expired",
            Self::Unmatched {
                release: Release::Overflow,
            } => "unmatched_overflow",
            Self::ScannedAfterCancel => "scanned_after_cancel",
        }
    }
}

/// Why an unmatched stay left the quarantine without a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// It waited longer than the quarantine's maximum age.
    Expired,
    /// The quarantine was full and it was the oldest entry.
    Overflow,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessEvent {
    pub event_id: String,
    pub kind: EventKind,
    pub stay: StayReport,
    pub parcel: Option<ParcelRef>,
    /// A later milestone was already recorded for the parcel; its state did not move.
    pub late: bool,
    /// Matched from the quarantine after its order arrived.
    pub rematched: bool,
    /// Exception events this event settles (they reported its milestone missing).
    pub resolves: Vec<String>,
}

impl BusinessEvent {
    /// The time of the first read, in the zone it was read in.
    pub fn event_time(&self) -> Option<DateTime<FixedOffset>> {
        let offset = FixedOffset::east_opt(self.stay.offset_minutes * 60)?;
        DateTime::from_timestamp_millis(self.stay.first_ms).map(|t| t.with_timezone(&offset))
    }

    pub fn milestone(&self) -> Option<Milestone> {
        match self.kind {
            EventKind::Milestone { milestone } => Some(milestone),
            _ => None,
        }
    }

    /// The wire event. Site, sequence and record time are the store's to fill.
    pub fn to_draft(&self) -> EventDraft {
        let s = &self.stay;
        let (kind, milestone, exception, missing) = match self.kind {
            EventKind::Observation => (WireKind::Observation, None, "", None),
            EventKind::Milestone { milestone } => (WireKind::Milestone, Some(milestone), "", None),
            EventKind::Exception { reason } => {
                let (about, missing) = match reason {
                    ExceptionReason::MissingPrerequisite { milestone, missing } => (Some(milestone), Some(missing)),
                    ExceptionReason::Unmatched { .. } => (None, None),
                    ExceptionReason::ScannedAfterCancel => (s.milestone, None),
                };
                (WireKind::Exception, about, reason.as_str(), missing)
            }
        };
        EventDraft(Event {
            site_id: String::new(),
            sequence: 0,
            event_id: self.event_id.clone(),
            event_time_ms: s.first_ms,
            event_time_offset_minutes: s.offset_minutes,
            record_time_ms: 0,
            identifiers: super::identifiers(&s.identity.to_device()),
            kind: kind as i32,
            read_point: s.read_point.clone(),
            device_id: s.device_id.clone(),
            antenna: u32::from(s.antenna),
            business_step: s.business_step.clone(),
            disposition: s.disposition.clone(),
            order_number: self.parcel.as_ref().map(|p| p.order_number.clone()).unwrap_or_default(),
            read_count: s.read_count,
            peak_rssi_dbm: s.peak_rssi_dbm,
            last_seen_ms: s.last_ms,
            direction: s.direction.map(|d| d.as_str().to_string()).unwrap_or_default(),
            parcel_id: self
                .parcel
                .as_ref()
                .filter(|p| !p.is_order_level())
                .map(|p| p.parcel_id.clone())
                .unwrap_or_default(),
            milestone: milestone.map(|m| m.as_str().to_string()).unwrap_or_default(),
            late: self.late,
            rematched: self.rematched,
            exception: exception.to_string(),
            missing_milestone: missing.map(|m| m.as_str().to_string()).unwrap_or_default(),
            resolves_event_ids: self.resolves.clone(),
        })
    }

    /// A one-line summary for logs and tests: the CBV disposition followed by
    /// `;key=value` for direction, milestone, parcel, late, exception.
    pub fn interim_disposition(&self) -> String {
        let s = &self.stay;
        let mut out = s.disposition.clone();
        let mut push = |k: &str, v: &str| {
            out.push(';');
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        };
        if let Some(d) = s.direction {
            push("direction", d.as_str());
        }
        if let Some(m) = self.milestone() {
            push("milestone", m.as_str());
        }
        if let Some(p) = self.parcel.as_ref().filter(|p| !p.is_order_level()) {
            push("parcel", &p.parcel_id);
        }
        if self.late {
            push("late", "true");
        }
        if self.rematched {
            push("rematched", "true");
        }
        if let EventKind::Exception { reason } = self.kind {
            push("exception", reason.as_str());
            if let ExceptionReason::MissingPrerequisite { missing, .. } = reason {
                push("missing", missing.as_str());
            }
        }
        for id in &self.resolves {
            push("resolves", id);
        }
        out
    }
}

/// A stay's id: what makes the stay this stay.
pub(crate) fn stay_id(site_id: &str, identity: &Identity, read_point: &str, step: &str, first_ms: i64) -> String {
    let mut h = Sha256::new();
    for part in [site_id, identity.kind.as_str(), &identity.value, read_point, step] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(first_ms.to_be_bytes());
    hex16(h)
}

/// The id of an event derived from another (an exception about a stay).
pub(crate) fn derived_id(base: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in std::iter::once(base).chain(parts.iter().copied()) {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex16(h)
}

fn hex16(h: Sha256) -> String {
    waymark_proto::hex(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_devices::IdentifierKind;

    fn loaded() -> BusinessEvent {
        let identity = Identity::new(IdentifierKind::Epc, "urn:epc:id:sscc:0614141.1234567890");
        BusinessEvent {
            event_id: "e1".into(),
            kind: EventKind::Milestone {
                milestone: Milestone::Loaded,
            },
            stay: StayReport {
                stay_id: stay_id("dc-1", &identity, "dock-door-3", "loading", 1_790_000_000_000),
                identity,
                read_point: "dock-door-3".into(),
                device_id: "door-3".into(),
                antenna: 2,
                business_step: "loading".into(),
                disposition: "in_transit".into(),
                milestone: Some(Milestone::Loaded),
                direction: Some(Direction::Outbound),
                first_ms: 1_790_000_000_000,
                last_ms: 1_790_000_001_500,
                offset_minutes: 60,
                read_count: 42,
                peak_rssi_dbm: Some(-41.5),
            },
            parcel: Some(ParcelRef::new("SO-1", "P-1")),
            late: false,
            rematched: false,
            resolves: vec![],
        }
    }

    #[test]
    fn the_wire_event_carries_what_where_why_when_and_the_judgement() {
        let EventDraft(e) = loaded().to_draft();
        assert_eq!(e.event_time_ms, 1_790_000_000_000);
        assert_eq!(e.event_time_offset_minutes, 60);
        assert_eq!(e.order_number, "SO-1");
        assert_eq!(e.read_count, 42);
        assert_eq!(e.identifiers.len(), 2, "the EPC and the SSCC it encodes");
        assert_eq!(e.disposition, "in_transit");
        assert_eq!(e.kind, WireKind::Milestone as i32);
        assert_eq!(
            (e.milestone.as_str(), e.direction.as_str(), e.parcel_id.as_str()),
            ("loaded", "outbound", "P-1")
        );
        assert_eq!(e.last_seen_ms, 1_790_000_001_500);
        assert!(!e.late && !e.rematched && e.exception.is_empty());
        let t = loaded().event_time().expect("time");
        assert_eq!(t.offset().local_minus_utc(), 3600);
    }

    #[test]
    fn ids_depend_on_every_part_of_the_identity_of_a_stay() {
        let id = Identity::new(IdentifierKind::Sscc, "106141412345678908");
        let base = stay_id("dc-1", &id, "pack-1", "packing", 5);
        assert_eq!(base, stay_id("dc-1", &id, "pack-1", "packing", 5));
        for other in [
            stay_id("dc-2", &id, "pack-1", "packing", 5),
            stay_id("dc-1", &id, "pack-2", "packing", 5),
            stay_id("dc-1", &id, "pack-1", "picking", 5),
            stay_id("dc-1", &id, "pack-1", "packing", 6),
            stay_id(
                "dc-1",
                &Identity::new(IdentifierKind::Barcode, "106141412345678908"),
                "pack-1",
                "packing",
                5,
            ),
        ] {
            assert_ne!(base, other);
        }
        assert_ne!(
            derived_id(&base, &["missing", "packed"]),
            derived_id(&base, &["missing", "picked"])
        );
    }
}
