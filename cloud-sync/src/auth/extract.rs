//! The `Authorized<R>` extractor: put it first in a handler's arguments and the
//! handler runs only for a valid token holding scope `R` (before the body is read).

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{Gatekeeper, Principal, RequiredScope, Scope};
use crate::error_code::ErrorCode;

/// Router state that holds the gatekeeper (orphan rules forbid `FromRef` for `Arc`s).
pub trait WithGatekeeper {
    fn gatekeeper(&self) -> &Gatekeeper;
}

/// A request whose bearer token holds scope `R::SCOPE`.
#[derive(Debug)]
pub struct Authorized<R> {
    pub principal: Principal,
    scope: PhantomData<R>,
}

impl<S, R> FromRequestParts<S> for Authorized<R>
where
    S: WithGatekeeper + Send + Sync,
    R: RequiredScope,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let gatekeeper = state.gatekeeper();
        // Without connection info (a router driven in-process) all callers share one bucket.
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let principal = gatekeeper.authenticate(parts.headers.get(header::AUTHORIZATION), client)?;
        gatekeeper.authorize(&principal, R::SCOPE)?;
        Ok(Self {
            principal,
            scope: PhantomData,
        })
    }
}

/// Why a request was refused before its handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRejection {
    Missing,
    Malformed,
    Unknown,
    Revoked,
    Expired,
    RateLimited { retry_after: Duration },
    Forbidden { token: String, scope: Scope },
}

impl AuthRejection {
    /// The `reason` label of `waymark_sync_api_auth_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::RateLimited { .. } => "rate_limited",
            Self::Forbidden { .. } => "scope",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Missing => "missing bearer token".into(),
            Self::Malformed => "malformed authorization header; expected `Authorization: Bearer <token>`".into(),
            // Revoked and unknown look the same from outside.
            Self::Unknown | Self::Revoked => "unknown or revoked token".into(),
            Self::Expired => "token expired".into(),
            Self::RateLimited { retry_after } => format!(
                "too many failed authentication attempts; retry in {} s",
                retry_after.as_secs()
            ),
            Self::Forbidden { token, scope } => format!("token `{token}` lacks scope {scope}"),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let (code, challenge) = match &self {
            Self::Missing | Self::Malformed => (ErrorCode::Unauthenticated, "Bearer realm=\"waymark\"".into()),
            Self::Unknown | Self::Revoked | Self::Expired => (
                ErrorCode::Unauthenticated,
                "Bearer realm=\"waymark\", error=\"invalid_token\"".into(),
            ),
            Self::Forbidden { scope, .. } => (
                ErrorCode::Forbidden,
                format!("Bearer realm=\"waymark\", error=\"insufficient_scope\", scope=\"{scope}\""),
            ),
            Self::RateLimited { .. } => (ErrorCode::RateLimited, String::new()),
        };
        let body = crate::http::ErrorBody::new(code, self.message());
        let mut response = (code.http_status(), Json(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&challenge)
            && !challenge.is_empty()
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Self::RateLimited { retry_after } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
        }
        response
    }
}
