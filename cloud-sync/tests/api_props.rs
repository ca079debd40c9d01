//! Arbitrary requests against the API router, in process: whatever the method,
//! path, `Authorization` header or body, no panic, no 5xx, and a bounded answer.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use proptest::prelude::*;
use tokio::sync::watch;
use tower::ServiceExt;
use waymark_sync::auth::limiter::FailureLimiter;
use waymark_sync::auth::{Gatekeeper, Scope};
use waymark_sync::http::{self as api, ApiState};
use waymark_sync::metrics::SyncMetrics;
use waymark_sync::store::CentralStore;

const MAX_RESPONSE_BYTES: usize = 64 * 1024;

struct World {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    /// An admin token and a token with one scope.
    secrets: [String; 2],
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(CentralStore::open(&waymark_sync::store::StoreOptions::sqlite_in(dir.path())).expect("store"));
    let metrics = Arc::new(SyncMetrics::default());
    // Generous: in process every caller is one client, and 401s are what is tested here.
    let limiter = FailureLimiter::new(u32::MAX, 1.0, 16);
    let gatekeeper = Arc::new(Gatekeeper::load(store.clone(), &[], metrics.clone(), limiter).expect("gatekeeper"));
    let admin = gatekeeper
        .issue("admin", vec![Scope::Admin], None)
        .expect("issue")
        .secret;
    let writer = gatekeeper
        .issue("writer", vec![Scope::OrdersWrite], None)
        .expect("issue")
        .secret;
    let (order_writes, _) = watch::channel(0);
    let tls = waymark_sync::config::RawConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    }
    .validate()
    .expect("config")
    .tls;
    let pki = waymark_sync::pki::Pki::load_or_create(&store, &tls).expect("pki");
    let app = api::router(Arc::new(
        ApiState::new(
            Some(Arc::new(pki)),
            store,
            metrics,
            order_writes,
            gatekeeper,
            &Default::default(),
        )
        .expect("state"),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    World {
        _dir: dir,
        rt,
        app,
        secrets: [admin, writer],
    }
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Known(usize),
    Raw(Vec<u8>),
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        1 => Just(Auth::None),
        4 => (0..2usize).prop_map(Auth::Known),
        1 => "(Bearer|bearer|Basic) wm_[0-9a-f]{0,70}".prop_map(|s| Auth::Raw(s.into_bytes())),
        1 => "[ -~]{0,300}".prop_map(|s| Auth::Raw(s.into_bytes())),
        1 => proptest::collection::vec(any::<u8>(), 0..400).prop_map(Auth::Raw),
    ]
}

/// Mostly a route's own method and shape, sometimes anything.
fn route() -> impl Strategy<Value = (&'static str, String)> {
    let segment = "[a-zA-Z0-9%._~!$&'()*+,;=:@-]{0,150}";
    let method = prop::sample::select(vec!["GET", "POST", "DELETE", "PUT", "PATCH"]);
    prop_oneof![
        3 => Just(("POST", "/api/v1/orders".to_string())),
        2 => segment.prop_map(|s| ("GET", format!("/api/v1/orders/{s}"))),
        1 => Just(("GET", "/api/v1/sites".to_string())),
        2 => (segment, "[a-z0-9=&%-]{0,60}").prop_map(|(s, q)| ("GET", format!("/api/v1/sites/{s}/events?{q}"))),
        2 => Just(("POST", "/api/v1/tokens".to_string())),
        1 => Just(("GET", "/api/v1/tokens".to_string())),
        1 => segment.prop_map(|s| ("DELETE", format!("/api/v1/tokens/{s}"))),
        2 => segment.prop_map(|s| ("POST", format!("/api/v1/sites/{s}/enrollment-tokens"))),
        2 => (method, "/[a-zA-Z0-9%._~!$&'()*+,;=:@/?-]{0,200}"),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let text = || prop_oneof![1 => "\\PC{0,40}", 3 => "[A-Z0-9-]{1,12}"];
    let sscc = prop_oneof![
        "[0-9]{0,20}",
        any::<u32>().prop_map(|n| waymark_devices::sim::sscc("0614141", u64::from(n))),
    ];
    let parcel = (proptest::option::of(text()), proptest::option::of(sscc));
    let order =
        (text(), "[a-z0-9_-]{0,10}", proptest::collection::vec(parcel, 0..4)).prop_map(|(number, site, parcels)| {
            let parcels: Vec<_> = parcels
                .into_iter()
                .map(|(t, s)| serde_json::json!({ "tracking_number": t, "sscc": s }))
                .collect();
            serde_json::json!({ "order_number": number, "site_id": site, "parcels": parcels })
                .to_string()
                .into_bytes()
        });
    let scope = prop_oneof![
        1 => text(),
        4 => prop::sample::select(vec!["ops", "admin", "orders:read"]).prop_map(String::from),
    ];
    let token = (
        text(),
        proptest::collection::vec(scope, 0..10),
        proptest::option::of(0..100_000u64),
    )
        .prop_map(|(name, scopes, ttl)| {
            serde_json::json!({ "name": name, "scopes": scopes, "ttl_secs": ttl })
                .to_string()
                .into_bytes()
        });
    prop_oneof![
        1 => Just(Vec::new()),
        3 => order,
        2 => token,
        1 => proptest::collection::vec(any::<u8>(), 0..2048),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_request_gets_a_bounded_non_5xx_answer(
        (method, path) in route(),
        auth in auth(),
        body in body(),
        json in prop::bool::weighted(0.8),
    ) {
        thread_local!(static WORLD: World = world());
        WORLD.with(|w| -> Result<(), TestCaseError> {
            let mut req = Request::builder().method(method);
            if json {
                req = req.header(header::CONTENT_TYPE, "application/json");
            }
            match &auth {
                Auth::None => {}
                Auth::Known(i) => req = req.header(header::AUTHORIZATION, format!("Bearer {}", w.secrets[*i])),
                Auth::Raw(raw) => req = req.header(header::AUTHORIZATION, raw.as_slice()),
            }
            let Ok(req) = req.uri(path.as_str()).body(Body::from(body.clone())) else {
                // Not a request a client could send (an invalid URI or header value).
                return Ok(());
            };
            let (status, len) = w.rt.block_on(async {
                let resp = w.app.clone().oneshot(req).await.expect("infallible");
                let status = resp.status();
                let bytes = axum::body::to_bytes(resp.into_body(), MAX_RESPONSE_BYTES + 1).await;
                (status, bytes.map_or(usize::MAX, |b| b.len()))
            });
            prop_assert!(!status.is_server_error(), "{method} {path} -> {status}");
            prop_assert!(len <= MAX_RESPONSE_BYTES, "{method} {path} -> {len} bytes");
            Ok(())
        })?;
    }
}
