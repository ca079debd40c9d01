//! One behaviour, two engines: every case runs against SQLite, and against
//! PostgreSQL (a database of its own, dropped after) when one answers at
//! `WAYMARK_TEST_PG` (default 127.0.0.1:5432, trust auth). CI sets
//! `WAYMARK_REQUIRE_PG=1`, which turns a missing PostgreSQL into a failure
//! instead of a skip.

use std::collections::BTreeSet;

use waymark_proto::v1::{Event, Identifier};
use waymark_sync::orders::{NewOrder, NewParcel, OrderError};
use waymark_sync::projection::Projection;
use waymark_sync::replication::{ApplyError, StreamLease};
use waymark_sync::store::CentralStore;
use waymark_sync::store::testing;

/// Runs `case` on SQLite, then on PostgreSQL if it can be had.
fn on_both(case: impl Fn(&CentralStore)) {
    let (_keep, store) = testing::open(false).expect("sqlite store");
    case(&store);
    match testing::open(true) {
        Ok((_keep, store)) => case(&store),
        Err(e) if std::env::var("WAYMARK_REQUIRE_PG").is_ok_and(|v| v == "1") => {
            panic!("PostgreSQL is required (WAYMARK_REQUIRE_PG=1) and cannot be had: {e}")
        }
        Err(e) => eprintln!("SKIPPED on PostgreSQL: {e}"),
    }
}

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

