//! Extractors whose rejections use the error envelope: malformed JSON, missing fields and bad
//! path or query parameters all answer 422 `VALIDATION_ERROR` naming the field (as the seed's
//! FastAPI did), a missing JSON content type 415 and an oversized body 413.

use crate::error::{ApiError, FieldError};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON body. Every string the request type reads is checked after it is read: control
/// characters other than tab and line breaks (NUL above all, which PostgreSQL cannot store) are
/// refused with 422 naming the field, whatever route the body is for. Fields the type does not
/// know are ignored, as before, and not checked. Fields that must be one line check that on their
/// own (`crate::text`).
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned + Serialize,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state).await?;
        let body: T = serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." {
                "body".to_string()
            } else {
                field
            };
            ApiError::validation(&field, e.into_inner().to_string())
        })?;
        // What the type kept, in the request's own field names.
        let read = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.into()))?;
        if let Some(field) = control_character_at(&read, &mut String::new()) {
            return Err(ApiError::validation(
                &field,
                "must not contain control characters",
            ));
        }
        Ok(ApiJson(body))
    }
}

/// The path (`glossary[0].source`) of the first string holding a character that no text field
/// accepts, if any.
fn control_character_at(value: &Value, path: &mut String) -> Option<String> {
    match value {
        Value::String(s) => crate::text::has_control_character(s, true).then(|| {
            if path.is_empty() {
                "body".to_string()
            } else {
                path.clone()
            }
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = control_character_at(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if crate::text::has_control_character(key, false) {
                return Some(if path.is_empty() {
                    "body".into()
                } else {
                    path.clone()
                });
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = control_character_at(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// A `multipart/form-data` body; without one (no boundary), 415.
pub struct ApiMultipart(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for ApiMultipart {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(ApiMultipart)
            .map_err(|_| {
                ApiError::UnsupportedMediaType("expected a `multipart/form-data` body".into())
            })
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

fn invalid(location: &str, detail: String) -> ApiError {
    ApiError::Validation {
        message: format!("invalid request {location}: {detail}"),
        errors: vec![FieldError {
            field: location.to_string(),
            message: detail,
        }],
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("expected `Content-Type: application/json`".into())
            }
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("request body is too large".into())
            }
            other => invalid("body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        use axum::extract::path::ErrorKind;
        // A named parameter that does not parse is the field (`index`), as in a body.
        let key = match &r {
            PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                ErrorKind::ParseErrorAtKey { key, .. }
                | ErrorKind::InvalidUtf8InPathParam { key }
                | ErrorKind::DeserializeError { key, .. } => Some(key.clone()),
                _ => None,
            },
            _ => None,
        };
        let mut error = invalid("path", r.body_text());
        if let (Some(key), ApiError::Validation { errors, .. }) = (key, &mut error) {
            errors[0].field = key;
        }
        error
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        invalid("query", r.body_text())
    }
}

/// The request's `Idempotency-Key` header, checked (`text::idempotency_key`): a value that is
/// not 1 to 200 visible characters is a 422 naming the header.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(crate::text::IDEMPOTENCY_KEY) else {
            return Ok(IdempotencyKey(None));
        };
        let refused = |e: FieldError| ApiError::validation(&e.field, e.message);
        let value = value.to_str().map_err(|_| {
            refused(FieldError::new(
                crate::text::IDEMPOTENCY_KEY,
                "must be 1 to 200 visible characters",
            ))
        })?;
        let key = crate::text::idempotency_key(value).map_err(refused)?;
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}

/// Who is calling, for sessions and rate limits: the TCP peer, or, when the API runs behind a
/// trusted proxy (`TRUST_FORWARDED_FOR=true`), the client address that proxy reports in
/// `X-Forwarded-For` (its last entry: the one the proxy itself appended).
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

impl FromRequestParts<crate::state::AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = state
            .settings
            .api
            .trust_forwarded_for
            .then(|| {
                parts
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
            })
            .flatten()
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(300).collect());
        Ok(ClientInfo {
            ip: forwarded.or(peer),
            user_agent,
        })
    }
}
