//! The use cases of the API: what a request asks for, apart from HTTP. Handlers extract, call one
//! function here and build their view; the SQS bridge and the operator commands call these too,
//! never a route. Each returns [`ServiceError`], which becomes an HTTP answer in one place.

pub mod accounts;
pub mod api_keys;
pub mod billing;
pub mod dubs;
pub mod health;
pub mod operator;
pub mod paddle_events;
pub mod review;
pub mod uploads;
pub mod videos;
pub mod voices;
pub mod webhooks;

use crate::error::{ApiError, FieldError};

/// Why a use case did not happen, in the domain's words.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field of the request is refused.
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    /// The thing asked for does not exist, or is not the caller's.
    #[error("{0}")]
    NotFound(String),
    /// It exists but its state does not allow this now.
    #[error("{0}")]
    Conflict(String),
    /// The request (a file, a body) is over a limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("not enough credits: {needed} needed, {available} available")]
    NotEnoughCredits { needed: i64, available: i64 },
    /// Dubbing is suspended (payment overdue or disputed); the text says how to resume.
    #[error("{0}")]
    Suspended(String),
    /// Understood and refused (a wrong current password, a used link).
    #[error("{0}")]
    Refused(String),
    /// The caller may not do this (its plan has no API access, its key lacks the scope).
    #[error("{0}")]
    Forbidden(String),
    /// The caller's account is gone (its token outlived it).
    #[error("{0}")]
    Unauthenticated(String),
    #[error("too many attempts; retry in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    /// A dependency (Temporal, the queue) is unreachable: nothing was changed, retry later.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

impl ServiceError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Invalid(FieldError::new(field, message))
    }
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        ServiceError::Invalid(e)
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<onevoice_shared::storage::StorageError> for ServiceError {
    fn from(e: onevoice_shared::storage::StorageError) -> Self {
        ServiceError::Internal(anyhow::Error::new(e).context("storage"))
    }
}

/// The one mapping of use-case failures to HTTP answers.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(field) => field.into(),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            ServiceError::NotEnoughCredits { needed, available } => {
                ApiError::PaymentRequired { needed, available }
            }
            ServiceError::Suspended(m) => ApiError::Suspended(m),
            ServiceError::Refused(m) => ApiError::BadRequest(m),
            ServiceError::Unauthenticated(m) => ApiError::Unauthorized(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::RateLimited { retry_after } => ApiError::TooManyRequests { retry_after },
            ServiceError::Unavailable(m) => ApiError::ServiceUnavailable(m),
            ServiceError::Internal(e) => ApiError::Internal(e),
        }
    }
}