fn run(site: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<Event> {
    seqs.map(|i| event(site, i, &format!("{site}-{i}"), &format!("P{}", i % 10), i as i64 * 10))
        .collect()
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

fn open(s: &CentralStore, site: &str) -> StreamLease {
    s.open_stream(site, "test", 0).expect("open stream")
}

/// The timeline as readers see it, once the projector has caught up.
fn timeline(s: &CentralStore, idents: &[&str]) -> Vec<Event> {
    s.catch_up(Projection::Timeline, |_| {}).expect("catch up");
    s.timeline(idents).expect("timeline")
}

#[test]
fn re_applying_a_batch_changes_nothing() {
    on_both(|s| {
        let lease = open(s, "a");
        let batch = [event("a", 1, "x1", "P1", 10), event("a", 2, "x2", "P1", 20)];
        assert_eq!(s.apply(&lease, &batch).expect("apply").applied, 2);
        let again = s.apply(&lease, &batch).expect("apply");
        assert_eq!((again.applied, again.duplicates, again.high_water_mark), (0, 2, 2));
        // The same event id under a new sequence (re-derived after a gateway lost state).
        let rederived = s.apply(&lease, &[event("a", 3, "x2", "P1", 20)]).expect("apply");
        assert_eq!(
            (rederived.applied, rederived.duplicates, rederived.high_water_mark),
            (0, 1, 3)
        );
        assert_eq!(s.site_events("a", 0, 100).expect("events").len(), 2);
        assert_eq!(timeline(s, &["P1"]).len(), 2);
    });
}

#[test]
fn a_gap_or_a_foreign_site_is_refused_whole() {
    on_both(|s| {
        let lease = open(s, "a");
        s.apply(&lease, &[event("a", 1, "x1", "P1", 10)]).expect("apply");
        assert!(matches!(
            s.apply(&lease, &[event("a", 3, "x3", "P1", 10)]),
            Err(ApplyError::Gap { expected: 2, got: 3 })
        ));
        assert!(matches!(
            s.apply(&lease, &[event("a", 2, "x2", "P1", 10), event("b", 3, "x3", "P1", 10)]),
            Err(ApplyError::WrongSite { .. })
        ));
        assert_eq!(s.high_water_mark("a").expect("hwm"), 1);
        assert_eq!(s.high_water_mark("b").expect("hwm"), 0);
        assert_eq!(s.site_events("a", 0, 100).expect("events").len(), 1);
    });
}

#[test]
fn two_streams_for_one_site_are_fenced() {
    on_both(|s| {
        let older = open(s, "a");
        s.apply(&older, &run("a", 1..=5)).expect("apply");
        let newer = open(s, "a");
        assert!(newer.epoch > older.epoch);
        assert_eq!(newer.high_water_mark, 5, "the newer stream resumes from the mark");
        match s.apply(&older, &run("a", 6..=10)) {
            Err(ApplyError::Fenced { epoch, current, .. }) => assert_eq!((epoch, current), (older.epoch, newer.epoch)),
            other => panic!("the older stream must be fenced, got {other:?}"),
        }
        assert!(matches!(
            s.apply_expedited(&older, &run("a", 8..=8)),
            Err(ApplyError::Fenced { .. })
        ));
        assert!(matches!(
            s.record_gap(&older, 6, 7, "x", 0),
            Err(ApplyError::Fenced { .. })
        ));
        assert_eq!(s.high_water_mark("a").expect("hwm"), 5, "nothing of the fenced batch");
        let applied = s.apply(&newer, &run("a", 6..=10)).expect("newer applies");
        assert_eq!(applied.applied, 5);
        assert_eq!(
            seqs(&s.site_events("a", 0, 100).expect("events")),
            (1..=10).collect::<Vec<_>>()
        );
    });
}

#[test]
fn a_crash_between_commit_and_ack_loses_and_doubles_nothing() {
    on_both(|s| {
        // The batch committed; the ack never reached the gateway (central died).
        // The gateway reconnects (perhaps to another central process), learns the
        // mark, and resends from its own cursor, overlapping what was committed.
        let lease = open(s, "a");
        s.apply(&lease, &run("a", 1..=100)).expect("apply");
        let reconnected = open(s, "a");
        assert_eq!(reconnected.high_water_mark, 100);
        let resent = s.apply(&reconnected, &run("a", 51..=150)).expect("resend");
        assert_eq!(
            (resent.applied, resent.duplicates, resent.high_water_mark),
            (50, 50, 150)
        );
        let stored = s.site_events("a", 0, 1000).expect("events");
        assert_eq!(stored, run("a", 1..=150));
    });
}

#[test]
fn expedited_events_apply_once_without_moving_the_mark() {
    on_both(|s| {
        let lease = open(s, "a");
        let milestone = event("a", 3, "m3", "P9", 30);
        let ahead = s
            .apply_expedited(&lease, std::slice::from_ref(&milestone))
            .expect("expedite");
        assert_eq!((ahead.applied, ahead.high_water_mark), (1, 0));
        assert_eq!(s.high_water_mark("a").expect("hwm"), 0);
        assert_eq!(
            s.timeline(&["P9"]).expect("timeline").len(),
            1,
            "visible at once, before any projection"
        );
        let ordered = [
            event("a", 1, "x1", "P1", 10),
            event("a", 2, "x2", "P1", 20),
            milestone.clone(),
        ];
        let applied = s.apply(&lease, &ordered).expect("apply");
        assert_eq!(
            (applied.applied, applied.duplicates, applied.high_water_mark),
            (2, 1, 3)
        );
        assert_eq!(timeline(s, &["P9"]).len(), 1, "once");
        assert_eq!(s.apply_expedited(&lease, &[milestone]).expect("again").applied, 0);
        assert!(matches!(
            s.apply_expedited(&lease, &[event("b", 9, "m9", "P9", 30)]),
            Err(ApplyError::WrongSite { .. })
        ));
    });
}

#[test]
fn a_sequence_already_stored_is_never_stored_again_under_another_id() {
    on_both(|s| {
        let lease = open(s, "a");
        s.apply_expedited(&lease, &[event("a", 5, "m5", "P1", 50)])
            .expect("expedite");
        let same_call = [event("a", 8, "y8", "P1", 80), event("a", 8, "z8", "P1", 80)];
        assert_eq!(s.apply_expedited(&lease, &same_call).expect("expedite").applied, 1);
        let ordered: Vec<Event> = (1..=9)
            .map(|i| event("a", i, &format!("x{i}"), "P1", i as i64 * 10))
            .collect();
        let applied = s.apply(&lease, &ordered).expect("apply");
        assert_eq!((applied.applied, applied.duplicates), (7, 2));
        let ids: Vec<String> = s
            .site_events("a", 0, 100)
            .expect("events")
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(ids, ["x1", "x2", "x3", "x4", "m5", "x6", "x7", "y8", "x9"]);
    });
}

#[test]
fn a_gap_moves_the_mark_and_is_listed() {
    on_both(|s| {
        let lease = open(s, "a");
        s.apply(&lease, &run("a", 1..=3)).expect("apply");
        assert!(matches!(
            s.record_gap(&lease, 5, 9, "lost", 7),
            Err(ApplyError::Gap { .. })
        ));
        s.record_gap(&lease, 4, 9, "restored from an old backup", 7)
            .expect("gap");
        assert_eq!(s.high_water_mark("a").expect("hwm"), 9);
        let applied = s.apply(&lease, &run("a", 10..=12)).expect("apply after the gap");
        assert_eq!(applied.high_water_mark, 12);
        let gaps = s.gaps("a").expect("gaps");
        assert_eq!((gaps.len(), gaps[0].first, gaps[0].last), (1, 4, 9));
        assert_eq!(timeline(s, &["P1", "P2", "P3", "P0"]).len(), 6);
        assert_eq!(s.projection_lag(Projection::Timeline).expect("lag"), 0);
    });
}

#[test]
fn the_projection_follows_with_a_lag_and_a_rebuild_gives_the_same_timeline() {
    on_both(|s| {
        for site in ["a", "b"] {
            let lease = open(s, site);
            for chunk in run(site, 1..=12_000).chunks(3_000) {
                s.apply(&lease, chunk).expect("apply");
            }
        }
        let lease = open(s, "a");
        s.apply_expedited(&lease, &[event("a", 12_005, "ahead", "P-AHEAD", 1)])
            .expect("expedite");
        assert_eq!(s.projection_lag(Projection::Timeline).expect("lag"), 24_000);
        let step = s
            .projection_step(Projection::Timeline, 5_000)
            .expect("step")
            .expect("work");
        assert_eq!(step.events, 5_000);
        assert_eq!(s.projection_lag(Projection::Timeline).expect("lag"), 19_000);
        let idents = ["P1", "P2", "P-AHEAD"];
        let before = timeline(s, &idents);
        assert_eq!(before.len(), 2 * 2 * 1_200 + 1);
        assert_eq!(s.projection_lag(Projection::Timeline).expect("lag"), 0);
        s.reset_projection(Projection::Timeline).expect("reset");
        assert_eq!(s.projection_lag(Projection::Timeline).expect("lag"), 24_000);
        assert_eq!(
            s.timeline(&["P-AHEAD"]).expect("timeline").len(),
            1,
            "kept above the mark"
        );
        assert_eq!(timeline(s, &idents), before);
    });
}

#[test]
fn workers_claim_projection_work_exclusively() {
    on_both(|s| {
        let sites: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
        for site in &sites {
            let lease = open(s, site);
            s.apply(&lease, &run(site, 1..=2_000)).expect("apply");
        }
        // Four workers step at once; every (site, range) they claim must be
        // theirs alone, and together they cover every event once.
        let claimed = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    loop {
                        match s.projection_step(Projection::Timeline, 250) {
                            Ok(Some(p)) => claimed.lock().expect("lock").push(p),
                            Ok(None) => {
                                if s.projection_lag(Projection::Timeline).expect("lag") == 0 {
                                    return;
                                }
                            }
                            Err(e) if e.is_transient() => {}
                            Err(e) => panic!("step: {e}"),
                        }
                    }
                });
            }
        });
        let claimed = claimed.into_inner().expect("lock");
        let total: usize = claimed.iter().map(|p| p.events).sum();
        assert_eq!(total, 8 * 2_000, "every event projected exactly once");
        let mut ends = BTreeSet::new();
        for p in &claimed {
            assert!(
                ends.insert((p.site.clone(), p.position)),
                "a range claimed twice: {p:?}"
            );
        }
    });
}

