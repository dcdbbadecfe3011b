//! Signups waiting for email verification.
//!
//! Every signup request is a row of its own, with the password and link of that request: a later
//! signup for the same address (by anyone) never changes what an earlier link creates. Verifying
//! one link removes the address's other requests.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// How many requests may wait for one address; a newer one drops the oldest (its link then stops
/// working, it is never redirected to another password).
pub const MAX_PER_EMAIL: i64 = 3;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingRow {
    pub id: Uuid,
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

const COLUMNS: &str = "id, email, username, full_name, password_hash, locale, expires_at";

/// Whether an unexpired signup of another email reserves this username.
#[tracing::instrument(level = "debug", skip_all)]
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

/// Records a signup request beside any others for the same email, keeping the newest
/// [`MAX_PER_EMAIL`].
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(db: &PgPool, p: NewPending<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO pending_users (email, username, full_name, password_hash, locale, verification_token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(p.email)
    .bind(p.username)
    .bind(p.full_name)
    .bind(p.password_hash)
    .bind(p.locale)
    .bind(p.token_hash)
    .bind(p.expires_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM pending_users WHERE email = $1 AND id NOT IN (
            SELECT id FROM pending_users WHERE email = $1 ORDER BY created_at DESC, id LIMIT $2)",
    )
    .bind(p.email)
    .bind(MAX_PER_EMAIL)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The unexpired requests for an email, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn live_for_email(db: &PgPool, email: &str) -> Result<Vec<PendingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM pending_users WHERE email = $1 AND expires_at > now()
         ORDER BY created_at DESC, id"
    ))
    .bind(email)
    .fetch_all(db)
    .await
}

/// Gives one request a fresh link; false when it is gone (verified or expired meanwhile).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn renew_token(
    db: &PgPool,
    id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE pending_users SET verification_token_hash = $2, expires_at = $3
         WHERE id = $1 AND expires_at > now()",
    )
    .bind(id)
    .bind(token_hash)
    .bind(expires_at)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Removes and returns the request the token belongs to, if it has not expired (a token works
/// once), and removes the other requests for its email: their links stop working.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn take_by_token(
    db: &mut sqlx::PgConnection,
    token_hash: &[u8],
) -> Result<Option<PendingRow>, sqlx::Error> {
    let row: Option<PendingRow> = sqlx::query_as(&format!(
        "DELETE FROM pending_users WHERE verification_token_hash = $1 AND expires_at > now()
         RETURNING {COLUMNS}"
    ))
    .bind(token_hash)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(p) = &row {
        sqlx::query("DELETE FROM pending_users WHERE email = $1")
            .bind(&p.email)
            .execute(&mut *db)
            .await?;
    }
    Ok(row)
}

/// Deletes expired signups; returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_expired(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM pending_users WHERE expires_at <= now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
