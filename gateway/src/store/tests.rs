use super::*;
use waymark_proto::v1::{Order, OrderRevision, Parcel};

/// Opens the store again after dropping it. sled's background flusher may hold
/// the file lock a moment after the drop (a new process never sees that).
fn reopen(dir: &std::path::Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Store::open(dir, 8 << 20, 1 << 30) {
            Ok(s) => return s,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("reopen: {e}"),
        }
    }
}

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
        let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
        let r = store.record("dc-1", &[draft("a"), draft("b")], 1).expect("record");
        assert_eq!((r.appended, r.last_sequence), (2, 2));
        assert!(store.budget_use().log_bytes > 0);
        let r = store.record("dc-1", &[draft("c")], 2).expect("record");
        assert_eq!((r.appended, r.last_sequence), (1, 3));
    }
    let store = reopen(dir.path());
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
    let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
    store.record("dc-1", &[draft("a")], 1).expect("record");
    let r = store
        .record("dc-1", &[draft("a"), draft("b"), draft("b")], 2)
        .expect("record");
    assert_eq!((r.appended, r.duplicates, r.last_sequence), (1, 2, 2));
    let r = store.record("dc-1", &[draft("a")], 3).expect("record");
    assert_eq!((r.appended, r.duplicates, r.last_sequence), (0, 1, 2));
}

#[test]
fn central_ahead_moves_the_next_sequence_above_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
    store.record("dc-1", &[draft("a")], 1).expect("record");
    assert!(store.note_central_high_water_mark(10).expect("note"));
    let r = store.record("dc-1", &[draft("b")], 2).expect("record");
    assert_eq!(r.last_sequence, 11);
    assert!(!store.note_central_high_water_mark(11).expect("note"));
    assert_eq!(store.acked_sequence().expect("acked"), 11);
}

#[test]
fn order_revisions_index_parcels_and_replace_old_identifiers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
    let order = |sscc: &str| Order {
        order_number: "SO-1".into(),
        site_id: "dc-1".into(),
        parcels: vec![Parcel {
            parcel_id: "SO-1-1".into(),
            sscc: sscc.into(),
            ..Parcel::default()
        }],
        created_ms: 0,
        ..Order::default()
    };
    store
        .apply_order_revision(
            &OrderRevision {
                revision: 4,
                order: Some(order("106141412345678908")),
            },
            0,
        )
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
        .apply_order_revision(
            &OrderRevision {
                revision: 5,
                order: Some(order("006141411234567890")),
            },
            0,
        )
        .expect("apply");
    assert_eq!(store.order_for_identifier("106141412345678908").expect("get"), None);
    assert_eq!(store.downlink_cursor().expect("cursor"), 5);
    assert_eq!(store.orders_held(), 1);
}

fn drafts(prefix: &str, n: usize) -> Vec<EventDraft> {
    (0..n).map(|i| draft(&format!("{prefix}{i}"))).collect()
}

#[test]
fn a_full_budget_never_removes_unreplicated_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20, 4000).expect("open");
    let mut recorded = 0;
    let err = loop {
        match store.record("dc-1", &drafts(&format!("b{recorded}-"), 10), 1) {
            Ok(r) => recorded = r.last_sequence,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StoreError::BudgetExhausted { .. }), "{err}");
    assert!(err.is_transient());
    assert!(recorded > 0);
    // Nothing was acknowledged, so everything recorded is still there.
    assert_eq!(store.events_from(1, 10_000).expect("read").len() as u64, recorded);
    assert_eq!(store.first_sequence().expect("first"), Some(1));

    // Central acknowledges half: the next commit compacts the oldest of those only.
    store.set_acked_sequence(recorded / 2).expect("ack");
    let r = store
        .record("dc-1", &drafts("late-", 10), 2)
        .expect("room after compaction");
    assert!(r.compacted > 0 && r.compacted <= recorded / 2, "{r:?}");
    let first = store.first_sequence().expect("first").expect("some");
    assert!(first > 1 && first <= recorded / 2 + 1, "first {first}");
    assert_eq!(
        store.events_from(first, 10_000).expect("read").len() as u64,
        r.last_sequence - first + 1
    );
}

