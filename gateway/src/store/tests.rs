use super::*;
use waymark_proto::v1::{Order, OrderRevision, Parcel};

fn draft(id: &str) -> EventDraft {
    EventDraft(Event {
        event_id: id.to_string(),
        business_step: "loading".into(),
        ..Event::default()
    })
}

#[test]
fn record_assigns_contiguous_sequences_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path(), 8 << 20).expect("open");
        let r = store.record("dc-1", vec![draft("a"), draft("b")], 1).expect("record");
        assert_eq!((r.appended, r.last_sequence), (2, 2));
        let r = store.record("dc-1", vec![draft("c")], 2).expect("record");
        assert_eq!((r.appended, r.last_sequence), (1, 3));
    }
    let store = Store::open(dir.path(), 8 << 20).expect("reopen");
    assert_eq!(store.last_sequence(), 3);
    let events = store.events_from(2, 10).expect("read");
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.sequence, e.event_id.as_str(), e.site_id.as_str()))
        .collect();
    assert_eq!(got, [(2, "b", "dc-1"), (3, "c", "dc-1")]);
}

#[test]
fn redelivered_event_ids_are_absorbed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20).expect("open");
    store.record("dc-1", vec![draft("a")], 1).expect("record");
    let r = store
        .record("dc-1", vec![draft("a"), draft("b"), draft("b")], 2)
        .expect("record");
    assert_eq!((r.appended, r.duplicates, r.last_sequence), (1, 2, 2));
    let r = store.record("dc-1", vec![draft("a")], 3).expect("record");
    assert_eq!((r.appended, r.duplicates, r.last_sequence), (0, 1, 2));
}

#[test]
fn central_ahead_moves_the_next_sequence_above_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20).expect("open");
    store.record("dc-1", vec![draft("a")], 1).expect("record");
    assert!(store.note_central_high_water_mark(10).expect("note"));
    let r = store.record("dc-1", vec![draft("b")], 2).expect("record");
    assert_eq!(r.last_sequence, 11);
    assert!(!store.note_central_high_water_mark(11).expect("note"));
    assert_eq!(store.acked_sequence().expect("acked"), 11);
}

#[test]
fn order_revisions_index_parcels_and_replace_old_identifiers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20).expect("open");
    let order = |sscc: &str| Order {
        order_number: "SO-1".into(),
        site_id: "dc-1".into(),
        parcels: vec![Parcel {
            parcel_id: "SO-1-1".into(),
            sscc: sscc.into(),
            ..Parcel::default()
        }],
        created_ms: 0,
    };
    store
        .apply_order_revision(&OrderRevision {
            revision: 4,
            order: Some(order("106141412345678908")),
        })
        .expect("apply");
    assert_eq!(
        store
            .order_for_identifier("106141412345678908")
            .expect("get")
            .as_deref(),
        Some("SO-1")
    );
    assert_eq!(
        store.order_for_identifier("SO-1").expect("get").as_deref(),
        Some("SO-1")
    );
    store
        .apply_order_revision(&OrderRevision {
            revision: 5,
            order: Some(order("006141411234567890")),
        })
        .expect("apply");
    assert_eq!(store.order_for_identifier("106141412345678908").expect("get"), None);
    assert_eq!(store.downlink_cursor().expect("cursor"), 5);
    assert_eq!(store.orders_held(), 1);
}
