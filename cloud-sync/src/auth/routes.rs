//! `/api/v1/tokens`: issue (the secret is shown once), list (never secrets or
//! hashes) and revoke API tokens. Admin scope only.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;

use super::{Authorized, Revoked, TokenView, needs, parse_scopes, valid_name};
use crate::error_code::ErrorCode;
use crate::http::{ApiError, ApiState, blocking};
use crate::timeline::view::format_utc;

/// Ten years: long enough for any integration, short enough to add without overflow.
pub const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

pub async fn create(
    admin: Authorized<needs::Admin>,
    State(state): State<Arc<ApiState>>,
    body: Result<Json<CreateTokenBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body?.0;
    let mut problems = Vec::new();
    if !valid_name(&body.name) {
        problems.push(format!(
            "name must be 1-{} characters of a-z, A-Z, 0-9, '-', '_' or '.'",
            super::MAX_NAME_LEN
        ));
    }
    let scopes = parse_scopes(&body.scopes).unwrap_or_else(|p| {
        problems.push(p);
        Vec::new()
    });
    if body.ttl_secs.is_some_and(|t| !(1..=MAX_TTL_SECS).contains(&t)) {
        problems.push(format!("ttl_secs must be 1-{MAX_TTL_SECS}"));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems.join("; ")));
    }
    let expires_ms = body
        .ttl_secs
        .map(|t| Utc::now().timestamp_millis().saturating_add_unsigned(t * 1000));
    let name = body.name;
    let issued = blocking(move || {
        state.gatekeeper.issue(&name, scopes, expires_ms).map_err(|e| {
            tracing::error!(error = %e, "cannot issue an api token");
            ApiError::new(ErrorCode::Unavailable, "cannot issue a token now; retry")
        })
    })
    .await?;
    let r = &issued.record;
    info!(token = %r.id, name = %r.name, scopes = ?r.scopes, by = %admin.principal.name, "api token issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": r.id,
            "name": r.name,
            "scopes": r.scopes,
            "token": issued.secret,
            "created_at": format_utc(r.created_ms),
            "expires_at": r.expires_ms.map(format_utc),
        })),
    ))
}

pub async fn list(_admin: Authorized<needs::Admin>, State(state): State<Arc<ApiState>>) -> Json<Value> {
    let tokens: Vec<Value> = state.gatekeeper.list().iter().map(view).collect();
    Json(json!({ "tokens": tokens }))
}

pub async fn revoke(
    admin: Authorized<needs::Admin>,
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if id.is_empty() || id.len() > 2 * super::MAX_NAME_LEN {
        return Err(ApiError::new(ErrorCode::NotFound, "no such token"));
    }
    let outcome = blocking(move || Ok(state.gatekeeper.revoke(&id)?)).await?;
    match outcome {
        Revoked::Revoked(t) => {
            info!(token = %t.id, name = %t.name, by = %admin.principal.name, "api token revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        Revoked::NotFound => Err(ApiError::new(ErrorCode::NotFound, "no such token")),
        Revoked::Provisioned(name) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("token `{name}` comes from the config file; remove it there and restart"),
        )),
    }
}

fn view(t: &TokenView) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "scopes": t.scopes,
        "source": t.source,
        "created_at": t.created_ms.map(format_utc),
        "expires_at": t.expires_ms.map(format_utc),
        "revoked": t.revoked,
    })
}
