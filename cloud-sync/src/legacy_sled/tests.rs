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

fn open() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path(), 8 << 20).expect("open");
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
        let s = SledStore::open(dir.path(), 8 << 20).expect("open");
        assert!(!s.has_tokens().expect("has"));
        s.insert_token(&record).expect("insert");
        assert!(s.revoke_token("tok_1").expect("revoke").is_some_and(|r| r.revoked));
        assert!(s.revoke_token("tok_2").expect("revoke").is_none());
    }
    // sled's flusher may hold the file lock a moment after the drop.
    let s = (0..250)
        .find_map(|_| {
            SledStore::open(dir.path(), 8 << 20)
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

/// Events big enough that a chunk holds a few dozen of them.
fn run(site: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<Event> {
    seqs.map(|i| Event {
        read_point: "dock-door-3".into(),
        business_step: "loading".into(),
        ..event(site, i, &format!("{i:032x}"), &format!("P{}", i % 7), 1_000 + i as i64)
    })
    .collect()
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

fn chunk_count(s: &SledStore, site: &str) -> usize {
    let mut prefix = keys::join(keys::EVENT, &[site.as_bytes()]);
    prefix.push(0);
    s.events.scan_prefix(prefix).count()
}

#[test]
fn events_read_back_through_chunks_across_many_batches() {
    let (_d, s) = open();
    let events = run("a", 1..=1000);
    for part in events.chunks(300) {
        let applied = s.apply("a", part).expect("apply");
        assert_eq!((applied.applied, applied.duplicates), (part.len() as u64, 0));
    }
    assert_eq!(s.high_water_mark("a").expect("hwm"), 1000);
    let chunks = chunk_count(&s, "a");
    assert!((4..=100).contains(&chunks), "{chunks} chunks for 1,000 events");
    assert_eq!(s.site_events("a", 0, usize::MAX).expect("events"), events);
    // `after` in the middle of a chunk, with a limit that ends in another.
    assert_eq!(
        seqs(&s.site_events("a", 457, 100).expect("events")),
        (458..=557).collect::<Vec<_>>()
    );
    assert_eq!(seqs(&s.site_events("a", 998, 10).expect("events")), [999, 1000]);
    assert!(s.site_events("a", 0, 0).expect("events").is_empty());
    assert!(s.site_events("a", 1000, 10).expect("events").is_empty());
    assert!(s.site_events("a", u64::MAX, 10).expect("events").is_empty());
    assert!(s.site_events("b", 0, 10).expect("events").is_empty());
    let p3 = s.timeline(&["P3"]).expect("timeline");
    assert_eq!(seqs(&p3), (1..=1000).filter(|i| i % 7 == 3).collect::<Vec<_>>());
}

#[test]
fn an_expedited_event_in_the_middle_of_an_ordered_run_is_stored_once() {
    let (_d, s) = open();
    let events = run("a", 1..=100);
    let milestone = Event {
        identifiers: vec![Identifier {
            kind: 1,
            value: "M50".into(),
        }],
        ..events[49].clone()
    };
    let mut ordered = events.clone();
    ordered[49] = milestone.clone();
    assert_eq!(
        s.apply_expedited("a", std::slice::from_ref(&milestone))
            .expect("expedite")
            .applied,
        1
    );
    let applied = s.apply("a", &ordered).expect("apply");
    assert_eq!(
        (applied.applied, applied.duplicates, applied.high_water_mark),
        (99, 1, 100)
    );
    assert_eq!(s.site_events("a", 0, 1000).expect("events"), ordered);
    assert_eq!(seqs(&s.site_events("a", 48, 3).expect("events")), [49, 50, 51]);
    assert_eq!(s.timeline(&["M50"]).expect("timeline"), [milestone]);
    assert_eq!(seqs(&s.timeline(&["P1", "M50"]).expect("timeline")).len(), 15);
    // An expedited run the ordered stream then passes partly.
    let ahead = run("a", 120..=130);
    assert_eq!(s.apply_expedited("a", &ahead).expect("expedite").applied, 11);
    let applied = s.apply("a", &run("a", 101..=125)).expect("apply");
    assert_eq!((applied.applied, applied.duplicates), (19, 6));
    let applied = s.apply("a", &run("a", 126..=140)).expect("apply");
    assert_eq!((applied.applied, applied.duplicates), (10, 5));
    assert_eq!(
        seqs(&s.site_events("a", 100, 1000).expect("events")),
        (101..=140).collect::<Vec<_>>()
    );
}

#[test]
fn a_sequence_already_stored_is_never_stored_again_under_another_id() {
    let (_d, s) = open();
    s.apply_expedited("a", &[event("a", 5, "m5", "P1", 50)])
        .expect("expedite");
    let same_call = [event("a", 8, "y8", "P1", 80), event("a", 8, "z8", "P1", 80)];
    assert_eq!(s.apply_expedited("a", &same_call).expect("expedite").applied, 1);
    assert_eq!(
        s.apply_expedited("a", &[event("a", 8, "w8", "P1", 80)])
            .expect("expedite")
            .applied,
        0
    );
    // A gateway bug, not a resend: the first event stored under a sequence stays.
    let ordered: Vec<Event> = (1..=9)
        .map(|i| event("a", i, &format!("x{i}"), "P1", i as i64 * 10))
        .collect();
    let applied = s.apply("a", &ordered).expect("apply");
    assert_eq!((applied.applied, applied.duplicates), (7, 2));
    let ids: Vec<String> = s
        .site_events("a", 0, 100)
        .expect("events")
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, ["x1", "x2", "x3", "x4", "m5", "x6", "x7", "y8", "x9"]);
}

#[test]
fn a_commit_cut_short_by_a_crash_is_completed_by_the_resend() {
    let (_d, s) = open();
    s.apply("a", &run("a", 1..=10)).expect("apply");
    let events = run("a", 11..=600);
    // The crash: every chunk batch written but the last, none of the timeline
    // entries (written beside them by another thread), not the mark.
    let staged = s.stage("a", &events, true).expect("stage");
    assert!(staged.batches.len() > 3, "{} batches", staged.batches.len());
    let last = staged.batches.len() - 1;
    for batch in staged.batches.into_iter().take(last) {
        s.events.apply_batch(batch).expect("batch");
    }
    assert!(
        s.timeline(&["P5"]).expect("timeline").len() < 10,
        "timeline not written yet"
    );
    assert_eq!(s.high_water_mark("a").expect("hwm"), 10);
    let stored = s.site_events("a", 10, usize::MAX).expect("events");
    assert!(!stored.is_empty() && stored.len() < events.len());
    assert_eq!(stored, events[..stored.len()]);
    // The gateway resends from the mark, batched differently.
    let first = s.apply("a", &run("a", 11..=300)).expect("resend");
    let second = s.apply("a", &run("a", 200..=700)).expect("resend");
    assert_eq!(first.applied + second.applied, 700 - 10 - stored.len() as u64);
    assert_eq!(first.duplicates + second.duplicates, stored.len() as u64 + 101);
    assert_eq!(second.high_water_mark, 700);
    assert_eq!(s.site_events("a", 0, usize::MAX).expect("events"), run("a", 1..=700));
    assert_eq!(s.timeline(&["P5"]).expect("timeline").len(), 100);
}

mod model {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const N: u64 = 300;

    #[derive(Debug, Clone)]
    enum Op {
        /// An ordered batch of `len` events starting `back` before the mark's next.
        Ordered { back: u64, len: u64 },
        /// Priority-lane events, in the order given.
        Expedite(Vec<u64>),
        /// An ordered batch of which all sled batches but the last were written.
        Crash { len: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..20u64, 0..150u64).prop_map(|(back, len)| Op::Ordered { back, len }),
            2 => proptest::collection::vec(1..=N, 0..8).prop_map(Op::Expedite),
            1 => (1..250u64).prop_map(|len| Op::Crash { len }),
        ]
    }

    fn ev(seq: u64) -> Event {
        run("a", seq..=seq).remove(0)
    }

    fn ordered(hwm: u64, back: u64, len: u64) -> Vec<Event> {
        let start = hwm + 1 - back.min(hwm);
        (start..start + len).filter(|&s| s <= N).map(ev).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn the_store_matches_a_model(mut ops in proptest::collection::vec(op(), 1..10), probe in (0..N, 0..50usize)) {
            // The gateway always resends from the mark in the end: that is what
            // completes a commit a crash cut short.
            ops.push(Op::Ordered { back: 0, len: N });
            let (_d, s) = open();
            let mut model = BTreeMap::<u64, Event>::new();
            let mut hwm = 0;
            for op in ops {
                match op {
                    Op::Ordered { back, len } => {
                        let batch = ordered(hwm, back, len);
                        let got = s.apply("a", &batch).expect("apply");
                        let mut want = Applied::default();
                        for e in &batch {
                            if e.sequence <= hwm || model.contains_key(&e.sequence) {
                                want.duplicates += 1;
                            } else {
                                want.applied += 1;
                                model.insert(e.sequence, e.clone());
                            }
                            hwm = hwm.max(e.sequence);
                        }
                        want.high_water_mark = hwm;
                        prop_assert_eq!(got, want);
                    }
                    Op::Expedite(list) => {
                        let batch: Vec<Event> = list.into_iter().map(ev).collect();
                        let got = s.apply_expedited("a", &batch).expect("expedite");
                        let mut applied = 0;
                        for e in batch {
                            if e.sequence > hwm && !model.contains_key(&e.sequence) {
                                applied += 1;
                                model.insert(e.sequence, e);
                            }
                        }
                        prop_assert_eq!(got.applied, applied);
                    }
                    Op::Crash { len } => {
                        let batch = ordered(hwm, 0, len);
                        let staged = s.stage("a", &batch, true).expect("stage");
                        // The worst cut: chunks but the last, no timeline, no mark.
                        let last = staged.batches.len().saturating_sub(1);
                        for b in staged.batches.into_iter().take(last) {
                            s.events.apply_batch(b).expect("batch");
                        }
                        // Some prefix of what the commit would store is stored.
                        let now: Vec<Event> = s.site_events("a", 0, usize::MAX).expect("events");
                        let mut would: Vec<Event> = batch
                            .into_iter()
                            .filter(|e| !model.contains_key(&e.sequence))
                            .collect();
                        let added: Vec<Event> = now.iter().filter(|e| !model.contains_key(&e.sequence)).cloned().collect();
                        would.truncate(added.len());
                        prop_assert_eq!(&added, &would);
                        model.extend(added.into_iter().map(|e| (e.sequence, e)));
                    }
                }
                prop_assert_eq!(s.high_water_mark("a").expect("hwm"), hwm);
                let all = s.site_events("a", 0, usize::MAX).expect("events");
                prop_assert_eq!(&all, &model.values().cloned().collect::<Vec<_>>());
            }
            let (after, limit) = probe;
            let want: Vec<Event> = model.range(after + 1..).take(limit).map(|(_, e)| e.clone()).collect();
            prop_assert_eq!(s.site_events("a", after, limit).expect("events"), want);
            let p2: Vec<Event> = model.values().filter(|e| e.sequence % 7 == 2).cloned().collect();
            prop_assert_eq!(s.timeline(&["P2"]).expect("timeline"), p2);
        }
    }
}

#[test]
fn a_store_of_the_first_layout_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::Config::new().path(dir.path()).open().expect("sled");
        let events = db.open_tree("events").expect("tree");
        events
            .insert(keys::site_seq(keys::EVENT, "a", 1), b"an event".to_vec())
            .expect("insert");
        db.flush().expect("flush");
    }
    let err = SledStore::open(dir.path(), 1 << 20).expect_err("refused");
    assert!(matches!(err, StoreError::Layout(_)), "{err}");
    assert!(err.to_string().contains("new data directory"), "{err}");
}
