//! Rate-limit state in PostgreSQL, shared by every API instance: fixed-window counters, and
//! failed sign-ins with an exponential lock.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::PgPool;
use std::time::Duration;

/// Counts a hit on `bucket`; returns the hits in the current window and when it ends.
#[tracing::instrument(level = "debug", skip_all)]
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

/// Until when `bucket` is locked by earlier failures, if it is now.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn locked_until(db: &PgPool, bucket: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT locked_until FROM login_failures WHERE bucket = $1 AND locked_until > now()",
    )
    .bind(bucket)
    .fetch_optional(db)
    .await
    .map(Option::flatten)
}

/// How failures turn into locks: the `after`-th failure locks for `base`, and each further one
/// for twice as long as the one before, at most `max`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub after: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The lock after `failures` failures, if any.
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.after)?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

/// Counts a failure on `bucket`; returns when its lock (if the failure made one) ends.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_failure(
    db: &PgPool,
    bucket: &str,
    backoff: Backoff,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let mut tx = db.begin().await?;
    // A bucket quiet for longer than the longest lock starts again from zero.
    let failures: i32 = sqlx::query_scalar(
        "INSERT INTO login_failures (bucket, failures) VALUES ($1, 1)
         ON CONFLICT (bucket) DO UPDATE SET
            failures = CASE WHEN login_failures.updated_at < now() - make_interval(secs => $2)
                            THEN 1 ELSE login_failures.failures + 1 END,
            updated_at = now()
         RETURNING failures",
    )
    .bind(bucket)
    .bind(backoff.max.as_secs_f64())
    .fetch_one(&mut *tx)
    .await?;
    let lock = backoff.lock_for(failures.max(0) as u32);
    let until = lock.map(|d| Utc::now() + chrono::Duration::milliseconds(d.as_millis() as i64));
    sqlx::query("UPDATE login_failures SET locked_until = $2 WHERE bucket = $1")
        .bind(bucket)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(until)
}

/// Forgets the failures of `bucket` (a successful sign-in).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn clear(db: &PgPool, bucket: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE bucket = $1")
        .bind(bucket)
        .execute(db)
        .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_old(db: &PgPool) -> Result<u64, sqlx::Error> {
    let windows =
        sqlx::query("DELETE FROM rate_limits WHERE window_start < now() - interval '1 day'")
            .execute(db)
            .await?
            .rows_affected();
    let failures = sqlx::query(
        "DELETE FROM login_failures WHERE updated_at < now() - interval '1 day'
           AND (locked_until IS NULL OR locked_until < now())",
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(windows + failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            after: 3,
            base: Duration::from_secs(10),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.lock_for(0), None);
        assert_eq!(b.lock_for(2), None);
        assert_eq!(b.lock_for(3), Some(Duration::from_secs(10)));
        assert_eq!(b.lock_for(4), Some(Duration::from_secs(20)));
        assert_eq!(b.lock_for(5), Some(Duration::from_secs(40)));
        assert_eq!(b.lock_for(6), Some(Duration::from_secs(60)));
        assert_eq!(b.lock_for(400), Some(Duration::from_secs(60)));
    }
}
