use super::ledger;
use crate::contracts::ReviewMark;
use crate::ids::{JobId, UserId, VideoId};
use crate::job_config::JobConfig;
use crate::pipeline::Step;
use crate::status::{JobStatus, StepStatus};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: JobId,
    pub user_id: UserId,
    pub video_id: Option<VideoId>,
    pub status: JobStatus,
    pub progress: f64,
    pub source_language: Option<String>,
    pub target_language: Option<String>,
    pub workflow_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub estimated_completion: Option<DateTime<Utc>>,
    pub error_message: Option<String>,
    pub job_result: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    /// Resume round: 0 for the first run, +1 for each resume.
    pub retry_count: i32,
    pub credits_cost: Option<i32>,
    pub voice_id: Option<String>,
    pub preserve_background_music: bool,
    pub job_config: Option<serde_json::Value>,
    pub updated_at: DateTime<Utc>,
    pub request_hash: Option<Vec<u8>>,
    /// The review checkpoint: `awaiting_approval` until `review_deadline`, then `approved`.
    pub review_state: Option<String>,
    pub review_deadline: Option<DateTime<Utc>>,
    /// The batch of a request for several languages at once.
    pub batch_id: Option<Uuid>,
}

/// `jobs.review_state` while the job waits for the user's approval.
pub const AWAITING_APPROVAL: &str = "awaiting_approval";

const COLUMNS: &str =
    "id, user_id, video_id, status, progress, source_language, target_language, workflow_id,
    started_at, completed_at, estimated_completion, error_message, job_result, created_at, retry_count, credits_cost,
    voice_id, preserve_background_music, job_config, updated_at, request_hash, review_state, review_deadline,
    batch_id";

pub struct NewJob<'a> {
    pub id: JobId,
    pub user_id: UserId,
    pub video_id: VideoId,
    pub workflow_id: &'a str,
    pub config: &'a JobConfig,
    pub credits_cost: i32,
    pub estimated_completion: DateTime<Utc>,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: &'a [u8],
    pub batch_id: Option<Uuid>,
}

impl JobRow {
    /// What the job was asked for; `None` for a row without a readable configuration.
    pub fn config(&self) -> Option<JobConfig> {
        let value = self.job_config.clone()?;
        serde_json::from_value(value)
            .inspect_err(|e| tracing::warn!(job = %self.id, error = %e, "unreadable job_config"))
            .ok()
    }
}

/// Creates the job and its 15 pending steps (the seed's names, orders and weights).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    job: NewJob<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO jobs (id, user_id, video_id, source_language, target_language, voice_id, workflow_id,
                job_config, preserve_background_music, credits_cost, estimated_completion, idempotency_key,
                request_hash, batch_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(job.id)
    .bind(job.user_id)
    .bind(job.video_id)
    .bind(job.config.source_language.code())
    .bind(job.config.target_language.code())
    .bind(job.config.voice_id.as_deref())
    .bind(job.workflow_id)
    .bind(sqlx::types::Json(job.config))
    .bind(job.config.preserve_background_music)
    .bind(job.credits_cost)
    .bind(job.estimated_completion)
    .bind(job.idempotency_key)
    .bind(job.request_hash)
    .bind(job.batch_id)
    .execute(&mut **tx)
    .await?;
    let names: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
    let orders: Vec<i32> = Step::ALL.iter().map(|s| s.order() as i32).collect();
    let weights: Vec<f64> = Step::ALL.iter().map(|s| f64::from(s.weight())).collect();
    sqlx::query(
        "INSERT INTO job_steps (job_id, step_name, step_order, weight)
         SELECT $1, * FROM unnest($2::text[], $3::int[], $4::float8[])",
    )
    .bind(job.id)
    .bind(&names)
    .bind(&orders)
    .bind(&weights)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_owned(
    db: &PgPool,
    user: UserId,
    id: JobId,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
}

/// Which of a video's jobs a request means: one by id, the newest into a language, or (neither
/// given) the newest.
#[derive(Clone, Copy, Debug, Default)]
pub struct Choice<'a> {
    pub job: Option<JobId>,
    pub language: Option<&'a str>,
}

/// The video's newest job that `choice` names.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn newest_for_video(
    db: &PgPool,
    user: UserId,
    video: VideoId,
    choice: Choice<'_>,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE video_id = $1 AND user_id = $2
           AND ($3::uuid IS NULL OR id = $3) AND ($4::text IS NULL OR target_language = $4)
         ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(video)
    .bind(user)
    .bind(choice.job)
    .bind(choice.language)
    .fetch_optional(db)
    .await
}

/// The jobs of one of the user's batches, in the order they were requested.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn in_batch(db: &PgPool, user: UserId, batch: Uuid) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE user_id = $1 AND batch_id = $2 ORDER BY created_at, id"
    ))
    .bind(user)
    .bind(batch)
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(db: &PgPool, id: JobId) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// What a progress report changed: whether the job (re)started, and the steps it completed.
#[derive(Debug, Default)]
pub struct Progressed {
    pub started: bool,
    pub completed: Vec<Step>,
}

