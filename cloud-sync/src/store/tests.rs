use super::*;
use waymark_proto::v1::Identifier;

fn event(site: &str, seq: u64, id: &str, ident: &str, time: i64) -> Event {
    Event {
        site_id: site.into(),
        sequence: seq,
        event_id: id.into(),
        event_time_ms: time,
        identifiers: vec![Identifier {
            kind: 1,
            value: ident.into(),
        }],
        ..Event::default()
    }
}

fn open() -> (tempfile::TempDir, CentralStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CentralStore::open(dir.path(), 8 << 20).expect("open");
    (dir, store)
}

#[test]
fn redelivered_batches_change_nothing() {
    let (_d, s) = open();
    let batch = [event("a", 1, "x1", "P1", 10), event("a", 2, "x2", "P1", 20)];
    assert_eq!(s.apply("a", &batch).expect("apply").applied, 2);
    let again = s.apply("a", &batch).expect("apply");
    assert_eq!((again.applied, again.duplicates, again.high_water_mark), (0, 2, 2));
    // The same event id under a new sequence (re-derived after a gateway lost state).
    let rederived = s.apply("a", &[event("a", 3, "x2", "P1", 20)]).expect("apply");
    assert_eq!(
        (rederived.applied, rederived.duplicates, rederived.high_water_mark),
        (0, 1, 3)
    );
    assert_eq!(s.site_events("a", 0, 100).expect("events").len(), 2);
    assert_eq!(s.timeline(&["P1"]).expect("timeline").len(), 2);
}

#[test]
fn gaps_and_foreign_sites_are_refused_whole() {
    let (_d, s) = open();
    s.apply("a", &[event("a", 1, "x1", "P1", 10)]).expect("apply");
    assert!(matches!(
        s.apply("a", &[event("a", 3, "x3", "P1", 10)]),
        Err(ApplyError::Gap { expected: 2, got: 3 })
    ));
    assert!(matches!(
        s.apply("a", &[event("a", 2, "x2", "P1", 10), event("b", 3, "x3", "P1", 10)]),
        Err(ApplyError::WrongSite { .. })
    ));
    assert_eq!(s.high_water_mark("a").expect("hwm"), 1);
    assert_eq!(s.high_water_mark("b").expect("hwm"), 0);
}

#[test]
fn sites_are_sequenced_independently() {
    let (_d, s) = open();
    s.apply("a", &[event("a", 1, "x", "P1", 10)]).expect("apply");
    s.apply("b", &[event("b", 1, "x", "P1", 5)]).expect("apply");
    let t = s.timeline(&["P1"]).expect("timeline");
    let order: Vec<_> = t.iter().map(|e| e.site_id.as_str()).collect();
    assert_eq!(order, ["b", "a"], "sorted by event time");
}

#[test]
fn orders_get_per_site_revisions_and_unique_identifiers() {
    let (_d, s) = open();
    let new = |n: &str, site: &str, sscc: &str| NewOrder {
        order_number: n.into(),
        site_id: site.into(),
        parcels: vec![NewParcel {
            sscc: Some(sscc.into()),
            ..NewParcel::default()
        }],
    };
    assert!(s.create_order(new("SO-1", "a", "S1"), 0).expect("create").1);
    assert!(!s.create_order(new("SO-1", "a", "S1"), 0).expect("replay").1);
    assert!(matches!(
        s.create_order(new("SO-1", "a", "S9"), 0),
        Err(OrderError::Conflict(_))
    ));
    assert!(matches!(
        s.create_order(new("SO-2", "a", "S1"), 0),
        Err(OrderError::IdentifierTaken { .. })
    ));
    s.create_order(new("SO-3", "b", "S3"), 0).expect("create");
    s.create_order(new("SO-4", "a", "S4"), 0).expect("create");
    let revs = s.order_revisions("a", 0, 10).expect("revs");
    let got: Vec<_> = revs
        .iter()
        .map(|r| (r.revision, r.order.as_ref().map(|o| o.order_number.as_str())))
        .collect();
    assert_eq!(got, [(1, Some("SO-1")), (2, Some("SO-4"))]);
    assert_eq!(s.order_revisions("a", 1, 10).expect("revs").len(), 1);
    assert_eq!(s.order_revisions("b", 0, 10).expect("revs")[0].revision, 1);
}

#[test]
fn tokens_are_durable_and_revocation_sticks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = TokenRecord {
        id: "tok_1".into(),
        name: "oms".into(),
        sha256: "ab".repeat(32),
        scopes: vec![crate::auth::Scope::OrdersWrite],
        created_ms: 5,
        expires_ms: Some(10),
        revoked: false,
    };
    {
        let s = CentralStore::open(dir.path(), 8 << 20).expect("open");
        assert!(!s.has_tokens().expect("has"));
        s.insert_token(&record).expect("insert");
        assert!(s.revoke_token("tok_1").expect("revoke").is_some_and(|r| r.revoked));
        assert!(s.revoke_token("tok_2").expect("revoke").is_none());
    }
    // sled's flusher may hold the file lock a moment after the drop.
    let s = (0..250)
        .find_map(|_| {
            CentralStore::open(dir.path(), 8 << 20)
                .map_err(|_| std::thread::sleep(std::time::Duration::from_millis(20)))
                .ok()
        })
        .expect("reopen");
    assert_eq!(
        s.tokens().expect("tokens"),
        [TokenRecord {
            revoked: true,
            ..record
        }]
    );
}

#[test]
fn expedited_events_apply_once_without_moving_the_high_water_mark() {
    let (_d, s) = open();
    let milestone = event("a", 3, "m3", "P9", 30);
    let ahead = s
        .apply_expedited("a", std::slice::from_ref(&milestone))
        .expect("expedite");
    assert_eq!((ahead.applied, ahead.high_water_mark), (1, 0));
    assert_eq!(
        s.high_water_mark("a").expect("hwm"),
        0,
        "the ordered stream still starts at 1"
    );
    assert_eq!(s.timeline(&["P9"]).expect("timeline").len(), 1, "visible at once");
    // The ordered stream reaches it: skipped by id, the mark moves past it.
    let ordered = [
        event("a", 1, "x1", "P1", 10),
        event("a", 2, "x2", "P1", 20),
        milestone.clone(),
    ];
    let applied = s.apply("a", &ordered).expect("apply");
    assert_eq!(
        (applied.applied, applied.duplicates, applied.high_water_mark),
        (2, 1, 3)
    );
    assert_eq!(s.timeline(&["P9"]).expect("timeline").len(), 1, "once");
    // Expediting what central already has changes nothing; another site's is refused.
    assert_eq!(s.apply_expedited("a", &[milestone]).expect("again").applied, 0);
    assert!(matches!(
        s.apply_expedited("a", &[event("b", 9, "m9", "P9", 30)]),
        Err(ApplyError::WrongSite { .. })
    ));
}
