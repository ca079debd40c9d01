//! Order routes: submit (create, or update with a newer revision), cancel an
//! order or one shipment, read an order with its shipments, parcels, status
//! and timeline, find a parcel by any identifier, list orders.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;

use super::input::{MAX_TEXT, OrderBody, Problems};
use super::list::{ListQuery, OrderPage};
use super::view::OrderView;
use super::{OrderError, OrderRecord, Submitted};
use crate::auth::{Authorized, needs};
use crate::error_code::ErrorCode;
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::identifier::{self, Refusal};
use crate::metrics::ReasonLabel;

/// Problems listed in one answer; the rest are counted.
const MAX_PROBLEMS: usize = 10;

impl From<Problems> for ApiError {
    fn from(p: Problems) -> Self {
        let mut problems = p.list;
        let more = problems.len().saturating_sub(MAX_PROBLEMS);
        problems.truncate(MAX_PROBLEMS);
        if more > 0 {
            problems.push(format!("and {more} more"));
        }
        ApiError::invalid(problems.join("; "))
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Store(e) => e.into(),
            e @ (OrderError::NotFound(_) | OrderError::NoShipment { .. } | OrderError::NoParcel { .. }) => {
                ApiError::new(ErrorCode::NotFound, e.to_string())
            }
            e @ (OrderError::Conflict(_)
            | OrderError::StaleRevision { .. }
            | OrderError::Cancelled(_)
            | OrderError::IdentifierTaken { .. }) => ApiError::new(ErrorCode::Conflict, e.to_string()),
        }
    }
}

fn checked_number(number: &str) -> Result<(), ApiError> {
    checked_identifier("order_number", number)
}

/// An identifier named in a path: a hidden character is named by code point.
fn checked_identifier(field: &str, value: &str) -> Result<(), ApiError> {
    match identifier::check(value) {
        Ok(()) => Ok(()),
        Err(refusal @ Refusal::Hidden(_)) => Err(ApiError::invalid(format!("{field} {refusal}"))),
        Err(_) => Err(ApiError::invalid(format!(
            "{field} must be 1-{MAX_TEXT} printable characters without spaces"
        ))),
    }
}

/// A submission refused, counted by reason.
fn refused(state: &ApiState, problems: Problems) -> ApiError {
    state
        .metrics
        .orders_rejected
        .get_or_create(&ReasonLabel {
            reason: problems.reason(),
        })
        .inc();
    problems.into()
}

