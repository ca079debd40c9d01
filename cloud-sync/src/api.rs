//! The REST/JSON API: merchant systems create orders; support, ops and the
//! tracking page read an order with its timeline; ops read each site's state.
//! Every `/api/v1` route needs a bearer token with the route's scope (see `auth`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, FixedOffset, Offset, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use waymark_proto::v1::{Event, Order};

use crate::auth::{self, Authorized, Gatekeeper, needs};
use crate::error_code::ErrorCode;
use crate::identity::valid_site;
use crate::metrics::SyncMetrics;
use crate::orders::{NewOrder, NewParcel, OrderError};
use crate::store::{CentralStore, StoreError};

mod enrollment;

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
        .route("/api/v1/orders", post(create_order))
        .route("/api/v1/orders/{order_number}", get(get_order))
        .route("/api/v1/sites", get(list_sites))
        .route("/api/v1/sites/{site_id}/events", get(site_events))
        .route(
            "/api/v1/sites/{site_id}/enrollment-tokens",
            post(enrollment::issue_enrollment_token),
        )
        .route("/api/v1/tokens", post(auth::routes::create).get(auth::routes::list))
        .route("/api/v1/tokens/{id}", delete(auth::routes::revoke))
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

/// An API error: a code from the one map (`error_code`) and a sentence for people.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
}

/// Longer messages are cut, so no input can make a response large.
const MAX_MESSAGE_LEN: usize = 2048;

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        if self.message.len() > MAX_MESSAGE_LEN {
            let mut end = MAX_MESSAGE_LEN;
            while !self.message.is_char_boundary(end) {
                end -= 1;
            }
            self.message.truncate(end);
            self.message.push_str("...");
        }
        let body = serde_json::json!({ "error": { "code": self.code.as_str(), "message": self.message } });
        (self.code.http_status(), Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "central store failure");
        Self::new(ErrorCode::Unavailable, "the store is unavailable; retry")
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::new(ErrorCode::from_rejection(e.status()), e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::new(ErrorCode::InvalidQuery, e.body_text())
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
}

const MAX_PARCELS: usize = 1000;
const MAX_TEXT: usize = 128;
/// Problems listed in one answer; the rest are counted.
const MAX_PROBLEMS: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderBody {
    pub order_number: String,
    pub site_id: String,
    pub parcels: Vec<ParcelBody>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParcelBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parcel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sscc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epc: Option<String>,
}

impl CreateOrderBody {
    /// Every problem, joined, so a merchant integration can fix them in one go.
    fn validate(self) -> Result<NewOrder, ApiError> {
        let mut problems = Vec::new();
        if !plain_text(&self.order_number) {
            problems.push(format!(
                "order_number must be 1-{MAX_TEXT} printable characters without spaces"
            ));
        }
        if !valid_site(&self.site_id) {
            problems.push("site_id must be 1-64 characters of a-z, 0-9, '-' or '_'".to_string());
        }
        if self.parcels.is_empty() || self.parcels.len() > MAX_PARCELS {
            problems.push(format!("parcels must hold 1-{MAX_PARCELS} parcels"));
        }
        for (i, p) in self.parcels.iter().enumerate() {
            let ids = [&p.parcel_id, &p.sscc, &p.tracking_number, &p.epc];
            if ids.iter().any(|v| v.as_deref().is_some_and(|s| !plain_text(s))) {
                problems.push(format!(
                    "parcels[{i}]: identifiers must be 1-{MAX_TEXT} printable characters without spaces"
                ));
            }
            if p.sscc.is_none() && p.tracking_number.is_none() && p.epc.is_none() {
                problems.push(format!(
                    "parcels[{i}]: needs at least one of sscc, tracking_number, epc"
                ));
            }
            if let Some(sscc) = p.sscc.as_ref().filter(|s| !waymark_devices::gs1::is_valid_sscc(s)) {
                problems.push(format!(
                    "parcels[{i}].sscc: `{sscc}` is not 18 digits with a valid check digit"
                ));
            }
        }
        if !problems.is_empty() {
            let more = problems.len().saturating_sub(MAX_PROBLEMS);
            problems.truncate(MAX_PROBLEMS);
            if more > 0 {
                problems.push(format!("and {more} more"));
            }
            return Err(ApiError::invalid(problems.join("; ")));
        }
        Ok(NewOrder {
            order_number: self.order_number,
            site_id: self.site_id,
            parcels: self
                .parcels
                .into_iter()
                .map(|p| NewParcel {
                    parcel_id: p.parcel_id,
                    sscc: p.sscc,
                    tracking_number: p.tracking_number,
                    epc: p.epc,
                })
                .collect(),
        })
    }
}

