//! API keys as credentials: their form, their scopes, which scope each route needs, and checking
//! a presented key (owner, plan, per-key rate limit).
//!
//! A key is `ov_` + 12 + 32 characters of base62 (about 250 random bits). The first 15 characters
//! (the prefix) find the row; the SHA-256 of the whole key must match what was stored.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::Method;
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::{api_keys, rate_limits};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

pub const KEY_PREFIX: &str = "ov_";
const ID_CHARS: usize = 12;
const SECRET_CHARS: usize = 32;
const PREFIX_LEN: usize = KEY_PREFIX.len() + ID_CHARS;
const KEY_LEN: usize = PREFIX_LEN + SECRET_CHARS;

/// What a key may do. Account and key management need a signed-in session whatever the scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read videos, jobs, their outputs and the profile.
    Read,
    /// Upload, dub, edit, cancel and delete.
    Dub,
    /// Plans, subscription, payments.
    Billing,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Dub => "dub",
            Scope::Billing => "billing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Scope::Read, Scope::Dub, Scope::Billing]
            .into_iter()
            .find(|scope| scope.as_str() == s)
    }
}

/// The scope a key needs for a request, or `None` when the route is for a signed-in session only
/// (keys themselves, sign-in and account changes): a leaked key must not mint more keys, change
/// the password or email, or delete the account.
pub fn required_scope(method: &Method, path: &str) -> Option<Scope> {
    let reads = *method == Method::GET || *method == Method::HEAD;
    if path == "/api/keys" || path.starts_with("/api/keys/") || path.starts_with("/api/auth/") {
        None
    } else if path.starts_with("/api/users/") {
        reads.then_some(Scope::Read)
    } else if path.starts_with("/api/billing/") {
        Some(Scope::Billing)
    } else if reads {
        Some(Scope::Read)
    } else {
        Some(Scope::Dub)
    }
}

/// A new key: the key itself (shown once), its prefix and the digest to store.
pub struct NewKey {
    pub key: String,
    pub prefix: String,
    pub digest: [u8; 32],
}

pub fn generate() -> NewKey {
    let key = format!(
        "{KEY_PREFIX}{}",
        super::random_base62(ID_CHARS + SECRET_CHARS)
    );
    NewKey {
        prefix: key[..PREFIX_LEN].to_string(),
        digest: digest(&key),
        key,
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether a bearer credential is an API key rather than an access token.
pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(KEY_PREFIX)
}

/// A key that passed: whose it is, and what it may do.
#[derive(Clone, Debug)]
pub struct Verified {
    pub key_id: Uuid,
    pub user: UserId,
    pub scopes: Vec<Scope>,
}

/// Checks a presented key: well-formed, live, the owner active and on a plan with API access
/// (403 otherwise), within its rate limit (429 with `Retry-After`). Any other failure is the
/// same 401, so a caller learns nothing about which keys exist.
pub async fn verify(state: &AppState, key: &str) -> Result<Verified, ApiError> {
    let invalid = || ApiError::Unauthorized("invalid API key".into());
    if key.len() != KEY_LEN || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(invalid());
    }
    let found = api_keys::presented(&state.db, &key[..PREFIX_LEN])
        .await?
        .ok_or_else(invalid)?;
    // Digests of a secret the caller does not know: comparing them leaks nothing useful.
    if found.secret_sha256 != digest(key) {
        return Err(invalid());
    }
    if !crate::services::api_keys::plan_has_api_access(state, found.plan_id.as_deref()) {
        return Err(ApiError::Forbidden(
            "your plan does not include API access".into(),
        ));
    }
    let bucket = format!("apikey:{}", found.id);
    let (hits, window_end) = rate_limits::hit(&state.db, &bucket, Duration::from_secs(60)).await?;
    if hits > found.rate_limit_per_minute.max(0) as u32 {
        let ms = (window_end - chrono::Utc::now()).num_milliseconds().max(1);
        return Err(ApiError::TooManyRequests {
            retry_after: (ms as u64).div_ceil(1000),
        });
    }
    api_keys::touch(&state.db, found.id).await?;
    Ok(Verified {
        key_id: found.id,
        user: found.user_id,
        scopes: found
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_shaped_as_verify_expects() {
        let (a, b) = (generate(), generate());
        assert_ne!(a.key, b.key);
        assert_eq!(a.key.len(), KEY_LEN);
        assert!(a.key.starts_with(&a.prefix) && is_api_key(&a.key));
        assert_eq!(a.digest, digest(&a.key));
    }

    #[test]
    fn routes_need_the_scope_of_what_they_do() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(required_scope(&get, "/api/videos"), Some(Scope::Read));
        assert_eq!(required_scope(&post, "/api/videos/x/dub"), Some(Scope::Dub));
        assert_eq!(
            required_scope(&Method::DELETE, "/api/videos/x"),
            Some(Scope::Dub)
        );
        assert_eq!(
            required_scope(&get, "/api/billing/plans"),
            Some(Scope::Billing)
        );
        assert_eq!(
            required_scope(&get, "/api/users/profile"),
            Some(Scope::Read)
        );
        for (method, path) in [
            (&post, "/api/keys"),
            (&get, "/api/keys"),
            (&Method::DELETE, "/api/keys/x"),
            (&post, "/api/auth/logout"),
            (&Method::PUT, "/api/users/profile"),
            (&post, "/api/users/delete-account"),
        ] {
            assert_eq!(required_scope(method, path), None, "{method} {path}");
        }
    }
}