#[test]
fn orders_get_per_site_revisions_and_unique_identifiers() {
    on_both(|s| {
        let new = |n: &str, site: &str, sscc: &str| NewOrder {
            order_number: n.into(),
            site_id: site.into(),
            parcels: vec![NewParcel {
                sscc: Some(sscc.into()),
                ..NewParcel::default()
            }],
        };
        let (_, created) = s.create_order(new("SO-1", "a", "1"), 10).expect("create");
        assert!(created);
        let (_, created) = s.create_order(new("SO-1", "a", "1"), 20).expect("same again");
        assert!(!created, "the same order twice changes nothing");
        assert!(matches!(
            s.create_order(new("SO-1", "a", "2"), 30),
            Err(OrderError::Conflict(_))
        ));
        assert!(matches!(
            s.create_order(new("SO-2", "a", "1"), 30),
            Err(OrderError::IdentifierTaken { .. })
        ));
        assert!(
            s.order("SO-2").expect("read").is_none(),
            "a refused order leaves nothing"
        );
        s.create_order(new("SO-3", "b", "3"), 40).expect("create");
        s.create_order(new("SO-4", "a", "4"), 50).expect("create");
        let revs = s.order_revisions("a", 0, 10).expect("revisions");
        let got: Vec<(u64, String)> = revs
            .iter()
            .map(|r| (r.revision, r.order.clone().map(|o| o.order_number).unwrap_or_default()))
            .collect();
        assert_eq!(got, [(1, "SO-1".to_string()), (2, "SO-4".to_string())]);
        assert_eq!(s.order_revisions("a", 1, 10).expect("revisions").len(), 1);
        assert_eq!(s.order_revisions("b", 0, 10).expect("revisions")[0].revision, 1);
    });
}

#[test]
fn concurrent_creates_of_one_order_make_one_order_and_one_revision() {
    on_both(|s| {
        let outcomes: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        s.create_order(
                            NewOrder {
                                order_number: "SO-RACE".into(),
                                site_id: "a".into(),
                                parcels: vec![NewParcel {
                                    tracking_number: Some("1Z999".into()),
                                    ..NewParcel::default()
                                }],
                            },
                            1,
                        )
                        .expect("create")
                        .1
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("join")).collect()
        });
        assert_eq!(outcomes.iter().filter(|c| **c).count(), 1);
        assert_eq!(s.order_revisions("a", 0, 10).expect("revisions").len(), 1);
    });
}

