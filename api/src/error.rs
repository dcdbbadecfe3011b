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

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
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
    #[error("not enough credits: {needed} needed, {available} available")]
    PaymentRequired { needed: i64, available: i64 },
    #[error("too many attempts; retry in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
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
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<onevoice_shared::storage::StorageError> for ApiError {
    fn from(e: onevoice_shared::storage::StorageError) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("storage"))
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

/// Middleware: gives every error response the envelope, with the request's path and method.
pub async fn envelope(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
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
