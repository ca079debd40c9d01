//! `POST /api/v1/sites/{site_id}/enrollment-tokens`: an operator issues a
//! one-time token that site IT gives `waymark-gateway enroll`. The secret is in
//! this response only; central keeps its hash.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::SecondsFormat;
use serde::Deserialize;

use super::enroll::{DEFAULT_TOKEN_TTL, IssueError, MAX_TOKEN_TTL, issue_token};
use crate::auth::{Authorized, needs};
use crate::error_code::ErrorCode;
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::identity::valid_site;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// How long the token may be used; default a day, at most a week.
    pub ttl_secs: Option<u64>,
}

/// What `issue_enrollment_token` answers (the shape of its JSON, for the API document).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct IssuedEnrollmentToken {
    pub site: String,
    /// The secret: shown here only.
    pub token: String,
    pub expires_at: String,
    pub single_use: bool,
    pub enroll_command: String,
}

#[utoipa::path(post, path = "/api/v1/sites/{site_id}/enrollment-tokens", tag = "tokens",
    params(("site_id" = String, Path, description = "The site the gateway will serve")),
    request_body(content = Option<IssueBody>, description = "Optional: an empty body takes the defaults"),
    responses(
        (status = 201, description = "Issued", body = IssuedEnrollmentToken),
        (status = 400, description = "The body is not JSON, or a path segment is not UTF-8", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 409, description = "Central runs with insecure_plaintext: there are no certificates to enroll for", body = ErrorBody),
        (status = 422, description = "The site id or ttl_secs is wrong", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope sites:enroll", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn issue_enrollment_token(
    auth: Authorized<needs::SitesEnroll>,
    State(state): State<Arc<ApiState>>,
    Path(site): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body: IssueBody = if body.iter().all(u8::is_ascii_whitespace) {
        IssueBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, e.to_string()))?
    };
    if !valid_site(&site) {
        return Err(ApiError::invalid("site_id must be 1-64 of a-z 0-9 - _"));
    }
    let ttl = body.ttl_secs.map_or(DEFAULT_TOKEN_TTL, Duration::from_secs);
    if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
        return Err(ApiError::invalid(format!(
            "ttl_secs must be 1..={}",
            MAX_TOKEN_TTL.as_secs()
        )));
    }
    let Some(pki) = state.pki.clone() else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "central runs with insecure_plaintext: gateways have no certificates to enroll for",
        ));
    };
    let store = state.store.clone();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let issued = blocking(move || {
        issue_token(&store, &pki, &site, ttl, now_ms).map_err(|e| match e {
            IssueError::Store(e) => ApiError::from(e),
            IssueError::Random(e) => {
                tracing::error!(error = %e, "cannot issue an enrollment token");
                ApiError::new(ErrorCode::Unavailable, "cannot make a token now; retry")
            }
        })
    })
    .await?;
    tracing::info!(site = %issued.site, by = %auth.principal.name, "enrollment token issued through the API");
    let expires_at = chrono::DateTime::from_timestamp_millis(issued.expires_ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "site": issued.site,
            "token": issued.token,
            "expires_at": expires_at,
            "single_use": true,
            "enroll_command": format!(
                "WAYMARK_ENROLL_TOKEN={} waymark-gateway enroll --config /etc/waymark/gateway.toml",
                issued.token
            ),
        })),
    ))
}