#[test]
fn retention_removes_only_acknowledged_events_past_their_age() {
    let dir = tempfile::tempdir().expect("tempdir");
    let used = {
        let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
        store.record("dc-1", &drafts("old-", 5), 100).expect("record");
        store.record("dc-1", &drafts("new-", 5), 200).expect("record");
        store.set_acked_sequence(7).expect("ack");
        let c = store.compact_expired(150).expect("compact");
        assert_eq!(c.events, 5, "old and acknowledged");
        let c = store.compact_expired(1_000).expect("compact");
        assert_eq!(c.events, 2, "new but only up to the ack");
        assert_eq!(store.first_sequence().expect("first"), Some(8));
        store.budget_use().log_bytes
    };
    let store = reopen(dir.path());
    assert_eq!(store.budget_use().log_bytes, used, "accounting survives a restart");
    assert_eq!(store.last_sequence(), 10);
}

#[test]
fn journal_and_snapshot_commit_atomically_and_the_snapshot_drops_what_it_covers() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
        assert_eq!(store.journal_next().expect("next"), 1);
        let extras = CommitExtras {
            journal: vec![(1, b"r1".to_vec()), (2, b"r2".to_vec())],
            snapshot: None,
        };
        store.record_with("dc-1", &[], &extras, 1).expect("journal only");
        let extras = CommitExtras {
            journal: vec![(3, b"r3".to_vec())],
            snapshot: Some(EngineSnapshot {
                state: b"S".to_vec(),
                fed_through: 2,
            }),
        };
        store
            .record_with("dc-1", &[draft("a")], &extras, 2)
            .expect("with snapshot");
    }
    let store = reopen(dir.path());
    let snap = store.engine_snapshot().expect("read").expect("some");
    assert_eq!((snap.state.as_slice(), snap.fed_through), (b"S".as_slice(), 2));
    assert_eq!(
        store.journal_after(snap.fed_through).expect("journal"),
        vec![(3, b"r3".to_vec())]
    );
    assert_eq!(store.journal_after(0).expect("journal").len(), 1, "entries 1-2 dropped");
    assert_eq!(store.journal_next().expect("next"), 4);
    assert_eq!(store.last_sequence(), 1);
}

#[test]
fn a_commit_journals_its_entries_as_one_block_that_goes_once_a_snapshot_covers_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshot = |fed_through| CommitExtras {
        journal: vec![],
        snapshot: Some(EngineSnapshot {
            state: b"S".to_vec(),
            fed_through,
        }),
    };
    let entries = |seqs: std::ops::RangeInclusive<u64>| -> Vec<(u64, Vec<u8>)> {
        seqs.map(|s| (s, format!("reads {s}").into_bytes())).collect()
    };
    {
        let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
        let extras = CommitExtras {
            journal: entries(1..=5),
            snapshot: None,
        };
        store.record_with("dc-1", &[], &extras, 1).expect("journal");
        assert_eq!(store.log.scan_prefix([keys::JOURNAL]).count(), 1, "one index entry");
        assert_eq!(store.journal_after(2).expect("journal"), entries(3..=5));
        // A snapshot inside the block keeps it: entries 4 and 5 are not reflected yet.
        store.record_with("dc-1", &[], &snapshot(3), 2).expect("snapshot");
    }
    let store = reopen(dir.path());
    assert_eq!(store.journal_after(3).expect("journal"), entries(4..=5));
    assert_eq!(store.journal_next().expect("next"), 6);
    // Entries the same commit's snapshot covers are not written at all.
    let extras = CommitExtras {
        journal: entries(6..=8),
        snapshot: Some(EngineSnapshot {
            state: b"T".to_vec(),
            fed_through: 7,
        }),
    };
    store
        .record_with("dc-1", &[], &extras, 3)
        .expect("journal and snapshot");
    assert_eq!(store.journal_after(0).expect("journal"), entries(8..=8));
    assert_eq!(store.log.scan_prefix([keys::JOURNAL]).count(), 1, "block 1-5 dropped");
    store.record_with("dc-1", &[], &snapshot(8), 4).expect("snapshot");
    assert_eq!(store.journal_after(0).expect("journal"), vec![]);
    assert_eq!(store.journal_next().expect("next"), 9);
}