/// Applies a progress report of the workflow, in the caller's transaction. Idempotent: a
/// repeated report changes nothing and reports nothing. A failed job goes back to processing
/// (an operator reset or a resume re-runs it); completed and cancelled jobs never do.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_progress(
    conn: &mut sqlx::PgConnection,
    id: JobId,
    percent: f64,
    steps: &[(Step, StepStatus)],
    review: Option<&ReviewMark>,
) -> Result<Progressed, sqlx::Error> {
    if let Some(review) = review {
        let (state, deadline) = match review {
            ReviewMark::Awaiting { deadline } => (AWAITING_APPROVAL, Some(*deadline)),
            ReviewMark::Approved => ("approved", None),
        };
        sqlx::query(
            "UPDATE jobs SET review_state = $2, review_deadline = coalesce($3, review_deadline)
             WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(deadline)
        .execute(&mut *conn)
        .await?;
    }
    let before: Option<String> = sqlx::query_scalar(
        "UPDATE jobs j SET status = 'processing', progress = greatest(j.progress, $2),
                started_at = coalesce(j.started_at, now()), error_message = NULL, completed_at = NULL
         FROM (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE) old
         WHERE j.id = old.id AND j.status IN ('pending', 'processing', 'failed')
         RETURNING old.status",
    )
    .bind(id)
    .bind(percent.clamp(0.0, 100.0))
    .fetch_optional(&mut *conn)
    .await?;
    let mut progressed = Progressed {
        started: before.is_some_and(|s| s != "processing"),
        completed: Vec::new(),
    };
    for (step, status) in steps {
        let changed = sqlx::query(
            "UPDATE job_steps SET status = $3,
                progress = CASE WHEN $3 IN ('completed', 'skipped') THEN 100 ELSE progress END,
                started_at = CASE WHEN $3 = 'processing' THEN coalesce(started_at, now()) ELSE started_at END,
                completed_at = CASE WHEN $3 IN ('completed', 'skipped', 'failed') THEN coalesce(completed_at, now()) ELSE completed_at END
             WHERE job_id = $1 AND step_name = $2 AND status NOT IN ('completed', 'skipped')
               AND status <> $3",
        )
        .bind(id)
        .bind(step.name())
        .bind(status.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if changed == 1 && *status == StepStatus::Completed {
            progressed.completed.push(*step);
        }
    }
    Ok(progressed)
}

/// Records the language speech recognition detected, in place of the one the job was started
/// with (a guess, when detection was asked for).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_source_language(
    conn: &mut sqlx::PgConnection,
    id: JobId,
    language: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE jobs SET source_language = $2 WHERE id = $1")
        .bind(id)
        .bind(language)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Moves the job to a terminal status. Returns false when it already was terminal (a retried
/// call changes nothing). Runs on the caller's connection, so it can share a transaction with the
/// credit settlement.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn finish(
    conn: &mut sqlx::PgConnection,
    id: JobId,
    status: JobStatus,
    error_message: Option<&str>,
    result: Option<serde_json::Value>,
) -> Result<bool, sqlx::Error> {
    debug_assert!(status.is_terminal());
    let updated = sqlx::query(
        "UPDATE jobs SET status = $2, error_message = $3, job_result = $4, completed_at = now(),
                progress = CASE WHEN $2 = 'completed' THEN 100 ELSE progress END
         WHERE id = $1 AND status IN ('pending', 'processing')",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(error_message)
    .bind(result)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let step_status = match status {
        JobStatus::Failed => StepStatus::Failed,
        _ => StepStatus::Cancelled,
    };
    if status != JobStatus::Completed {
        // The step that was running takes the job's outcome; steps never reached stay pending.
        sqlx::query(
            "UPDATE job_steps SET status = $2, error_message = $3, completed_at = now()
             WHERE job_id = $1 AND status = 'processing'",
        )
        .bind(id)
        .bind(step_status.as_str())
        .bind(error_message)
        .execute(&mut *conn)
        .await?;
    }
    Ok(updated == 1)
}

/// A job still `pending` since before a cutoff.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingJob {
    pub id: JobId,
    pub user_id: UserId,
    pub video_id: VideoId,
    pub retry_count: i32,
}

/// Jobs `pending` since before `cutoff` (created or reopened for a resume then: nothing else
/// touches a job's row until its workflow reports), oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn pending_since(
    db: &PgPool,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PendingJob>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, video_id, retry_count FROM jobs
         WHERE status = 'pending' AND updated_at < $1
         ORDER BY created_at LIMIT 100",
    )
    .bind(cutoff)
    .fetch_all(db)
    .await
}