#[test]
fn the_bootstrap_token_is_made_once_and_revocation_sticks() {
    on_both(|s| {
        let record = |id: &str, hash: char| waymark_sync::auth::TokenRecord {
            id: id.into(),
            name: "admin".into(),
            sha256: hash.to_string().repeat(64),
            scopes: vec![waymark_sync::auth::Scope::Admin],
            created_ms: 1,
            expires_ms: None,
            revoked: false,
        };
        assert!(s.insert_bootstrap_token(&record("t1", 'a')).expect("first"));
        assert!(!s.insert_bootstrap_token(&record("t2", 'b')).expect("second"));
        assert_eq!(s.tokens().expect("tokens").len(), 1);
        let revoked = s.revoke_token("t1").expect("revoke").expect("known");
        assert!(revoked.revoked);
        assert!(s.token_by_hash(&"a".repeat(64)).expect("read").expect("there").revoked);
        assert!(s.revoke_token("nope").expect("revoke").is_none());
    });
}

#[test]
fn an_enrollment_token_enrolls_once() {
    on_both(|s| {
        use waymark_sync::pki::{EnrollmentError, EnrollmentToken};
        let token = EnrollmentToken {
            site: "dock-a".into(),
            created_ms: 1_000,
            expires_ms: 10_000,
            used_ms: None,
        };
        s.put_enrollment_token(&[1; 32], &token).expect("put");
        s.put_enrollment_token(&[2; 32], &token).expect("put");
        assert!(matches!(
            s.consume_enrollment_token(&[1; 32], "dock-b", 5_000),
            Err(EnrollmentError::OtherSite { .. })
        ));
        assert_eq!(
            s.consume_enrollment_token(&[1; 32], "dock-a", 5_000).expect("use"),
            "dock-a"
        );
        assert!(matches!(
            s.consume_enrollment_token(&[1; 32], "dock-a", 5_001),
            Err(EnrollmentError::Used { .. })
        ));
        assert!(matches!(
            s.consume_enrollment_token(&[2; 32], "dock-a", 10_000),
            Err(EnrollmentError::Expired { .. })
        ));
        assert!(matches!(
            s.consume_enrollment_token(&[3; 32], "dock-a", 0),
            Err(EnrollmentError::Unknown)
        ));
    });
}

#[test]
fn a_schema_newer_than_the_binary_is_refused() {
    on_both(|s| {
        s.write(|tx| {
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)",
                &[
                    (waymark_sync::store::SCHEMA_VERSION + 1).into(),
                    "future".into(),
                    0i64.into(),
                ],
            )
        })
        .expect("insert");
        match s.migrate() {
            Err(e @ waymark_sync::store::StoreError::SchemaTooNew { .. }) => {
                assert!(e.to_string().contains("newer than this waymark-sync"), "{e}");
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    });
}

#[test]
fn migrations_run_once_when_processes_start_together() {
    // PostgreSQL only: several processes on one database.
    let db = match testing::TestDatabase::create() {
        Ok(db) => db,
        Err(e) if std::env::var("WAYMARK_REQUIRE_PG").is_ok_and(|v| v == "1") => panic!("{e}"),
        Err(e) => return eprintln!("SKIPPED on PostgreSQL: {e}"),
    };
    let options = db.options();
    let applied: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let store = CentralStore::connect(&options).expect("connect");
                    store.migrate().expect("migrate").applied
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("join")).collect()
    });
    assert_eq!(applied.iter().filter(|a| !a.is_empty()).count(), 1, "{applied:?}");
    drop(db);
}

fn split_order(number: &str, revision: u64) -> waymark_sync::orders::OrderRecord {
    let body: waymark_sync::orders::input::OrderBody = serde_json::from_value(serde_json::json!({
        "order_number": number, "revision": revision, "order_type": "routine",
        "customer": {"email": "kim@example.com", "language": "en"},
        "shipments": [
            {"site_id": "dc-a", "carrier": "ups", "tracking_number": format!("1Z{number}"),
             "parcels": [{"sscc": "106141412345678908", "items": [{"sku": "TENT", "quantity": 1}]}]},
            {"site_id": "dc-b", "carrier": "dhl",
             "parcels": [{"tracking_number": format!("JD{number}")}]}
        ]
    }))
    .expect("shape");
    body.check(0).expect("valid order")
}

