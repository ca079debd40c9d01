//! `GET /epcis/events` over events written through the replication store, on
//! SQLite and (when one answers, or CI requires it with `WAYMARK_REQUIRE_PG=1`)
//! PostgreSQL: filters, paging through a whole day, refusals, and every served
//! page valid against GS1's EPCIS 2.0 JSON schema.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tokio::sync::watch;
use tower::ServiceExt;
use waymark_proto::v1::{Event, EventKind, Identifier, IdentifierKind};
use waymark_sync::auth::limiter::FailureLimiter;
use waymark_sync::auth::{Gatekeeper, Scope};
use waymark_sync::http::{self as api, ApiState};
use waymark_sync::metrics::SyncMetrics;
use waymark_sync::store::{CentralStore, testing};

const SCHEMA: &str = include_str!("data/epcis/EPCIS-JSON-Schema.json");
/// 2026-12-03T00:00:00Z.
const DAY: i64 = 1_796_256_000_000;
const DC1_EVENTS: u64 = 1_200;
const DC2_EVENTS: u64 = 40;

fn on_both(case: impl Fn(CentralStore)) {
    let (_keep, store) = testing::open(false).expect("sqlite store");
    case(store);
    match testing::open(true) {
        Ok((_keep, store)) => case(store),
        Err(e) if std::env::var("WAYMARK_REQUIRE_PG").is_ok_and(|v| v == "1") => {
            panic!("PostgreSQL is required (WAYMARK_REQUIRE_PG=1) and cannot be had: {e}")
        }
        Err(e) => eprintln!("SKIPPED on PostgreSQL: {e}"),
    }
}

fn sscc(n: u64) -> String {
    let body = format!("00614141{n:09}");
    let check = waymark_devices::gs1::compute_check_digit(body.as_bytes());
    format!("{body}{check}")
}

fn ident(kind: IdentifierKind, value: String) -> Identifier {
    Identifier {
        kind: kind as i32,
        value,
    }
}

/// Site `dc-1`'s day: every 70 s a parcel packed (SSCC with its item's SGTIN:
/// an aggregation), loaded, or flagged; one event the evening before and one
/// the morning after. Site `dc-2` (UTC-5) scans some parcels in the same day.
fn events(site: &str) -> Vec<Event> {
    let (count, offset, step_ms) = if site == "dc-1" {
        (DC1_EVENTS, 60, 70_000)
    } else {
        (DC2_EVENTS, -300, 1_800_000)
    };
    let mut out: Vec<Event> = (0..count)
        .map(|i| {
            let mut e = Event {
                site_id: site.into(),
                event_id: format!("{site}-{i}"),
                event_time_ms: DAY + 60_000 + i as i64 * step_ms,
                event_time_offset_minutes: offset,
                record_time_ms: DAY + 61_000 + i as i64 * step_ms,
                identifiers: vec![ident(IdentifierKind::Sscc, sscc(i))],
                read_point: "dock-door-1".into(),
                device_id: "portal-1".into(),
                business_step: "loading".into(),
                disposition: "in_transit".into(),
                kind: EventKind::Observation as i32,
                order_number: format!("SO-{}", i / 3),
                ..Event::default()
            };
            match i % 3 {
                0 => {
                    e.kind = EventKind::Milestone as i32;
                    e.business_step = "packing".into();
                    e.disposition = "in_progress".into();
                    e.read_point = "pack-2".into();
                    e.milestone = "packed".into();
                    e.identifiers.push(ident(
                        IdentifierKind::Epc,
                        format!("urn:epc:id:sgtin:0614141.812345.{i}"),
                    ));
                }
                1 => e
                    .identifiers
                    .push(ident(IdentifierKind::TrackingNumber, format!("1Z{i:016}"))),
                _ => {
                    e.kind = EventKind::Exception as i32;
                    e.exception = "missing_prerequisite".into();
                    e.missing_milestone = "packed".into();
                }
            }
            e
        })
        .collect();
    for (id, t) in [("before", DAY - 1), ("after", DAY + 86_400_000)] {
        out.push(Event {
            event_id: format!("{site}-{id}"),
            event_time_ms: t,
            ..out[1].clone()
        });
    }
    for (i, e) in out.iter_mut().enumerate() {
        e.sequence = i as u64 + 1;
    }
    out
}