#[test]
fn a_read_finds_its_parcel_or_its_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
    let order = Order {
        order_number: "SO-7".into(),
        site_id: "dc-1".into(),
        parcels: vec![
            Parcel {
                parcel_id: "SO-7-1".into(),
                sscc: "106141412345678908".into(),
                ..Parcel::default()
            },
            Parcel {
                parcel_id: "SO-7-2".into(),
                tracking_number: "1Z999".into(),
                ..Parcel::default()
            },
        ],
        created_ms: 0,
        ..Order::default()
    };
    store
        .apply_order_revision(
            &OrderRevision {
                revision: 1,
                order: Some(order),
            },
            0,
        )
        .expect("apply");
    let p = |v: &str| {
        store
            .parcel_for(v)
            .expect("lookup")
            .map(|p| (p.order_number, p.parcel_id))
    };
    assert_eq!(p("1Z999"), Some(("SO-7".into(), "SO-7-2".into())));
    assert_eq!(p("106141412345678908"), Some(("SO-7".into(), "SO-7-1".into())));
    assert_eq!(p("SO-7"), Some(("SO-7".into(), String::new())));
    assert_eq!(p("nothing"), None);
}

#[test]
fn a_large_snapshot_is_chunked_and_never_becomes_an_unsynced_blob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let journal: Vec<(u64, Vec<u8>)> = (1..=200).map(|s| (s, vec![b'j'; MAX_VALUE_BYTES])).collect();
    let extras = CommitExtras {
        journal,
        snapshot: None,
    };
    store.record_with("dc-1", &[], &extras, 1).expect("journal");
    let extras = CommitExtras {
        journal: vec![],
        snapshot: Some(EngineSnapshot {
            state: big.clone(),
            fed_through: 150,
        }),
    };
    store.record_with("dc-1", &[], &extras, 2).expect("snapshot");
    assert_eq!(store.engine_snapshot().expect("read").expect("some").state, big);
    // A second, smaller generation replaces the first, chunks and all.
    let extras = CommitExtras {
        journal: vec![],
        snapshot: Some(EngineSnapshot {
            state: b"small".to_vec(),
            fed_through: 200,
        }),
    };
    store.record_with("dc-1", &[], &extras, 3).expect("snapshot");
    assert_eq!(store.engine_snapshot().expect("read").expect("some").state, b"small");
    assert_eq!(
        store.log.scan_prefix([keys::SNAPSHOT_CHUNK]).count(),
        1,
        "old chunks removed"
    );
    let blobs = std::fs::read_dir(dir.path().join("blobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "sled never syncs blob files: nothing may go there");
}

#[test]
fn milestones_and_exceptions_are_indexed_for_the_priority_lane_until_compacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
    let kind = |id: &str, kind: EventKind| {
        let mut d = draft(id);
        d.0.kind = kind as i32;
        d
    };
    let drafts = [
        kind("o1", EventKind::Observation),
        kind("m2", EventKind::Milestone),
        kind("o3", EventKind::Observation),
        kind("x4", EventKind::Exception),
    ];
    store.record("dc-1", &drafts, 100).expect("record");
    let ahead: Vec<_> = store
        .priority_from(1, 10)
        .expect("priority")
        .iter()
        .map(|e| (e.sequence, e.event_id.clone()))
        .collect();
    assert_eq!(ahead, [(2, "m2".to_string()), (4, "x4".to_string())]);
    assert_eq!(store.priority_from(3, 10).expect("priority").len(), 1);
    // Acknowledged and past retention: event and index entry go together, and
    // the budget's count returns to zero.
    store.set_acked_sequence(4).expect("ack");
    store.compact_expired(1_000).expect("compact");
    assert!(store.priority_from(0, 10).expect("priority").is_empty());
    assert_eq!(store.budget_use().log_bytes, 0);
}

fn sized_draft(id: &str, time: i64, kind: EventKind) -> EventDraft {
    EventDraft(Event {
        event_id: id.to_string(),
        event_time_ms: time,
        kind: kind as i32,
        read_point: "dock-door-3".repeat(10),
        ..Event::default()
    })
}

