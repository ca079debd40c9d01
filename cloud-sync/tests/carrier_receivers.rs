//! Arbitrary bytes and headers into every carrier receiver, in process: no
//! panic, no 5xx, nothing stored without the account's signature; and a body
//! over the limit is a 413 however it is sent.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use tower::ServiceExt;
use waymark_sync::auth::Gatekeeper;
use waymark_sync::auth::limiter::FailureLimiter;
use waymark_sync::carriers::{CarrierAccount, CarrierSettings, Provider};
use waymark_sync::http::{self as api, ApiState};
use waymark_sync::metrics::SyncMetrics;
use waymark_sync::store::{CentralStore, StoreOptions};

const SECRET: &str = "whsec_dGhlIHJlYWwgc2VjcmV0";

struct World {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    store: Arc<CentralStore>,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(CentralStore::open(&StoreOptions::sqlite_in(dir.path())).expect("store"));
    let metrics = Arc::new(SyncMetrics::default());
    let gatekeeper =
        Arc::new(Gatekeeper::load(store.clone(), &[], metrics.clone(), FailureLimiter::default()).expect("gatekeeper"));
    let carriers = CarrierSettings {
        accounts: Provider::ALL
            .iter()
            .map(|p| CarrierAccount {
                provider: *p,
                name: "main".into(),
                secret: SECRET.into(),
            })
            .collect(),
        max_body_bytes: 64 * 1024,
        normalizer: true,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let state = rt.block_on(async {
        ApiState::new(
            None,
            store.clone(),
            metrics,
            tokio::sync::watch::channel(0).0,
            gatekeeper,
            &carriers,
        )
        .expect("state")
    });
    World {
        _dir: dir,
        rt,
        app: api::router(Arc::new(state)),
        store,
    }
}

const HEADERS: [&str; 10] = [
    "x-hmac-signature",
    "aftership-hmac-sha256",
    "fdx-signature",
    "shippo-auth-signature",
    "sign",
    "credential",
    "x-event-id",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_requests_to_the_receivers_are_refused_cleanly(
        body in proptest::collection::vec(any::<u8>(), 0..4096),
        value in "[ -~]{0,100}",
        provider in proptest::sample::select(Provider::ALL.to_vec()),
        account in proptest::sample::select(vec!["main", "other", "..", "a%2Fb"]),
    ) {
        let w = world_once();
        let mut req = Request::post(format!("/webhooks/carriers/{provider}/{account}"));
        for name in HEADERS {
            req = req.header(name, value.as_str());
        }
        let response = w.rt.block_on(w.app.clone().oneshot(req.body(Body::from(body)).expect("request")))
            .expect("response");
        let code = response.status().as_u16();
        prop_assert!([401, 404].contains(&code), "{code}");
        prop_assert!(w.store.carrier_webhooks(None, None, 10).expect("list").is_empty(), "nothing stored");
    }
}

fn world_once() -> &'static World {
    static WORLD: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    WORLD.get_or_init(world)
}

#[test]
fn a_body_over_the_limit_is_413_and_a_signed_one_under_it_is_stored() {
    let w = world();
    let big = vec![b'x'; 64 * 1024 + 1];
    for provider in Provider::ALL {
        let headers =
            waymark_sync::carriers::signature::sign(provider, SECRET, &big, chrono::Utc::now().timestamp(), "m1");
        let mut req = Request::post(format!("/webhooks/carriers/{provider}/main"));
        for (k, v) in &headers {
            req = req.header(*k, v.as_str());
        }
        let response =
            w.rt.block_on(
                w.app
                    .clone()
                    .oneshot(req.body(Body::from(big.clone())).expect("request")),
            )
            .expect("response");
        assert_eq!(response.status().as_u16(), 413, "{provider}");
    }
    // Signed and in bounds: stored (even when it does not parse; the
    // normalizer reports that, nothing is lost).
    let body = b"not json at all".to_vec();
    for provider in Provider::ALL {
        let headers =
            waymark_sync::carriers::signature::sign(provider, SECRET, &body, chrono::Utc::now().timestamp(), "m2");
        let mut req = Request::post(format!("/webhooks/carriers/{provider}/main?token={SECRET}"));
        for (k, v) in &headers {
            req = req.header(*k, v.as_str());
        }
        let response =
            w.rt.block_on(
                w.app
                    .clone()
                    .oneshot(req.body(Body::from(body.clone())).expect("request")),
            )
            .expect("response");
        assert_eq!(response.status().as_u16(), 200, "{provider}");
    }
    assert_eq!(
        w.store.carrier_webhooks(None, None, 100).expect("list").len(),
        Provider::ALL.len()
    );
}
