//! Fixed-window rate-limit counters in PostgreSQL, shared by every API instance.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::PgPool;
use std::time::Duration;

/// Counts a hit on `bucket`; returns the hits in the current window and when it ends.
pub async fn hit(
    db: &PgPool,
    bucket: &str,
    window: Duration,
) -> Result<(u32, DateTime<Utc>), sqlx::Error> {
    let secs = window.as_secs().max(1) as i64;
    let now = Utc::now().timestamp();
    let start = Utc
        .timestamp_opt(now - now.rem_euclid(secs), 0)
        .single()
        .unwrap_or_else(Utc::now);
    let hits: i32 = sqlx::query_scalar(
        "INSERT INTO rate_limits (bucket, window_start) VALUES ($1, $2)
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
         RETURNING hits",
    )
    .bind(bucket)
    .bind(start)
    .fetch_one(db)
    .await?;
    Ok((hits.max(0) as u32, start + chrono::Duration::seconds(secs)))
}

pub async fn delete_old(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM rate_limits WHERE window_start < now() - interval '1 day'")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
