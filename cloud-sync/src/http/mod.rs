//! The HTTP side of central: the API router (each domain's routes mounted in
//! one place, behind bearer tokens) and the ops router (metrics and probes).

mod error;

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tokio::sync::watch;

pub use error::{ApiError, blocking};

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
}

impl auth::WithGatekeeper for Arc<ApiState> {
    fn gatekeeper(&self) -> &Gatekeeper {
        &self.gatekeeper
    }
}

/// Request bodies past this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub fn router(state: Arc<ApiState>) -> axum::Router {
    axum::Router::new()
        .route(
            "/api/v1/orders",
            post(crate::orders::routes::create_order).get(crate::orders::routes::list_orders),
        )
        .route(
            "/api/v1/orders/import",
            post(crate::orders::csv::import_route).layer(DefaultBodyLimit::max(crate::orders::csv::MAX_CSV_BYTES)),
        )
        .route(
            "/api/v1/orders/{order_number}",
            get(crate::orders::routes::get_order).put(crate::orders::routes::put_order),
        )
        .route(
            "/api/v1/orders/{order_number}/cancel",
            post(crate::orders::routes::cancel_order),
        )
        .route(
            "/api/v1/orders/{order_number}/shipments/{shipment_id}/cancel",
            post(crate::orders::routes::cancel_shipment),
        )
        .route(
            "/api/v1/orders/{order_number}/parcels/{parcel_id}/corrections",
            post(crate::orders::routes::correct_parcel),
        )
        .route("/api/v1/parcels/{identifier}", get(crate::orders::routes::find_parcel))
        .route("/api/v1/sites", get(crate::ops::routes::list_sites))
        .route("/api/v1/sites/{site_id}/events", get(crate::ops::routes::site_events))
        .route(
            "/api/v1/sites/{site_id}/enrollment-tokens",
            post(crate::pki::routes::issue_enrollment_token),
        )
        .route("/api/v1/tokens", post(auth::routes::create).get(auth::routes::list))
        .route("/api/v1/tokens/{id}", delete(auth::routes::revoke))
        .route(crate::epcis::routes::PATH, get(crate::epcis::routes::events))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The ops port: metrics and probes, for the monitoring system rather than the
/// public. Unauthenticated: it binds loopback unless configured otherwise.
pub fn ops_router(state: Arc<ApiState>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
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
