//! Signups waiting for email verification.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingRow {
    pub email: String,
    pub username: String,
    pub full_name: Option<String>,
    pub password_hash: String,
    pub locale: String,
    pub expires_at: DateTime<Utc>,
}

pub struct NewPending<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub full_name: Option<&'a str>,
    pub password_hash: &'a str,
    pub locale: &'a str,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

/// Whether an unexpired signup of another email reserves this username.
pub async fn username_reserved(
    db: &PgPool,
    username: &str,
    email: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pending_users
                        WHERE lower(username) = lower($1) AND email <> $2 AND expires_at > now())",
    )
    .bind(username)
    .bind(email)
    .fetch_one(db)
    .await
}

/// Records a signup, replacing an earlier one for the same email (never anyone else's).
pub async fn upsert(db: &PgPool, p: NewPending<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pending_users (email, username, full_name, password_hash, locale, verification_token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (email) DO UPDATE SET username = EXCLUDED.username, full_name = EXCLUDED.full_name,
            password_hash = EXCLUDED.password_hash, locale = EXCLUDED.locale,
            verification_token_hash = EXCLUDED.verification_token_hash, expires_at = EXCLUDED.expires_at",
    )
    .bind(p.email)
    .bind(p.username)
    .bind(p.full_name)
    .bind(p.password_hash)
    .bind(p.locale)
    .bind(p.token_hash)
    .bind(p.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// A fresh token for an unexpired signup; `None` when there is none for this email.
pub async fn renew_token(
    db: &PgPool,
    email: &str,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<Option<PendingRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE pending_users SET verification_token_hash = $2, expires_at = $3
         WHERE email = $1 AND expires_at > now()
         RETURNING email, username, full_name, password_hash, locale, expires_at",
    )
    .bind(email)
    .bind(token_hash)
    .bind(expires_at)
    .fetch_optional(db)
    .await
}

/// Removes and returns the signup the token belongs to, if it has not expired: a token works once.
pub async fn take_by_token(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<PendingRow>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM pending_users WHERE verification_token_hash = $1 AND expires_at > now()
         RETURNING email, username, full_name, password_hash, locale, expires_at",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

/// Deletes expired signups; returns how many.
pub async fn delete_expired(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM pending_users WHERE expires_at <= now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