fn site_orders(s: &CentralStore, site: &str, cursor: u64) -> Vec<waymark_proto::v1::Order> {
    s.order_revisions(site, cursor, 100)
        .expect("revisions")
        .into_iter()
        .filter_map(|r| r.order)
        .collect()
}

#[test]
fn each_site_gets_only_its_shipment_and_hears_of_its_cancellation() {
    on_both(|s| {
        use waymark_sync::orders::Submitted;
        let (_, done) = s.submit_order(split_order("SO-10", 1), 10).expect("submit");
        assert_eq!(done, Submitted::Created);
        let a = site_orders(s, "dc-a", 0);
        let b = site_orders(s, "dc-b", 0);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].parcels.len(), 1);
        assert_eq!(a[0].parcels[0].sscc, "106141412345678908");
        assert_eq!(b[0].parcels[0].tracking_number, "JDSO-10");
        assert!(b[0].cancelled_parcels.is_empty() && !b[0].cancelled);

        let (order, changed) = s.cancel_order("SO-10", Some("SO-10-S2"), 20).expect("cancel");
        assert!(changed && !order.cancelled);
        assert_eq!(site_orders(s, "dc-a", 1).len(), 0, "dc-a's shipment did not change");
        let b = site_orders(s, "dc-b", 1);
        assert_eq!(b.len(), 1, "dc-b hears of the cancellation");
        assert!(b[0].cancelled && b[0].parcels.is_empty());
        assert_eq!(b[0].cancelled_parcels[0].tracking_number, "JDSO-10");
        let (_, again) = s.cancel_order("SO-10", Some("SO-10-S2"), 30).expect("cancel again");
        assert!(!again, "cancelling twice changes nothing");
        assert!(matches!(
            s.cancel_order("SO-10", Some("SO-10-S9"), 30),
            Err(OrderError::NoShipment { .. })
        ));
        assert!(matches!(
            s.cancel_order("SO-404", None, 30),
            Err(OrderError::NotFound(_))
        ));
        // The merchant's system resends the order as it has it: nothing changes.
        let (_, done) = s.submit_order(split_order("SO-10", 1), 40).expect("resend");
        assert_eq!(done, Submitted::Unchanged);
        // An update that leaves the cancelled shipment out keeps it cancelled.
        let mut update = split_order("SO-10", 2);
        update.shipments.truncate(1);
        update.shipments[0].carrier = Some("dpd".into());
        let (stored, done) = s.submit_order(update, 50).expect("update");
        assert_eq!(done, Submitted::Updated);
        assert!(
            stored
                .shipments
                .iter()
                .any(|s| s.shipment_id == "SO-10-S2" && s.cancelled)
        );
        assert_eq!(
            s.order_by_identifier("JDSO-10").expect("find").map(|o| o.order_number),
            Some("SO-10".to_string()),
            "a cancelled parcel's identifier stays with its order"
        );
    });
}

#[test]
fn the_same_order_again_changes_nothing_and_only_a_newer_revision_updates() {
    on_both(|s| {
        use waymark_sync::orders::Submitted;
        s.submit_order(split_order("SO-20", 1), 10).expect("submit");
        let (_, done) = s.submit_order(split_order("SO-20", 1), 20).expect("again");
        assert_eq!(done, Submitted::Unchanged);
        assert_eq!(site_orders(s, "dc-a", 0).len(), 1, "no new revision");

        let mut changed = split_order("SO-20", 1);
        changed.shipments[1].carrier = Some("dpd".into());
        assert!(matches!(
            s.submit_order(changed.clone(), 30),
            Err(OrderError::Conflict(_))
        ));
        changed.revision = 2;
        let (stored, done) = s.submit_order(changed, 40).expect("update");
        assert_eq!(done, Submitted::Updated);
        assert_eq!(stored.created_ms, 10, "an update keeps the creation time");
        assert_eq!(site_orders(s, "dc-a", 1).len(), 0, "dc-a's view did not change");
        let b = site_orders(s, "dc-b", 1);
        assert_eq!(b[0].shipments[0].carrier, "dpd");
        let older = split_order("SO-20", 1);
        assert!(matches!(
            s.submit_order(older, 50),
            Err(OrderError::Conflict(_) | OrderError::StaleRevision { .. })
        ));
        assert_eq!(
            s.order_by_identifier("JDSO-20").expect("find").map(|o| o.revision),
            Some(2)
        );
    });
}