#[test]
fn events_spread_over_many_chunks_read_back_in_order_from_any_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
    let mut all = Vec::new();
    for commit in 0..5 {
        let drafts: Vec<_> = (0..700)
            .map(|i| {
                let n = commit * 700 + i;
                let kind = if n % 97 == 0 {
                    EventKind::Milestone
                } else {
                    EventKind::Observation
                };
                sized_draft(&format!("e{n}"), 1_000 + n as i64, kind)
            })
            .collect();
        all.extend(drafts.iter().map(|d| d.0.event_id.clone()));
        store.record("dc-1", &drafts, commit as i64).expect("record");
    }
    let chunks = store.log.scan_prefix([keys::CHUNK]).count();
    assert!(chunks > 50 && chunks < 3500 / 5, "{chunks} chunks for 3,500 events");
    for from in [1u64, 2, 57, 1399, 1400, 1401, 3500] {
        let got = store.events_from(from, 300).expect("read");
        let want: Vec<u64> = (from..=3500).take(300).collect();
        assert_eq!(got.iter().map(|e| e.sequence).collect::<Vec<_>>(), want, "from {from}");
        assert_eq!(got[0].event_id, all[from as usize - 1]);
    }
    assert!(store.events_from(3501, 10).expect("read").is_empty());
    let ahead: Vec<u64> = store
        .priority_from(100, 1000)
        .expect("priority")
        .iter()
        .map(|e| e.sequence)
        .collect();
    let want: Vec<u64> = (0..3500u64)
        .filter(|n| n % 97 == 0)
        .map(|n| n + 1)
        .filter(|s| *s >= 100)
        .collect();
    assert_eq!(ahead, want);
    // Every id is still found by the dedupe index.
    let again: Vec<_> = (0..3500)
        .map(|n| sized_draft(&format!("e{n}"), 1_000 + n as i64, EventKind::Observation))
        .collect();
    let r = store.record("dc-1", &again, 9).expect("record");
    assert_eq!((r.appended, r.duplicates), (0, 3500));
}

#[test]
fn a_commit_cut_by_a_crash_keeps_its_stored_events_and_absorbs_them_when_they_come_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
        store.record("dc-1", &drafts("a", 3), 1).expect("record");
        // What a crash after the first batch of a commit leaves: a chunk and its
        // index entries, but not the counters.
        let cut: Vec<Event> = (4..=6)
            .map(|seq| Event {
                event_id: format!("cut{seq}"),
                sequence: seq,
                site_id: "dc-1".into(),
                ..Event::default()
            })
            .collect();
        let mut batch = SplitBatch::default();
        let mut ids = ids::IdRuns::new(&store.log);
        store.stage_chunks(&mut batch, &mut ids, &cut).expect("stage");
        batch.apply(&store.log).expect("apply");
        store.sync().expect("sync");
        assert_eq!(store.last_sequence(), 3);
    }
    let store = reopen(dir.path());
    assert_eq!(store.last_sequence(), 6, "the stored events are counted in");
    let r = store
        .record("dc-1", &[draft("cut4"), draft("cut5"), draft("new")], 2)
        .expect("record");
    assert_eq!((r.appended, r.duplicates, r.last_sequence), (1, 2, 7));
    let ids: Vec<_> = store
        .events_from(1, 100)
        .expect("read")
        .into_iter()
        .map(|e| (e.sequence, e.event_id))
        .collect();
    assert_eq!(ids.len(), 7);
    assert_eq!(ids[3], (4, "cut4".to_string()));
    assert_eq!(ids[6], (7, "new".to_string()));
}

