//! Single-use tokens sent by email: password reset and email change.

use crate::ids::UserId;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    EmailChange,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "password_reset",
            Purpose::EmailChange => "email_change",
        }
    }
}

pub struct NewToken<'a> {
    pub user: UserId,
    pub purpose: Purpose,
    pub token_hash: &'a [u8],
    /// The address an email change moves to.
    pub new_email: Option<&'a str>,
    /// The session that asked (an email change keeps it and signs out the others).
    pub session_family: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

/// What a used token stands for.
#[derive(Debug, sqlx::FromRow)]
pub struct UsedToken {
    pub user_id: UserId,
    pub new_email: Option<String>,
    pub session_family: Option<Uuid>,
}

/// Issues a token, invalidating earlier unused ones of the same purpose (only the newest link works).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn issue(db: &PgPool, t: NewToken<'_>) -> Result<(), sqlx::Error> {
    let NewToken {
        user,
        purpose,
        token_hash,
        new_email,
        session_family,
        expires_at,
    } = t;
    let mut tx = db.begin().await?;
    revoke_unused(&mut *tx, user, purpose).await?;
    sqlx::query(
        "INSERT INTO auth_tokens (user_id, purpose, token_hash, new_email, session_family, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user)
    .bind(purpose.as_str())
    .bind(token_hash)
    .bind(new_email)
    .bind(session_family)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Ends every unused token of `purpose` for the user (a newer one, or a change that makes them
/// stale: a reset link sent to an address the account no longer has).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_unused(
    db: impl PgExecutor<'_>,
    user: UserId,
    purpose: Purpose,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE auth_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(user)
    .bind(purpose.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a token would be accepted now, without using it: cheap checks come before expensive
/// work (a password hash) so bogus tokens cost almost nothing.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn is_usable(
    db: impl PgExecutor<'_>,
    purpose: Purpose,
    token_hash: &[u8],
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM auth_tokens
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now())",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_one(db)
    .await
}

/// Uses a token: returns what it stands for once, if unexpired and of this purpose.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn consume(
    db: impl PgExecutor<'_>,
    purpose: Purpose,
    token_hash: &[u8],
) -> Result<Option<UsedToken>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE auth_tokens SET used_at = now()
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id, new_email, session_family",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(db)
    .await
}

/// Deletes used or expired tokens older than a day.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_stale(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM auth_tokens WHERE (used_at IS NOT NULL OR expires_at <= now()) AND created_at < now() - interval '1 day'",
    )
    .execute(db)
    .await?
    .rows_affected())
}
