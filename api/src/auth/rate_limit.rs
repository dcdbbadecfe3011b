//! Rate limits of the sensitive auth routes, with their state in PostgreSQL so every API instance
//! enforces the same limit.
//!
//! Limits key on the client network (an IPv4 address, an IPv6 /64) and on (email, client
//! network), never on an email alone: a third party failing sign-ins or resets for somebody
//! else's address only spends its own budget. What protects a mailbox from a distributed flood
//! is the per-address cap on the emails actually sent ([`mail_allowed`]), which answers as usual.

use crate::services::ServiceError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use onevoice_shared::repo::rate_limits::{self, Backoff};
use onevoice_shared::repo::users;
use std::net::IpAddr;

/// The network a client address counts as: IPv4 addresses one by one, IPv6 by /64 (one
/// subscriber is routinely given a whole /64, so single addresses would be free to rotate).
pub fn client_net(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".into(),
    }
}

fn too_many(until: DateTime<Utc>) -> ServiceError {
    // Rounded up: a client waiting exactly this long finds the limit lifted.
    let ms = (until - Utc::now()).num_milliseconds().max(1);
    let retry_after = (ms as u64).div_ceil(1000);
    ServiceError::RateLimited { retry_after }
}

/// Counts an attempt of `action`; over the per-network limit, or the per-(email, network) one
/// when an email is given, the request gets 429 with `Retry-After`.
pub async fn check(
    state: &AppState,
    action: &str,
    ip: Option<IpAddr>,
    email: Option<&str>,
) -> Result<(), ServiceError> {
    let auth = &state.settings.auth;
    let net = client_net(ip);
    let mut buckets = vec![(format!("{action}:net:{net}"), auth.rate_limit_per_ip)];
    if let Some(email) = email {
        buckets.push((
            format!("{action}:email:{}|{net}", users::normalize_email(email)),
            auth.rate_limit_per_email,
        ));
    }
    for (bucket, limit) in buckets {
        let (hits, window_end) =
            rate_limits::hit(&state.db, &bucket, auth.rate_limit_window).await?;
        if hits > limit {
            return Err(too_many(window_end));
        }
    }
    Ok(())
}

/// Whether another account email of `action` may go to `address` in this window, whoever asks.
pub async fn mail_allowed(
    state: &AppState,
    action: &str,
    address: &str,
) -> Result<bool, ServiceError> {
    let auth = &state.settings.auth;
    let bucket = format!("{action}:mail:{}", users::normalize_email(address));
    let (hits, _) = rate_limits::hit(&state.db, &bucket, auth.rate_limit_window).await?;
    let allowed = hits <= auth.mail_per_address;
    if !allowed {
        tracing::warn!(
            action,
            "account email not sent: this address's limit is reached"
        );
    }
    Ok(allowed)
}

/// Failed sign-ins of one (email, client network), locked with exponential backoff.
pub struct SignIn<'a> {
    state: &'a AppState,
    bucket: String,
}

impl<'a> SignIn<'a> {
    /// Counts the attempt against the client network's limit and refuses it (429) while this
    /// (email, network) is locked by earlier failures.
    pub async fn begin(
        state: &'a AppState,
        ip: Option<IpAddr>,
        email: &str,
    ) -> Result<SignIn<'a>, ServiceError> {
        check(state, "login", ip, None).await?;
        let bucket = format!("login:{}|{}", users::normalize_email(email), client_net(ip));
        if let Some(until) = rate_limits::locked_until(&state.db, &bucket).await? {
            return Err(too_many(until));
        }
        Ok(SignIn { state, bucket })
    }

    pub async fn failed(self) -> Result<(), ServiceError> {
        let auth = &self.state.settings.auth;
        let backoff = Backoff {
            after: auth.rate_limit_per_email.max(1),
            base: auth.login_lock_base,
            max: auth.rate_limit_window.max(auth.login_lock_base),
        };
        rate_limits::record_failure(&self.state.db, &self.bucket, backoff).await?;
        Ok(())
    }

    pub async fn succeeded(self) -> Result<(), ServiceError> {
        rate_limits::clear(&self.state.db, &self.bucket).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let net = |s: &str| client_net(Some(s.parse().unwrap()));
        assert_eq!(net("2001:db8:1:2:aaaa::1"), net("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(net("2001:db8:1:2::1"), net("2001:db8:1:3::1"));
        assert_eq!(net("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(net("::ffff:203.0.113.7"), "203.0.113.7");
        assert_ne!(net("203.0.113.7"), net("203.0.113.8"));
        assert_eq!(client_net(None), "unknown");
    }
}
