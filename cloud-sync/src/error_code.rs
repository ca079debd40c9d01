//! One error vocabulary for every answer central gives, over HTTP and gRPC:
//! each code has its machine name (the `code` of a JSON error body), its HTTP
//! status and its gRPC code, so the same failure reads the same on both.

use axum::http::StatusCode;

// Serialized (and so named in the OpenAPI document) by its machine name,
// which a test holds equal to `as_str`.
/// Why central refused: the `code` of every error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request's content is wrong (a field, an identifier, a CSR).
    InvalidRequest,
    /// The body is not the JSON the endpoint takes.
    InvalidJson,
    InvalidQuery,
    /// A path segment is not valid (e.g. not UTF-8 once percent-decoded).
    InvalidPath,
    MethodNotAllowed,
    UnsupportedMediaType,
    PayloadTooLarge,
    /// The request body stalled past the body timeout.
    RequestTimeout,
    /// No credentials, or credentials central does not accept.
    Unauthenticated,
    /// Valid credentials without the right (a scope, another site's data).
    Forbidden,
    RateLimited,
    NotFound,
    /// It exists already with other content, or belongs to someone else.
    Conflict,
    /// Not now, in this state (a sequence gap: resume from the mark).
    FailedPrecondition,
    /// A newer stream for the site took over; this one must end.
    Fenced,
    /// The store or a dependency is down; retry.
    #[serde(rename = "store_unavailable")]
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidJson => "invalid_json",
            Self::InvalidQuery => "invalid_query",
            Self::InvalidPath => "invalid_path",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::FailedPrecondition => "failed_precondition",
            Self::Fenced => "fenced",
            Self::Unavailable => "store_unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn http_status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidJson | Self::InvalidQuery | Self::InvalidPath => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict | Self::Fenced => StatusCode::CONFLICT,
            Self::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn grpc_code(self) -> tonic::Code {
        match self {
            Self::InvalidRequest
            | Self::InvalidJson
            | Self::InvalidQuery
            | Self::InvalidPath
            | Self::UnsupportedMediaType => tonic::Code::InvalidArgument,
            Self::MethodNotAllowed => tonic::Code::Unimplemented,
            Self::PayloadTooLarge | Self::RateLimited => tonic::Code::ResourceExhausted,
            Self::RequestTimeout => tonic::Code::DeadlineExceeded,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::Forbidden => tonic::Code::PermissionDenied,
            Self::NotFound => tonic::Code::NotFound,
            Self::Conflict => tonic::Code::AlreadyExists,
            Self::FailedPrecondition => tonic::Code::FailedPrecondition,
            Self::Fenced => tonic::Code::Aborted,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    /// This code as a gRPC status with `message`.
    pub fn status(self, message: impl Into<String>) -> tonic::Status {
        tonic::Status::new(self.grpc_code(), message)
    }

    /// The code for an HTTP status axum's extractors answered with.
    pub fn from_rejection(status: StatusCode) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Self::InvalidRequest,
            _ => Self::InvalidJson,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_named_once_and_refusals_never_map_to_success() {
        let all = [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidJson,
            ErrorCode::InvalidQuery,
            ErrorCode::InvalidPath,
            ErrorCode::MethodNotAllowed,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::PayloadTooLarge,
            ErrorCode::RequestTimeout,
            ErrorCode::Unauthenticated,
            ErrorCode::Forbidden,
            ErrorCode::RateLimited,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::FailedPrecondition,
            ErrorCode::Fenced,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for c in all {
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str(), "{c:?}");
            assert!(
                c.http_status().is_client_error() || c.http_status().is_server_error(),
                "{c:?}"
            );
            assert_ne!(c.grpc_code(), tonic::Code::Ok, "{c:?}");
        }
        assert_eq!(ErrorCode::Unavailable.grpc_code(), tonic::Code::Unavailable);
        assert_eq!(ErrorCode::Unavailable.http_status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
