//! Reads of the credit ledger and subscriptions used by the account pages.

use crate::ids::UserId;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// The user's balance: the sum of the ledger.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn balance(db: &PgPool, user: UserId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(amount), 0)::bigint FROM credit_ledger WHERE user_id = $1",
    )
    .bind(user)
    .fetch_one(db)
    .await
}

/// Credits consumed by finished work between two instants.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn used_between(
    db: &PgPool,
    user: UserId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(credits_used), 0)::bigint FROM credit_usage
         WHERE user_id = $1 AND created_at >= $2 AND created_at < $3",
    )
    .bind(user)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub plan_id: String,
    pub status: String,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub credits_included: i32,
}

/// The newest subscription in one of `statuses` (any status when empty).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn newest_subscription(
    db: &PgPool,
    user: UserId,
    statuses: &[&str],
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    let statuses: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
    sqlx::query_as(
        "SELECT id, plan_id, status, current_period_start, current_period_end, cancel_at_period_end, credits_included
         FROM subscriptions WHERE user_id = $1 AND (cardinality($2::text[]) = 0 OR status = ANY($2))
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user)
    .bind(&statuses)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Default, sqlx::FromRow)]
pub struct DashboardStats {
    pub total_videos: i64,
    pub completed_videos: i64,
    pub processing_videos: i64,
    pub total_duration: f64,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn dashboard(db: &PgPool, user: UserId) -> Result<DashboardStats, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS total_videos,
                count(*) FILTER (WHERE v.status = 'completed') AS completed_videos,
                count(*) FILTER (WHERE v.status IN ('processing', 'pending')) AS processing_videos,
                coalesce(sum((SELECT m.duration FROM media_files m
                              WHERE m.video_id = v.id AND m.file_type = 'original' AND m.is_active
                              ORDER BY m.created_at DESC LIMIT 1)), 0)::float8 AS total_duration
         FROM videos v WHERE v.user_id = $1 AND v.deleted_at IS NULL",
    )
    .bind(user)
    .fetch_one(db)
    .await
}
