//! The error envelope of every error response, as the seed sends it:
//! `{"error": "HTTP_404", "message": "...", "details": {"path": "...", "method": "..."}}`.
//!
//! Handlers return [`ApiError`]; [`envelope`] (a middleware) then adds the request's path and
//! method, and turns responses that axum or a tower layer produced on its own (404 for unknown
//! routes, 405, 413, ...) into the same envelope. A 5xx never carries internal details: the cause
//! is logged with the request id instead.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code: `HTTP_<status>`, `VALIDATION_ERROR` or `INTERNAL_SERVER_ERROR`.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
    /// Request path and method, plus error-specific fields (e.g. validation `errors`).
    pub details: Option<Value>,
}

/// One invalid field of a request.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// A refused field is a 422 naming it.
impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::validation(&e.field, e.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, and not allowed: an API key without the route's scope, or a plan
    /// without API access.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Validation {
        message: String,
        errors: Vec<FieldError>,
    },
    #[error("{}", payment_required(*needed, *available))]
    PaymentRequired { needed: i64, available: i64 },
    #[error("too many attempts; retry in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("{0}")]
    ServiceUnavailable(String),
    /// An upstream service (Paddle) failed or answered nonsense.
    #[error("{0}")]
    BadGateway(String),
    /// Dubbing is suspended until an overdue payment arrives.
    #[error("{0}")]
    Suspended(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn payment_required(needed: i64, available: i64) -> String {
    if available < 0 {
        format!(
            "your credit balance is negative ({available}) after a refund or chargeback; add credits to dub again ({needed} needed)"
        )
    } else {
        format!("not enough credits: {needed} needed, {available} available")
    }
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Validation {
            message: format!("invalid request: {field}: {message}"),
            errors: vec![FieldError {
                field: field.to_string(),
                message,
            }],
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Suspended(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Database and storage failures are mapped once, by the use-case error.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        crate::services::ServiceError::from(e).into()
    }
}

impl From<onevoice_shared::paddle::PaddleError> for ApiError {
    fn from(e: onevoice_shared::paddle::PaddleError) -> Self {
        use onevoice_shared::paddle::PaddleError;
        match e {
            PaddleError::Unavailable { reason, .. } => {
                tracing::warn!(%reason, "Paddle unavailable");
                ApiError::ServiceUnavailable(
                    "the billing provider is unavailable; please retry shortly".into(),
                )
            }
            PaddleError::Rejected { status: 404, .. } => {
                ApiError::NotFound("not found at the billing provider".into())
            }
            PaddleError::Rejected {
                status,
                code,
                detail,
            } if status == 401 || status == 403 => {
                // Our API key is wrong or lacks a permission: an operator problem, not the user's.
                tracing::error!(status, %code, %detail, "Paddle refused our credentials");
                ApiError::BadGateway("the billing provider refused the request".into())
            }
            PaddleError::Rejected {
                status,
                detail,
                code,
            } => {
                // Paddle's own words are for operators; the user learns that it refused.
                tracing::warn!(status, %code, %detail, "Paddle refused the request");
                ApiError::Conflict("the billing provider refused the change".into())
            }
            PaddleError::Malformed(reason) => {
                tracing::error!(%reason, "unexpected Paddle answer");
                ApiError::BadGateway("the billing provider answered unexpectedly".into())
            }
        }
    }
}

impl From<onevoice_shared::storage::StorageError> for ApiError {
    fn from(e: onevoice_shared::storage::StorageError) -> Self {
        crate::services::ServiceError::from(e).into()
    }
}

fn code_for(status: StatusCode) -> String {
    match status {
        StatusCode::UNPROCESSABLE_ENTITY => "VALIDATION_ERROR".into(),
        StatusCode::INTERNAL_SERVER_ERROR => "INTERNAL_SERVER_ERROR".into(),
        s => format!("HTTP_{}", s.as_u16()),
    }
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "resource not found".into(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed for this resource".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body is too large".into(),
        StatusCode::REQUEST_TIMEOUT => "request timed out".into(),
        s if s.is_server_error() => "internal server error".into(),
        s => s
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, extra) = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (default_message(status), None)
            }
            ApiError::Validation { message, errors } => {
                (message.clone(), Some(json!({ "errors": errors })))
            }
            ApiError::PaymentRequired { needed, available } => (
                self.to_string(),
                Some(json!({ "needed": needed, "available": available })),
            ),
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            error: code_for(status),
            message,
            details: extra,
        };
        let mut res = (status, Json(body.clone())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyRequests { retry_after } = &self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        res.extensions_mut().insert(body);
        res
    }
}

/// Marks an error-status response whose body is its own documented answer (the 503 of
/// `/health/detailed` reports each dependency), which [`envelope`] leaves as it is.
#[derive(Clone, Copy, Debug)]
pub struct OwnBody;

/// Middleware: gives every error response the envelope, with the request's path and method.
pub async fn envelope(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error())
        || res.extensions().get::<OwnBody>().is_some()
    {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let mut body = parts
        .extensions
        .remove::<ErrorBody>()
        .unwrap_or_else(|| ErrorBody {
            error: code_for(status),
            message: default_message(status),
            details: None,
        });
    let mut details = match body.details.take() {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    details.insert("path".into(), Value::String(path));
    details.insert("method".into(), Value::String(method));
    body.details = Some(Value::Object(details));
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Fallback for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("resource not found".into())
}
