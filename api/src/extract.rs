//! Extractors whose rejections use the error envelope: malformed JSON, missing fields and bad
//! path or query parameters all answer 422 `VALIDATION_ERROR` (as the seed's FastAPI did), a
//! missing JSON content type 415 and an oversized body 413.

use crate::error::{ApiError, FieldError};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

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
        invalid("path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        invalid("query", r.body_text())
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