#[test]
fn a_store_of_the_first_layout_is_rewritten_into_chunks_and_segments_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::Config::new().path(dir.path()).open().expect("open sled");
        let log = db.open_tree("log").expect("tree");
        for seq in 1..=300u64 {
            let kind = if seq == 150 {
                EventKind::Milestone
            } else {
                EventKind::Observation
            };
            let e = Event {
                event_id: format!("old{seq}"),
                sequence: seq,
                kind: kind as i32,
                site_id: "dc-1".into(),
                ..Event::default()
            };
            let mut key = vec![keys::LEGACY_EVENT];
            key.extend_from_slice(&seq.to_be_bytes());
            log.insert(key, e.encode_to_vec()).expect("insert");
            log.insert(keys::legacy_event_id(&e.event_id), &seq.to_be_bytes())
                .expect("insert");
            if seq == 150 {
                log.insert(keys::priority(seq), &[]).expect("insert");
            }
        }
        log.insert(META_LAST_SEQ, &300u64.to_be_bytes()).expect("insert");
        for seq in 7..=9u64 {
            log.insert(keys::journal(seq), format!("reads {seq}").as_bytes())
                .expect("insert");
        }
        db.flush().expect("flush");
    }
    let store = reopen(dir.path());
    assert_eq!(store.last_sequence(), 300);
    let journal: Vec<_> = store.journal_after(7).expect("journal");
    assert_eq!(journal, vec![(8, b"reads 8".to_vec()), (9, b"reads 9".to_vec())]);
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.journal_after(8).expect("journal"), vec![(9, b"reads 9".to_vec())]);
    assert_eq!(store.log.scan_prefix([keys::LEGACY_EVENT]).count(), 0);
    assert_eq!(store.log.scan_prefix([keys::LEGACY_EVENT_ID]).count(), 0);
    let seqs: Vec<u64> = store
        .events_from(1, 1000)
        .expect("read")
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
    assert_eq!(store.priority_from(1, 10).expect("priority")[0].event_id, "old150");
    let r = store
        .record("dc-1", &[draft("old7"), draft("old299"), draft("fresh")], 5)
        .expect("record");
    assert_eq!((r.appended, r.duplicates, r.last_sequence), (1, 2, 301));
}

#[test]
fn segments_emptied_by_compaction_are_deleted_and_the_log_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segment_files = |d: &std::path::Path| std::fs::read_dir(d.join("segments")).expect("dir").count();
    {
        let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
        store.segments.set_segment_bytes(4096);
        for commit in 0..10 {
            let drafts: Vec<_> = (0..30)
                .map(|i| sized_draft(&format!("c{commit}-{i}"), commit * 100 + i, EventKind::Observation))
                .collect();
            store.record("dc-1", &drafts, 100).expect("record");
        }
        assert!(segment_files(dir.path()) >= 10, "{} files", segment_files(dir.path()));
        // Central has everything up to 200: only segments wholly below it go.
        store.set_acked_sequence(200).expect("ack");
        let c = store.compact_expired(1_000).expect("compact");
        assert_eq!(c.events, 200);
        let left = segment_files(dir.path());
        assert!((3..=5).contains(&left), "{left} files left");
        assert_eq!(store.first_sequence().expect("first"), Some(201));
        assert_eq!(store.events_from(1, 1000).expect("read").len(), 100);
    }
    let store = reopen(dir.path());
    assert_eq!(store.events_from(201, 1000).expect("read").len(), 100);
    store.set_acked_sequence(300).expect("ack");
    store.compact_expired(1_000).expect("compact");
    assert_eq!(segment_files(dir.path()), 1, "only the active segment remains");
    let r = store.record("dc-1", &drafts("after", 3), 200).expect("record");
    assert_eq!(r.last_sequence, 303);
    assert_eq!(store.events_from(301, 10).expect("read").len(), 3);
}

#[test]
fn a_journal_entry_keeps_its_segment_until_a_snapshot_covers_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8 << 20, 1 << 30).expect("open");
    store.segments.set_segment_bytes(1024);
    let with_journal = |seq: u64, ids: &str, time: i64| {
        let extras = CommitExtras {
            journal: vec![(seq, vec![b'r'; 600])],
            snapshot: None,
        };
        store
            .record_with("dc-1", &drafts(ids, 3), &extras, time)
            .expect("record");
    };
    with_journal(1, "a", 1);
    with_journal(2, "b", 1);
    with_journal(3, "c", 1);
    store.set_acked_sequence(9).expect("ack");
    store.compact_expired(1_000).expect("compact");
    assert_eq!(store.first_sequence().expect("first"), None, "every event compacted");
    let journal = store.journal_after(0).expect("journal");
    assert_eq!(journal.len(), 3, "the journal entries are still readable");
    let extras = CommitExtras {
        journal: vec![],
        snapshot: Some(EngineSnapshot {
            state: b"S".to_vec(),
            fed_through: 3,
        }),
    };
    store.record_with("dc-1", &[], &extras, 2).expect("snapshot");
    store.compact_expired(1_000).expect("compact");
    let files = std::fs::read_dir(dir.path().join("segments")).expect("dir").count();
    assert_eq!(files, 1, "only the active segment is left");
}
