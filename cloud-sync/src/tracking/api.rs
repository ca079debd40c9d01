//! `POST /api/v1/orders/{order_number}/tracking-link`: the API that mints a
//! signed link to an order's tracking page (for notifications and tests). In
//! the OpenAPI document, unlike the pages themselves.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::SecondsFormat;
use serde::Deserialize;

use super::lang::Lang;
use super::load;
use super::lookup::order_number;
use crate::auth::{Authorized, needs};
use crate::error_code::ErrorCode;
use crate::http::{ApiError, ApiState, ErrorBody, blocking};

/// The body of `POST /api/v1/orders/{order_number}/tracking-link`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintLinkBody {
    /// How long the link opens the order; `[tracking] link_ttl_days` when absent.
    #[schema(minimum = 1, maximum = 365)]
    pub ttl_days: Option<u32>,
    /// The page's language when the URL names none: en, de, fr or es.
    #[schema(pattern = "^(en|de|fr|es)$")]
    pub language: Option<String>,
}

/// What `mint_link` answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MintedLink {
    /// The path of the order's tracking page on central's HTTP listener.
    pub url: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// `POST /api/v1/orders/{order_number}/tracking-link`: a signed link to the
/// order's tracking page, for notifications.
#[utoipa::path(post, path = "/api/v1/orders/{order_number}/tracking-link", tag = "orders",
    params(
        ("order_number" = String, Path, pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$", description = "The merchant's order number"),
    ),
    request_body(content = Option<MintLinkBody>, description = "Optional: an empty body takes the defaults"),
    responses(
        (status = 201, description = "A link to the order's tracking page", body = MintedLink),
        (status = 400, description = "The body is not JSON, or a path segment is not UTF-8", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 422, description = "The order number, ttl_days or language is wrong", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:read", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn mint_link(
    _auth: Authorized<needs::OrdersRead>,
    State(api): State<Arc<ApiState>>,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<MintedLink>), ApiError> {
    let body: MintLinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        MintLinkBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, e.to_string()))?
    };
    if order_number(&number) != Some(number.as_str()) {
        return Err(ApiError::invalid(
            "order_number must be 1-128 printable characters without spaces",
        ));
    }
    let t = &api.tracking;
    let ttl_days = body.ttl_days.unwrap_or(t.settings.link_ttl_days);
    if !(1..=super::config::MAX_LINK_TTL_DAYS).contains(&ttl_days) {
        return Err(ApiError::invalid(format!(
            "ttl_days must be 1..={}",
            super::config::MAX_LINK_TTL_DAYS
        )));
    }
    let lang = match body.language.as_deref() {
        None => None,
        Some(l) => Some(
            Lang::ALL
                .into_iter()
                .find(|x| x.as_str() == l)
                .ok_or_else(|| ApiError::invalid("language must be one of en, de, fr, es"))?,
        ),
    };
    let store = api.store.clone();
    let n = number.clone();
    if blocking(move || Ok(load::order(&store, &n)?)).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no order {number}")));
    }
    let expires_at_s = chrono::Utc::now().timestamp() + i64::from(ttl_days) * 86_400;
    let token = super::mint(t.signing_key(), &number, expires_at_s, lang);
    let expires_at = chrono::DateTime::from_timestamp(expires_at_s, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(MintedLink {
            url: format!("/track/{token}"),
            expires_at,
        }),
    ))
}
