//! Ops routes: every site's state, and a site's events in sequence order.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use serde::Deserialize;

use crate::auth::{Authorized, needs};
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::identity::valid_site;
use crate::timeline::view::{EventView, format_utc};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Events after this sequence number (the previous page's `next_after`).
    #[serde(default)]
    after: u64,
    /// At most this many events (1-10000; larger is served 10000).
    #[serde(default = "default_limit")]
    #[param(default = 1000)]
    limit: usize,
}

/// What `site_events` answers (the shape of its JSON, for the API document).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SiteEvents {
    pub high_water_mark: u64,
    /// Pass as `after` for the next page.
    pub next_after: u64,
    pub events: Vec<EventView>,
}

/// What `list_sites` answers.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SiteList {
    pub sites: Vec<SiteState>,
}

#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SiteState {
    pub site_id: String,
    pub high_water_mark: u64,
    /// The gateway's last status report (version, lag, backlog, certificate,
    /// link, devices); `null` before its first.
    #[schema(value_type = Option<Object>)]
    pub gateway: Option<serde_json::Value>,
    pub lost_sequences: Vec<LostSequences>,
}

#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LostSequences {
    pub first: u64,
    pub last: u64,
    pub reason: String,
    pub recorded_at: String,
}

fn default_limit() -> usize {
    1000
}

/// A site's events in sequence order, a page at a time.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/events", tag = "ops",
    params(("site_id" = String, Path, description = "The site"), EventsQuery),
    responses(
        (status = 200, description = "Events after `after`, with the site's high-water mark", body = SiteEvents),
        (status = 400, description = "A query parameter is unknown or not of its type, or a path segment is not UTF-8", body = ErrorBody),
        (status = 422, description = "The site id is malformed", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope ops", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn site_events(
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

/// Every site's state: its high-water mark, its gateway's last report, lost sequences.
#[utoipa::path(get, path = "/api/v1/sites", tag = "ops",
    responses(
        (status = 200, description = "Every site", body = SiteList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope ops", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn list_sites(
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