/// `POST /api/v1/orders`: 201 when created, 200 when updated or unchanged.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    request_body = crate::http::openapi::OrderSubmission,
    responses(
        (status = 201, description = "Created", body = OrderView),
        (status = 200, description = "Updated (a newer revision) or unchanged (the same again)", body = OrderView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 409, description = "Another order holds one of its identifiers, or a newer revision or a cancellation is stored", body = ErrorBody),
        (status = 422, description = "A field is wrong; every problem is named", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:write", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn create_order(
    auth: Authorized<needs::OrdersWrite>,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<OrderBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let now = Utc::now().timestamp_millis();
    let order = body?.0.check(now).map_err(|p| refused(&state, p))?;
    submit(&state, order, &auth.principal.name).await
}

/// `PUT /api/v1/orders/{order_number}`: the same as a submission, for the
/// order the path names.
#[utoipa::path(put, path = "/api/v1/orders/{order_number}", tag = "orders",
    params(
        ("order_number" = String, Path, pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$", description = "The merchant's order number"),
    ),
    request_body = crate::http::openapi::OrderSubmission,
    responses(
        (status = 201, description = "Created", body = OrderView),
        (status = 200, description = "Updated or unchanged", body = OrderView),
        (status = 400, description = "The body is not JSON, or a path segment is not UTF-8", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 409, description = "Another order holds one of its identifiers, or a newer revision or a cancellation is stored", body = ErrorBody),
        (status = 422, description = "A field is wrong, or the body's order_number is not the path's", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:write", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn put_order(
    auth: Authorized<needs::OrdersWrite>,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
    body: Result<Json<OrderBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let body = body?.0;
    if body.order_number != number {
        return Err(ApiError::invalid(format!(
            "the body's order_number `{}` is not the path's `{number}`",
            body.order_number
        )));
    }
    let order = body
        .check(Utc::now().timestamp_millis())
        .map_err(|p| refused(&state, p))?;
    submit(&state, order, &auth.principal.name).await
}

async fn submit(
    state: &Arc<ApiState>,
    order: OrderRecord,
    by: &str,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let store = state.store.clone();
    let (order, done, view) = blocking(move || {
        let now = Utc::now().timestamp_millis();
        let (order, done) = store.submit_order(order, now)?;
        let view = OrderView::load(&store, order.clone())?;
        Ok((order, done, view))
    })
    .await?;
    if done != Submitted::Unchanged {
        state.metrics.orders_created.inc();
        state.order_writes.send_modify(|n| *n += 1);
        tracing::info!(order = %order.order_number, revision = order.revision, shipments = order.shipments.len(), outcome = ?done, by = %by, "order submitted");
    }
    let code = if done == Submitted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(view)))
}

/// `POST /api/v1/orders/{order_number}/cancel`.
#[utoipa::path(post, path = "/api/v1/orders/{order_number}/cancel", tag = "orders",
    params(
        ("order_number" = String, Path, pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$", description = "The merchant's order number"),
    ),
    responses(
        (status = 200, description = "Cancelled (or already was)", body = OrderView),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The order cannot be cancelled now", body = ErrorBody),
        (status = 400, description = "A path segment is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 422, description = "The order number is malformed", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:write", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn cancel_order(
    auth: Authorized<needs::OrdersWrite>,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    checked_number(&number)?;
    cancel(&state, number, None, &auth.principal.name).await
}

/// `POST /api/v1/orders/{order_number}/shipments/{shipment_id}/cancel`.
#[utoipa::path(post, path = "/api/v1/orders/{order_number}/shipments/{shipment_id}/cancel", tag = "orders",
    params(
        ("order_number" = String, Path, pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$", description = "The merchant's order number"),
        ("shipment_id" = String, Path, description = "The shipment, as the order names it"),
    ),
    responses(
        (status = 200, description = "The shipment is cancelled (or already was)", body = OrderView),
        (status = 404, description = "No such order or shipment", body = ErrorBody),
        (status = 409, description = "The shipment cannot be cancelled now", body = ErrorBody),
        (status = 400, description = "A path segment is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 422, description = "The order number is malformed", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:write", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn cancel_shipment(
    auth: Authorized<needs::OrdersWrite>,
    State(state): State<Arc<ApiState>>,
    Path((number, shipment)): Path<(String, String)>,
) -> Result<Json<OrderView>, ApiError> {
    checked_number(&number)?;
    cancel(&state, number, Some(shipment), &auth.principal.name).await
}

async fn cancel(
    state: &Arc<ApiState>,
    number: String,
    shipment: Option<String>,
    by: &str,
) -> Result<Json<OrderView>, ApiError> {
    let store = state.store.clone();
    let (view, changed) = blocking(move || {
        let (order, changed) = store.cancel_order(&number, shipment.as_deref(), Utc::now().timestamp_millis())?;
        Ok((OrderView::load(&store, order)?, changed))
    })
    .await?;
    if changed {
        state.order_writes.send_modify(|n| *n += 1);
        tracing::info!(order = %view.order_number, by = %by, "order cancelled (whole or a shipment)");
    }
    Ok(Json(view))
}

/// `GET /api/v1/orders/{order_number}`.
#[utoipa::path(get, path = "/api/v1/orders/{order_number}", tag = "orders",
    params(
        ("order_number" = String, Path, pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$", description = "The merchant's order number"),
    ),
    responses(
        (status = 200, description = "The order with its shipments, parcels, status and timelines", body = OrderView),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 400, description = "A path segment is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 422, description = "The order number is malformed", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:read", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn get_order(
    _auth: Authorized<needs::OrdersRead>,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    checked_number(&number)?;
    let store = state.store.clone();
    let view = blocking(move || {
        let order = store
            .order(&number)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no order {number}")))?;
        Ok(OrderView::load(&store, order)?)
    })
    .await?;
    Ok(Json(view))
}

/// `GET /api/v1/parcels/{identifier}`: the order holding the parcel with that
/// SSCC, EPC or tracking number, with `parcel_id` naming the parcel.
#[utoipa::path(get, path = "/api/v1/parcels/{identifier}", tag = "orders",
    params(
        ("identifier" = String, Path, description = "An SSCC, EPC or tracking number"),
    ),
    responses(
        (status = 200, description = "The order holding it", body = FoundParcel),
        (status = 404, description = "No parcel or shipment has this identifier", body = ErrorBody),
        (status = 400, description = "A path segment is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 422, description = "The identifier is malformed", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:read", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn find_parcel(
    _auth: Authorized<needs::OrdersRead>,
    State(state): State<Arc<ApiState>>,
    Path(identifier): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    checked_identifier("identifier", &identifier)?;
    let store = state.store.clone();
    let found = blocking(move || {
        let order = store.order_by_identifier(&identifier)?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("no parcel or shipment has the identifier {identifier}"),
            )
        })?;
        let parcel = order
            .parcels()
            .find(|(s, p)| {
                p.identifiers().any(|i| i == identifier) || s.tracking_number.as_deref() == Some(&identifier)
            })
            .map(|(s, p)| (s.shipment_id.clone(), p.parcel_id.clone()));
        Ok((OrderView::load(&store, order)?, parcel))
    })
    .await?;
    let (view, parcel) = found;
    let (shipment_id, parcel_id) = parcel.unzip();
    Ok(Json(serde_json::json!({
        "shipment_id": shipment_id,
        "parcel_id": parcel_id,
        "order": view,
    })))
}

/// `GET /api/v1/orders?site=&status=&carrier=&overlay=&updated_since=&limit=&cursor=`.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders",
    params(
        ListQuery,
    ),
    responses(
        (status = 200, description = "A page of orders, least recently changed first", body = OrderPage),
        (status = 400, description = "A query parameter is unknown or not of its type", body = ErrorBody),
        (status = 422, description = "A filter's value is wrong; every problem is named", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:read", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn list_orders(
    _auth: Authorized<needs::OrdersRead>,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<OrderPage>, ApiError> {
    let filter = query?.0.check()?;
    let store = state.store.clone();
    let page = blocking(move || Ok(store.list_orders(&filter)?)).await?;
    Ok(Json(page))
}

/// What `find_parcel` answers (the shape of its JSON, for the API document).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FoundParcel {
    /// The shipment holding it; `null` when no parcel names the identifier itself.
    pub shipment_id: Option<String>,
    pub parcel_id: Option<String>,
    pub order: OrderView,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    /// `assert` or `retract`.
    #[schema(examples("assert", "retract"))]
    pub action: String,
    pub milestone: String,
    pub reason: String,
    /// When it happened (RFC 3339); now when absent.
    #[serde(default)]
    pub event_time: Option<String>,
}

/// `POST /api/v1/orders/{order_number}/parcels/{parcel_id}/corrections`: an
/// audited assertion or retraction of a milestone, shown in the timeline as a
/// correction by the token's name.
#[utoipa::path(post, path = "/api/v1/orders/{order_number}/parcels/{parcel_id}/corrections", tag = "orders",
    params(
        ("order_number" = String, Path, pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$", description = "The merchant's order number"),
        ("parcel_id" = String, Path, description = "The parcel, as the order names it"),
    ),
    request_body = CorrectionBody,
    responses(
        (status = 201, description = "Recorded; the order as it reads now", body = OrderView),
        (status = 400, description = "The body is not JSON, or a path segment is not UTF-8", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 404, description = "No such order or parcel", body = ErrorBody),
        (status = 409, description = "The order changed meanwhile; retry", body = ErrorBody),
        (status = 422, description = "A field is wrong; every problem is named", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:write", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn correct_parcel(
    auth: Authorized<needs::OrdersWrite>,
    State(state): State<Arc<ApiState>>,
    Path((number, parcel_id)): Path<(String, String)>,
    body: Result<Json<CorrectionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    checked_number(&number)?;
    let body = body?.0;
    let now = Utc::now().timestamp_millis();
    let mut problems = Vec::new();
    let assert = match body.action.as_str() {
        "assert" => true,
        "retract" => false,
        other => {
            problems.push(format!("action `{other}` is not assert or retract"));
            false
        }
    };
    let milestone = crate::status::Milestone::parse(&body.milestone);
    if milestone.is_none() {
        problems.push(format!("milestone `{}` is not a milestone", body.milestone));
    }
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.len() > 500 || reason.chars().any(char::is_control) {
        problems.push("reason must be 1-500 printable characters".into());
    }
    let event_time_ms = match body.event_time.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
        None => now,
        Some(Ok(t)) => t.timestamp_millis(),
        Some(Err(_)) => {
            problems.push("event_time is not an RFC 3339 time".into());
            now
        }
    };
    let (Some(milestone), true) = (milestone, problems.is_empty()) else {
        return Err(ApiError::invalid(problems.join("; ")));
    };
    let correction = super::Correction {
        parcel_id,
        assert,
        milestone,
        reason,
        actor: auth.principal.name.clone(),
        event_time_ms,
    };
    let store = state.store.clone();
    let view = blocking(move || {
        let order = store.correct_parcel(&number, &correction, now)?;
        let order = store.order(&order.order_number)?.unwrap_or(order);
        tracing::info!(order = %order.order_number, parcel = %correction.parcel_id, milestone = correction.milestone.as_str(), assert = correction.assert, by = %correction.actor, reason = %correction.reason, "status corrected by an operator");
        Ok(OrderView::load(&store, order)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}