fn plain_text(s: &str) -> bool {
    (1..=MAX_TEXT).contains(&s.len()) && s.chars().all(|c| !c.is_control() && !c.is_whitespace())
}

async fn create_order(
    auth: Authorized<needs::OrdersWrite>,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<CreateOrderBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let new = body?.0.validate()?;
    let store = state.store.clone();
    let (order, created) = blocking(move || {
        store
            .create_order(new, Utc::now().timestamp_millis())
            .map_err(|e| match e {
                OrderError::Store(e) => e.into(),
                e @ (OrderError::Conflict(_) | OrderError::IdentifierTaken { .. }) => {
                    ApiError::new(ErrorCode::Conflict, e.to_string())
                }
            })
    })
    .await?;
    if created {
        state.metrics.orders_created.inc();
        state.order_writes.send_modify(|n| *n += 1);
        tracing::info!(order = %order.order_number, site = %order.site_id, parcels = order.parcels.len(), by = %auth.principal.name, "order created");
    }
    let code = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((code, Json(OrderView::new(order, Vec::new()))))
}

async fn get_order(
    _auth: Authorized<needs::OrdersRead>,
    State(state): State<Arc<ApiState>>,
    Path(order_number): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    if !plain_text(&order_number) {
        return Err(ApiError::invalid(format!(
            "order_number must be 1-{MAX_TEXT} printable characters without spaces"
        )));
    }
    let store = state.store.clone();
    let view = blocking(move || {
        let order = store
            .order(&order_number)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no order {order_number}")))?;
        let mut idents: Vec<&str> = crate::orders::order_identifiers(&order).collect();
        idents.push(&order.order_number);
        let timeline = store.timeline(&idents)?;
        Ok(OrderView::new(order, timeline))
    })
    .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    1000
}

async fn site_events(
    _auth: Authorized<needs::Ops>,
    State(state): State<Arc<ApiState>>,
    Path(site_id): Path<String>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query?.0;
    if !valid_site(&site_id) {
        return Err(ApiError::invalid("invalid site id"));
    }
    let limit = q.limit.clamp(1, 10_000);
    let store = state.store.clone();
    let (events, hwm) = blocking(move || {
        Ok((
            store.site_events(&site_id, q.after, limit)?,
            store.high_water_mark(&site_id)?,
        ))
    })
    .await?;
    let next_after = events.last().map_or(q.after, |e| e.sequence);
    let events: Vec<_> = events.iter().map(|e| EventView::new(e, None)).collect();
    Ok(Json(
        serde_json::json!({ "high_water_mark": hwm, "next_after": next_after, "events": events }),
    ))
}

async fn list_sites(
    _auth: Authorized<needs::Ops>,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.store.clone();
    let sites = blocking(move || Ok(store.sites()?)).await?;
    let sites: Vec<_> = sites
        .into_iter()
        .map(|s| {
            let gateway = s.last_status.map(|g| {
                let now_ms = Utc::now().timestamp_millis();
                serde_json::json!({
                    "version": g.gateway_version,
                    "reported_at": format_utc(g.reported_ms),
                    // A gateway that stopped reporting shows here before anywhere else.
                    "report_age_secs": (now_ms - g.reported_ms).max(0) / 1000,
                    "last_sequence": g.last_sequence,
                    "acked_sequence": g.acked_sequence,
                    "backlog_events": g.backlog_events,
                    "lag_secs": g.lag_secs,
                    "certificate_expires_at": (g.certificate_not_after_ms > 0).then(|| format_utc(g.certificate_not_after_ms)),
                    "certificate_days_left": (g.certificate_not_after_ms > 0)
                        .then(|| (g.certificate_not_after_ms - now_ms).div_euclid(86_400_000)),
                    "link": g.link().as_str_name(),
                    "orders_held": g.orders_held,
                    "devices": g.devices.iter().map(|d| serde_json::json!({
                        "device_id": d.device_id,
                        "kind": d.kind,
                        "reads_total": d.reads_total,
                        "rejected_total": d.rejected_total,
                        "last_read_at": (d.last_read_ms > 0).then(|| format_utc(d.last_read_ms)),
                    })).collect::<Vec<_>>(),
                })
            });
            let gaps: Vec<_> = s
                .gaps
                .iter()
                .map(|g| {
                    serde_json::json!({ "first": g.first, "last": g.last, "reason": g.reason,
                                        "recorded_at": format_utc(g.recorded_ms) })
                })
                .collect();
            serde_json::json!({ "site_id": s.site_id, "high_water_mark": s.high_water_mark,
                                "gateway": gateway, "lost_sequences": gaps })
        })
        .collect();
    Ok(Json(serde_json::json!({ "sites": sites })))
}

