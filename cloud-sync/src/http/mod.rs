//! The HTTP side of central: the API router (each domain's routes mounted in
//! one place, behind bearer tokens) and the ops router (metrics and probes).

mod error;
pub mod openapi;
pub mod serve;

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use tokio::sync::watch;

pub use error::{ApiError, ErrorBody, blocking};

use crate::auth::{self, Gatekeeper};
use crate::metrics::SyncMetrics;
use crate::store::{CentralStore, StoreError};

pub struct ApiState {
    /// Central's CA, for enrollment tokens; `None` on a development plaintext link.
    pub pki: Option<Arc<crate::pki::Pki>>,
    pub store: Arc<CentralStore>,
    pub metrics: Arc<SyncMetrics>,
    pub order_writes: watch::Sender<u64>,
    pub gatekeeper: Arc<Gatekeeper>,
    pub carriers: Arc<crate::carriers::receiver::CarrierIntake>,
    /// Wakes the carrier normalizer (a webhook put back in its queue).
    pub carriers_wake: Arc<tokio::sync::Notify>,
    /// The customer tracking pages' keys, brands, templates and limits.
    pub tracking: Arc<crate::tracking::TrackingState>,
}

/// Why an in-process [`ApiState`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ApiStateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tracking(#[from] crate::tracking::NoRandomness),
}

impl ApiState {
    /// The state with carrier intake of `carriers` (its inbox writer started,
    /// no normalizer task): for routers driven in-process.
    pub fn new(
        pki: Option<Arc<crate::pki::Pki>>,
        store: Arc<CentralStore>,
        metrics: Arc<SyncMetrics>,
        order_writes: watch::Sender<u64>,
        gatekeeper: Arc<Gatekeeper>,
        carriers: &crate::carriers::CarrierSettings,
    ) -> Result<Self, ApiStateError> {
        let carriers_wake = Arc::new(tokio::sync::Notify::new());
        let carriers = crate::carriers::receiver::CarrierIntake::start(carriers, store.clone(), carriers_wake.clone())?;
        Ok(Self {
            pki,
            store,
            metrics,
            order_writes,
            gatekeeper,
            carriers,
            carriers_wake,
            tracking: Arc::new(crate::tracking::TrackingState::new(Default::default())?),
        })
    }
}

impl auth::WithGatekeeper for Arc<ApiState> {
    fn gatekeeper(&self) -> &Gatekeeper {
        &self.gatekeeper
    }
}

/// Request bodies past this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Every route of the API: the router mounts this table and the OpenAPI
/// document must describe each entry (a unit test holds them equal).
fn routes() -> Vec<(&'static str, MethodRouter<Arc<ApiState>>)> {
    use crate::carriers::routes as carriers;
    use crate::orders::{csv, routes as orders};
    vec![
        ("/api/v1/orders", post(orders::create_order).get(orders::list_orders)),
        (
            "/api/v1/orders/import",
            post(csv::import_route).layer(DefaultBodyLimit::max(csv::MAX_CSV_BYTES)),
        ),
        (
            "/api/v1/orders/{order_number}",
            get(orders::get_order).put(orders::put_order),
        ),
        ("/api/v1/orders/{order_number}/cancel", post(orders::cancel_order)),
        (
            "/api/v1/orders/{order_number}/tracking-link",
            post(crate::tracking::api::mint_link),
        ),
        (
            "/api/v1/orders/{order_number}/shipments/{shipment_id}/cancel",
            post(orders::cancel_shipment),
        ),
        (
            "/api/v1/orders/{order_number}/parcels/{parcel_id}/corrections",
            post(orders::correct_parcel),
        ),
        ("/api/v1/parcels/{identifier}", get(orders::find_parcel)),
        ("/api/v1/sites", get(crate::ops::routes::list_sites)),
        ("/api/v1/sites/{site_id}/events", get(crate::ops::routes::site_events)),
        (
            "/api/v1/sites/{site_id}/enrollment-tokens",
            post(crate::pki::routes::issue_enrollment_token),
        ),
        ("/api/v1/tokens", post(auth::routes::create).get(auth::routes::list)),
        ("/api/v1/tokens/{id}", delete(auth::routes::revoke)),
        (crate::epcis::routes::PATH, get(crate::epcis::routes::events)),
        (
            carriers::WEBHOOK_PATH,
            post(carriers::receive).layer(DefaultBodyLimit::disable()),
        ),
        ("/api/v1/carriers", get(carriers::overview)),
        ("/api/v1/carriers/accounts", post(carriers::put_account)),
        (
            "/api/v1/carriers/accounts/{provider}/{name}",
            delete(carriers::delete_account),
        ),
        ("/api/v1/carriers/webhooks", get(carriers::list_webhooks)),
        ("/api/v1/carriers/webhooks/{id}/retry", post(carriers::retry_webhook)),
        ("/api/v1/carriers/unmatched", get(carriers::unmatched)),
        ("/api/v1/carriers/tracking/{tracking_number}", get(carriers::tracking)),
        (openapi::PATH, get(openapi::document)),
        ("/healthz", get(healthz)),
    ]
}

/// The API (JSON, in the OpenAPI document) and, beside it, the customer
/// tracking pages (HTML for people: not in the document, and outside the
/// layer that turns refusals into JSON).
pub fn router(state: Arc<ApiState>) -> axum::Router {
    routes()
        .into_iter()
        .fold(axum::Router::new(), |router, (path, route)| router.route(path, route))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(error::json_refusals))
        .with_state(state.clone())
        .merge(crate::tracking::routes::router(state))
}

/// Up when it answers; readiness (the store) is the ops port's `/readyz`.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()),
    responses((status = 200, description = "The process answers", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// The ops port: metrics and probes, for the monitoring system rather than the
/// public. Unauthenticated: it binds loopback unless configured otherwise.
pub fn ops_router(state: Arc<ApiState>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Ready when the store answers a query; says which store and how far behind
/// the projections are.
async fn readyz(State(state): State<Arc<ApiState>>) -> Response {
    let store = state.store.clone();
    let answer = tokio::task::spawn_blocking(move || {
        store.ping()?;
        let lag = store.projection_lag(crate::projection::Projection::Timeline)?;
        Ok::<_, StoreError>(lag)
    })
    .await;
    let engine = format!("{:?}", state.store.engine()).to_lowercase();
    match answer {
        Ok(Ok(lag)) => (
            StatusCode::OK,
            Json(serde_json::json!({ "store": "open", "engine": engine, "timeline_lag_events": lag })),
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "store": "unavailable", "engine": engine, "error": e.to_string() })),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "store": "unavailable", "engine": engine })),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<Arc<ApiState>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}
