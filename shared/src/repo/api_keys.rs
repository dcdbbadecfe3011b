//! API keys: stored by the SHA-256 of the key, found by its prefix.

use crate::ids::UserId;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// A live key as its owner sees it (never the secret).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub rate_limit_per_minute: i32,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, prefix, scopes, rate_limit_per_minute, created_at, last_used_at";

pub struct NewKey<'a> {
    pub user: UserId,
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_sha256: &'a [u8],
    pub scopes: &'a [String],
    pub rate_limit_per_minute: i32,
}

/// Stores a key unless the user already has `max_live` live keys (then `None`). The user's row
/// is locked for the count, so concurrent creations cannot pass the limit together.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(
    db: &PgPool,
    key: NewKey<'_>,
    max_live: i64,
) -> Result<Option<ApiKey>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(key.user)
        .execute(&mut *tx)
        .await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(key.user)
    .fetch_one(&mut *tx)
    .await?;
    if live >= max_live {
        return Ok(None);
    }
    let row: ApiKey = sqlx::query_as(&format!(
        "INSERT INTO api_keys (user_id, name, prefix, secret_sha256, scopes, rate_limit_per_minute)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(key.user)
    .bind(key.name)
    .bind(key.prefix)
    .bind(key.secret_sha256)
    .bind(key.scopes)
    .bind(key.rate_limit_per_minute)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// The user's live keys, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(db: impl PgExecutor<'_>, user: UserId) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL
         ORDER BY created_at DESC, id"
    ))
    .bind(user)
    .fetch_all(db)
    .await
}

/// Revokes one of the user's live keys; false when there is none with that id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke(db: impl PgExecutor<'_>, user: UserId, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = now()
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A live key presented with a request, with what deciding on it needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Presented {
    pub id: Uuid,
    pub user_id: UserId,
    pub secret_sha256: Vec<u8>,
    pub scopes: Vec<String>,
    pub rate_limit_per_minute: i32,
    /// The plan of the owner's live, unsuspended subscription, if any.
    pub plan_id: Option<String>,
}

/// The live key with this prefix whose owner is an active account, in one query.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn presented(
    db: impl PgExecutor<'_>,
    prefix: &str,
) -> Result<Option<Presented>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT k.id, k.user_id, k.secret_sha256, k.scopes, k.rate_limit_per_minute,
                ({}) AS plan_id
         FROM api_keys k JOIN users u ON u.id = k.user_id
         WHERE k.prefix = $1 AND k.revoked_at IS NULL AND u.is_active AND u.deleted_at IS NULL",
        super::billing::live_plan_sql("k.user_id")
    ))
    .bind(prefix)
    .fetch_optional(db)
    .await
}

/// Records a use of the key, at most once a minute (the list shows it to the minute; a write
/// per request would be a write per API call).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn touch(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}
