//! Versions of a finished job (`job_versions`): each re-render is a row, version 1 being the
//! job itself; `jobs.current_version` is the one downloads serve by default.

use crate::ids::{JobId, UserId, VideoId};
use crate::repo::ledger;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VersionRow {
    pub job_id: JobId,
    pub version: i32,
    pub status: String,
    pub credits: i64,
    pub changed_lines: i32,
    pub changed_ms: i64,
    pub request_hash: Option<Vec<u8>>,
    pub result: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "job_id, version, status, credits, changed_lines, changed_ms, request_hash,
    result, error_message, created_at, completed_at";

pub struct NewVersion<'a> {
    pub job: JobId,
    pub credits: i64,
    pub changed_lines: u32,
    pub changed_ms: u64,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: &'a [u8],
}

/// Records the next version as running; `None` when one is running already (one at a time).
/// Call with the job's row locked, so two requests cannot take the same number.
pub async fn insert(conn: &mut PgConnection, v: &NewVersion<'_>) -> sqlx::Result<Option<u32>> {
    let next: i32 = sqlx::query_scalar(
        "SELECT coalesce(max(version), 1) + 1 FROM job_versions WHERE job_id = $1",
    )
    .bind(v.job)
    .fetch_one(&mut *conn)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO job_versions (job_id, version, status, credits, changed_lines, changed_ms,
             idempotency_key, request_hash)
         VALUES ($1, $2, 'processing', $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING",
    )
    .bind(v.job)
    .bind(next)
    .bind(v.credits)
    .bind(v.changed_lines as i32)
    .bind(v.changed_ms as i64)
    .bind(v.idempotency_key)
    .bind(v.request_hash)
    .execute(&mut *conn)
    .await?;
    Ok((inserted.rows_affected() == 1).then_some(next as u32))
}

pub async fn find_by_idempotency_key(
    db: impl PgExecutor<'_>,
    job: JobId,
    key: &str,
) -> sqlx::Result<Option<VersionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM job_versions WHERE job_id = $1 AND idempotency_key = $2"
    ))
    .bind(job)
    .bind(key)
    .fetch_optional(db)
    .await
}

pub async fn get(
    db: impl PgExecutor<'_>,
    job: JobId,
    version: u32,
) -> sqlx::Result<Option<VersionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM job_versions WHERE job_id = $1 AND version = $2"
    ))
    .bind(job)
    .bind(version as i32)
    .fetch_optional(db)
    .await
}

/// Every re-render of the job, oldest first.
pub async fn of_job(db: impl PgExecutor<'_>, job: JobId) -> sqlx::Result<Vec<VersionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM job_versions WHERE job_id = $1 ORDER BY version"
    ))
    .bind(job)
    .fetch_all(db)
    .await
}

/// Ends a running version; returns whether this call ended it (a repeat changes nothing).
/// A completed one becomes the job's current version.
pub async fn finish(
    conn: &mut PgConnection,
    job: JobId,
    version: u32,
    result: Result<serde_json::Value, &str>,
) -> sqlx::Result<bool> {
    let (status, value, message) = match result {
        Ok(v) => ("completed", Some(v), None),
        Err(m) => ("failed", None, Some(m)),
    };
    let ended = sqlx::query(
        "UPDATE job_versions SET status = $3, result = $4, error_message = $5, completed_at = now()
         WHERE job_id = $1 AND version = $2 AND status = 'processing'",
    )
    .bind(job)
    .bind(version as i32)
    .bind(status)
    .bind(value)
    .bind(message)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if ended && status == "completed" {
        set_current(&mut *conn, job, version).await?;
    }
    Ok(ended)
}

/// Makes `version` the one downloads serve by default.
pub async fn set_current(db: impl PgExecutor<'_>, job: JobId, version: u32) -> sqlx::Result<()> {
    sqlx::query("UPDATE jobs SET current_version = $2, updated_at = now() WHERE id = $1")
        .bind(job)
        .bind(version as i32)
        .execute(db)
        .await?;
    Ok(())
}

/// The job's current version.
pub async fn current(db: impl PgExecutor<'_>, job: JobId) -> sqlx::Result<u32> {
    let v: Option<i32> = sqlx::query_scalar("SELECT current_version FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_optional(db)
        .await?;
    Ok(v.unwrap_or(1).max(1) as u32)
}

/// Who pays for a job's versions.
#[derive(Clone, Copy, Debug)]
pub struct Payer {
    pub user: UserId,
    pub video: Option<VideoId>,
}

/// Ends a running version and settles its credits in `conn`'s transaction: the hold released
/// and, when it completed, the held (quoted) credits captured; each ledger entry keyed by the
/// version, so however often this runs the credits move once. Returns whether this call ended it.
pub async fn settle(
    conn: &mut PgConnection,
    payer: Payer,
    job: JobId,
    version: u32,
    result: Result<serde_json::Value, &str>,
) -> sqlx::Result<bool> {
    let completed = result.is_ok();
    let ended = finish(&mut *conn, job, version, result).await?;
    let held = ledger::rerender_held(&mut *conn, job, version).await?;
    if held > 0 {
        let post = Posting {
            payer,
            job,
            version,
        };
        post.append(conn, ledger::Kind::Release, held, "hold released")
            .await?;
        if completed {
            let description = format!("re-rendering edited lines (version {version})");
            post.append(conn, ledger::Kind::Capture, -held, &description)
                .await?;
        }
    }
    Ok(ended)
}

/// Ledger entries of one version, each keyed by the version and its kind (so a repeat posts
/// nothing new).
struct Posting {
    payer: Payer,
    job: JobId,
    version: u32,
}

impl Posting {
    async fn append(
        &self,
        conn: &mut PgConnection,
        kind: ledger::Kind,
        amount: i64,
        description: &str,
    ) -> sqlx::Result<()> {
        let key = ledger::rerender_key(self.job, self.version, kind);
        ledger::append(
            &mut *conn,
            ledger::Entry {
                user: self.payer.user,
                job: Some(self.job),
                video: self.payer.video,
                kind,
                amount,
                key: &key,
                description,
            },
        )
        .await?;
        Ok(())
    }
}
