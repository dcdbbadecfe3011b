//! Single-use tokens sent by email: password reset and email change.

use crate::ids::UserId;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

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

/// Issues a token, invalidating earlier unused ones of the same purpose (only the newest link works).
pub async fn issue(
    db: &PgPool,
    user: UserId,
    purpose: Purpose,
    token_hash: &[u8],
    new_email: Option<&str>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE auth_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(user)
        .bind(purpose.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO auth_tokens (user_id, purpose, token_hash, new_email, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user)
    .bind(purpose.as_str())
    .bind(token_hash)
    .bind(new_email)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Uses a token: returns its user (and new email) once, if unexpired and of this purpose.
pub async fn consume(
    db: impl PgExecutor<'_>,
    purpose: Purpose,
    token_hash: &[u8],
) -> Result<Option<(UserId, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE auth_tokens SET used_at = now()
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id, new_email",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(db)
    .await
}

/// Deletes used or expired tokens older than a day.
pub async fn delete_stale(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM auth_tokens WHERE (used_at IS NOT NULL OR expires_at <= now()) AND created_at < now() - interval '1 day'",
    )
    .execute(db)
    .await?
    .rows_affected())
}
