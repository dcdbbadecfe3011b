//! Rate limits of the sensitive auth routes, per client IP and per email address, with counters
//! in PostgreSQL so every API instance enforces the same limit.

use crate::error::ApiError;
use crate::state::AppState;
use onevoice_shared::repo::{rate_limits, users};
use std::net::IpAddr;

/// Counts an attempt of `action`; over either limit the request gets 429 with `Retry-After`.
pub async fn check(
    state: &AppState,
    action: &str,
    ip: Option<IpAddr>,
    email: Option<&str>,
) -> Result<(), ApiError> {
    let auth = &state.settings.auth;
    let mut buckets = Vec::new();
    if let Some(ip) = ip {
        buckets.push((format!("{action}:ip:{ip}"), auth.rate_limit_per_ip));
    }
    if let Some(email) = email {
        buckets.push((
            format!("{action}:email:{}", users::normalize_email(email)),
            auth.rate_limit_per_email,
        ));
    }
    for (bucket, limit) in buckets {
        let (hits, window_end) =
            rate_limits::hit(&state.db, &bucket, auth.rate_limit_window).await?;
        if hits > limit {
            let retry_after = (window_end - chrono::Utc::now()).num_seconds().max(1) as u64;
            return Err(ApiError::TooManyRequests { retry_after });
        }
    }
    Ok(())
}
