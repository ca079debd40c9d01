//! Invariants of the status engine over generated event sets: arrival order and
//! duplicates change nothing, the happy path never moves back, and a label
//! alone never reads as shipped.

use proptest::prelude::*;

use super::*;
use Milestone as M;

const SOURCES: [Source; 5] = [
    Source::OrderIntake,
    Source::Site,
    Source::Carrier,
    Source::Operator,
    Source::Returns,
];
const PARTIES: [Party; 6] = [
    Party::Carrier,
    Party::Merchant,
    Party::Customer,
    Party::Customs,
    Party::Weather,
    Party::Site,
];

/// Few distinct ids and times, so that ties, collisions and resolutions happen.
fn id() -> impl Strategy<Value = String> {
    (0..24u8).prop_map(|n| format!("e{n}"))
}

fn milestone_in(ms: &'static [Milestone]) -> impl Strategy<Value = Milestone> {
    proptest::sample::select(ms)
}

fn reached(ms: &'static [Milestone]) -> impl Strategy<Value = Fact> {
    (milestone_in(ms), proptest::option::of(0..3u8)).prop_map(|(milestone, d)| Fact::Reached {
        milestone,
        detail: d.map(|d| format!("detail-{d}")),
    })
}

/// Facts other than milestones and corrections.
fn side_fact() -> impl Strategy<Value = Fact> {
    prop_oneof![
        (0..3u8, proptest::sample::select(&PARTIES[..])).prop_map(|(r, party)| Fact::Exception {
            reason: format!("reason-{r}"),
            party
        }),
        proptest::collection::vec(id(), 0..3).prop_map(|event_ids| Fact::Resolved { event_ids }),
        (0..10i64, 0..3i64).prop_map(|(d, len)| Fact::Estimate {
            from_ms: day(d).from_ms,
            to_ms: day(d + len).to_ms,
        }),
        Just(Fact::Cancelled),
    ]
}

fn any_fact() -> impl Strategy<Value = Fact> {
    prop_oneof![
        4 => reached(&Milestone::ALL),
        3 => side_fact(),
        1 => (any::<bool>(), milestone_in(&Milestone::ALL), 0..2u8).prop_map(|(assert, milestone, r)| {
            Fact::Correction { assert, milestone, reason: format!("reason-{r}") }
        }),
    ]
}

const OUTBOUND: [Milestone; 13] = [
    M::Ordered,
    M::Picked,
    M::Packed,
    M::Staged,
    M::Loaded,
    M::LabelCreated,
    M::CarrierAccepted,
    M::InTransit,
    M::OutForDelivery,
    M::DeliveryAttempted,
    M::AvailableForPickup,
    M::Delivered,
    M::ReturnedToSender,
];

/// The happy path: outbound milestones and side facts, no returns or corrections.
fn happy_fact() -> impl Strategy<Value = Fact> {
    prop_oneof![3 => reached(&OUTBOUND), 1 => side_fact()]
}

const BEFORE_LOADING: [Milestone; 5] = [M::Ordered, M::Picked, M::Packed, M::Staged, M::LabelCreated];

fn unshipped_fact() -> impl Strategy<Value = Fact> {
    prop_oneof![3 => reached(&BEFORE_LOADING), 1 => side_fact()]
}

fn events_of(fact: impl Strategy<Value = Fact>, max: usize) -> impl Strategy<Value = Vec<ParcelEvent>> {
    let one = (
        fact,
        0..40i64,
        0..40i64,
        proptest::sample::select(&SOURCES[..]),
        id(),
        -120..120i32,
    )
        .prop_map(|(fact, t, rec, source, id, offset)| {
            let mut e = event(t * 10, source, &id, fact);
            e.record_time_ms = at(rec * 10);
            e.offset_minutes = offset;
            e
        });
    proptest::collection::vec(one, 0..max)
}

fn context() -> impl Strategy<Value = Context> {
    (0..12i64, proptest::option::of((0..10i64, 0..2i64)), 0..3i64).prop_map(|(now, promised, window)| Context {
        now_ms: day(now).from_ms + 9 * HOUR,
        promised: promised.map(|(d, len)| Window {
            from_ms: day(d).from_ms,
            to_ms: day(d + len).to_ms,
        }),
        acceptance_window_ms: window * 6 * HOUR,
    })
}

/// Where a parcel's status stands on the milestone ranks (None lowest).
fn rank(s: &ParcelStatus) -> i16 {
    s.milestone.map_or(-1, |m| i16::from(m.rank()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_permutation_gives_the_same_status(
        (events, shuffled) in events_of(any_fact(), 40).prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle())),
        ctx in context(),
    ) {
        prop_assert_eq!(parcel_status(&events, &ctx), parcel_status(&shuffled, &ctx));
    }

    #[test]
    fn duplicating_any_event_changes_nothing(
        events in events_of(any_fact(), 40),
        pick in any::<proptest::sample::Index>(),
        place in any::<proptest::sample::Index>(),
        ctx in context(),
    ) {
        prop_assume!(!events.is_empty());
        let mut doubled = events.clone();
        let copy = events[pick.index(events.len())].clone();
        doubled.insert(place.index(events.len() + 1), copy);
        prop_assert_eq!(parcel_status(&doubled, &ctx), parcel_status(&events, &ctx));
    }

    #[test]
    fn adding_happy_path_events_never_moves_status_back(
        events in events_of(happy_fact(), 40),
        ctx in context(),
    ) {
        let mut previous = -1;
        for n in 0..=events.len() {
            let now = rank(&parcel_status(&events[..n], &ctx));
            prop_assert!(now >= previous, "rank went from {} to {} after {:?}", previous, now, events.get(n.wrapping_sub(1)));
            previous = now;
        }
    }

    #[test]
    fn a_label_before_loading_is_never_shipped(
        parcels in proptest::collection::vec(events_of(unshipped_fact(), 20), 1..4),
        ctx in context(),
    ) {
        let statuses: Vec<ParcelStatus> = parcels.iter().map(|e| parcel_status(e, &ctx)).collect();
        for s in &statuses {
            prop_assert!(matches!(
                s.customer,
                CustomerStatus::OrderReceived | CustomerStatus::Preparing | CustomerStatus::Cancelled
            ), "customer {:?}", s.customer);
            prop_assert!(!s.handed_over());
        }
        let order = order_status(&statuses);
        prop_assert!(matches!(order, OrderStatus::Ordered | OrderStatus::Processing | OrderStatus::Cancelled), "order {:?}", order);
    }

    #[test]
    fn order_status_ignores_the_order_of_parcels(
        parcels in proptest::collection::vec(events_of(any_fact(), 15), 0..5),
        ctx in context(),
    ) {
        let mut statuses: Vec<ParcelStatus> = parcels.iter().map(|e| parcel_status(e, &ctx)).collect();
        let forward = order_status(&statuses);
        statuses.reverse();
        prop_assert_eq!(order_status(&statuses), forward);
    }
}