/// A job whose workflow could not be started (or never was): fails it, if it is still `pending`,
/// and releases the hold of its current `round`, in one transaction. Returns whether it was
/// pending. The release key is the one the workflow would use, so a late start changes nothing.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn fail_unstarted(
    db: &PgPool,
    job: &PendingJob,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let failed = sqlx::query(
        "UPDATE jobs SET status = 'failed', error_message = $2, completed_at = now()
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(job.id)
    .bind(reason)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if failed {
        let held = ledger::held(&mut *tx, job.id, job.retry_count).await?;
        ledger::append(
            &mut *tx,
            ledger::Entry {
                user: job.user_id,
                job: Some(job.id),
                video: Some(job.video_id),
                kind: ledger::Kind::Release,
                amount: held,
                key: &ledger::release_key(job.id, job.retry_count),
                description: "hold released: the job could not start",
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(failed)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_by_idempotency_key(
    db: &PgPool,
    user: UserId,
    key: &str,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE user_id = $1 AND idempotency_key = $2"
    ))
    .bind(user)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// The video's jobs that are still pending or running.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn active_for_video(db: &PgPool, video: VideoId) -> Result<Vec<JobId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM jobs WHERE video_id = $1 AND status IN ('pending', 'processing')",
    )
    .bind(video)
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn newest_active_for_video(
    db: &PgPool,
    user: UserId,
    video: VideoId,
    choice: Choice<'_>,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE video_id = $1 AND user_id = $2 AND status IN ('pending', 'processing')
           AND ($3::uuid IS NULL OR id = $3) AND ($4::text IS NULL OR target_language = $4)
         ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(video)
    .bind(user)
    .bind(choice.job)
    .bind(choice.language)
    .fetch_optional(db)
    .await
}

/// Moves a failed job back to pending for a resume round; false when it is not failed any more.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reopen(
    conn: &mut sqlx::PgConnection,
    id: JobId,
    round: i32,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE jobs SET status = 'pending', retry_count = $2, error_message = NULL, completed_at = NULL
         WHERE id = $1 AND status = 'failed'",
    )
    .bind(id)
    .bind(round)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("UPDATE job_steps SET status = 'pending', error_message = NULL, completed_at = NULL WHERE job_id = $1 AND status IN ('failed', 'cancelled')")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(n == 1)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn page(
    db: &PgPool,
    user: UserId,
    filter: &JobFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<JobRow>, i64), sqlx::Error> {
    const WHERE: &str = "user_id = $1 AND ($2::text IS NULL OR status = $2)
        AND ($3::uuid IS NULL OR batch_id = $3)";
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE {WHERE} ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
    ))
    .bind(user)
    .bind(filter.status)
    .bind(filter.batch)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM jobs WHERE {WHERE}"))
        .bind(user)
        .bind(filter.status)
        .bind(filter.batch)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// Which of a user's jobs a listing shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    /// Only the jobs of this batch.
    pub batch: Option<Uuid>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct StepRow {
    pub id: uuid::Uuid,
    pub step_name: String,
    pub step_order: i32,
    pub status: StepStatus,
    pub progress: f64,
    pub weight: f64,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error_message: Option<String>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn steps(db: &PgPool, job: JobId) -> Result<Vec<StepRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, step_name, step_order, status, progress, weight, started_at, completed_at, error_message
         FROM job_steps WHERE job_id = $1 ORDER BY step_order",
    )
    .bind(job)
    .fetch_all(db)
    .await
}

/// Every job of a user (an erasure deletes their artifacts).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ids_of_user(db: &PgPool, user: UserId) -> Result<Vec<JobId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE user_id = $1")
        .bind(user)
        .fetch_all(db)
        .await
}

/// Every job of a video (its deletion deletes their artifacts).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ids_of_video(db: &PgPool, video: VideoId) -> Result<Vec<JobId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE video_id = $1")
        .bind(video)
        .fetch_all(db)
        .await
}

/// Marks a job waiting at its review checkpoint as approved; false when it was not waiting
/// (approved already, or never asked for one). `undo` puts it back to waiting (the approval
/// could not be delivered).
pub async fn mark_approved(db: &PgPool, id: JobId, undo: bool) -> Result<bool, sqlx::Error> {
    let (from, to) = if undo {
        ("approved", AWAITING_APPROVAL)
    } else {
        (AWAITING_APPROVAL, "approved")
    };
    let done = sqlx::query(
        "UPDATE jobs SET review_state = $3, updated_at = now()
         WHERE id = $1 AND review_state = $2 AND status = 'processing'",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Free previews the user started in the last 24 hours, and the seconds until the oldest of them
/// is a day old.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn previews_in_last_day(
    conn: &mut sqlx::PgConnection,
    user: UserId,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*),
                coalesce(ceil(extract(epoch FROM min(created_at) + interval '1 day' - now())), 0)::bigint
         FROM jobs WHERE user_id = $1 AND (job_config ->> 'preview')::boolean
           AND created_at > now() - interval '1 day'",
    )
    .bind(user)
    .fetch_one(&mut *conn)
    .await
}
