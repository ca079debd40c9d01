//! Order routes: create an order (merchant systems), read one with its timeline.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use waymark_proto::v1::{Event, Order};

use super::{NewOrder, NewParcel, OrderError};
use crate::auth::{Authorized, needs};
use crate::error_code::ErrorCode;
use crate::http::{ApiError, ApiState, blocking};
use crate::identity::valid_site;
use crate::timeline::view::format_utc;

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

pub async fn create_order(
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

pub async fn get_order(
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

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_number: String,
    pub site_id: String,
    pub created_at: String,
    pub parcels: Vec<ParcelBody>,
    pub timeline: Vec<crate::timeline::view::EventView>,
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
                crate::timeline::view::EventView::new(e, parcel.map(|p| p.parcel_id.clone()))
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
