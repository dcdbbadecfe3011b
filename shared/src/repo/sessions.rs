//! Login sessions and their rotating refresh tokens.

use crate::ids::UserId;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

pub struct NewSession<'a> {
    pub user_id: UserId,
    pub family_id: Uuid,
    /// When the family's login happened; the family ends a fixed time after it.
    pub family_started_at: DateTime<Utc>,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
    pub ip: Option<std::net::IpAddr>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(db: impl PgExecutor<'_>, s: NewSession<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO sessions (user_id, family_id, family_started_at, token_hash, expires_at, user_agent, ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(s.user_id)
    .bind(s.family_id)
    .bind(s.family_started_at)
    .bind(s.token_hash)
    .bind(s.expires_at)
    .bind(s.user_agent)
    .bind(s.ip.map(sqlx::types::ipnetwork::IpNetwork::from))
    .fetch_one(db)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub family_started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_by_token(
    db: &PgPool,
    token_hash: &[u8],
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, family_id, family_started_at, expires_at, rotated_at, revoked_at FROM sessions WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

/// Marks the session rotated if nobody else did first; false means the token was already used.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn mark_rotated(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE sessions SET rotated_at = now() WHERE id = $1 AND rotated_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_family(db: impl PgExecutor<'_>, family_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_all(db: impl PgExecutor<'_>, user: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}

/// Signs out every session of the user but `keep` (the one that made a change), if any.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_all_except(
    db: impl PgExecutor<'_>,
    user: UserId,
    keep: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND family_id IS DISTINCT FROM $2",
    )
    .bind(user)
    .bind(keep)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether an access token of this session family may still be used: the user is active and the
/// family has not been revoked (logout, password change, reuse detection).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn is_live(db: &PgPool, user: UserId, family_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
            SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.family_id = $2 AND s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
              AND u.is_active AND u.deleted_at IS NULL)",
    )
    .bind(user)
    .bind(family_id)
    .fetch_one(db)
    .await
}
