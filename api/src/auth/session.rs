//! Sessions: a login creates a family of rotating refresh tokens; each refresh replaces the token.
//! Presenting a token that was already rotated means it leaked (or a client raced itself): the
//! whole family is revoked, including the access tokens issued from it. A family lives at most
//! `SESSION_MAX_AGE_SECS` from its login, however often it is refreshed.

use crate::auth::tokens;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::UserId;
use onevoice_shared::one_time_token;
use onevoice_shared::repo::sessions;
use onevoice_shared::settings::Settings;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// Opaque; exchange it at `/api/auth/refresh` for a new pair. Single use.
    pub refresh_token: String,
}

/// A session family: its id and when its login happened.
struct Family {
    id: Uuid,
    started_at: DateTime<Utc>,
}

/// When a family started at `started_at` must end.
fn family_end(settings: &Settings, started_at: DateTime<Utc>) -> DateTime<Utc> {
    started_at + settings.auth.session_max_age
}

async fn issue(
    db: &PgPool,
    settings: &Settings,
    user: UserId,
    family: Family,
    client: &ClientInfo,
) -> Result<TokenPair, ApiError> {
    let (refresh_token, hash) = one_time_token::generate();
    let expires_at =
        (Utc::now() + settings.auth.refresh_token_ttl).min(family_end(settings, family.started_at));
    sessions::insert(
        db,
        sessions::NewSession {
            user_id: user,
            family_id: family.id,
            family_started_at: family.started_at,
            token_hash: &hash,
            expires_at,
            user_agent: client.user_agent.as_deref(),
            ip: client.ip,
        },
    )
    .await?;
    let access = tokens::Signer::new(settings)
        .issue(user, family.id, settings.auth.access_token_ttl)
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(TokenPair {
        access_token: access.token,
        token_type: "bearer",
        expires_in: access.expires_in,
        refresh_token,
    })
}

/// Starts a new session (login, verified signup).
pub async fn start(
    db: &PgPool,
    settings: &Settings,
    user: UserId,
    client: &ClientInfo,
) -> Result<TokenPair, ApiError> {
    let family = Family {
        id: Uuid::new_v4(),
        started_at: Utc::now(),
    };
    issue(db, settings, user, family, client).await
}

/// Exchanges a refresh token for a new pair.
pub async fn refresh(
    db: &PgPool,
    settings: &Settings,
    refresh_token: &str,
    client: &ClientInfo,
) -> Result<(UserId, TokenPair), ApiError> {
    let invalid = || ApiError::Unauthorized("invalid or expired refresh token".into());
    let session = sessions::find_by_token(db, &one_time_token::hash(refresh_token))
        .await?
        .ok_or_else(invalid)?;
    if session.revoked_at.is_some() {
        return Err(invalid());
    }
    if session.rotated_at.is_some() || !sessions::mark_rotated(db, session.id).await? {
        tracing::warn!(user = %session.user_id, family = %session.family_id, "refresh token reuse; revoking the session family");
        sessions::revoke_family(db, session.family_id).await?;
        return Err(invalid());
    }
    if session.expires_at <= Utc::now() {
        return Err(invalid());
    }
    if family_end(settings, session.family_started_at) <= Utc::now() {
        return Err(ApiError::Unauthorized(
            "this session has ended; sign in again".into(),
        ));
    }
    if !onevoice_shared::repo::users::is_active(db, session.user_id).await? {
        return Err(invalid());
    }
    let family = Family {
        id: session.family_id,
        started_at: session.family_started_at,
    };
    let pair = issue(db, settings, session.user_id, family, client).await?;
    Ok((session.user_id, pair))
}