struct Api {
    app: axum::Router,
    reader: String,
    writer: String,
    rt: tokio::runtime::Runtime,
    schema: jsonschema::Validator,
}

impl Api {
    fn new(store: CentralStore) -> Self {
        for site in ["dc-1", "dc-2"] {
            let lease = store.open_stream(site, "test", 0).expect("open stream");
            let applied = store.apply(&lease, &events(site)).expect("apply");
            assert!(applied.applied > 0);
        }
        let store = Arc::new(store);
        let metrics = Arc::new(SyncMetrics::default());
        let limiter = FailureLimiter::new(u32::MAX, 1.0, 16);
        let gatekeeper = Arc::new(Gatekeeper::load(store.clone(), &[], metrics.clone(), limiter).expect("gatekeeper"));
        let issue = |scope| gatekeeper.issue("t", vec![scope], None).expect("issue").secret;
        let (reader, writer) = (issue(Scope::OrdersRead), issue(Scope::OrdersWrite));
        let (order_writes, _) = watch::channel(0);
        let app = api::router(Arc::new(
            ApiState::new(None, store, metrics, order_writes, gatekeeper, &Default::default()).expect("state"),
        ));
        let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
        let schema = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            app,
            reader,
            writer,
            rt,
            schema,
        }
    }

    /// Status, `Link` header and body of `GET uri` with `token`.
    fn get(&self, uri: &str, token: Option<&str>) -> (StatusCode, Option<String>, Value) {
        let mut req = Request::get(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Body::empty()).expect("request");
        self.rt.block_on(async {
            let resp = self.app.clone().oneshot(req).await.expect("response");
            let status = resp.status();
            if status == StatusCode::OK {
                assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
                assert_eq!(resp.headers()["gs1-epcis-version"], "2.0.0");
            }
            let link = resp
                .headers()
                .get(header::LINK)
                .map(|v| v.to_str().expect("ascii link").to_string());
            let bytes = axum::body::to_bytes(resp.into_body(), 8 << 20).await.expect("body");
            (status, link, serde_json::from_slice(&bytes).expect("JSON body"))
        })
    }

    /// Every event of the query, following `Link: rel="next"`; checks each page
    /// against the schema and `per_page`.
    fn all(&self, query: &str, per_page: usize) -> Vec<Value> {
        let mut uri = format!("/epcis/events?perPage={per_page}&{query}");
        let mut out = Vec::new();
        for _ in 0..1000 {
            let (status, link, body) = self.get(&uri, Some(&self.reader));
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            let errors: Vec<String> = self
                .schema
                .iter_errors(&body)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{uri}: {errors:?}");
            assert_eq!(body["type"], "EPCISQueryDocument");
            let list = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
                .as_array()
                .expect("eventList")
                .clone();
            assert!(list.len() <= per_page, "{} > {per_page}", list.len());
            out.extend(list);
            match link {
                None => return out,
                Some(l) => {
                    let next = l.strip_prefix('<').and_then(|l| l.split_once('>')).expect("<uri>").0;
                    assert!(l.ends_with("rel=\"next\""), "{l}");
                    uri = next.to_string();
                }
            }
        }
        panic!("{query}: pagination did not end");
    }
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["eventID"].as_str().expect("eventID").to_string())
        .collect()
}

const THE_DAY: &str = "GE_eventTime=2026-12-03T00:00:00Z&LT_eventTime=2026-12-04T00:00:00Z";

