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
use crate::http::{ApiError, ApiState, blocking};
use crate::identity::valid_site;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// How long the token may be used; default a day, at most a week.
    pub ttl_secs: Option<u64>,
}

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
