//! Parcel milestones and their order: what a parcel has been through, which earlier
//! milestones a later one requires, and whether an event arrives after a later one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::as_vec;
use super::matching::ParcelRef;

/// A parcel's progress, in the order a parcel goes through them. State only moves
/// forward in this order; an event for an earlier milestone is recorded as late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    Picked,
    Packed,
    Staged,
    /// Passed outbound through a loading door: in the carrier's hands.
    Loaded,
    /// Back at a returns bench; an explicit cause, so it ranks after loaded.
    ReturnReceived,
}

impl Milestone {
    pub const ALL: [Milestone; 5] = [
        Self::Picked,
        Self::Packed,
        Self::Staged,
        Self::Loaded,
        Self::ReturnReceived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Picked => "picked",
            Self::Packed => "packed",
            Self::Staged => "staged",
            Self::Loaded => "loaded",
            Self::ReturnReceived => "return_received",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The milestone a CBV business step marks; steps without one (receiving,
    /// inspecting, shipping) produce plain observations.
    pub fn for_step(step: &str) -> Option<Self> {
        match step {
            "picking" => Some(Self::Picked),
            "packing" => Some(Self::Packed),
            "staging_outbound" => Some(Self::Staged),
            "loading" => Some(Self::Loaded),
            "returns_receiving" => Some(Self::ReturnReceived),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of milestones, stored as one byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MilestoneSet(u8);

impl MilestoneSet {
    pub fn insert(&mut self, m: Milestone) {
        self.0 |= m.bit();
    }

    pub fn contains(self, m: Milestone) -> bool {
        self.0 & m.bit() != 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Milestone> {
        Milestone::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

impl FromIterator<Milestone> for MilestoneSet {
    fn from_iter<I: IntoIterator<Item = Milestone>>(iter: I) -> Self {
        let mut set = Self::default();
        iter.into_iter().for_each(|m| set.insert(m));
        set
    }
}

/// What the engine remembers of one parcel (or of an order, for order-level scans).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParcelState {
    /// The furthest milestone reached.
    pub reached: Option<Milestone>,
    /// Every milestone recorded, in any order.
    pub seen: MilestoneSet,
    /// Exceptions raised for a missing milestone, until that milestone turns up.
    pub open_exceptions: Vec<OpenException>,
    /// Latest event time applied, for forgetting parcels long gone.
    pub last_activity_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenException {
    pub missing: Milestone,
    pub event_id: String,
}

/// How one milestone event relates to what was known of its parcel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// A later milestone was already recorded: the state did not move.
    pub late: bool,
    /// Prerequisites not recorded when this milestone was first seen.
    pub missing: Vec<Milestone>,
    /// Exceptions this event settles (they reported it missing).
    pub resolves: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ParcelBook {
    #[serde(with = "as_vec")]
    parcels: BTreeMap<ParcelRef, ParcelState>,
}

impl ParcelBook {
    pub fn get(&self, parcel: &ParcelRef) -> Option<&ParcelState> {
        self.parcels.get(parcel)
    }

    pub fn len(&self) -> usize {
        self.parcels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parcels.is_empty()
    }

    /// Records milestone `m` for `parcel`. An order-level record (empty parcel id)
    /// satisfies prerequisites of every parcel of the order.
    pub(crate) fn apply(
        &mut self,
        parcel: &ParcelRef,
        m: Milestone,
        event_time_ms: i64,
        prerequisites: &BTreeMap<Milestone, MilestoneSet>,
    ) -> Applied {
        let order_seen = match parcel.is_order_level() {
            true => MilestoneSet::default(),
            false => self.get(&parcel.order_level()).map(|s| s.seen).unwrap_or_default(),
        };
        let state = self.parcels.entry(parcel.clone()).or_default();
        let late = state.reached.is_some_and(|r| r > m);
        if !late {
            state.reached = Some(m);
        }
        let first_time = !state.seen.contains(m);
        state.seen.insert(m);
        state.last_activity_ms = state.last_activity_ms.max(event_time_ms);
        let known = state.seen.union(order_seen);
        let missing = match (first_time, prerequisites.get(&m)) {
            (true, Some(required)) => required.iter().filter(|p| !known.contains(*p)).collect(),
            _ => Vec::new(),
        };
        let mut resolves = settle(state, m);
        if parcel.is_order_level() {
            let order = parcel.order_number.as_str();
            for (_, s) in self
                .parcels
                .range_mut(parcel.clone()..)
                .take_while(|(p, _)| p.order_number == order)
            {
                resolves.extend(settle(s, m));
            }
        }
        Applied {
            late,
            missing,
            resolves,
        }
    }

    pub(crate) fn open_exception(&mut self, parcel: &ParcelRef, missing: Milestone, event_id: String) {
        if let Some(state) = self.parcels.get_mut(parcel) {
            state.open_exceptions.push(OpenException { missing, event_id });
        }
    }

    /// Forgets parcels with no event since `cutoff_ms`; returns how many.
    pub(crate) fn forget_before(&mut self, cutoff_ms: i64) -> usize {
        let before = self.parcels.len();
        self.parcels.retain(|_, s| s.last_activity_ms >= cutoff_ms);
        before - self.parcels.len()
    }
}

fn settle(state: &mut ParcelState, m: Milestone) -> Vec<String> {
    let (done, open) = std::mem::take(&mut state.open_exceptions)
        .into_iter()
        .partition(|o| o.missing == m);
    state.open_exceptions = open;
    done.into_iter().map(|o: OpenException| o.event_id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Milestone::*;

    fn loaded_needs_packed() -> BTreeMap<Milestone, MilestoneSet> {
        BTreeMap::from([(Loaded, [Packed].into_iter().collect())])
    }

    #[test]
    fn state_moves_forward_only_and_earlier_milestones_are_late() {
        let mut book = ParcelBook::default();
        let p = ParcelRef::new("SO-1", "P-1");
        let pre = loaded_needs_packed();
        assert!(!book.apply(&p, Packed, 10, &pre).late);
        assert!(!book.apply(&p, Loaded, 20, &pre).late);
        let staged = book.apply(&p, Staged, 15, &pre);
        assert!(staged.late);
        assert_eq!(book.get(&p).and_then(|s| s.reached), Some(Loaded));
        assert!(book.get(&p).is_some_and(|s| s.seen.contains(Staged)));
    }

    #[test]
    fn a_missing_prerequisite_is_reported_once_and_settled_by_the_late_event() {
        let mut book = ParcelBook::default();
        let p = ParcelRef::new("SO-1", "P-1");
        let pre = loaded_needs_packed();
        let loaded = book.apply(&p, Loaded, 20, &pre);
        assert_eq!(loaded.missing, [Packed]);
        book.open_exception(&p, Packed, "ex-1".into());
        assert!(book.apply(&p, Loaded, 30, &pre).missing.is_empty(), "reported once");
        let packed = book.apply(&p, Packed, 10, &pre);
        assert!(packed.late);
        assert_eq!(packed.resolves, ["ex-1"]);
        assert!(book.get(&p).is_some_and(|s| s.open_exceptions.is_empty()));
    }

    #[test]
    fn an_order_level_scan_satisfies_its_parcels() {
        let mut book = ParcelBook::default();
        let pre = loaded_needs_packed();
        let order = ParcelRef::new("SO-1", "");
        book.apply(&order, Packed, 10, &pre);
        assert!(
            book.apply(&ParcelRef::new("SO-1", "P-1"), Loaded, 20, &pre)
                .missing
                .is_empty()
        );
        let other = ParcelRef::new("SO-2", "P-9");
        assert_eq!(book.apply(&other, Loaded, 20, &pre).missing, [Packed]);
        book.open_exception(&other, Packed, "ex-9".into());
        let settled = book.apply(&ParcelRef::new("SO-2", ""), Packed, 25, &pre);
        assert_eq!(settled.resolves, ["ex-9"]);
    }

    #[test]
    fn old_parcels_are_forgotten() {
        let mut book = ParcelBook::default();
        book.apply(&ParcelRef::new("SO-1", "P-1"), Packed, 10, &BTreeMap::new());
        book.apply(&ParcelRef::new("SO-2", "P-1"), Packed, 100, &BTreeMap::new());
        assert_eq!(book.forget_before(50), 1);
        assert_eq!(book.len(), 1);
    }
}
