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

use super::{Authorized, Revoked, Scope, TokenSource, TokenView, needs, parse_scopes, valid_name};
use crate::error_code::ErrorCode;
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::timeline::view::format_utc;

/// Ten years: long enough for any integration, short enough to add without overflow.
pub const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    #[schema(value_type = Vec<Scope>, min_items = 1, max_items = 8)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// What `create` answers (the shape of its JSON, for the API document).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct IssuedToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The secret: shown here only.
    pub token: String,
    pub created_at: String,
    /// `null`: it does not expire.
    pub expires_at: Option<String>,
}

/// What `list` answers.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenList {
    pub tokens: Vec<ListedToken>,
}

#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ListedToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub source: TokenSource,
    /// `null` for a token from the config file.
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked: bool,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens",
    request_body = CreateTokenBody,
    responses(
        (status = 201, description = "Issued; the secret is in this answer only", body = IssuedToken),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "A field is wrong; every problem is named", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope admin", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
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

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses(
        (status = 200, description = "Every token, never a secret or a hash", body = TokenList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope admin", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
    ),
)]
pub async fn list(_admin: Authorized<needs::Admin>, State(state): State<Arc<ApiState>>) -> Json<Value> {
    let tokens: Vec<Value> = state.gatekeeper.list().iter().map(view).collect();
    Json(json!({ "tokens": tokens }))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "A path segment is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 409, description = "The token comes from the config file", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope admin", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
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
