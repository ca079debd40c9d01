//! API errors: a code from the one map (`error_code`), a sentence for people,
//! and the conversions from what handlers meet (store failures, bad JSON).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::response::{IntoResponse, Response};

use crate::error_code::ErrorCode;
use crate::store::StoreError;

/// An API error: a code from the one map (`error_code`) and a sentence for people.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
}

/// The body of every refusal: `{"error": {"code", "message"}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; clients branch on `code`.
    pub message: String,
}

impl ErrorBody {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

/// Longer messages are cut, so no input can make a response large.
const MAX_MESSAGE_LEN: usize = 2048;

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        if self.message.len() > MAX_MESSAGE_LEN {
            let mut end = MAX_MESSAGE_LEN;
            while !self.message.is_char_boundary(end) {
                end -= 1;
            }
            self.message.truncate(end);
            self.message.push_str("...");
        }
        (self.code.http_status(), Json(ErrorBody::new(self.code, self.message))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "central store failure");
        Self::new(ErrorCode::Unavailable, "the store is unavailable; retry")
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::new(ErrorCode::from_rejection(e.status()), e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::new(ErrorCode::InvalidQuery, e.body_text())
    }
}

/// Refusals axum writes itself (a path segment that is not UTF-8, a body
/// past its limit, an unknown route or method) come as plain text or empty:
/// they get the same JSON error body as every other refusal.
pub(crate) async fn json_refusals(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let code = match status {
        axum::http::StatusCode::BAD_REQUEST => ErrorCode::InvalidPath,
        axum::http::StatusCode::NOT_FOUND => ErrorCode::NotFound,
        axum::http::StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        _ => ErrorCode::from_rejection(status),
    };
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_LEN).await.unwrap_or_default();
    let message = match std::str::from_utf8(&text).map(str::trim) {
        Ok(t) if !t.is_empty() => t.to_string(),
        _ => status.canonical_reason().unwrap_or("refused").to_lowercase(),
    };
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let mut refusal = ApiError::new(code, message).into_response();
    // Keep what axum said beside the body (e.g. `Allow` on a 405).
    for (name, value) in parts.headers {
        if let Some(name) = name {
            refusal.headers_mut().entry(name).or_insert(value);
        }
    }
    *refusal.status_mut() = status;
    refusal
}

pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
}
