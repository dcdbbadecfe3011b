//! The user activity log.

use crate::ids::UserId;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

#[tracing::instrument(level = "debug", skip_all)]
pub async fn record(
    db: impl PgExecutor<'_>,
    user: UserId,
    action: &str,
    description: &str,
    metadata: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO user_activity (user_id, action, description, metadata) VALUES ($1, $2, $3, $4)")
        .bind(user)
        .bind(action)
        .bind(description)
        .bind(metadata)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct ActivityRow {
    pub id: Uuid,
    pub action: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn page(
    db: &PgPool,
    user: UserId,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ActivityRow>, i64), sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT id, action, description, created_at FROM user_activity WHERE user_id = $1
         ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
    )
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM user_activity WHERE user_id = $1")
        .bind(user)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}