async fn metrics(State(state): State<Arc<ApiState>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_number: String,
    pub site_id: String,
    pub created_at: String,
    pub parcels: Vec<ParcelBody>,
    pub timeline: Vec<EventView>,
}

impl OrderView {
    fn new(order: Order, timeline: Vec<Event>) -> Self {
        let timeline = timeline
            .iter()
            .map(|e| {
                let parcel = order.parcels.iter().find(|p| {
                    e.identifiers
                        .iter()
                        .any(|i| !i.value.is_empty() && [&p.sscc, &p.tracking_number, &p.epc].contains(&&i.value))
                });
                EventView::new(e, parcel.map(|p| p.parcel_id.clone()))
            })
            .collect();
        let some = |s: String| (!s.is_empty()).then_some(s);
        Self {
            created_at: format_utc(order.created_ms),
            parcels: order
                .parcels
                .into_iter()
                .map(|p| ParcelBody {
                    parcel_id: some(p.parcel_id),
                    sscc: some(p.sscc),
                    tracking_number: some(p.tracking_number),
                    epc: some(p.epc),
                })
                .collect(),
            order_number: order.order_number,
            site_id: order.site_id,
            timeline,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub event_id: String,
    pub site_id: String,
    pub sequence: u64,
    /// When it happened, in the zone it happened in.
    pub event_time: String,
    pub record_time: String,
    pub business_step: String,
    pub disposition: String,
    pub read_point: String,
    pub device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub antenna: Option<u32>,
    pub identifiers: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parcel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    pub read_count: u32,
    /// observation, milestone or exception.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// When the tag was last seen at the read point (the end of the stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rematched: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_milestone: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolves: Vec<String>,
}

impl EventView {
    fn new(e: &Event, parcel_id: Option<String>) -> Self {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Self {
            event_id: e.event_id.clone(),
            site_id: e.site_id.clone(),
            sequence: e.sequence,
            event_time: format_with_offset(e.event_time_ms, e.event_time_offset_minutes),
            record_time: format_utc(e.record_time_ms),
            business_step: e.business_step.clone(),
            disposition: e.disposition.clone(),
            read_point: e.read_point.clone(),
            device_id: e.device_id.clone(),
            antenna: (e.antenna > 0).then_some(e.antenna),
            identifiers: e
                .identifiers
                .iter()
                .map(|i| {
                    let kind = i
                        .kind()
                        .as_str_name()
                        .trim_start_matches("IDENTIFIER_KIND_")
                        .to_lowercase();
                    serde_json::json!({ "kind": kind, "value": i.value })
                })
                .collect(),
            parcel_id: some(&e.parcel_id).or(parcel_id),
            order_number: some(&e.order_number),
            read_count: e.read_count,
            kind: e.kind().as_str_name().trim_start_matches("EVENT_KIND_").to_lowercase(),
            milestone: some(&e.milestone),
            direction: some(&e.direction),
            last_seen: (e.last_seen_ms > 0).then(|| format_with_offset(e.last_seen_ms, e.event_time_offset_minutes)),
            late: e.late,
            rematched: e.rematched,
            exception: some(&e.exception),
            missing_milestone: some(&e.missing_milestone),
            resolves: e.resolves_event_ids.clone(),
        }
    }
}

pub(crate) fn format_utc(ms: i64) -> String {
    format_with_offset(ms, 0)
}

fn format_with_offset(ms: i64, offset_minutes: i32) -> String {
    let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap_or_else(|| Utc.fix());
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}