#[test]
fn a_csv_import_commits_good_orders_reports_bad_rows_and_repeats_harmlessly() {
    on_both(|s| {
        let mut csv = String::from("order_number,site_id,carrier,tracking_number,sku,quantity\n");
        for i in 0..50 {
            let site = if i == 7 { "Bad Site" } else { "dc-a" };
            let quantity = if i == 9 { "lots" } else { "1" };
            csv.push_str(&format!("SO-C{i},{site},ups,T{i},SKU{i},{quantity}\n"));
        }
        // Taken by another order: refused by the store, reported by line.
        csv.push_str("SO-CX,dc-a,ups,T3,SKU,1\n");
        let report = s.import_orders_csv(csv.as_bytes(), |_, _| {}).expect("import");
        assert_eq!(report.created, 48);
        assert_eq!(report.rejected_orders, 3);
        let lines: Vec<u64> = report.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [9, 11, 52]);
        assert!(report.problems[2].reason.contains("T3"), "{:?}", report.problems[2]);
        assert!(s.order("SO-C7").expect("read").is_none());
        assert!(s.order("SO-CX").expect("read").is_none(), "never half an order");

        let again = s.import_orders_csv(csv.as_bytes(), |_, _| {}).expect("again");
        assert_eq!((again.created, again.unchanged, again.rejected_orders), (0, 48, 3));
        assert_eq!(
            site_orders(s, "dc-a", 0).len(),
            48,
            "no revision for an unchanged order"
        );
    });
}

#[test]
fn lists_filter_and_page_in_the_order_of_change() {
    on_both(|s| {
        use waymark_sync::orders::list::{ListQuery, OrderFilter};
        for i in 0..7 {
            let mut order = split_order(&format!("SO-L{i}"), 1);
            // Distinct identifiers per order.
            order.shipments[0].parcels[0].sscc = None;
            order.shipments[0].parcels[0].tracking_number = Some(format!("TL{i}"));
            if i % 2 == 0 {
                order.shipments.truncate(1);
            }
            s.submit_order(order, 100 + i).expect("submit");
        }
        let mut seen = Vec::new();
        let mut filter = OrderFilter {
            site: Some("dc-b".into()),
            limit: 2,
            ..OrderFilter::default()
        };
        loop {
            let page = s.list_orders(&filter).expect("list");
            seen.extend(page.orders.iter().map(|o| o.order_number.clone()));
            let Some(cursor) = page.next_cursor else { break };
            filter = ListQuery {
                site: Some("dc-b".into()),
                limit: Some(2),
                cursor: Some(cursor),
                ..ListQuery::default()
            }
            .check()
            .expect("the cursor it gave out");
        }
        assert_eq!(seen, ["SO-L1", "SO-L3", "SO-L5"]);
        let carrier = s
            .list_orders(&OrderFilter {
                carrier: Some("dhl".into()),
                updated_since_ms: Some(103),
                limit: 50,
                ..OrderFilter::default()
            })
            .expect("list");
        let got: Vec<&str> = carrier.orders.iter().map(|o| o.order_number.as_str()).collect();
        assert_eq!(got, ["SO-L3", "SO-L5"]);
        assert_eq!(carrier.orders[0].shipments.len(), 2);
    });
}

fn milestone(site: &str, seq: u64, order: &str, parcel: &str, ident: &str, name: &str, time: i64) -> Event {
    Event {
        kind: waymark_proto::v1::EventKind::Milestone as i32,
        milestone: name.into(),
        order_number: order.into(),
        parcel_id: parcel.into(),
        device_id: format!("{site}-portal-1"),
        ..event(site, seq, &format!("{site}-{seq}"), ident, time)
    }
}

fn order_status(s: &CentralStore, number: &str) -> (String, Vec<String>) {
    s.catch_up(Projection::Timeline, |_| {}).expect("timeline");
    let page = s
        .list_orders(&waymark_sync::orders::list::OrderFilter {
            limit: 500,
            ..Default::default()
        })
        .expect("list");
    let order = page.orders.iter().find(|o| o.order_number == number).expect("listed");
    (
        order.status.clone(),
        order.shipments.iter().map(|s| s.status.clone()).collect(),
    )
}

