//! Carrier routes: the webhook receivers (authenticated by each provider's
//! own signature, not a bearer token) and the API integration engineers and
//! support use (accounts with their last webhook and errors, the stored
//! webhooks, held tracking numbers, what a carrier said about a number).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::Provider;
use super::config::valid_account_name;
use super::receiver::AccountSource;
use super::signature::{self, Request as SignedRequest};
use super::store::{AccountStats, HeldTracking, NewWebhook, WebhookRecord};
use crate::auth::{Authorized, needs};
use crate::error_code::ErrorCode;
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::metrics::{ProviderLabel, ProviderReasonLabel};
use crate::orders::view::CarrierEntry;
use crate::timeline::view::format_utc;

pub const WEBHOOK_PATH: &str = "/webhooks/carriers/{provider}/{account}";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Received {
    /// The stored webhook's id (`GET /api/v1/carriers/webhooks`).
    pub received: i64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookQuery {
    /// Shippo's self-generated URL token option (instead of its HMAC header).
    token: Option<String>,
}

struct Signed<'a> {
    headers: &'a HeaderMap,
    token: Option<&'a str>,
}

impl SignedRequest for Signed<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn query_token(&self) -> Option<&str> {
        self.token
    }
}

/// A carrier's or tracking aggregator's webhook. The provider's own scheme is
/// checked on the raw body before anything parses it; a verified body is
/// stored durably, then acknowledged; normalization follows from storage.
#[utoipa::path(post, path = "/webhooks/carriers/{provider}/{account}", tag = "carriers", security(()),
    params(
        ("provider" = String, Path, description = "easypost, aftership, shippo, 17track, ups, fedex, karrio or waymark"),
        ("account" = String, Path, description = "The account's name in `[[carriers.accounts]]` or the API"),
        WebhookQuery,
    ),
    request_body(content = Object, description = "The provider's own payload, signed per its scheme (docs/carriers.md)", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored; normalized shortly after", body = Received),
        (status = 401, description = "Missing, malformed, stale or wrong signature: nothing stored", body = ErrorBody),
        (status = 404, description = "No such provider or account", body = ErrorBody),
        (status = 413, description = "The body is larger than carriers.max_body_bytes", body = ErrorBody),
        (status = 503, description = "The store is unavailable or the inbox full; the provider retries", body = ErrorBody),
    ),
)]
pub async fn receive(
    State(state): State<Arc<ApiState>>,
    Path((provider_name, account)): Path<(String, String)>,
    query: Result<Query<WebhookQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Received>, ApiError> {
    let started = Instant::now();
    let intake = state.carriers.clone();
    let metrics = &state.metrics.carriers;
    let reject = |provider: &'static str, reason: &'static str| {
        metrics
            .rejected
            .get_or_create(&ProviderReasonLabel { provider, reason })
            .inc();
    };
    let Some(provider) = Provider::parse(&provider_name) else {
        reject("unknown", "unknown_provider");
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "no such carrier provider (easypost, aftership, shippo, 17track, ups, fedex, karrio, waymark)",
        ));
    };
    let Some(secret) = valid_account_name(&account)
        .then(|| intake.secret(provider, &account))
        .flatten()
    else {
        reject(provider.as_str(), "unknown_account");
        warn!(provider = %provider, account = %account, "carrier webhook for an unknown account");
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no {provider} account of that name is configured"),
        ));
    };
    let bytes = match axum::body::to_bytes(body, intake.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            reject(provider.as_str(), "too_large");
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {} bytes", intake.max_body_bytes),
            ));
        }
    };
    let token = query.ok().and_then(|q| q.0.token);
    let signed = Signed {
        headers: &headers,
        token: token.as_deref(),
    };
    if let Err(e) = signature::verify(provider, &secret, &signed, &bytes, Utc::now().timestamp()) {
        reject(provider.as_str(), e.reason());
        warn!(provider = %provider, account = %account, reason = e.reason(), "carrier webhook refused");
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            format!("{provider} signature: {e}"),
        ));
    }
    let webhook = NewWebhook {
        provider,
        account,
        body: bytes.to_vec(),
        received_ms: Utc::now().timestamp_millis(),
    };
    match intake.store(webhook).await {
        Ok(id) => {
            metrics
                .received
                .get_or_create(&ProviderLabel {
                    provider: provider.as_str(),
                })
                .inc();
            metrics.ack_seconds.observe(started.elapsed().as_secs_f64());
            Ok(Json(Received { received: id }))
        }
        Err(e) => {
            reject(provider.as_str(), "not_stored");
            warn!(provider = %provider, error = %e, "carrier webhook not stored; the provider will retry");
            Err(ApiError::new(ErrorCode::Unavailable, e.to_string()))
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CarrierOverview {
    pub accounts: Vec<AccountView>,
    /// Stored webhooks not normalized yet.
    pub webhooks_pending: u64,
    /// Stored webhooks whose normalization failed after its retries.
    pub webhooks_failed: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub provider: String,
    pub name: String,
    pub source: AccountSource,
    /// Where the provider posts (relative to this API's address).
    pub webhook_path: String,
    pub received: i64,
    pub last_received_at: Option<String>,
    pub failed: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// Every carrier account with its last webhook and its errors.
#[utoipa::path(get, path = "/api/v1/carriers", tag = "carriers",
    responses(
        (status = 200, description = "Accounts and the normalization backlog", body = CarrierOverview),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope ops", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn overview(
    _auth: Authorized<needs::Ops>,
    State(state): State<Arc<ApiState>>,
) -> Result<Json<CarrierOverview>, ApiError> {
    let store = state.store.clone();
    let (stats, (pending, failed)) =
        blocking(move || Ok((store.carrier_account_stats()?, store.carrier_backlog()?))).await?;
    let accounts = state
        .carriers
        .accounts()
        .into_iter()
        .map(|(provider, name, source)| {
            let s = stats
                .iter()
                .find(|(p, n, _)| p == provider.as_str() && *n == name)
                .map(|(_, _, s)| s.clone())
                .unwrap_or_else(AccountStats::default);
            AccountView {
                provider: provider.to_string(),
                webhook_path: format!("/webhooks/carriers/{provider}/{name}"),
                name,
                source,
                received: s.received,
                last_received_at: s.last_received_ms.map(format_utc),
                failed: s.failed,
                last_error: s.last_error,
                last_error_at: s.last_error_ms.map(format_utc),
            }
        })
        .collect();
    Ok(Json(CarrierOverview {
        accounts,
        webhooks_pending: pending,
        webhooks_failed: failed,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    /// easypost, aftership, shippo, 17track, ups, fedex, karrio or waymark.
    pub provider: String,
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// The provider's webhook secret (never shown again).
    #[schema(min_length = 1, max_length = 4096)]
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountSaved {
    pub provider: String,
    pub name: String,
    pub webhook_path: String,
    pub created: bool,
}

/// Adds a carrier account (or replaces its secret); every central process
/// takes it within 2 s.
#[utoipa::path(post, path = "/api/v1/carriers/accounts", tag = "carriers",
    request_body = AccountBody,
    responses(
        (status = 201, description = "Added", body = AccountSaved),
        (status = 200, description = "Its secret replaced", body = AccountSaved),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope admin", body = ErrorBody),
        (status = 409, description = "The account is configured in the config file", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Unknown provider, bad name or empty secret", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn put_account(
    admin: Authorized<needs::Admin>,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<AccountBody>, JsonRejection>,
) -> Result<(StatusCode, Json<AccountSaved>), ApiError> {
    let body = body?.0;
    let provider = Provider::parse(&body.provider).ok_or_else(|| ApiError::invalid("unknown provider"))?;
    if !valid_account_name(&body.name) {
        return Err(ApiError::invalid(
            "name: 1-64 letters, digits, `-`, `_` or `.` (it is part of the webhook URL)",
        ));
    }
    if body.secret.is_empty() || body.secret.len() > 4096 {
        return Err(ApiError::invalid("secret: 1-4096 bytes"));
    }
    if state.carriers.is_configured(provider, &body.name) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this account is configured in the config file; change it there",
        ));
    }
    let (store, intake, by) = (
        state.store.clone(),
        state.carriers.clone(),
        admin.principal.name.clone(),
    );
    let name = body.name.clone();
    let created = blocking(move || {
        let created = store.put_carrier_account(provider, &name, &body.secret, &by, Utc::now().timestamp_millis())?;
        intake.refresh()?;
        Ok(created)
    })
    .await?;
    info!(provider = %provider, account = %body.name, by = %admin.principal.name, "carrier account saved");
    Ok((
        if created { StatusCode::CREATED } else { StatusCode::OK },
        Json(AccountSaved {
            provider: provider.to_string(),
            webhook_path: format!("/webhooks/carriers/{provider}/{}", body.name),
            name: body.name,
            created,
        }),
    ))
}

/// Removes an account added through the API; its webhooks are refused from then on.
#[utoipa::path(delete, path = "/api/v1/carriers/accounts/{provider}/{name}", tag = "carriers",
    params(("provider" = String, Path, description = "The provider"), ("name" = String, Path, description = "The account")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope admin", body = ErrorBody),
        (status = 404, description = "No such account added through the API", body = ErrorBody),
        (status = 409, description = "The account is configured in the config file", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn delete_account(
    _admin: Authorized<needs::Admin>,
    State(state): State<Arc<ApiState>>,
    Path((provider, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let provider = Provider::parse(&provider).ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such provider"))?;
    if state.carriers.is_configured(provider, &name) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this account is configured in the config file; remove it there",
        ));
    }
    let (store, intake) = (state.store.clone(), state.carriers.clone());
    let removed = blocking(move || {
        let removed = store.delete_carrier_account(provider, &name)?;
        intake.refresh()?;
        Ok(removed)
    })
    .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCode::NotFound,
            "no such account added through the API",
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WebhooksQuery {
    /// pending, done or failed; every state when absent.
    state: Option<String>,
    /// Webhooks with a smaller id (the previous page's last).
    before: Option<i64>,
    /// At most this many (1-1000).
    #[param(default = 100)]
    limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookRecord>,
}

/// Stored webhooks, newest first: what arrived, whether it normalized, why not.
#[utoipa::path(get, path = "/api/v1/carriers/webhooks", tag = "carriers",
    params(WebhooksQuery),
    responses(
        (status = 200, description = "Webhooks, newest first", body = WebhookList),
        (status = 400, description = "A query parameter is unknown or not of its type", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope ops", body = ErrorBody),
        (status = 422, description = "state is not pending, done or failed", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn list_webhooks(
    _auth: Authorized<needs::Ops>,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<WebhooksQuery>, QueryRejection>,
) -> Result<Json<WebhookList>, ApiError> {
    let q = query?.0;
    if let Some(s) = &q.state
        && !["pending", "done", "failed"].contains(&s.as_str())
    {
        return Err(ApiError::invalid("state: pending, done or failed"));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let store = state.store.clone();
    let webhooks = blocking(move || Ok(store.carrier_webhooks(q.state.as_deref(), q.before, limit)?)).await?;
    Ok(Json(WebhookList { webhooks }))
}

/// Puts a failed webhook back in the normalizer's queue.
#[utoipa::path(post, path = "/api/v1/carriers/webhooks/{id}/retry", tag = "carriers",
    params(("id" = i64, Path, description = "The webhook")),
    responses(
        (status = 204, description = "Queued again"),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope ops", body = ErrorBody),
        (status = 404, description = "No failed webhook with this id", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn retry_webhook(
    _auth: Authorized<needs::Ops>,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    if blocking(move || Ok(store.retry_carrier_webhook(id)?)).await? {
        state.carriers_wake.notify_one();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(ErrorCode::NotFound, "no failed webhook with this id"))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldList {
    /// Oldest first: carrier events of these numbers wait for their order.
    pub tracking_numbers: Vec<HeldTracking>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HeldQuery {
    /// At most this many (1-1000).
    #[param(default = 100)]
    limit: Option<usize>,
}

/// Tracking numbers carriers told us about that match no order yet, with
/// their count and age (matched when their order arrives).
#[utoipa::path(get, path = "/api/v1/carriers/unmatched", tag = "carriers",
    params(HeldQuery),
    responses(
        (status = 200, description = "Held tracking numbers, oldest first", body = HeldList),
        (status = 400, description = "A query parameter is unknown or not of its type", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope ops", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn unmatched(
    _auth: Authorized<needs::Ops>,
    State(state): State<Arc<ApiState>>,
    query: Result<Query<HeldQuery>, QueryRejection>,
) -> Result<Json<HeldList>, ApiError> {
    let limit = query?.0.limit.unwrap_or(100).clamp(1, 1000);
    let store = state.store.clone();
    let tracking_numbers = blocking(move || Ok(store.held_tracking(limit)?)).await?;
    Ok(Json(HeldList { tracking_numbers }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrackingEvents {
    pub tracking_number: String,
    /// Every canonical event of the number, in event-time order.
    pub events: Vec<CarrierEntry>,
}

/// What carriers said about a tracking number, canonical and raw code side by side.
#[utoipa::path(get, path = "/api/v1/carriers/tracking/{tracking_number}", tag = "carriers",
    params(("tracking_number" = String, Path, description = "The carrier's tracking number")),
    responses(
        (status = 200, description = "Its events, in event-time order", body = TrackingEvents),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:read", body = ErrorBody),
        (status = 404, description = "No carrier event names this number", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn tracking(
    _auth: Authorized<needs::OrdersRead>,
    State(state): State<Arc<ApiState>>,
    Path(tracking_number): Path<String>,
) -> Result<Json<TrackingEvents>, ApiError> {
    let store = state.store.clone();
    let tn = tracking_number.clone();
    let mut events = blocking(move || Ok(store.carrier_events_of_tracking(&tn)?)).await?;
    if events.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "no carrier event names this tracking number",
        ));
    }
    events.sort_by_key(|e| (e.event.event_time_ms.unwrap_or(e.recorded_ms), e.webhook_id));
    Ok(Json(TrackingEvents {
        tracking_number,
        events: events.iter().map(CarrierEntry::new).collect(),
    }))
}