#[test]
fn a_day_of_site_events_is_served_as_valid_epcis_page_by_page() {
    on_both(|store| {
        let api = Api::new(store);
        let dc1 = format!("{THE_DAY}&EQ_bizLocation=urn:waymark:epcis:site:dc-1");
        let day = api.all(&dc1, 250);
        assert_eq!(day.len() as u64, DC1_EVENTS);
        assert_eq!(ids(&day).len() as u64, DC1_EVENTS, "no event twice across pages");
        let times: Vec<&str> = day.iter().map(|e| e["eventTime"].as_str().expect("time")).collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "event time order within the site"
        );
        assert_eq!(day[0]["eventTime"], "2026-12-03T01:01:00.000+01:00");
        assert_eq!(day[0]["type"], "AggregationEvent");
        assert_eq!(
            day[1]["bizTransactionList"][1]["bizTransaction"],
            "urn:waymark:epcis:tracking:1Z0000000000000001"
        );

        // Both sites, one page size that does not divide the day.
        let both = api.all(THE_DAY, 333);
        assert_eq!(both.len() as u64, DC1_EVENTS + DC2_EVENTS);
        assert_eq!(ids(&both).len() as u64, DC1_EVENTS + DC2_EVENTS);
        // Everything, the evening before and the morning after included.
        assert_eq!(api.all("", 1000).len() as u64, DC1_EVENTS + DC2_EVENTS + 4);
    });
}

#[test]
fn the_bindings_filters_select_events() {
    on_both(|store| {
        let api = Api::new(store);
        let count = |q: &str| api.all(&format!("{THE_DAY}&{q}"), 500).len() as u64;
        let packed = DC1_EVENTS.div_ceil(3) + DC2_EVENTS.div_ceil(3);
        assert_eq!(count("EQ_bizStep=packing"), packed);
        assert_eq!(count("eventType=AggregationEvent"), packed);
        assert_eq!(count("EQ_action=ADD"), packed);
        assert_eq!(
            count("eventType=ObjectEvent&EQ_disposition=in_transit"),
            DC1_EVENTS + DC2_EVENTS - packed
        );
        assert_eq!(
            count("EQ_readPoint=urn:waymark:epcis:site:dc-2:rp:pack-2"),
            DC2_EVENTS.div_ceil(3)
        );
        // SSCC 3 is a packed parcel (a parent) at both sites, SSCC 4 a loaded one.
        assert_eq!(
            count(&format!("MATCH_epc={}", sscc_url(3))),
            0,
            "parents are not in epcList"
        );
        assert_eq!(count(&format!("MATCH_anyEPC={}", sscc_url(3))), 2);
        assert_eq!(count(&format!("MATCH_epc={}", sscc_url(4))), 2);
        assert_eq!(count("MATCH_epc=urn:epc:id:sgtin:0614141.812345.3"), 2);
        // Record time: the first hour of the day, at dc-1 only (dc-2 scans every 30 min).
        assert_eq!(
            count(
                "GE_recordTime=2026-12-03T00:00:00Z&LT_recordTime=2026-12-03T01:00:00Z&EQ_bizLocation=urn:waymark:epcis:site:dc-1"
            ),
            51
        );
        assert_eq!(count("EQ_bizLocation=urn:waymark:epcis:site:nowhere"), 0);
    });
}

fn sscc_url(n: u64) -> String {
    format!("https://id.gs1.org/00/{}", sscc(n))
}

#[test]
fn bad_or_unknown_parameters_and_missing_rights_are_refused() {
    on_both(|store| {
        let api = Api::new(store);
        for q in [
            "colour=red",
            "GE_eventTime=yesterday",
            "perPage=0",
            "perPage=many",
            "EQ_action=SHOUT",
            "orderBy=eventTime",
            "nextPageToken=xyz",
            "MATCH_epc=not%20a%20uri",
            "perPage=2&perPage=3",
        ] {
            let (status, _, body) = api.get(&format!("/epcis/events?{q}"), Some(&api.reader));
            assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {body}");
            assert_eq!(body["error"]["code"], "invalid_query", "{q}");
        }
        let (status, _, _) = api.get("/epcis/events", None);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = api.get("/epcis/events", Some(&api.writer));
        assert_eq!(status, StatusCode::FORBIDDEN);
    });
}