#[test]
fn a_split_order_reads_partially_shipped_then_shipped_and_a_correction_is_audited() {
    on_both(|s| {
        use waymark_sync::orders::Correction;
        use waymark_sync::status::Milestone;
        s.submit_order(split_order("SO-30", 1), 1_000).expect("submit");
        assert_eq!(order_status(s, "SO-30").0, "ordered");

        let a = open(s, "dc-a");
        let packed = milestone("dc-a", 1, "SO-30", "SO-30-1", "106141412345678908", "packed", 2_000);
        s.apply(&a, &[packed]).expect("apply");
        assert_eq!(order_status(s, "SO-30").0, "processing");
        let loaded = milestone("dc-a", 2, "SO-30", "SO-30-1", "106141412345678908", "loaded", 3_000);
        s.apply(&a, &[loaded]).expect("apply");
        let (order, shipments) = order_status(s, "SO-30");
        assert_eq!(order, "partially_shipped");
        assert_eq!(shipments, ["shipped", "ordered"]);

        let b = open(s, "dc-b");
        let loaded = milestone("dc-b", 1, "SO-30", "SO-30-2", "JDSO-30", "loaded", 4_000);
        s.apply(&b, &[loaded]).expect("apply");
        assert_eq!(order_status(s, "SO-30").0, "shipped");

        // Support retracts dc-b's load (the parcel was found on the dock).
        let retract = Correction {
            parcel_id: "SO-30-2".into(),
            assert: false,
            milestone: Milestone::Loaded,
            reason: "found on the dock after the trailer left".into(),
            actor: "support-kim".into(),
            event_time_ms: 5_000,
        };
        s.correct_parcel("SO-30", &retract, 6_000).expect("correct");
        assert_eq!(order_status(s, "SO-30").0, "partially_shipped");
        let order = s.order("SO-30").expect("read").expect("order");
        let view = waymark_sync::orders::view::OrderView::load(s, order).expect("view");
        let json = serde_json::to_value(&view).expect("json");
        let timeline = json["shipments"][1]["parcels"][0]["timeline"]
            .as_array()
            .expect("timeline")
            .clone();
        assert_eq!(timeline.len(), 2, "{timeline:?}");
        assert_eq!(timeline[0]["source"], "site");
        assert_eq!(timeline[1]["source"], "operator");
        assert_eq!(timeline[1]["by"], "support-kim");
        assert_eq!(timeline[1]["action"], "retract");
        let status = &json["shipments"][0]["parcels"][0]["status"];
        assert_eq!(status["milestone"], "loaded");
        let provenance = &status["milestones"]
            .as_array()
            .expect("milestones")
            .last()
            .expect("loaded")["provenance"];
        assert_eq!(provenance["source"], "site");
        assert_eq!(provenance["actor"], "dc-a-portal-1");
        assert_eq!(provenance["evidence"], "site/dc-a/seq/2");
        assert!(matches!(
            s.correct_parcel(
                "SO-30",
                &Correction {
                    parcel_id: "nope".into(),
                    ..retract
                },
                7_000
            ),
            Err(OrderError::NoParcel { .. })
        ));
    });
}

#[test]
fn a_promise_that_passes_without_delivery_shows_delayed_with_no_new_event() {
    on_both(|s| {
        use waymark_sync::orders::list::OrderFilter;
        let ms = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .expect("time")
                .timestamp_millis()
        };
        let mut order = split_order("SO-40", 1);
        order.shipments.truncate(1);
        order.shipments[0].promised_delivery = Some(waymark_sync::orders::model::Promise {
            earliest: "2026-11-30".into(),
            latest: "2026-11-30".into(),
        });
        s.submit_order(order, ms("2026-11-29T12:00:00Z")).expect("submit");
        let delayed = |s: &CentralStore| {
            s.list_orders(&OrderFilter {
                overlay: Some("delayed".into()),
                limit: 10,
                ..OrderFilter::default()
            })
            .expect("list")
            .orders
            .len()
        };
        assert_eq!(delayed(s), 0);
        assert_eq!(
            s.recheck_due(ms("2026-11-30T12:00:00Z"), 100).expect("clock"),
            0,
            "not due yet"
        );
        assert_eq!(s.recheck_due(ms("2026-12-01T00:00:01Z"), 100).expect("clock"), 1);
        assert_eq!(delayed(s), 1, "the promise passed without delivery");
        assert_eq!(
            s.recheck_due(ms("2026-12-02T00:00:00Z"), 100).expect("clock"),
            0,
            "nothing more can change by time"
        );
    });
}

/// A `waymark`-format webhook body with one event (docs/carriers.md).
fn carrier_body(id: &str, tracking: &str, milestone: &str, time: &str) -> Vec<u8> {
    serde_json::json!({"events": [{"event_id": id, "tracking_number": tracking, "carrier": "ups",
        "milestone": milestone, "event_time": time}]})
    .to_string()
    .into_bytes()
}

#[test]
fn carrier_webhooks_are_normalized_once_by_concurrent_workers_and_held_numbers_wait_for_their_order() {
    use waymark_sync::carriers::Provider;
    use waymark_sync::carriers::store::NewWebhook;
    on_both(|s| {
        let now = chrono::Utc::now().timestamp_millis();
        let mut webhooks = Vec::new();
        let steps = [
            ("carrier_accepted", "2026-11-20T10:00:00Z"),
            ("in_transit", "2026-11-21T10:00:00Z"),
            ("delivered", "2026-11-22T10:00:00Z"),
        ];
        for i in 0..10 {
            let number = format!("SO-C{i}");
            let mut order = split_order(&number, 1);
            // Found by the shipment's tracking number only.
            order.shipments[0].parcels[0].sscc = None;
            s.submit_order(order, now).expect("submit");
            for (k, (milestone, time)) in steps.iter().enumerate() {
                let body = carrier_body(&format!("e{i}-{k}"), &format!("1Z{number}"), milestone, time);
                // Every webhook twice: providers retry.
                for _ in 0..2 {
                    webhooks.push(NewWebhook {
                        provider: Provider::Waymark,
                        account: "fleet".into(),
                        body: body.clone(),
                        received_ms: now,
                    });
                }
            }
        }
        let held = carrier_body("h-1", "1ZLATER", "in_transit", "2026-11-21T10:00:00Z");
        let broken = b"{\"events\": [".to_vec();
        for body in [held, broken] {
            webhooks.push(NewWebhook {
                provider: Provider::Waymark,
                account: "fleet".into(),
                body,
                received_ms: now,
            });
        }
        assert_eq!(s.store_webhooks(&webhooks).expect("store").len(), 62);

        let outcomes = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            // One worker works off the backlog as central does when catching up
            // (the next step read while this one is kept), beside three that
            // take single steps.
            scope.spawn(|| {
                loop {
                    let taken = s.normalize_while(
                        5,
                        || now,
                        |out| {
                            outcomes.lock().expect("lock").push(out.clone());
                            true
                        },
                    );
                    match taken {
                        Ok(0) if s.carrier_backlog().expect("backlog").0 <= 1 => return,
                        Ok(_) => {}
                        Err(e) if e.is_transient() => {}
                        Err(e) => panic!("steps: {e}"),
                    }
                }
            });
            for _ in 0..3 {
                scope.spawn(|| {
                    loop {
                        match s.normalize_step(5, now) {
                            Ok(out) if out.webhooks > 0 => outcomes.lock().expect("lock").push(out),
                            Ok(_) => {
                                // Only the broken body is left, waiting for its retry.
                                if s.carrier_backlog().expect("backlog").0 <= 1 {
                                    return;
                                }
                            }
                            Err(e) if e.is_transient() => {}
                            Err(e) => panic!("step: {e}"),
                        }
                    }
                });
            }
        });
        let outcomes = outcomes.into_inner().expect("lock");
        let taken: usize = outcomes.iter().map(|o| o.webhooks).sum();
        assert_eq!(taken, 62, "each webhook taken once");
        let counts = |f: fn(&waymark_sync::carriers::intake::EventCounts) -> u64| -> u64 {
            outcomes.iter().flat_map(|o| o.events.values()).map(f).sum()
        };
        assert_eq!(counts(|c| c.new), 31, "each event kept once");
        assert_eq!(counts(|c| c.known), 30, "each resend known");
        assert_eq!(counts(|c| c.held), 1);
        assert_eq!(outcomes.iter().map(|o| o.failures.len()).sum::<usize>(), 1);
        let failed = s.carrier_webhooks(Some("pending"), None, 10).expect("list");
        assert_eq!(failed.len(), 1);
        assert!(failed[0].error.as_deref().unwrap_or("").contains("JSON"), "{failed:?}");

        for i in 0..10 {
            let order = s.order(&format!("SO-C{i}")).expect("read").expect("order");
            let view = waymark_sync::orders::view::OrderView::load(s, order).expect("view");
            assert_eq!(view.shipments[0].parcels[0].status["milestone"], "delivered");
            assert_eq!(view.status, "partially_delivered");
        }

        // The held number's order arrives: its event counts from then on.
        let held = s.held_tracking(10).expect("held");
        assert_eq!(held.len(), 1);
        assert_eq!((held[0].tracking_number.as_str(), held[0].events), ("1ZLATER", 1));
        let mut later = split_order("LATER", 1);
        later.shipments[0].parcels[0].sscc = None;
        s.submit_order(later, now).expect("submit");
        assert!(s.held_tracking(10).expect("held").is_empty());
        let order = s.order("LATER").expect("read").expect("order");
        let view = waymark_sync::orders::view::OrderView::load(s, order).expect("view");
        assert_eq!(view.shipments[0].parcels[0].status["milestone"], "in_transit");

        // As if the event had been kept while the order was being written
        // (on PostgreSQL neither transaction sees the other's): the idle
        // sweep claims it.
        s.write(|tx| {
            tx.execute(
                "UPDATE carrier_events SET order_number = NULL WHERE tracking_number = '1ZLATER'",
                &[],
            )
        })
        .expect("unclaim");
        assert_eq!(s.held_tracking(10).expect("held").len(), 1);
        assert_eq!(s.claim_held_sweep(now).expect("sweep"), 1);
        assert!(s.held_tracking(10).expect("held").is_empty());
        assert_eq!(s.claim_held_sweep(now).expect("sweep"), 0);
    });
}
